"""Sub-orchestrations: deterministic child ids, results, failures and retries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from perdure.core import CreateTimer, RetryOptions, ScheduleSubOrchestration
from perdure.core.errors import TaskFailedError
from perdure.core.status import OrchestrationRuntimeStatus as Status

from .histories import Driver, activity, completed, sub_completed, sub_failed, sub_orchestration


def parent(ctx: Any) -> Any:
    yield ctx.call_activity("prepare")
    a = yield ctx.call_sub_orchestrator("child", {"n": 1})
    b = yield ctx.call_sub_orchestrator("child", {"n": 2}, instance_id="explicit-child")
    return [a, b]


def test_sub_orchestrator_gets_a_deterministic_child_id_and_returns_its_output(
        flavor: Any) -> None:
    d = Driver(flavor(parent), instance_id="parent-7")
    d.start()
    r = d.step(completed(0))
    assert r.actions == [sub_orchestration(1, "child", "parent-7:1", {"n": 1})]
    assert d.live.open_sub_orchestrations() == ["parent-7:1"]

    r = d.step(sub_completed(1, "one"))
    assert r.actions == [sub_orchestration(2, "child", "explicit-child", {"n": 2})]
    assert d.live.open_sub_orchestrations() == ["explicit-child"]

    d.step(sub_completed(2, "two"))
    assert d.output == ["one", "two"]
    assert d.live.open_sub_orchestrations() == []


def test_default_child_ids_differ_per_parent_and_repeat_on_replay(flavor: Any) -> None:
    ids = []
    for parent_id in ("p-1", "p-2", "p-1"):
        d = Driver(flavor(parent), instance_id=parent_id)
        d.start()
        action = d.step(completed(0)).actions[0]
        assert isinstance(action, ScheduleSubOrchestration)
        ids.append(action.instance_id)
    assert ids == ["p-1:1", "p-2:1", "p-1:1"]


def test_sub_orchestration_failure_is_raised_with_details(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        try:
            yield ctx.call_sub_orchestrator("child")
        except TaskFailedError as exc:
            return [exc.error_type, exc.details.message, str(exc)]

    d = Driver(flavor(orch))
    d.start()
    d.step(sub_failed(0, "ZeroDivisionError", "division by zero"))
    assert d.output == ["ZeroDivisionError", "division by zero",
                        "sub-orchestration task 0 failed: ZeroDivisionError: division by zero"]
    assert d.live.open_sub_orchestrations() == []


def test_uncaught_sub_orchestration_failure_fails_the_parent(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        return (yield ctx.call_sub_orchestrator("child"))

    d = Driver(flavor(orch))
    d.start()
    r = d.step(sub_failed(0, message="child broke"))
    assert r.status is Status.Failed
    assert r.failure is not None and r.failure.error_type == "TaskFailedError"
    assert "child broke" in r.failure.message


def test_sub_orchestrator_with_retry_starts_a_new_child_per_attempt(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        return (yield ctx.call_sub_orchestrator_with_retry("child", RetryOptions(30, 3), "in"))

    d = Driver(flavor(orch), instance_id="p")
    assert d.start().actions == [sub_orchestration(0, "child", "p:0", "in")]
    r = d.step(sub_failed(0))
    assert r.actions == [CreateTimer(1, d.now + timedelta(seconds=30))]
    assert d.live.open_sub_orchestrations() == []
    assert d.fire(1).actions == [sub_orchestration(2, "child", "p:2", "in")]
    assert d.live.open_sub_orchestrations() == ["p:2"]
    d.step(sub_completed(2, "second time lucky"))
    assert d.output == "second time lucky"


def test_sub_orchestrator_with_retry_reuses_an_explicit_child_id(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        try:
            yield ctx.call_sub_orchestrator_with_retry("child", RetryOptions(1, 2),
                                                       instance_id="kid")
        except TaskFailedError as exc:
            return exc.details.message

    d = Driver(flavor(orch))
    d.start()
    d.step(sub_failed(0, message="first"))
    d.fire(1)
    d.step(sub_failed(2, message="second"))
    assert [a.instance_id for a in d.all_actions() if isinstance(a, ScheduleSubOrchestration)
            ] == ["kid", "kid"]
    assert d.output == "second"


def test_activity_and_sub_orchestration_share_one_task_sequence(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        tasks = [ctx.call_activity("a"), ctx.call_sub_orchestrator("c"), ctx.call_activity("b")]
        return (yield ctx.task_all(tasks))

    d = Driver(flavor(orch), instance_id="x")
    assert d.start().actions == [activity(0, "a"), sub_orchestration(1, "c", "x:1"),
                                 activity(2, "b")]
    d.step(completed(2, "B"), sub_completed(1, "C"), completed(0, "A"))
    assert d.output == ["A", "C", "B"]
