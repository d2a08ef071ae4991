"""perdure.testing.OrchestrationHarness: in-memory runs on a virtual clock."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

import perdure
from perdure.core.history import ExecutionCompleted, OrchestratorStarted, TaskScheduled
from perdure.testing import (
    DEFAULT_START,
    Event,
    HarnessError,
    OrchestrationHarness,
    ReplayMismatchError,
)

S = perdure.OrchestrationRuntimeStatus

app = perdure.App()


@app.activity
def greet(name: str) -> str:
    return f"Hello {name}!"


@app.activity
async def shout(text: str) -> str:
    return text.upper()


@app.activity
def whoami(_: Any, ctx: perdure.ActivityContext) -> list[Any]:
    return [ctx.instance_id, ctx.name, ctx.task_id]


@app.activity
def charge(amount: int) -> str:
    raise RuntimeError("the real charge must not run in tests")


@app.orchestrator
def hello(ctx: perdure.OrchestrationContext):
    a = yield ctx.call_activity("greet", "Tokyo")
    b = yield ctx.call_activity("shout", a)
    ctx.set_custom_status({"done": 2})
    return [a, b]


@app.orchestrator
def pay(ctx: perdure.OrchestrationContext):
    return (yield ctx.call_activity("charge", ctx.get_input()))


@app.orchestrator
def with_context(ctx: perdure.OrchestrationContext):
    return (yield ctx.call_activity("whoami"))


@app.orchestrator
def sleepy(ctx: perdure.OrchestrationContext):
    yield ctx.create_timer(timedelta(days=2))
    return ctx.current_utc_datetime.isoformat()


@app.orchestrator
def approval(ctx: perdure.OrchestrationContext):
    try:
        answer = yield ctx.wait_for_external_event("approve", timeout=timedelta(hours=1))
    except perdure.EventTimeoutError:
        return "timed out"
    return f"approved: {answer}"


@app.orchestrator
def parent(ctx: perdure.OrchestrationContext):
    results = yield ctx.task_all([ctx.call_sub_orchestrator("hello"),
                                  ctx.call_sub_orchestrator("sleepy")])
    return results


@app.orchestrator
def counter(ctx: perdure.OrchestrationContext):
    n = ctx.get_input()
    if n >= 3:
        return n
    yield ctx.create_timer(timedelta(minutes=1))
    ctx.continue_as_new(n + 1)


@app.orchestrator
def flaky_caller(ctx: perdure.OrchestrationContext):
    options = perdure.RetryOptions(timedelta(seconds=10), 3, backoff_coefficient=2)
    return (yield ctx.call_activity_with_retry("flaky", options))


@app.orchestrator
def nondeterministic(ctx: perdure.OrchestrationContext):
    name = random.choice(["greet", "shout"])
    first = yield ctx.call_activity(name, "x")
    second = yield ctx.call_activity(random.choice(["greet", "shout"]), first)
    return second


@app.orchestrator
def clock_input(ctx: perdure.OrchestrationContext):
    import datetime as dt
    return (yield ctx.call_activity("greet", dt.datetime.now().isoformat()))


@app.orchestrator
def failing(ctx: perdure.OrchestrationContext):
    yield ctx.call_activity("greet", "x")
    raise ValueError("boom")


@app.orchestrator
def eternal(ctx: perdure.OrchestrationContext):
    yield ctx.create_timer(timedelta(hours=1))
    ctx.continue_as_new(ctx.get_input() + 1)


def test_real_activities_sync_and_async_with_custom_status_and_history():
    result = OrchestrationHarness(app).run("hello")
    assert result.runtime_status is S.Completed and result.is_completed
    assert result.output == ["Hello Tokyo!", "HELLO TOKYO!"]
    assert result.custom_status == {"done": 2}
    assert [(c.kind, c.name, c.input) for c in result.calls] == [
        ("activity", "greet", "Tokyo"), ("activity", "shout", "Hello Tokyo!")]
    assert isinstance(result.history[0], OrchestratorStarted)
    assert isinstance(result.history[-1], ExecutionCompleted)
    assert [e.name for e in result.history if isinstance(e, TaskScheduled)] == ["greet", "shout"]
    result.raise_for_failure()


def test_fakes_replace_activities_by_name():
    seen: list[int] = []

    def fake_charge(amount: int) -> str:
        seen.append(amount)
        return "charged"
    result = OrchestrationHarness(app).run("pay", 42, activities={"charge": fake_charge})
    assert result.output == "charged" and seen == [42]
    assert result.activity_calls("charge")[0].input == 42


def test_a_real_activity_failure_fails_the_orchestration():
    result = OrchestrationHarness(app).run("pay", 1)
    assert result.runtime_status is S.Failed
    assert result.failure is not None and "real charge" in result.failure.message
    with pytest.raises(AssertionError, match="Failed"):
        result.raise_for_failure()


def test_activities_get_an_activity_context():
    result = OrchestrationHarness(app).run("with_context", instance_id="abc")
    assert result.output == ["abc", "whoami", 0]


def test_timers_run_on_the_virtual_clock():
    h = OrchestrationHarness(app)
    result = h.run("sleepy")
    assert result.output == (DEFAULT_START + timedelta(days=2)).isoformat()
    assert h.now == DEFAULT_START + timedelta(days=2)


def test_advance_fires_due_timers_only():
    h = OrchestrationHarness(app)
    run = h.start("sleepy")
    assert run.status is S.Running
    h.advance(timedelta(days=1))
    assert run.status is S.Running
    h.advance(timedelta(days=1))
    assert run.status is S.Completed


def test_an_event_raised_when_the_orchestrator_waits():
    result = OrchestrationHarness(app).run("approval", events=[Event("approve", "yes")])
    assert result.output == "approved: yes"


def test_an_event_at_a_virtual_time_before_and_after_the_timeout():
    early = OrchestrationHarness(app).run(
        "approval", events=[Event("approve", 1, at=timedelta(minutes=59))])
    assert early.output == "approved: 1"
    late = OrchestrationHarness(app).run(
        "approval", events=[Event("approve", 1, at=timedelta(minutes=61))])
    assert late.output == "timed out"


def test_no_event_means_the_timeout_fires():
    assert OrchestrationHarness(app).run("approval").output == "timed out"


def test_raise_event_by_hand_on_a_started_run():
    h = OrchestrationHarness(app)
    run = h.start("approval")
    h.advance(timedelta(minutes=30))
    run.raise_event("approve", "later")
    assert run.result.output == "approved: later"


def test_sub_orchestrations_run_recursively():
    result = OrchestrationHarness(app).run("parent", instance_id="p")
    assert result.output[0] == ["Hello Tokyo!", "HELLO TOKYO!"]
    assert set(result.children) == {"p:0", "p:1"}
    assert result.children["p:0"].output == ["Hello Tokyo!", "HELLO TOKYO!"]
    assert [c.kind for c in result.calls] == ["sub_orchestration", "sub_orchestration"]


def test_sub_orchestrators_can_be_faked():
    def fake_sleepy(ctx: perdure.OrchestrationContext) -> str:
        return "no sleep"
    result = OrchestrationHarness(app).run("parent", orchestrators={"sleepy": fake_sleepy})
    assert result.output[1] == "no sleep"


def test_continue_as_new():
    h = OrchestrationHarness(app)
    result = h.run("counter", 0)
    assert result.output == 3 and result.continued_as_new == 3
    assert h.now == DEFAULT_START + timedelta(minutes=3)
    assert len(result.activity_calls()) == 0 and len(result.calls) == 3


def test_retries_back_off_on_the_virtual_clock():
    attempts: list[str] = []
    h = OrchestrationHarness(app)

    def flaky() -> str:
        attempts.append(h.now.isoformat())
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return "finally"
    result = h.run("flaky_caller", activities={"flaky": flaky})
    assert result.output == "finally"
    assert attempts == [(DEFAULT_START + timedelta(seconds=s)).isoformat() for s in (0, 10, 30)]


def test_orchestrator_failure_details():
    result = OrchestrationHarness(app).run("failing")
    assert result.runtime_status is S.Failed
    assert result.failure is not None and result.failure.error_type == "ValueError"


def test_terminate_a_waiting_run():
    h = OrchestrationHarness(app)
    run = h.start("approval")
    run.terminate("enough")
    assert run.status is S.Terminated and run.result.output == "enough"


def test_nondeterministic_code_is_caught():
    random.seed(3)
    with pytest.raises(ReplayMismatchError) as info:
        for _ in range(20):
            OrchestrationHarness(app).run("nondeterministic")
    error = info.value
    assert isinstance(error, perdure.NonDeterminismError)
    assert error.position in (0, 1)
    assert "call activity" in error.expected and error.actual
    assert error.instance_id.startswith("test-")


def test_wall_clock_inputs_are_caught():
    with pytest.raises(ReplayMismatchError, match="on replay"):
        OrchestrationHarness(app).run("clock_input")


def test_the_check_can_be_turned_off():
    assert OrchestrationHarness(app, check_replay=False).run("clock_input").is_completed


def test_an_endless_orchestration_hits_max_steps_but_advance_drives_it():
    with pytest.raises(HarnessError, match="max_steps"):
        OrchestrationHarness(app, max_steps=50).run("eternal", 0)
    h = OrchestrationHarness(app)
    run = h.start("eternal", 0)
    h.advance(timedelta(hours=5))
    assert run.status is S.Running and run.result.continued_as_new == 5


def test_bad_input_gets_typed_errors():
    h = OrchestrationHarness(app)
    with pytest.raises(perdure.UnknownFunctionError):
        h.run("nope")
    with pytest.raises(perdure.InvalidArgumentError):
        h.run("pay", activities={"charge": "not a function"})  # type: ignore[dict-item]
    with pytest.raises(perdure.InvalidArgumentError):
        h.advance(timedelta(seconds=-1))
    with pytest.raises(perdure.InvalidArgumentError):
        OrchestrationHarness(object())  # type: ignore[arg-type]
    h.run("hello", instance_id="x")
    with pytest.raises(perdure.InvalidArgumentError, match="already"):
        h.run("hello", instance_id="x")


async def test_async_activities_inside_an_async_test():
    result = OrchestrationHarness(app).run("hello")
    assert result.output == ["Hello Tokyo!", "HELLO TOKYO!"]


def test_suspend_holds_events_until_resume():
    h = OrchestrationHarness(app)
    run = h.start("approval")
    run.suspend("wait")
    assert run.status is S.Suspended
    run.raise_event("approve", "held")
    assert run.status is S.Suspended
    run.resume()
    assert run.result.output == "approved: held"


@app.orchestrator
def forever(ctx: perdure.OrchestrationContext):
    return (yield ctx.wait_for_external_event("never"))


@app.orchestrator
async def async_hello(ctx: perdure.OrchestrationContext):
    greeting = await ctx.call_activity("greet", "Oslo")
    await ctx.create_timer(timedelta(minutes=5))
    return greeting


def test_a_run_waiting_for_an_event_nobody_raises_returns_running():
    result = OrchestrationHarness(app).run("forever")
    assert result.runtime_status is S.Running and result.output is None
    assert result.calls == []


def test_async_def_orchestrators():
    h = OrchestrationHarness(app)
    assert h.run("async_hello").output == "Hello Oslo!"
    assert h.now == DEFAULT_START + timedelta(minutes=5)


def test_events_for_a_sub_orchestration_and_a_start_time():
    from datetime import UTC, datetime

    start = datetime(2030, 6, 1, tzinfo=UTC)
    h = OrchestrationHarness(app, start=start)
    result = h.run("parent", instance_id="p", orchestrators={"sleepy": forever},
                   events=[Event("never", "woken", instance_id="p:1")])
    assert result.output == [["Hello Tokyo!", "HELLO TOKYO!"], "woken"]
    assert h.now == start


def test_bad_events_are_refused_before_anything_runs():
    from datetime import datetime

    with pytest.raises(perdure.InvalidArgumentError):
        Event("")
    with pytest.raises(perdure.InvalidArgumentError, match="Event.at"):
        Event("e", at=datetime(2030, 1, 1))
    with pytest.raises(perdure.InvalidArgumentError, match="Event.at"):
        Event("e", at=timedelta(seconds=-1))
    h = OrchestrationHarness(app)
    with pytest.raises(perdure.InvalidArgumentError, match="Event items"):
        h.run("hello", instance_id="a", events=[("approve", 1)])  # type: ignore[list-item]
    assert h.run("hello", instance_id="a").is_completed  # nothing was created before


def test_ctx_version_in_the_harness() -> None:
    versioned = perdure.App(version="2.0")

    @versioned.orchestrator
    def child(ctx: perdure.OrchestrationContext):
        return ctx.version
        yield  # a generator

    @versioned.orchestrator
    def parent(ctx: perdure.OrchestrationContext):
        own = yield ctx.call_sub_orchestrator("child")
        pinned = yield ctx.call_sub_orchestrator("child", version="1.0")
        if perdure.compare_versions(ctx.version, "2.0") >= 0:
            return [ctx.version, own, pinned, "new path"]
        return [ctx.version, own, pinned]

    harness = OrchestrationHarness(versioned)
    assert harness.run("parent").output == ["2.0", "2.0", "1.0", "new path"]
    assert harness.run("parent", version="1.5").output == ["1.5", "1.5", "1.0"]
    with pytest.raises(perdure.InvalidArgumentError):
        harness.run("parent", version="bad\x00")
