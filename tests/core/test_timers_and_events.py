"""Durable timers and external events: buffering, FIFO per name, timeouts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from perdure.core import CreateTimer, SendEvent
from perdure.core.errors import EventTimeoutError, InvalidArgumentError
from perdure.core.status import OrchestrationRuntimeStatus as Status

from .histories import T0, Driver, activity, completed, raised

# --- timers ------------------------------------------------------------------


def test_timer_from_timedelta_is_due_relative_to_the_step_time(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        yield ctx.create_timer(timedelta(minutes=5))
        return ctx.current_utc_datetime.isoformat()

    d = Driver(flavor(orch))
    r = d.start()
    assert r.actions == [CreateTimer(0, T0 + timedelta(minutes=5))]
    assert d.step(completed(99)).status is Status.Running  # unrelated event: still waiting
    d.fire(0)
    assert d.status is Status.Completed
    assert d.output == (T0 + timedelta(minutes=5)).isoformat()


def test_timer_at_an_absolute_datetime(flavor: Any) -> None:
    due = datetime(2030, 1, 1, tzinfo=UTC)

    def orch(ctx: Any) -> Any:
        yield ctx.create_timer(due)
        return "woke"

    d = Driver(flavor(orch))
    assert d.start().actions == [CreateTimer(0, due)]
    d.fire(0)
    assert d.output == "woke"


def test_timer_with_a_naive_datetime_is_refused_at_the_call_site(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        try:
            ctx.create_timer(datetime(2030, 1, 1))
        except InvalidArgumentError as exc:
            return str(exc)
        yield ctx.create_timer(timedelta(seconds=1))

    d = Driver(flavor(orch))
    d.start()
    assert d.output == "create_timer needs a timezone-aware datetime"


def test_sequential_timers_get_consecutive_task_ids(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        for _ in range(3):
            yield ctx.create_timer(timedelta(hours=1))
        return "done"

    d = Driver(flavor(orch))
    d.start()
    d.fire(0)
    d.fire(1)
    d.fire(2)
    assert [a.task_id for a in d.all_actions()] == [0, 1, 2]
    assert d.timer(2).fire_at == T0 + timedelta(hours=3)
    assert d.output == "done"


# --- external events ---------------------------------------------------------


def prepare_then_wait_twice(ctx: Any) -> Any:
    yield ctx.call_activity("prepare")
    first = yield ctx.wait_for_external_event("x")
    second = yield ctx.wait_for_external_event("x")
    return [first, second]


def test_events_raised_before_the_wait_are_buffered_in_arrival_order(flavor: Any) -> None:
    d = Driver(flavor(prepare_then_wait_twice))
    d.start()
    d.step(raised("x", "first"))
    d.step(raised("y", "other name"), raised("x", "second"))
    assert d.status is Status.Running and d.last.actions == []
    d.step(completed(0))
    assert d.output == ["first", "second"]


def test_events_raised_in_the_same_batch_as_execution_started(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        first = yield ctx.wait_for_external_event("x")
        second = yield ctx.wait_for_external_event("x")
        return [first, second]

    d = Driver(flavor(orch))
    d.start(None, raised("x", 1), raised("x", 2))
    assert d.output == [1, 2]


def test_several_pending_waits_for_one_name_are_served_first_come_first_served(
        flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        waits = [ctx.wait_for_external_event("x") for _ in range(3)]
        return (yield ctx.task_all(waits))

    d = Driver(flavor(orch))
    assert d.start().actions == []
    d.step(raised("x", "a"))
    d.step(raised("x", "b"), raised("x", "c"))
    assert d.output == ["a", "b", "c"]


def test_events_are_kept_apart_per_name(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        b = yield ctx.wait_for_external_event("b")
        a = yield ctx.wait_for_external_event("a")
        return [a, b]

    d = Driver(flavor(orch))
    d.start()
    d.step(raised("a", "A1"))
    d.step(raised("a", "A2"))  # still waiting for "b"
    assert d.status is Status.Running
    d.step(raised("b", "B1"))
    assert d.output == ["A1", "B1"]


def timeout_then_wait_again(ctx: Any) -> Any:
    try:
        first = yield ctx.wait_for_external_event("approve", timeout=timedelta(minutes=1))
    except EventTimeoutError as exc:
        first = f"timed out: {exc.name}"
    second = yield ctx.wait_for_external_event("approve")
    return [first, second]


def test_wait_timeout_raises_event_timeout_error(flavor: Any) -> None:
    d = Driver(flavor(timeout_then_wait_again))
    assert d.start().actions == [CreateTimer(0, T0 + timedelta(minutes=1))]
    r = d.fire(0)
    assert r.status is Status.Running and r.actions == []
    d.step(raised("approve", "yes"))
    assert d.output == ["timed out: approve", "yes"]


def test_a_timed_out_wait_consumes_nothing(flavor: Any) -> None:
    d = Driver(flavor(timeout_then_wait_again))
    d.start()
    # The timer fires first, then the event arrives in the same batch: the
    # timed-out wait must not swallow it; the next wait gets it.
    d.step(d.fired(0), raised("approve", "late but kept"))
    assert d.output == ["timed out: approve", "late but kept"]


def test_event_before_timeout_wins_and_the_later_timer_is_ignored(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        got = yield ctx.wait_for_external_event("approve", timeout=60.0)
        after = yield ctx.call_activity("act", got)
        return after

    d = Driver(flavor(orch))
    d.start()
    assert d.step(raised("approve", "ok")).actions == [activity(1, "act", "ok")]
    r = d.fire(0)  # the timeout timer still fires: nothing happens
    assert r.status is Status.Running and r.actions == []
    d.step(completed(1, "acted"))
    assert d.output == "acted"


def test_event_and_timer_in_one_batch_first_in_batch_wins(flavor: Any) -> None:
    d = Driver(flavor(timeout_then_wait_again))
    d.start()
    d.step(raised("approve", "just in time"), d.fired(0))
    assert d.status is Status.Running  # the second wait has nothing yet
    d.step(raised("approve", "again"))
    assert d.output == ["just in time", "again"]


def test_buffered_event_satisfies_a_wait_with_timeout_without_a_timer(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        yield ctx.call_activity("prepare")
        return (yield ctx.wait_for_external_event("x", timeout=timedelta(hours=1)))

    d = Driver(flavor(orch))
    d.start(None, raised("x", 7))
    r = d.step(completed(0))
    assert r.actions == []
    assert d.output == 7


def test_uncaught_wait_timeout_fails_the_orchestration(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        return (yield ctx.wait_for_external_event("never", timeout=5))

    d = Driver(flavor(orch))
    d.start()
    r = d.fire(0)
    assert r.status is Status.Failed
    assert r.failure is not None
    assert r.failure.summary() == "EventTimeoutError: timed out waiting for external event 'never'"


def test_an_unconsumed_event_stays_buffered_for_a_much_later_wait(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        for i in range(3):
            yield ctx.call_activity("step", i)
        return (yield ctx.wait_for_external_event("x"))

    d = Driver(flavor(orch))
    d.start(None, raised("x", {"early": True}))
    d.step(completed(0))
    d.step(completed(1))
    d.step(completed(2))
    assert d.output == {"early": True}


def test_send_event_is_recorded_and_completes_nothing(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        ctx.send_event("other", "ping", {"n": 1})
        return (yield ctx.call_activity("a"))

    d = Driver(flavor(orch))
    assert d.start().actions == [SendEvent(0, "other", "ping", '{"n":1}'), activity(1, "a")]
    d.step(completed(1, "ok"))
    assert d.output == "ok"
