"""The app ``perdure serve`` runs in the HTTP end-to-end tests."""

from __future__ import annotations

import threading
from datetime import timedelta

import perdure

app = perdure.App(route_prefix="")

_failed: set[str] = set()
_lock = threading.Lock()


@app.activity
def say_hello(city: str) -> str:
    return f"Hello {city}!"


@app.activity
def fail_once(key: str) -> str:
    with _lock:
        if key not in _failed:
            _failed.add(key)
            raise ValueError(f"first attempt of {key} fails")
    return f"{key} ok"


@app.orchestrator
def hello_sequence(ctx: perdure.OrchestrationContext):
    out = []
    for city in ("Tokyo", "Seattle", "London"):
        out.append((yield ctx.call_activity("say_hello", city)))
    return out


@app.orchestrator
def echo(ctx: perdure.OrchestrationContext):
    return ctx.get_input()


@app.orchestrator
def approval(ctx: perdure.OrchestrationContext):
    return (yield ctx.wait_for_external_event("Approval"))


@app.orchestrator
def sleeper(ctx: perdure.OrchestrationContext):
    yield ctx.create_timer(ctx.current_utc_datetime + timedelta(seconds=ctx.get_input() or 30))
    return "woke"


@app.orchestrator
def flaky(ctx: perdure.OrchestrationContext):
    return (yield ctx.call_activity("fail_once", ctx.instance_id))


@app.entity
def counter(ctx: perdure.EntityContext) -> None:
    """A counter; the azure client sends its inputs JSON-encoded twice (as to the host)."""
    value = ctx.get_state(0)
    if ctx.operation_name == "add":
        amount = ctx.get_input()
        ctx.set_state(value + (int(amount) if isinstance(amount, str) else amount))
