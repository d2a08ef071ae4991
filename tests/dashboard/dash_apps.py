"""The app behind the dashboard tests: fan-outs, failures, waits, sub-orchestrations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import perdure

app = perdure.App()

XSS = "<script>window.__xss = 1</script>"


@app.activity
def double(n: int) -> int:
    return n * 2


@app.activity
def explode(message: str) -> None:
    raise RuntimeError(message)


@app.orchestrator
def fan_out(ctx: perdure.OrchestrationContext):
    n = ctx.get_input() or 3
    results = yield ctx.task_all([ctx.call_activity("double", i) for i in range(n)])
    return sum(results)


@app.orchestrator
def fan_out_fail(ctx: perdure.OrchestrationContext):
    yield ctx.task_all([ctx.call_activity("double", 1), ctx.call_activity("double", 2)])
    yield ctx.call_activity("explode", "boom <b>bold</b>")


@app.orchestrator
def wait_event(ctx: perdure.OrchestrationContext):
    ctx.set_custom_status(ctx.get_input())
    data = yield ctx.wait_for_external_event("go")
    return {"got": data}


@app.orchestrator
def echo(ctx: perdure.OrchestrationContext):
    return ctx.get_input()


@app.orchestrator
def parent(ctx: perdure.OrchestrationContext):
    a = yield ctx.call_sub_orchestrator("fan_out", 2)
    yield ctx.create_timer(ctx.current_utc_datetime + timedelta(milliseconds=10))
    return a


@app.orchestrator
def sleeper(ctx: perdure.OrchestrationContext):
    yield ctx.create_timer(ctx.current_utc_datetime + timedelta(hours=1))


def payloads() -> dict[str, Any]:
    return {"x": XSS}


@app.orchestrator
def counter(ctx: perdure.OrchestrationContext):
    """Continues as new until its input reaches 3."""
    n = ctx.get_input() or 0
    if n >= 3:
        return n
    ctx.continue_as_new(n + 1)
    return None


@app.orchestrator
def two_waits(ctx: perdure.OrchestrationContext):
    """Waits for "first", runs an activity, then waits for "second"."""
    first = yield ctx.wait_for_external_event("first")
    doubled = yield ctx.call_activity("double", first)
    second = yield ctx.wait_for_external_event("second")
    return doubled + second


@app.orchestrator
def spawner(ctx: perdure.OrchestrationContext):
    """Starts ``n`` sleepers as sub-orchestrations at once (many running instances, fast)."""
    yield ctx.task_all([ctx.call_sub_orchestrator("sleeper") for _ in range(ctx.get_input())])
