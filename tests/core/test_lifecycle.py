"""Lifecycle: input, output, failure, custom status, time, ids, replay flag, logging,
continue-as-new, suspend/resume and terminate."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from perdure.core import OrchestrationExecutor, replay
from perdure.core.history import (
    EventRaised,
    ExecutionStarted,
    HistoryEvent,
    OrchestratorStarted,
)
from perdure.core.serialization import dumps
from perdure.core.status import OrchestrationRuntimeStatus as Status

from .histories import (
    T0,
    Driver,
    activity,
    completed,
    raised,
    resumed,
    sub_completed,
    suspended,
    terminated,
)

# --- plain functions, input, output, failure ----------------------------------


def test_plain_function_orchestrator_completes_in_its_first_step() -> None:
    def plain(ctx: Any) -> Any:
        data = ctx.get_input()
        return {"sum": sum(data["numbers"]), "name": ctx.name, "id": ctx.instance_id}

    d = Driver(plain, instance_id="p-1", name="adder")
    r = d.start({"numbers": [1, 2, 3]})
    assert r.actions == [] and r.status is Status.Completed
    assert d.output == {"sum": 6, "name": "adder", "id": "p-1"}


def test_none_input_and_none_output(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        assert ctx.get_input() is None
        yield ctx.create_timer(timedelta(seconds=1))

    d = Driver(flavor(orch))
    d.start()
    d.fire(0)
    assert d.status is Status.Completed and d.last.output is None


def test_parent_instance_id_comes_from_execution_started(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        return ctx.parent_instance_id
        yield

    d = Driver(flavor(orch))
    d.start(parent_instance_id="the-parent")
    assert d.output == "the-parent"


def test_plain_function_raising_fails_with_failure_details() -> None:
    def broken(ctx: Any) -> Any:
        raise LookupError("no such thing")

    d = Driver(broken)
    r = d.start()
    assert r.status is Status.Failed
    assert r.failure is not None
    assert (r.failure.error_type, r.failure.message) == ("LookupError", "no such thing")
    assert r.failure.stack_trace and "in broken" in r.failure.stack_trace
    assert d.output == "Orchestrator function 'orch' failed: LookupError: no such thing"


def test_orchestrator_raising_after_some_steps_fails_and_schedules_nothing(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        value = yield ctx.call_activity("a")
        ctx.call_activity("never scheduled")
        raise ValueError(f"bad value {value}")

    d = Driver(flavor(orch))
    d.start()
    r = d.step(completed(0, 13))
    assert r.status is Status.Failed and r.actions == []
    assert r.failure is not None and r.failure.summary() == "ValueError: bad value 13"


# --- custom status, time, ids, replay flag, logging ---------------------------


def test_custom_status_is_reported_every_step_and_survives_replay(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        ctx.set_custom_status({"stage": "started"})
        yield ctx.call_activity("a")
        yield ctx.call_activity("b")  # no change in this step
        ctx.set_custom_status("finishing")
        return "ok"

    d = Driver(flavor(orch))
    d.start()
    assert d.custom_status == {"stage": "started"}
    assert d.last.custom_status == '{"stage":"started"}'
    d.step(completed(0))
    assert d.custom_status == {"stage": "started"}
    d.step(completed(1))
    assert d.custom_status == "finishing" and d.output == "ok"


def test_current_utc_datetime_comes_from_orchestrator_started(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        seen = [ctx.current_utc_datetime]
        yield ctx.call_activity("a")
        seen.append(ctx.current_utc_datetime)
        yield ctx.call_activity("b")
        seen.append(ctx.current_utc_datetime)
        return [t.isoformat() for t in seen]

    d = Driver(flavor(orch), tick=timedelta(minutes=7))
    d.start()
    d.step(completed(0))
    d.step(completed(1))
    assert d.output == [(T0 + timedelta(minutes=m)).isoformat() for m in (0, 7, 14)]


def test_new_uuid_is_deterministic_across_replays_and_distinct_within_one(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        ids = [ctx.new_uuid(), ctx.new_uuid()]
        yield ctx.call_activity("a")
        ids.append(ctx.new_uuid())
        return ids

    outputs = []
    for instance_id in ("i-1", "i-1", "i-2"):
        d = Driver(flavor(orch), instance_id=instance_id)
        d.start()
        d.step(completed(0))  # the Driver checks live == replay: same ids both ways
        outputs.append(d.output)
    same, again, other = outputs
    assert same == again
    assert len(set(same)) == 3
    assert not set(same) & set(other)
    assert all(uuid.UUID(u).version == 5 for u in same)


def test_is_replaying_is_true_only_while_past_events_are_processed() -> None:
    seen: list[bool] = []

    def orch(ctx: Any) -> Any:
        seen.append(ctx.is_replaying)
        yield ctx.call_activity("a")
        seen.append(ctx.is_replaying)
        yield ctx.call_activity("b")
        seen.append(ctx.is_replaying)

    d = Driver(orch)
    d.start()
    d.step(completed(0))
    past = list(d.history)

    seen.clear()
    replay(orch, past, [OrchestratorStarted(timestamp=T0), completed(1)])
    assert seen == [True, True, False]

    seen.clear()
    live = OrchestrationExecutor(orch, "x")
    live.step(past[:2])
    live.step(past[3:5])
    assert seen == [False, False]


def test_logger_is_silent_during_replay(caplog: pytest.LogCaptureFixture) -> None:
    def orch(ctx: Any) -> Any:
        ctx.logger.info("before %s", "a")
        yield ctx.call_activity("a")
        ctx.logger.info("before %s", "b")
        yield ctx.call_activity("b")
        ctx.logger.warning("done")

    d = Driver(orch, instance_id="log-1")
    d.start()
    d.step(completed(0))

    caplog.set_level(logging.INFO, logger="perdure.orchestration")
    caplog.clear()
    replay(orch, d.history, [OrchestratorStarted(timestamp=T0), completed(1)], "log-1")
    assert [r.getMessage() for r in caplog.records] == ["done"]
    assert caplog.records[0].instance_id == "log-1"  # type: ignore[attr-defined]

    caplog.clear()
    live = OrchestrationExecutor(orch, "log-1")
    live.step([OrchestratorStarted(timestamp=T0), ExecutionStarted(timestamp=T0, name="o")])
    assert [r.getMessage() for r in caplog.records] == ["before a"]


# --- continue-as-new ----------------------------------------------------------


def counter(ctx: Any) -> Any:
    n = ctx.get_input()
    yield ctx.call_activity("tick", n)
    if n < 2:
        ctx.continue_as_new(n + 1)
        return "ignored"
    return f"stopped at {n}"


def test_continue_as_new_ends_the_generation_with_the_new_input(flavor: Any) -> None:
    generation = 0
    d = Driver(flavor(counter))
    d.start(0)
    while True:
        r = d.step(completed(0))
        if r.status is not Status.ContinuedAsNew:
            break
        assert r.actions == [] and r.failure is None
        assert r.output == dumps(generation + 1)
        generation += 1
        # The worker starts the next generation from a fresh history.
        d = Driver(flavor(counter))
        d.start(json_input(r.output))
    assert generation == 2
    assert d.output == "stopped at 2"


def json_input(text: str | None) -> Any:
    import json

    return None if text is None else json.loads(text)


def collect_later(ctx: Any) -> Any:
    if ctx.get_input() == "first":
        yield ctx.create_timer(timedelta(hours=1))
        ctx.continue_as_new("second", preserve_unprocessed_events=True)
        return None
    first = yield ctx.wait_for_external_event("x")
    second = yield ctx.wait_for_external_event("x")
    other = yield ctx.wait_for_external_event("y")
    return [first, second, other]


def test_continue_as_new_can_carry_unprocessed_events_to_the_next_generation(
        flavor: Any) -> None:
    d = Driver(flavor(collect_later))
    d.start("first")
    d.step(raised("x", 1))
    d.step(raised("y", "why"), raised("x", 2))
    r = d.fire(0)
    assert r.status is Status.ContinuedAsNew and r.output == '"second"'
    assert [(e.name, e.input) for e in r.carryover] == [("x", "1"), ("x", "2"), ("y", '"why"')]

    nxt = Driver(flavor(collect_later))
    nxt.start("second", *r.carryover)
    assert nxt.output == [1, 2, "why"]


def test_continue_as_new_carries_events_arriving_in_the_same_batch(flavor: Any) -> None:
    d = Driver(flavor(collect_later))
    d.start("first")
    d.step(raised("x", 1))
    r = d.step(d.fired(0), raised("x", 2), raised("y", 3))
    assert r.status is Status.ContinuedAsNew
    assert sorted((e.name, e.input) for e in r.carryover) == [("x", "1"), ("x", "2"),
                                                             ("y", "3")]
    nxt = Driver(flavor(collect_later))
    nxt.start("second", *r.carryover)
    assert nxt.output == [1, 2, 3]


def test_continue_as_new_drops_unprocessed_events_unless_asked(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        yield ctx.create_timer(timedelta(hours=1))
        ctx.continue_as_new({"round": 2})

    d = Driver(flavor(orch))
    d.start()
    d.step(raised("x", 1))
    r = d.fire(0)
    assert r.status is Status.ContinuedAsNew and r.output == '{"round":2}'
    assert r.carryover == []


def test_plain_function_may_continue_as_new() -> None:
    def plain(ctx: Any) -> Any:
        ctx.continue_as_new(ctx.get_input() + 1)
        return "not the output"

    d = Driver(plain)
    r = d.start(1)
    assert r.status is Status.ContinuedAsNew and r.output == "2"


def test_new_generation_replays_from_its_own_history(flavor: Any) -> None:
    d = Driver(flavor(collect_later))
    d.start("first", raised("x", "a"), raised("x", "b"))
    r = d.fire(0)
    nxt = Driver(flavor(collect_later), instance_id=d.instance_id)
    nxt.start("second", *r.carryover)
    assert nxt.status is Status.Running
    assert isinstance(nxt.history[1], ExecutionStarted)
    assert [e for e in nxt.history if isinstance(e, EventRaised)] == r.carryover
    nxt.step(raised("y", "c"))
    assert nxt.output == ["a", "b", "c"]


# --- suspend and resume -------------------------------------------------------


def three_inputs(ctx: Any) -> Any:
    a = yield ctx.call_activity("a")
    e1 = yield ctx.wait_for_external_event("x")
    e2 = yield ctx.wait_for_external_event("x")
    return [a, e1, e2, ctx.current_utc_datetime.isoformat()]


def test_suspend_holds_events_until_resume_then_applies_them_in_order(flavor: Any) -> None:
    d = Driver(flavor(three_inputs))
    d.start()
    r = d.step(suspended("maintenance"))
    assert r.status is Status.Suspended and r.actions == []
    r = d.step(completed(0, "A"), raised("x", 1))
    assert r.status is Status.Suspended and r.actions == [] and r.output is None
    d.step(raised("x", 2))
    assert d.status is Status.Suspended
    r = d.step(resumed())
    assert r.status is Status.Completed
    # The held events ran in arrival order, in the resume step, at its time.
    assert d.output == ["A", 1, 2, d.now.isoformat()]


def test_resume_without_suspend_is_ignored(flavor: Any) -> None:
    d = Driver(flavor(three_inputs))
    d.start()
    assert d.step(resumed()).status is Status.Running
    d.step(completed(0, "A"), raised("x", 1), raised("x", 2))
    assert d.status is Status.Completed


def test_actions_decided_before_a_suspend_in_the_same_step_are_kept(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        a = yield ctx.call_activity("a")
        b = yield ctx.call_activity("b", a)
        return b

    d = Driver(flavor(orch))
    d.start()
    r = d.step(completed(0, "A"), suspended())
    assert r.status is Status.Suspended
    assert r.actions == [activity(1, "b", "A")]
    # The next step, still suspended, must not schedule "b" again.
    r = d.step(raised("noise"))
    assert r.actions == [] and r.status is Status.Suspended
    d.step(completed(1, "B"))
    d.step(resumed())
    assert d.output == "B"


def test_suspended_then_terminated(flavor: Any) -> None:
    d = Driver(flavor(three_inputs))
    d.start()
    d.step(suspended())
    d.step(completed(0, "A"))
    r = d.step(terminated("no longer needed"))
    assert r.status is Status.Terminated and d.output == "no longer needed"
    r = d.step(resumed())
    assert r.status is Status.Terminated and r.actions == []


# --- terminate ----------------------------------------------------------------


def waiting_on(kind: str) -> Any:
    def orch(ctx: Any) -> Any:
        if kind == "activity":
            yield ctx.call_activity("a")
        elif kind == "timer":
            yield ctx.create_timer(timedelta(days=1))
        elif kind == "event":
            yield ctx.wait_for_external_event("go")
        elif kind == "sub-orchestration":
            yield ctx.call_sub_orchestrator("child")
        yield ctx.call_activity("after")
        return "finished"
    return orch


LATE: dict[str, Callable[[Driver], HistoryEvent]] = {
    "activity": lambda d: completed(0, "late"),
    "timer": lambda d: d.fired(0),
    "event": lambda d: raised("go", "late"),
    "sub-orchestration": lambda d: sub_completed(0, "late"),
}


@pytest.mark.parametrize("kind", list(LATE))
def test_terminate_while_waiting_ends_the_instance_and_ignores_late_results(
        kind: str, flavor: Any) -> None:
    d = Driver(flavor(waiting_on(kind)), instance_id="t")
    d.start()
    r = d.step(terminated({"why": "operator request"}))
    assert r.status is Status.Terminated
    assert r.actions == [] and r.failure is None
    assert d.output == {"why": "operator request"}
    if kind == "sub-orchestration":
        # The worker reads these to propagate the termination.
        assert d.live.open_sub_orchestrations() == ["t:0"]

    r = d.step(LATE[kind](d))
    assert r.status is Status.Terminated and r.actions == []
    assert d.output == {"why": "operator request"}


def test_terminate_in_the_same_batch_drops_the_steps_new_actions(flavor: Any) -> None:
    d = Driver(flavor(waiting_on("activity")))
    d.start()
    r = d.step(completed(0), terminated())
    assert r.status is Status.Terminated and r.actions == []
    assert r.output is None


def test_terminate_before_a_result_in_the_same_batch_wins(flavor: Any) -> None:
    d = Driver(flavor(waiting_on("activity")))
    d.start()
    r = d.step(terminated("stop"), completed(0))
    assert r.status is Status.Terminated and r.actions == [] and d.output == "stop"


def test_events_held_while_suspended_are_carried_over_by_continue_as_new(flavor: Any) -> None:
    d = Driver(flavor(collect_later))
    d.start("first")
    d.step(suspended())
    d.step(d.fired(0), raised("x", 1))
    d.step(raised("x", 2))
    r = d.step(resumed(), raised("y", 3))
    assert r.status is Status.ContinuedAsNew
    assert [(e.name, e.input) for e in r.carryover] == [("x", "1"), ("x", "2"), ("y", "3")]


def test_time_before_any_orchestrator_started_is_the_utc_epoch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Not the machine's local zone: new_uuid and timers must not depend on where we run.
    monkeypatch.setenv("TZ", "IST-5:30")
    time.tzset()
    try:
        ctx = OrchestrationExecutor(counter, "x").ctx
        assert ctx.current_utc_datetime.isoformat() == "1970-01-01T00:00:00+00:00"
    finally:
        monkeypatch.undo()
        time.tzset()
