"""A sequential Durable Functions orchestration whose activities log each run (crash tests)."""

import os
import time

import azure.durable_functions as df

app = df.DFApp()
STEPS = 5


@app.orchestration_trigger(context_name="context")
def multi_step(context: df.DurableOrchestrationContext):
    results = []
    for step in range(STEPS):
        results.append((yield context.call_activity("record", [context.instance_id, step])))
    return results


@app.activity_trigger(input_name="work")
def record(work: list) -> str:
    instance_id, step = work
    time.sleep(float(os.environ.get("CRASH_APP_SLEEP", "0")))
    with open(os.environ["CRASH_APP_LOG"], "a") as log:
        log.write(f"{instance_id} {step}\n")
    return f"{instance_id}:{step}"
