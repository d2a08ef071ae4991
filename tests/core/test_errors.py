"""Errors users make and histories that do not match: clear failures, never hangs."""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import pytest

from perdure.core import ReplayResult, RetryOptions, replay
from perdure.core.errors import NonDeterminismError, SerializationError
from perdure.core.history import OrchestratorStarted, TimerFired
from perdure.core.serialization import dumps
from perdure.core.status import OrchestrationRuntimeStatus as Status

from .histories import T0, Driver, activity, completed, failed, raised, sub_completed

# --- values that are not JSON ------------------------------------------------


class NotJson:
    def __repr__(self) -> str:
        return "NotJson()"


CALLS = {
    "call_activity": (lambda ctx: ctx.call_activity("a", {1, 2}), "input"),
    "call_activity_with_retry": (
        lambda ctx: ctx.call_activity_with_retry("a", RetryOptions(1, 2), NotJson()), "input"),
    "call_sub_orchestrator": (lambda ctx: ctx.call_sub_orchestrator("c", NotJson()), "input"),
    "call_sub_orchestrator_with_retry": (
        lambda ctx: ctx.call_sub_orchestrator_with_retry("c", RetryOptions(1, 2), NotJson()),
        "input"),
    "send_event": (lambda ctx: ctx.send_event("other", "e", float("nan")), "event data"),
    "set_custom_status": (lambda ctx: ctx.set_custom_status(NotJson()), "custom status"),
    "continue_as_new": (lambda ctx: ctx.continue_as_new(NotJson()), "input"),
}


@pytest.mark.parametrize(("call", "what"), list(CALLS.values()), ids=list(CALLS))
def test_non_json_values_fail_at_the_call_site(call: Any, what: str, flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        try:
            call(ctx)
        except SerializationError as exc:
            message = str(exc)
        # The failed call used no task id: the next call gets id 0.
        yield ctx.call_activity("next")
        return message

    d = Driver(flavor(orch))
    assert d.start().actions == [activity(0, "next")]
    d.step(completed(0))
    assert d.status is Status.Completed
    assert d.output.startswith(f"{what} must be JSON-serializable, got ")


def test_serialization_error_message_names_the_type() -> None:
    with pytest.raises(SerializationError, match=r"^input must be JSON-serializable, got set: "):
        dumps({1}, "input")
    assert isinstance(SerializationError("x"), TypeError)


def test_non_json_output_fails_the_instance_with_a_clear_message(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        yield ctx.call_activity("a")
        return {"when": ctx.current_utc_datetime}

    d = Driver(flavor(orch))
    d.start()
    r = d.step(completed(0))
    assert r.status is Status.Failed
    assert r.failure is not None
    assert r.failure.error_type == "SerializationError"
    assert r.failure.message.startswith(
        "orchestrator output must be JSON-serializable, got dict: ")
    assert "datetime" in r.failure.message


def test_uncaught_serialization_error_at_a_call_site_fails_the_instance(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        yield ctx.call_activity("a", NotJson())

    r = Driver(flavor(orch)).start()
    assert r.status is Status.Failed and r.actions == []
    assert r.failure is not None and r.failure.error_type == "SerializationError"
    assert "input must be JSON-serializable, got NotJson" in r.failure.message


# --- awaiting things that are not perdure tasks ------------------------------


def test_yielding_a_non_task_fails_with_a_clear_type_error() -> None:
    def orch(ctx: Any) -> Any:
        yield 42

    r = Driver(orch).start()
    assert r.status is Status.Failed
    assert r.failure is not None and r.failure.error_type == "TypeError"
    assert r.failure.message == (
        "orchestrator 'orch' awaited 42, which is not a perdure task; "
        "orchestrators may only await tasks from the context")


class Foreign:
    """An awaitable from some other framework, yielding its own future objects."""

    def __await__(self) -> Generator[Any, Any, Any]:
        return (yield "foreign future")


def test_awaiting_a_foreign_awaitable_fails_with_a_clear_type_error() -> None:
    async def orch(ctx: Any) -> Any:
        await Foreign()

    r = Driver(orch).start()
    assert r.status is Status.Failed
    assert r.failure is not None and r.failure.error_type == "TypeError"
    assert "awaited 'foreign future', which is not a perdure task" in r.failure.message


def test_the_type_error_can_be_caught_and_the_orchestrator_continues() -> None:
    async def orch(ctx: Any) -> Any:
        try:
            await Foreign()
        except TypeError:
            pass
        return await ctx.call_activity("a")

    d = Driver(orch)
    assert d.start().actions == [activity(0, "a")]
    d.step(completed(0, "fine"))
    assert d.output == "fine"


# --- nondeterminism ------------------------------------------------------------


def original(ctx: Any) -> Any:
    yield ctx.call_activity("a")
    yield ctx.call_activity("b")
    return "done"


def history_of_original() -> Driver:
    d = Driver(original)
    d.start()
    d.step(completed(0))
    assert d.last.actions == [activity(1, "b")]
    return d


def replay_changed(changed: Any, d: Driver, *new: Any) -> ReplayResult:
    return replay(changed, d.history, [OrchestratorStarted(timestamp=d.now), *new], d.instance_id)


def assert_nondeterminism(result: ReplayResult, message: str) -> None:
    assert result.status is Status.Failed
    assert result.actions == []
    assert result.failure is not None
    assert result.failure.error_type == NonDeterminismError.__name__
    assert result.failure.message == message
    assert result.output == dumps(f"Orchestrator function 'orch' failed: "
                                  f"NonDeterminismError: {message}")


def test_changed_activity_name_is_detected(flavor: Any) -> None:
    def changed(ctx: Any) -> Any:
        yield ctx.call_activity("a")
        yield ctx.call_activity("renamed")

    r = replay_changed(flavor(changed), history_of_original(), completed(1))
    assert_nondeterminism(r, "non-deterministic orchestrator 'orch': at position 1 history "
                             "expected call activity 'b', but the code tried to call activity "
                             "'renamed'")


def test_activity_replaced_by_timer_is_detected(flavor: Any) -> None:
    def changed(ctx: Any) -> Any:
        yield ctx.call_activity("a")
        yield ctx.create_timer(timedelta(seconds=5))

    r = replay_changed(flavor(changed), history_of_original(), completed(1))
    assert_nondeterminism(r, "non-deterministic orchestrator 'orch': at position 1 history "
                             "expected call activity 'b', but the code tried to create timer")


def test_timer_replaced_by_sub_orchestration_is_detected(flavor: Any) -> None:
    def with_timer(ctx: Any) -> Any:
        yield ctx.create_timer(timedelta(seconds=5))

    def changed(ctx: Any) -> Any:
        yield ctx.call_sub_orchestrator("child")

    d = Driver(with_timer)
    d.start()
    r = replay_changed(flavor(changed), d, d.fired(0))
    assert_nondeterminism(r, "non-deterministic orchestrator 'orch': at position 0 history "
                             "expected create timer, but the code tried to call "
                             "sub-orchestrator 'child'")


def test_action_in_history_that_the_code_no_longer_schedules_is_detected(flavor: Any) -> None:
    def changed(ctx: Any) -> Any:
        yield ctx.call_activity("a")
        yield ctx.wait_for_external_event("something else")

    r = replay_changed(flavor(changed), history_of_original(), completed(1))
    assert_nondeterminism(r, "non-deterministic orchestrator 'orch': at position 1 history "
                             "expected call activity 'b', but the code scheduled nothing there")


def test_nondeterminism_in_the_first_step_is_detected(flavor: Any) -> None:
    def changed(ctx: Any) -> Any:
        yield ctx.call_activity("z")

    r = replay_changed(flavor(changed), history_of_original(), completed(1))
    assert r.status is Status.Failed and r.failure is not None
    assert "at position 0 history expected call activity 'a', but the code tried to call " \
           "activity 'z'" in r.failure.message


def test_changed_inputs_are_not_nondeterminism(flavor: Any) -> None:
    def changed(ctx: Any) -> Any:
        yield ctx.call_activity("a", "new input")
        yield ctx.call_activity("b", "new input")
        return "still fine"

    r = replay_changed(flavor(changed), history_of_original(), completed(1))
    assert r.status is Status.Completed and r.output == '"still fine"'


# --- duplicate and stale deliveries --------------------------------------------


def two_steps(ctx: Any) -> Any:
    a = yield ctx.call_activity("a")
    b = yield ctx.call_activity("b")
    return [a, b]


def test_duplicate_completion_in_the_same_batch_is_ignored(flavor: Any) -> None:
    d = Driver(flavor(two_steps))
    d.start()
    r = d.step(completed(0, "first"), completed(0, "duplicate"))
    assert r.actions == [activity(1, "b", None)]
    d.step(completed(1, "B"))
    assert d.output == ["first", "B"]


def test_redelivered_completion_in_a_later_step_is_ignored(flavor: Any) -> None:
    d = Driver(flavor(two_steps))
    d.start()
    d.step(completed(0, "first"))
    r = d.step(completed(0, "again"), failed(0))
    assert r.actions == [] and r.status is Status.Running
    d.step(completed(1, "B"))
    assert d.output == ["first", "B"]


def test_completions_for_unknown_tasks_are_ignored(flavor: Any) -> None:
    d = Driver(flavor(two_steps))
    d.start()
    r = d.step(completed(7, "stray"), sub_completed(8), failed(9),
               TimerFired(timestamp=T0, task_id=10, fire_at=T0), raised("nobody waits"))
    assert r.actions == [] and r.status is Status.Running
    d.step(completed(0, "A"))
    d.step(completed(1, "B"))
    assert d.output == ["A", "B"]


def test_failure_after_success_for_the_same_task_is_ignored(flavor: Any) -> None:
    d = Driver(flavor(two_steps))
    d.start()
    r = d.step(completed(0, "ok"), failed(0, message="too late"))
    assert r.status is Status.Running and r.actions == [activity(1, "b")]


def test_results_after_completion_change_nothing(flavor: Any) -> None:
    d = Driver(flavor(two_steps))
    d.start()
    d.step(completed(0, "A"))
    d.step(completed(1, "B"))
    r = d.step(completed(1, "B again"), raised("x"))
    assert r.status is Status.Completed and r.actions == [] and d.output == ["A", "B"]
