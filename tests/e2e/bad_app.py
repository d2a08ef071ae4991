"""Misbehaving user code for the containment tests: none of it may stop the server."""

import sys

import perdure

app = perdure.App()


@app.activity
def echo(x: str) -> str:
    return x


@app.orchestrator
def healthy(ctx: perdure.OrchestrationContext):
    return (yield ctx.call_activity("echo", "fine"))


@app.orchestrator
def exits(ctx: perdure.OrchestrationContext):
    yield ctx.call_activity("echo", "first")
    sys.exit(4)


@app.orchestrator
def interrupts(ctx: perdure.OrchestrationContext):
    raise KeyboardInterrupt


@app.activity
async def exits_async(x: str) -> str:
    sys.exit(3)


@app.orchestrator
def calls_exits_async(ctx: perdure.OrchestrationContext):
    try:
        yield ctx.call_activity("exits_async", "x")
    except perdure.TaskFailedError as exc:
        return exc.details.error_type
    return "not failed"


@app.orchestrator
def spins(ctx: perdure.OrchestrationContext):
    while True:
        pass
