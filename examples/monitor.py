"""Monitor: poll a condition on a durable timer, restarting with continue-as-new.

Each check is one execution, so the history never grows however long it runs.

    perdure start job_monitor --input '{"job": "j1", "checks_left": 5, "interval": 1}'
"""

from datetime import timedelta

import perdure

app = perdure.App()


@app.activity
def check_job(job: str) -> str:
    """Look at the job's state (always 'running' in this example)."""
    return "running"


@app.orchestrator
def job_monitor(ctx: perdure.OrchestrationContext):
    """Check the job, sleep, and continue as new until it is done or checks run out."""
    state = ctx.get_input()
    status = yield ctx.call_activity("check_job", state["job"])
    ctx.set_custom_status({"job": state["job"], "status": status,
                           "checks_left": state["checks_left"]})
    if status == "done" or state["checks_left"] <= 1:
        return {"job": state["job"], "last_status": status}
    yield ctx.create_timer(timedelta(seconds=state.get("interval", 60)))
    ctx.continue_as_new({**state, "checks_left": state["checks_left"] - 1})
