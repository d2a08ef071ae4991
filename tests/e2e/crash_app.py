"""A multi-step orchestration whose activities log every run, for crash tests."""

import os
import time

import perdure

app = perdure.App()
STEPS = 5


@app.activity
def work(arg: list) -> str:
    instance_id, step = arg
    time.sleep(float(os.environ.get("CRASH_APP_SLEEP", "0.2")))
    with open(os.environ["CRASH_APP_LOG"], "a") as log:
        log.write(f"{instance_id} {step}\n")
    return f"{instance_id}:{step}"


@app.orchestrator
def multi_step(ctx: perdure.OrchestrationContext):
    out = []
    for step in range(STEPS):
        out.append((yield ctx.call_activity("work", [ctx.instance_id, step])))
    return out
