"""One live run of the SDK's orchestration executor, fed history incrementally.

The SDK's own handler (``Orchestrator.create(fn)``) builds a fresh
``TaskOrchestrationExecutor`` per call and re-runs the whole history every
step, O(n²) over an orchestration's life. A :class:`SdkSession` starts the
same way — ``TaskOrchestrationExecutor().execute(context, history, fn)``,
which is what the handler runs — and then keeps that executor, its context
and the user's generator alive, handing later steps only their new events
through the executor's own ``process_event``. Its outcome is read from the
executor's fields, as ``get_orchestrator_state_str`` would report it,
without re-serializing every action scheduled so far.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from azure.durable_functions.models.history.HistoryEvent import HistoryEvent
from azure.durable_functions.models.TaskOrchestrationExecutor import TaskOrchestrationExecutor

from .history_json import SdkEvent
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


class SdkSession:
    """The SDK executor of one orchestration execution, kept between steps."""

    def __init__(self, user_function: Callable[..., Any], context: RecordingContext) -> None:
        self.context = context
        self._fn = user_function
        self._executor = TaskOrchestrationExecutor()
        self._generator = False

    def start(self) -> None:
        """Run the user code over the context's whole history (the SDK's own path)."""
        sdk = self._executor
        try:
            sdk.execute(self.context, self.context.histories, self._fn)
        except Exception:
            # The SDK raises the user's error again, wrapped with its state;
            # outcome() reports it. Anything else is an error of the call itself.
            if sdk.exception is None:
                raise
        self._generator = hasattr(sdk, "generator")

    @property
    def resumable(self) -> bool:
        """Whether later events can be fed (a generator still running)."""
        return self._generator and not self._executor.has_execution_completed

    def feed(self, events: Sequence[SdkEvent]) -> None:
        """Process new events, as ``execute`` does past the last ``OrchestratorStarted``."""
        sdk = self._executor
        sdk._is_processing_new_events = True
        for data in events:
            sdk.process_event(HistoryEvent(**data))
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
