"""The app of the observability tests: a parent that calls an activity, waits on a
timer and calls a child orchestration; and an orchestration whose activity fails.

Every run of ``work`` is appended to ``$OBSERVE_APP_LOG`` with its pid as it
starts, then sleeps ``$OBSERVE_APP_SLEEP`` seconds (so a test can kill a worker
mid-run).
"""

import os
import time
from datetime import timedelta

import perdure

app = perdure.App()


@app.activity
def work(step: str) -> str:
    log = os.environ.get("OBSERVE_APP_LOG")
    if log:
        with open(log, "a") as out:
            out.write(f"{step} {os.getpid()}\n")
    time.sleep(float(os.environ.get("OBSERVE_APP_SLEEP", "0")))
    return step.upper()


@app.activity
def boom(_: None) -> None:
    raise ValueError("boom")


@app.orchestrator
def child(ctx: perdure.OrchestrationContext):
    return (yield ctx.call_activity("work", "child"))


@app.orchestrator
def parent(ctx: perdure.OrchestrationContext):
    first = yield ctx.call_activity("work", "parent")
    yield ctx.create_timer(timedelta(milliseconds=10))
    second = yield ctx.call_sub_orchestrator("child")
    return [first, second]


@app.orchestrator
def failing(ctx: perdure.OrchestrationContext):
    yield ctx.call_activity("boom")
