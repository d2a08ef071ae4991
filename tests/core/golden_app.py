"""The orchestrators whose stored histories are the golden fixtures (``golden/*.json``).

``golden/make_golden.py`` runs them through a worker on a SQLite task hub and
dumps what the hub stored; ``test_golden.py`` replays those histories against
this code. Changing an orchestrator here changes what replay decides, so
regenerate the fixtures deliberately, and only add to them: old fixtures stand
for instances users already have stored.
"""

from __future__ import annotations

from datetime import timedelta

import perdure

app = perdure.App()

#: How often each (activity, input) pair has run in this process: lets an
#: activity fail on its first attempt and succeed on the next.
attempts: dict[tuple[str, object], int] = {}


def _attempt(name: str, key: object) -> int:
    attempts[name, key] = attempts.get((name, key), 0) + 1
    return attempts[name, key]


@app.activity
def greet(name: str) -> str:
    return f"Hello {name}!"


@app.activity
def flaky(key: str) -> str:
    """Fails the first time it runs for ``key``, then succeeds."""
    if _attempt("flaky", key) == 1:
        raise ConnectionError(f"{key}: first attempt fails")
    return f"{key}: ok"


@app.activity
def broken(reason: str) -> None:
    raise ValueError(reason)


@app.orchestrator
def activities(ctx: perdure.OrchestrationContext):
    """A sequence, a fan-out/fan-in, and custom status along the way."""
    first = yield ctx.call_activity("greet", "Tokyo")
    ctx.set_custom_status({"stage": "fan-out", "first": first})
    rest = yield ctx.task_all([ctx.call_activity("greet", city)
                               for city in ("Seattle", "London")])
    ctx.set_custom_status({"stage": "done"})
    return [first, *rest]


@app.orchestrator
def retries(ctx: perdure.OrchestrationContext):
    """An activity retried after a failure (a durable timer between attempts)."""
    policy = perdure.RetryOptions(first_retry_interval=0.05, max_number_of_attempts=3)
    return (yield ctx.call_activity_with_retry("flaky", policy, ctx.instance_id))


@app.orchestrator
def activity_failure(ctx: perdure.OrchestrationContext):
    """An activity failure that the orchestrator does not catch: the instance fails."""
    yield ctx.call_activity("broken", "no such city")
    return "unreachable"


@app.orchestrator
def timers_and_events(ctx: perdure.OrchestrationContext):
    """A timer, a wait that times out, a wait that gets its event, and an event sent."""
    yield ctx.create_timer(timedelta(seconds=0.05))
    try:
        yield ctx.wait_for_external_event("late", timeout=0.05)
        timed_out = False
    except perdure.EventTimeoutError:
        timed_out = True
    approval = yield ctx.wait_for_external_event("approve")
    ctx.send_event(ctx.get_input(), "notify", {"approved": approval})
    return {"timed_out": timed_out, "approval": approval}


@app.orchestrator
def listener(ctx: perdure.OrchestrationContext):
    """Waits for the event ``timers_and_events`` sends."""
    return (yield ctx.wait_for_external_event("notify"))


@app.orchestrator
def child(ctx: perdure.OrchestrationContext):
    """A sub-orchestration that fails when its input says so."""
    value = ctx.get_input()
    if value == "fail":
        raise RuntimeError("child was asked to fail")
    return (yield ctx.call_activity("greet", value))


@app.orchestrator
def sub_orchestrations(ctx: perdure.OrchestrationContext):
    """One child that completes and one that fails (the failure is caught)."""
    ok = yield ctx.call_sub_orchestrator("child", "Paris")
    try:
        yield ctx.call_sub_orchestrator("child", "fail", instance_id=f"{ctx.instance_id}-bad")
        caught = None
    except perdure.TaskFailedError as exc:
        caught = str(exc)
    return {"ok": ok, "caught": caught}


@app.orchestrator
def counter(ctx: perdure.OrchestrationContext):
    """Continues as new until its input reaches 2, then waits for a bonus."""
    n = ctx.get_input() or 0
    if n < 2:
        ctx.continue_as_new(n + 1)
        return None
    bonus = yield ctx.wait_for_external_event("bonus")
    return n + bonus


@app.orchestrator
def approval(ctx: perdure.OrchestrationContext):
    """Waits for an event; suspended, terminated or resumed by a client meanwhile."""
    ctx.set_custom_status("waiting")
    answer = yield ctx.wait_for_external_event("answer")
    ctx.set_custom_status("answered")
    return answer


@app.orchestrator
def rewound(ctx: perdure.OrchestrationContext):
    """Fails on the flaky activity's first attempt; a rewind runs it again."""
    greeting = yield ctx.call_activity("greet", "Oslo")
    result = yield ctx.call_activity("flaky", ctx.instance_id)
    return [greeting, result]
