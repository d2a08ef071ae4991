"""Orchestrators and activities exercised by the client tests."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any

import perdure

app = perdure.App()

# Side-effect counters, reset by tests that read them.
calls: dict[str, int] = {}
release = threading.Event()
_lock = threading.Lock()


def count(name: str) -> int:
    """Record one call of ``name`` and return how many there were."""
    with _lock:
        calls[name] = calls.get(name, 0) + 1
        return calls[name]


@app.activity
def say_hello(city: str) -> str:
    count("say_hello")
    return f"Hello {city}!"


@app.activity
async def double(n: int) -> int:
    return n * 2


@app.activity
def fail_once(key: str) -> str:
    if count(f"fail_once:{key}") == 1:
        raise ValueError(f"first attempt of {key} fails")
    return f"{key} ok"


@app.activity
def always_fail(message: str) -> None:
    raise RuntimeError(message)


@app.activity
def blocking(_: Any = None) -> str:
    release.wait(10)
    return "released"


@app.activity
def payload_of(ctx: perdure.ActivityContext) -> dict[str, str]:
    return ctx.create_http_management_payload(ctx.instance_id)


@app.activity
def start_child_sync(ctx: perdure.ActivityContext, name: str) -> str:
    return ctx.sync_client.start_new(name, f"{ctx.instance_id}-started")


@app.orchestrator
def hello_sequence(ctx: perdure.OrchestrationContext):
    out = []
    for city in ("Tokyo", "Seattle", "London"):
        out.append((yield ctx.call_activity("say_hello", city)))
    return out


@app.orchestrator
async def hello_async(ctx: perdure.OrchestrationContext):
    return [await ctx.call_activity("say_hello", c) for c in ctx.get_input()]


@app.orchestrator
def fan_out(ctx: perdure.OrchestrationContext):
    results = yield ctx.task_all([ctx.call_activity("double", i)
                                  for i in range(ctx.get_input())])
    return sum(results)


@app.orchestrator
def wait_event(ctx: perdure.OrchestrationContext):
    first = yield ctx.wait_for_external_event("go")
    second = yield ctx.wait_for_external_event("go")
    return [first, second]


@app.orchestrator
def wait_event_timeout(ctx: perdure.OrchestrationContext):
    try:
        return (yield ctx.wait_for_external_event("go", timeout=ctx.get_input()))
    except perdure.EventTimeoutError:
        return "timed out"


@app.orchestrator
def wait_timer(ctx: perdure.OrchestrationContext):
    yield ctx.create_timer(timedelta(seconds=ctx.get_input()))
    return "fired"


@app.orchestrator
def wait_activity(ctx: perdure.OrchestrationContext):
    return (yield ctx.call_activity("blocking"))


@app.orchestrator
def parent(ctx: perdure.OrchestrationContext):
    child = f"{ctx.instance_id}-child"
    return (yield ctx.call_sub_orchestrator(ctx.get_input(), instance_id=child))


@app.orchestrator
def catches_failure(ctx: perdure.OrchestrationContext):
    try:
        yield ctx.call_activity("always_fail", "boom")
    except perdure.TaskFailedError as exc:
        return {"type": exc.details.error_type, "message": exc.details.message}


@app.orchestrator
def fails(ctx: perdure.OrchestrationContext):
    yield ctx.call_activity("always_fail", "boom")


@app.orchestrator
def rewindable(ctx: perdure.OrchestrationContext):
    a = yield ctx.call_activity("say_hello", "A")
    b = yield ctx.call_activity("fail_once", ctx.instance_id)
    return [a, b]


@app.orchestrator
def with_retry(ctx: perdure.OrchestrationContext):
    options = perdure.RetryOptions(first_retry_interval=0.05, max_number_of_attempts=3)
    return (yield ctx.call_activity_with_retry("fail_once", options, ctx.instance_id))


@app.orchestrator
def counter(ctx: perdure.OrchestrationContext):
    n = ctx.get_input()
    ctx.set_custom_status({"n": n})
    if n >= 3:
        return n
    yield ctx.call_activity("double", n)
    ctx.continue_as_new(n + 1)


@app.orchestrator
def publish(ctx: perdure.OrchestrationContext):
    return (yield ctx.call_activity("payload_of"))


@app.orchestrator
def starts_another(ctx: perdure.OrchestrationContext):
    return (yield ctx.call_activity("start_child_sync", "hello_sequence"))


@app.orchestrator
def status_then_event(ctx: perdure.OrchestrationContext):
    ctx.set_custom_status("waiting")
    value = yield ctx.wait_for_external_event("go")
    ctx.set_custom_status("done")
    return value


async def eventually(predicate: Any, timeout: float = 10.0) -> None:
    """Poll an async predicate until it is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
