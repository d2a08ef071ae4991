"""Durable Functions orchestrators on perdure's engine, through the SDK's own executor.

:class:`DFOrchestrationExecutor` is an :class:`~perdure.core.executor.OrchestrationExecutor`
(so the worker, replay, leases, terminate and suspend apply unchanged) whose
body is the SDK: events are translated into the SDK's history JSON, the SDK
runs once per step, and the sequence numbers it assigned are mapped onto
perdure actions. An executor kept in memory feeds its live SDK session only
the step's new events (O(new) per step, where the SDK's handler re-runs the
whole history); a fresh one (after a restart, or on another worker) only
translates the history and runs the SDK over all of it once, exactly as the
handler would. Nondeterminism, which the SDK never detects, is found by
comparing its assignments with the recorded actions. No I/O here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from ..core.actions import RECORDING_EVENTS, Action, describe, recorded_action
from ..core.errors import NonDeterminismError
from ..core.executor import OrchestrationExecutor, ReplayResult
from ..core.history import (
    EventRaised,
    ExecutionStarted,
    FailureDetails,
    HistoryEvent,
    OrchestratorStarted,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceCreated,
    SubOrchestrationInstanceFailed,
    TaskCompleted,
    TaskFailed,
    TimerFired,
)
from ..core.serialization import dumps
from ..core.status import OrchestrationRuntimeStatus as Status
from .history_json import SdkEvent, context_input, to_sdk_event
from .sdk_actions import RecordingContext, rekey_entity_call, to_action
from .sdk_session import SdkSession


class DFOrchestrationExecutor(OrchestrationExecutor):
    """Runs an SDK orchestrator handle (``Orchestrator.create(fn)``) one step at a time."""

    def __init__(self, orchestrator: Callable[..., Any], instance_id: str) -> None:
        super().__init__(orchestrator, instance_id)
        self._handle = orchestrator
        self._instance_id = instance_id
        self._sdk_history: list[SdkEvent] = []
        self._recorded: dict[int, Action] = {}
        self._open_children: dict[int, str] = {}
        self._new: list[Action] = []
        self._custom_status: str | None = None
        self._context_input: str | None = None
        self._max_recorded = -1
        self._session: SdkSession | None = None
        self._fed = 0  # SDK events the live session has processed
        self._checked = 0  # sequence numbers compared with history so far

    # --- history ----------------------------------------------------------

    def _name_of(self, task_id: int) -> str:
        action = self._recorded.get(task_id)
        return action.name if action is not None else "unknown"

    def _record(self, event: HistoryEvent) -> None:
        sdk_event = to_sdk_event(event, self._name_of)
        if sdk_event is not None:
            self._sdk_history.append(sdk_event)

    def _on_df_orchestrator_started(self, event: OrchestratorStarted) -> None:
        self.ctx.current_utc_datetime = event.timestamp
        self._record(event)

    def _on_df_execution_started(self, event: ExecutionStarted) -> None:
        self.started = event
        self.ctx.begin(event)
        self._started = True
        self._context_input = context_input(event.input)
        self._record(event)

    def _on_df_action_recorded(self, event: Any) -> None:
        action = recorded_action(event)
        assert action is not None
        self._recorded[action.task_id] = action
        self._max_recorded = max(self._max_recorded, action.task_id)
        if isinstance(event, SubOrchestrationInstanceCreated):
            self._open_children[event.task_id] = event.instance_id
        self._record(event)

    def _on_child_done(self, event: Any) -> None:
        self._open_children.pop(event.task_id, None)
        self._record(event)

    # --- the step -----------------------------------------------------------

    def step(self, events: Sequence[HistoryEvent]) -> ReplayResult:
        """Record ``events``, then run the SDK once: over the new events when this
        executor ran the last step, else over the whole history."""
        self.process(events, replaying=False)
        if self.completion is None and self._started and not self._suspended:
            self._run_sdk()
        elif self._started and self._session is None:
            self._refresh_custom_status()
        return self.result()

    def _refresh_custom_status(self) -> None:
        """A step that runs no user code (suspended, terminated) on a rebuilt executor
        still reports the custom status its history leads to, as a live one does."""
        user_fn = getattr(self._handle, "orchestrator_function", None)
        if user_fn is None or not self._sdk_history:
            return
        try:
            session = SdkSession(user_fn, self._context())
            session.start(self._sdk_history)
            self._custom_status = _custom_status(session.outcome().custom_status)
        except BaseException:  # noqa: BLE001 - the instance's fate is decided elsewhere
            return

    def take_actions(self) -> list[Action]:
        """The actions the last SDK call scheduled that history does not hold yet."""
        actions, self._new = self._new, []
        return actions

    def result(self) -> ReplayResult:
        """The step's actions and the state they leave (custom status from the SDK)."""
        result = super().result()
        result.custom_status = self._custom_status
        return result

    def open_sub_orchestrations(self) -> list[str]:
        """Instance ids of sub-orchestrations started and not yet finished."""
        return list(self._open_children.values())

    def _context(self) -> RecordingContext:
        # Built from the first two events; the session feeds it the rest.
        started = self.started
        ctx = RecordingContext(
            history=self._sdk_history[:2], instanceId=self._instance_id, isReplaying=False,
            parentInstanceId=started.parent_instance_id if started else None,
            input=self._context_input, upperSchemaVersion=1, upperSchemaVersionNew=2)
        ctx._input_expected_type = getattr(self._handle, "_df_input_type", None)
        return ctx

    def _run_sdk(self) -> None:
        """One SDK pass for this step: the new events on the live session, else the whole
        history on a new one (after a restart, or on another worker)."""
        session = self._session
        try:
            if session is not None and session.resumable:
                session.feed(self._sdk_history[self._fed:])
            else:
                user_fn = getattr(self._handle, "orchestrator_function", None)
                if user_fn is None:
                    raise TypeError(f"orchestrator {self.ctx.name!r} is not an SDK "
                                    "orchestrator handle (df.Orchestrator.create(fn))")
                session = self._session = SdkSession(user_fn, self._context())
                self._checked = 0
                session.start(self._sdk_history)
            self._fed = len(self._sdk_history)
            outcome = session.outcome()
        except BaseException as exc:  # noqa: BLE001 - user code: fails its instance only
            self._fail(exc)
            return
        self._custom_status = None
        try:
            self._custom_status = _custom_status(outcome.custom_status)
            self._take_assignments(session.context, finished=outcome.done,
                                   failed=outcome.error is not None)
        except BaseException as exc:  # noqa: BLE001 - nondeterminism, an unsupported action
            self._fail(exc)
            return
        if outcome.error is not None:
            self._fail(outcome.error)
        elif outcome.continued_as_new:
            self.continue_as_new(_continue_as_new_input(session.context), [])
        elif outcome.done:
            try:
                output = dumps(outcome.output, "orchestrator output")
            except BaseException as exc:  # noqa: BLE001 - also values over the size limit
                self._fail(exc)
                return
            self._finish(Status.Completed, output=output)
        self._fed = len(self._sdk_history)  # the actions just recorded need no feeding

    def _fail(self, exc: BaseException) -> None:
        self._new = []
        self._session = None
        self._finish(Status.Failed, failure=FailureDetails.from_exception(exc))

    def _take_assignments(self, ctx: RecordingContext, *, finished: bool,
                          failed: bool = False) -> None:
        """Compare the numbers the SDK assigned since the last check with history; queue
        the new ones as actions."""
        now = self.ctx.current_utc_datetime
        assigned = ctx.assigned
        end = ctx._sequence_number
        new: list[Action] = []
        for task_id in range(self._checked, end):
            taken = assigned.get(task_id)
            if taken is None:  # a number the SDK took for nothing perdure records
                continue
            action = to_action(task_id, taken, self._instance_id, now)
            if action is None:
                continue
            expected = self._recorded.get(task_id)
            if expected is None:
                rekey_entity_call(ctx, task_id, action)
                new.append(action)
                continue
            if type(action) is not type(expected) or action.name != expected.name:
                raise NonDeterminismError(
                    f"non-deterministic orchestrator {self.ctx.name!r}: at position {task_id} "
                    f"history expected {describe(expected)}, but the code tried to "
                    f"{describe(action)}")
        self._checked = end
        if failed:
            return
        if self._recorded and self._max_recorded >= end:
            missing = min(i for i in self._recorded if i >= end)
            expected = self._recorded[missing]
            how = "returned before scheduling it" if finished else "scheduled nothing there"
            raise NonDeterminismError(
                f"non-deterministic orchestrator {self.ctx.name!r}: at position {missing} "
                f"history expected {describe(expected)}, but the code {how}")
        # A safety net: a result the SDK found no task for is parked, and would be
        # handed to whatever task takes that number later.
        stray = [key for key in ctx.deferred_tasks if isinstance(key, int)]
        if stray:
            raise NonDeterminismError(
                f"non-deterministic orchestrator {self.ctx.name!r}: history holds the result "
                f"of task {min(stray)}, which the code did not schedule")
        for action in new:
            event = action.to_event(now)
            self._on_df_action_recorded(event)
        self._new = new


def _custom_status(value: Any) -> str | None:
    # The SDK drops falsy custom status (0, "", {}, False): it reads as none.
    return None if value is None else dumps(value, "custom status")


def _continue_as_new_input(ctx: RecordingContext) -> str | None:
    for taken in ctx.assigned.values():
        data = taken.to_json() if hasattr(taken, "to_json") else None
        if isinstance(data, dict) and data.get("actionType") == 4:
            raw = data.get("input")
            # Stored as a string holding JSON text, as the host does.
            return None if raw is None else json.dumps(raw)
    return None


DFOrchestrationExecutor.HANDLERS = {
    **OrchestrationExecutor.HANDLERS,
    **dict.fromkeys((TaskCompleted, TaskFailed, TimerFired, EventRaised),
                    DFOrchestrationExecutor._record),
    OrchestratorStarted: DFOrchestrationExecutor._on_df_orchestrator_started,
    ExecutionStarted: DFOrchestrationExecutor._on_df_execution_started,
    SubOrchestrationInstanceCompleted: DFOrchestrationExecutor._on_child_done,
    SubOrchestrationInstanceFailed: DFOrchestrationExecutor._on_child_done,
    **dict.fromkeys(RECORDING_EVENTS, DFOrchestrationExecutor._on_df_action_recorded),
}
