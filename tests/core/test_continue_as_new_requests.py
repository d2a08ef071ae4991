"""Requests addressed to the instance survive a continue-as-new in the same batch."""

from __future__ import annotations

from datetime import UTC, datetime

from perdure.core import OrchestrationRuntimeStatus as S
from perdure.core import replay
from perdure.core.history import (
    EventRaised,
    ExecutionStarted,
    ExecutionSuspended,
    ExecutionTerminated,
    OrchestratorStarted,
    TimerCreated,
    TimerFired,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def loop_forever(ctx):
    yield ctx.create_timer(T0)
    ctx.continue_as_new(ctx.get_input() + 1)


def test_terminate_after_continue_as_new_in_the_same_batch_is_carried_over():
    past = [OrchestratorStarted(timestamp=T0), ExecutionStarted(name="loop", input="0"),
            TimerCreated(task_id=0, fire_at=T0)]
    new = [OrchestratorStarted(timestamp=T0), TimerFired(task_id=0, fire_at=T0),
           EventRaised(name="ignored"), ExecutionTerminated(reason="stop"),
           ExecutionSuspended(reason="hold")]
    result = replay(loop_forever, past, new)
    assert result.status is S.ContinuedAsNew and result.output == "1"
    # Terminate and suspend move on to the new execution; the event is not preserved.
    assert [type(e) for e in result.carryover] == [ExecutionTerminated, ExecutionSuspended]


def test_code_that_now_returns_early_fails_with_nondeterminism():
    from perdure.core.history import TaskCompleted, TaskScheduled

    def shortened(ctx):  # used to call "b" after "a"
        yield ctx.call_activity("a")
        return "done early"

    past = [OrchestratorStarted(timestamp=T0), ExecutionStarted(name="short"),
            TaskScheduled(task_id=0, name="a"), OrchestratorStarted(timestamp=T0),
            TaskCompleted(task_id=0, result="1"), TaskScheduled(task_id=1, name="b")]
    result = replay(shortened, past, [OrchestratorStarted(timestamp=T0)])
    assert result.status is S.Failed
    assert result.failure.error_type == "NonDeterminismError"
    assert "position 1" in result.failure.message and "'b'" in result.failure.message
