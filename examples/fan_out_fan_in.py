"""Fan-out/fan-in: run many activities in parallel and aggregate their results.

    perdure start fan_out_fan_in --input 100
"""

import perdure

app = perdure.App()


@app.activity
def square(n: int) -> int:
    """One unit of parallel work."""
    return n * n


@app.orchestrator
def fan_out_fan_in(ctx: perdure.OrchestrationContext):
    """Square 0..N-1 in parallel and return the sum."""
    count = ctx.get_input() or 10
    results = yield ctx.task_all([ctx.call_activity("square", i) for i in range(count)])
    return sum(results)
