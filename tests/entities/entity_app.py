"""Entities and orchestrations that use them, shared by the entity tests."""

from __future__ import annotations

from typing import Any

import perdure

app = perdure.App()


@app.entity
def counter(ctx: perdure.EntityContext) -> None:
    """A counter: add, reset, get, delete; ``fail`` changes the state, then raises."""
    value = ctx.get_state(0)
    op = ctx.operation_name
    if op == "add":
        ctx.set_state(value + ctx.get_input())
    elif op == "reset":
        ctx.set_state(0)
    elif op == "get":
        ctx.set_result(value)
    elif op == "delete":
        ctx.delete_state()
    elif op == "fail":
        ctx.set_state(value + 1000)
        ctx.signal_entity(ctx.entity_id, "add", 1_000_000)  # rolled back with the state
        raise ValueError(f"fail at {value}")
    elif op == "spin":  # never returns: the worker's step budget stops it
        while True:
            pass
    elif op == "forward":  # add to another entity, and start an orchestration
        target, amount = ctx.get_input()
        ctx.signal_entity(perdure.EntityId("counter", target), "add", amount)
        ctx.start_new_orchestration("noop", instance_id=f"started-by-{ctx.entity_key}")
    else:
        raise ValueError(f"no operation {op!r}")


@app.entity(name="Log")
def log_entity(ctx: perdure.EntityContext) -> list[Any]:
    """Appends each input in arrival order; returns the log."""
    entries = ctx.get_state(list)
    if ctx.operation_name == "append":
        ctx.set_state([*entries, ctx.get_input()])
    return entries


@app.entity
class Account:
    """A class entity: its attributes are its state."""

    def __init__(self) -> None:
        self.balance = 0

    def deposit(self, amount: int) -> int:
        self.balance += amount
        return self.balance

    def withdraw(self, amount: int) -> int:
        if amount > self.balance:
            raise ValueError("insufficient funds")
        self.balance -= amount
        return self.balance

    def get(self) -> int:
        return self.balance


@app.activity
def echo(value: Any) -> Any:
    return value


@app.orchestrator
def noop(ctx: perdure.OrchestrationContext):  # type: ignore[no-untyped-def]
    return "ok"
    yield  # pragma: no cover


@app.orchestrator
def call_counter(ctx: perdure.OrchestrationContext):  # type: ignore[no-untyped-def]
    """Adds, reads, makes an operation fail (caught), reads again."""
    key = ctx.get_input()
    yield ctx.call_entity(perdure.EntityId("counter", key), "add", 5)
    first = yield ctx.call_entity(perdure.EntityId("counter", key), "get")
    try:
        yield ctx.call_entity(perdure.EntityId("counter", key), "fail")
        error = None
    except perdure.EntityOperationFailedError as exc:
        error = exc.details.message
    second = yield ctx.call_entity(f"@counter@{key}", "get")
    return [first, error, second]


@app.orchestrator
def transfer(ctx: perdure.OrchestrationContext):  # type: ignore[no-untyped-def]
    """Read-modify-write of two counters in a critical section, with an activity between."""
    a, b = perdure.EntityId("counter", "a"), perdure.EntityId("counter", "b")
    with (yield ctx.lock([b, a])):
        va = yield ctx.call_entity(a, "get")
        vb = yield ctx.call_entity(b, "get")
        yield ctx.call_activity("echo", None)
        yield ctx.call_entity(a, "add", 1 - 0 * va)
        yield ctx.call_entity(b, "add", 1 - 0 * vb)
        # Lost updates would show: each transfer sees the other's total.
        yield ctx.call_entity(a, "reset")
        yield ctx.call_entity(a, "add", va + 1)
    return [va, vb]


@app.orchestrator
def lock_and_wait(ctx: perdure.OrchestrationContext):  # type: ignore[no-untyped-def]
    """Takes the lock on counter ``key``, then waits for event ``go`` (or fails on ``boom``)."""
    key = ctx.get_input()
    with (yield ctx.lock([perdure.EntityId("counter", key)])):
        what = yield ctx.wait_for_external_event("go")
        if what == "boom":
            raise RuntimeError("boom inside the critical section")
        yield ctx.call_entity(perdure.EntityId("counter", key), "add", 1)
    return "released"


@app.orchestrator
def lock_then_add(ctx: perdure.OrchestrationContext):  # type: ignore[no-untyped-def]
    key = ctx.get_input()
    with (yield ctx.lock([perdure.EntityId("counter", key)])):
        yield ctx.call_entity(perdure.EntityId("counter", key), "add", 10)
    return "done"


@app.orchestrator
def call_spin(ctx: perdure.OrchestrationContext):  # type: ignore[no-untyped-def]
    try:
        yield ctx.call_entity(perdure.EntityId("counter", "spin"), "spin")
    except perdure.EntityOperationFailedError as exc:
        return exc.details.error_type


@app.orchestrator
def bad_call_in_lock(ctx: perdure.OrchestrationContext):  # type: ignore[no-untyped-def]
    with (yield ctx.lock([perdure.EntityId("counter", "x")])):
        yield ctx.call_entity(perdure.EntityId("counter", "y"), "get")


@app.orchestrator
def signal_many(ctx: perdure.OrchestrationContext):  # type: ignore[no-untyped-def]
    for i in range(ctx.get_input()):
        ctx.signal_entity(perdure.EntityId("Log", "sig"), "append", i)
    return (yield ctx.call_entity(perdure.EntityId("Log", "sig"), "get"))


@app.orchestrator
def account_ops(ctx: perdure.OrchestrationContext):  # type: ignore[no-untyped-def]
    acct = perdure.EntityId("Account", ctx.get_input())
    out = [(yield ctx.call_entity(acct, "deposit", 30))]
    try:
        yield ctx.call_entity(acct, "withdraw", 100)
    except perdure.EntityOperationFailedError as exc:
        out.append(exc.details.message)
    out.append((yield ctx.call_entity(acct, "withdraw", 10)))
    return out
