"""task_all and task_any: ordering, fail-fast, first-wins, late results ignored."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from perdure.core import CreateTimer
from perdure.core.errors import TaskFailedError
from perdure.core.status import OrchestrationRuntimeStatus as Status

from .histories import T0, Driver, activity, completed, failed, raised


def fan_out_then_report(ctx: Any) -> Any:
    tasks = [ctx.call_activity("work", i) for i in range(3)]
    try:
        results = yield ctx.task_all(tasks)
    except TaskFailedError as exc:
        results = f"failed: {exc.details.message}"
    report = yield ctx.call_activity("report", results)
    return report


def test_task_all_returns_results_in_task_order_not_completion_order(flavor: Any) -> None:
    d = Driver(flavor(fan_out_then_report))
    assert d.start().actions == [activity(i, "work", i) for i in range(3)]
    assert d.step(completed(2, "c")).actions == []
    assert d.step(completed(0, "a")).actions == []
    assert d.step(completed(1, "b")).actions == [activity(3, "report", ["a", "b", "c"])]
    d.step(completed(3, "reported"))
    assert d.output == "reported"


def test_task_all_fails_fast_on_the_first_failure(flavor: Any) -> None:
    d = Driver(flavor(fan_out_then_report))
    d.start()
    d.step(completed(0, "a"))
    # Task 2 is still running, yet the orchestrator resumes at once.
    r = d.step(failed(1, message="one broke"))
    assert r.actions == [activity(3, "report", "failed: one broke")]
    # The straggler's result arrives later and changes nothing.
    r = d.step(completed(2, "c"))
    assert r.actions == [] and r.status is Status.Running
    d.step(completed(3, "reported"))
    assert d.output == "reported"


def test_task_all_raises_the_first_failure_to_arrive(flavor: Any) -> None:
    d = Driver(flavor(fan_out_then_report))
    d.start()
    d.step(failed(2, message="two"), failed(0, message="zero"))
    assert d.last.actions == [activity(3, "report", "failed: two")]


def test_task_all_of_nothing_completes_at_once(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        return (yield ctx.task_all([]))

    d = Driver(flavor(orch))
    d.start()
    assert d.output == []


def test_task_all_of_already_completed_tasks(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        first = ctx.call_activity("a")
        yield first
        second = ctx.call_activity("b")
        yield second
        return (yield ctx.task_all([first, second]))

    d = Driver(flavor(orch))
    d.start()
    d.step(completed(0, 1))
    d.step(completed(1, 2))
    assert d.output == [1, 2]


def race(ctx: Any) -> Any:
    slow = ctx.call_activity("slow")
    fast = ctx.call_activity("fast")
    winner = yield ctx.task_any([slow, fast])
    name = "fast" if winner is fast else "slow"
    outcome = "failed" if winner.is_failed else winner.result
    follow_up = yield ctx.call_activity("after", [name, outcome])
    return follow_up


def test_task_any_completes_with_the_first_task_to_finish(flavor: Any) -> None:
    d = Driver(flavor(race))
    d.start()
    assert d.step(completed(1, "F")).actions == [activity(2, "after", ["fast", "F"])]
    # The loser finishes later: ignored.
    r = d.step(completed(0, "S"))
    assert r.actions == [] and r.status is Status.Running
    d.step(completed(2, "done"))
    assert d.output == "done"


def test_task_any_winner_may_be_a_failure(flavor: Any) -> None:
    d = Driver(flavor(race))
    d.start()
    assert d.step(failed(0)).actions == [activity(2, "after", ["slow", "failed"])]


def test_task_any_in_one_batch_the_first_event_wins(flavor: Any) -> None:
    d = Driver(flavor(race))
    d.start()
    assert d.step(completed(0, "S"), completed(1, "F")).actions == [
        activity(2, "after", ["slow", "S"])]


def test_task_any_with_a_timer_implements_a_deadline(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        approval = ctx.wait_for_external_event("approval")
        deadline = ctx.create_timer(timedelta(hours=24))
        winner = yield ctx.task_any([approval, deadline])
        return approval.result if winner is approval else "escalated"

    d = Driver(flavor(orch))
    assert d.start().actions == [CreateTimer(0, T0 + timedelta(hours=24))]
    d.fire(0)
    assert d.output == "escalated"

    d = Driver(flavor(orch))
    d.start()
    d.step(raised("approval", "approved"))
    assert d.output == "approved"


def test_task_any_needs_at_least_one_task(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        with pytest.raises(ValueError, match="at least one task"):
            ctx.task_any([])
        return "ok"
        yield  # a generator

    d = Driver(flavor(orch))
    d.start()
    assert d.output == "ok"


def test_nested_composition(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        groups = [ctx.task_all([ctx.call_activity("w", [g, i]) for i in range(2)])
                  for g in range(2)]
        first_group = yield ctx.task_any(groups)
        return first_group.result

    d = Driver(flavor(orch))
    d.start()
    d.step(completed(3, "g1b"), completed(0, "g0a"))
    assert d.status is Status.Running
    d.step(completed(2, "g1a"))
    assert d.output == ["g1a", "g1b"]
