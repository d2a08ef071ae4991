"""One live run of the SDK's orchestration executor, fed history incrementally.

The SDK's own handler (``Orchestrator.create(fn)``) builds a fresh
``TaskOrchestrationExecutor`` per call and re-runs the whole history every
step, O(n²) over an orchestration's life. A :class:`SdkSession` starts the
user code the same way — ``TaskOrchestrationExecutor().execute(context,
history, fn)``, which is what the handler runs — and then keeps that
executor, its context and the user's generator alive, handing it events
through the executor's own ``process_event``: the rest of the history at
once, later steps' new events as they come. Its outcome is read from the
executor's fields, as ``get_orchestrator_state_str`` would report it,
without re-serializing every action scheduled so far.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from azure.durable_functions.models.history.HistoryEvent import HistoryEvent
from azure.durable_functions.models.TaskOrchestrationExecutor import TaskOrchestrationExecutor

from .history_json import ORCHESTRATOR_STARTED, TIMER_FIRED, SdkEvent
from .sdk_actions import RecordingContext


@dataclass(slots=True)
class SdkOutcome:
    """Where the user code stands after the events fed so far."""

    done: bool
    """It returned, or called ``continue_as_new``."""
    continued_as_new: bool
    output: Any
    error: BaseException | None
    custom_status: Any


class _Executor(TaskOrchestrationExecutor):  # type: ignore[misc]
    """The SDK's executor, told where the new events of the whole history begin.

    ``execute`` is given only the first two events (``OrchestratorStarted``,
    ``ExecutionStarted``); the session feeds the rest itself, one at a time.
    """

    replay_boundary = 0

    def _find_new_events_start_index(self, history: Any) -> int:
        return self.replay_boundary


class SdkSession:
    """The SDK executor of one orchestration execution, kept between steps.

    Every event goes through :meth:`feed`, on a new session (the whole
    history) and on a live one (a step's new events) alike, so that both see
    exactly the same sequence: after each event, a retry's final timer that
    the event made the SDK take is fired at once (see
    :func:`~perdure.azure.sdk_actions.is_exhausted_retry_timer`).
    """

    def __init__(self, user_function: Callable[..., Any], context: RecordingContext) -> None:
        self.context = context
        self._fn = user_function
        self._executor = _Executor()
        self._generator = False

    def start(self, history: Sequence[SdkEvent]) -> None:
        """Run the user code over ``history`` (the whole of it; the context was built from
        its first two events), marking as replayed what lies before the last
        ``OrchestratorStarted``, as the SDK's own ``execute`` does."""
        sdk = self._executor
        boundary = max((i for i, e in enumerate(history)
                        if e["EventType"] == ORCHESTRATOR_STARTED), default=0)
        sdk.replay_boundary = boundary
        try:
            sdk.execute(self.context, self.context.histories, self._fn)
        except Exception:
            # The SDK raises the user's error again, wrapped with its state;
            # outcome() reports it. Anything else is an error of the call itself.
            if sdk.exception is None:
                raise
        self._generator = hasattr(sdk, "generator")
        if self.resumable:
            self.feed(history[2:], first_index=2, new_from=boundary)

    @property
    def resumable(self) -> bool:
        """Whether later events can be fed (a generator still running)."""
        return self._generator and not self._executor.has_execution_completed

    def feed(self, events: Sequence[SdkEvent], first_index: int = 0, new_from: int = 0) -> None:
        """Process ``events`` (at ``first_index`` of the history; new from ``new_from``)."""
        sdk = self._executor
        exhausted = self.context.exhausted
        for index, data in enumerate(events, first_index):
            sdk._is_processing_new_events = index >= new_from
            sdk.process_event(HistoryEvent(**data))
            while exhausted and not sdk.has_execution_completed:
                sdk.process_event(HistoryEvent(
                    EventType=TIMER_FIRED, EventId=-1, IsPlayed=False,
                    Timestamp=data["Timestamp"], TimerId=exhausted.pop(0),
                    FireAt=data["Timestamp"]))
            if sdk.has_execution_completed:
                break

    def outcome(self) -> SdkOutcome:
        """The state ``get_orchestrator_state_str`` would report (falsy custom status is
        reported as none, as the SDK drops it)."""
        sdk = self._executor
        status = self.context.custom_status
        return SdkOutcome(done=bool(sdk.orchestration_invocation_succeeded),
                          continued_as_new=bool(self.context.will_continue_as_new),
                          output=sdk.output, error=sdk.exception,
                          custom_status=status if status else None)
