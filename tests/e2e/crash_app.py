"""Orchestrations for the crash and fault tests: every activity run is logged with its pid."""

import os
import time

import perdure

app = perdure.App()
STEPS = 4


@app.activity
def work(arg: list) -> str:
    instance_id, step = arg
    time.sleep(float(os.environ.get("CRASH_APP_SLEEP", "0.2")))
    with open(os.environ["CRASH_APP_LOG"], "a") as log:
        log.write(f"{instance_id} {step} {os.getpid()}\n")
    return f"{instance_id}:{step}"


@app.orchestrator
def multi_step(ctx: perdure.OrchestrationContext):
    out = []
    for step in range(STEPS):
        out.append((yield ctx.call_activity("work", [ctx.instance_id, step])))
    return out


@app.orchestrator
def paused_step(ctx: perdure.OrchestrationContext):
    """Blocks its worker inside a step (not while replaying), so a test can pause it there."""
    first = yield ctx.call_activity("work", [ctx.instance_id, 0])
    if not ctx.is_replaying:
        with open(os.environ["CRASH_APP_MARK"], "a") as mark:
            mark.write(f"{os.getpid()}\n")
        time.sleep(float(os.environ.get("CRASH_APP_STEP_SLEEP", "0.5")))
    # Which process ran the step that completed the instance.
    return [first, os.getpid()]
