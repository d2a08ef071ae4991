"""Durable Functions orchestrators on perdure's engine, through the SDK's own handler.

:class:`DFOrchestrationExecutor` is an :class:`~perdure.core.executor.OrchestrationExecutor`
(so the worker, replay, leases, terminate and suspend apply unchanged) whose
body is the SDK: each step translates the history into the SDK's JSON, calls
the SDK's orchestrator once, and maps the sequence numbers the SDK assigned
onto perdure actions. Recovery after a restart only translates events; the
SDK runs once per step either way. Nondeterminism, which the SDK never
detects, is found by comparing its assignments with the recorded actions.
No I/O here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from azure.durable_functions.orchestrator import Orchestrator as SdkOrchestrator

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
from .sdk_actions import RecordingContext, to_action

_OUT_OF_PROC = "\n\n$OutOfProcData$:"


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
        record = self._record
        for event_type in (TaskCompleted, TaskFailed, TimerFired, EventRaised):
            self._handlers[event_type] = record
        self._handlers[OrchestratorStarted] = self._on_df_orchestrator_started
        self._handlers[ExecutionStarted] = self._on_df_execution_started
        self._handlers[SubOrchestrationInstanceCompleted] = self._on_child_done
        self._handlers[SubOrchestrationInstanceFailed] = self._on_child_done
        for recording in RECORDING_EVENTS:
            self._handlers[recording] = self._on_df_action_recorded

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
        if isinstance(event, SubOrchestrationInstanceCreated):
            self._open_children[event.task_id] = event.instance_id
        self._record(event)

    def _on_child_done(self, event: Any) -> None:
        self._open_children.pop(event.task_id, None)
        self._record(event)

    # --- the step -----------------------------------------------------------

    def step(self, events: Sequence[HistoryEvent]) -> ReplayResult:
        """Record ``events``, then run the SDK over the whole history once."""
        self.process(events, replaying=False)
        if self.completion is None and self._started and not self._suspended:
            self._run_sdk()
        return self.result()

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
        started = self.started
        return RecordingContext(
            history=self._sdk_history, instanceId=self._instance_id, isReplaying=False,
            parentInstanceId=started.parent_instance_id if started else None,
            input=self._context_input, upperSchemaVersion=1, upperSchemaVersionNew=2)

    def _run_sdk(self) -> None:
        try:
            ctx = self._context()
            ctx._input_expected_type = getattr(self._handle, "_df_input_type", None)
            user_fn = getattr(self._handle, "orchestrator_function", None)
            if user_fn is None:
                raise TypeError(f"orchestrator {self.ctx.name!r} is not an SDK orchestrator "
                                "handle (df.Orchestrator.create(fn))")
            state_text = SdkOrchestrator(user_fn).handle(ctx)
        except BaseException as exc:  # noqa: BLE001 - user code: fails its instance only
            self._on_sdk_failure(exc, locals().get("ctx"))
            return
        state = json.loads(state_text)
        try:
            self._take_assignments(ctx, finished=bool(state.get("isDone")))
        except NonDeterminismError as exc:
            self._finish(Status.Failed, failure=FailureDetails.from_exception(exc))
            return
        except BaseException as exc:  # noqa: BLE001 - an unsupported action fails the instance
            self._finish(Status.Failed, failure=FailureDetails.from_exception(exc))
            return
        self._custom_status = _custom_status(state)
        if not state.get("isDone"):
            return
        if ctx.will_continue_as_new:
            self.continue_as_new(_continue_as_new_input(ctx), [])
            return
        try:
            output = dumps(state.get("output"), "orchestrator output")
        except BaseException as exc:  # noqa: BLE001 - also values over the size limit
            self._finish(Status.Failed, failure=FailureDetails.from_exception(exc))
            return
        self._finish(Status.Completed, output=output)

    def _on_sdk_failure(self, exc: BaseException, ctx: RecordingContext | None) -> None:
        text = str(exc) if isinstance(exc, Exception) else ""
        cause = exc.__cause__ if _OUT_OF_PROC in text and exc.__cause__ is not None else exc
        if _OUT_OF_PROC in text:
            state = json.loads(text.split(_OUT_OF_PROC, 1)[1])
            self._custom_status = _custom_status(state)
        if ctx is not None:
            try:
                self._take_assignments(ctx, finished=True, failed=True)
            except BaseException as error:  # noqa: BLE001 - the clearer error wins
                cause = error
            self._new = []
        self._finish(Status.Failed, failure=FailureDetails.from_exception(cause))

    def _take_assignments(self, ctx: RecordingContext, *, finished: bool,
                          failed: bool = False) -> None:
        """Compare the SDK's numbers with history; queue the new ones as actions."""
        now = self.ctx.current_utc_datetime
        for task_id in sorted(ctx.assigned):
            action = to_action(task_id, ctx.assigned[task_id], self._instance_id, now)
            if action is None:
                continue
            expected = self._recorded.get(task_id)
            if expected is None:
                self._new.append(action)
                continue
            if type(action) is not type(expected) or action.name != expected.name:
                raise NonDeterminismError(
                    f"non-deterministic orchestrator {self.ctx.name!r}: at position {task_id} "
                    f"history expected {describe(expected)}, but the code tried to "
                    f"{describe(action)}")
        missing = sorted(set(self._recorded) - set(ctx.assigned))
        if missing and not failed:
            expected = self._recorded[missing[0]]
            how = "returned before scheduling it" if finished else "scheduled nothing there"
            raise NonDeterminismError(
                f"non-deterministic orchestrator {self.ctx.name!r}: at position {missing[0]} "
                f"history expected {describe(expected)}, but the code {how}")
        if failed:
            return
        now_ts = now
        for action in self._new:
            self._recorded[action.task_id] = action
            event = action.to_event(now_ts)
            if isinstance(event, SubOrchestrationInstanceCreated):
                self._open_children[event.task_id] = event.instance_id
            self._record(event)


def _custom_status(state: dict[str, Any]) -> str | None:
    # The SDK drops falsy custom status (0, "", {}, False): it reads as none.
    value = state.get("customStatus")
    return None if value is None else dumps(value, "custom status")


def _continue_as_new_input(ctx: RecordingContext) -> str | None:
    for taken in ctx.assigned.values():
        data = taken.to_json() if hasattr(taken, "to_json") else None
        if isinstance(data, dict) and data.get("actionType") == 4:
            raw = data.get("input")
            # Stored as a string holding JSON text, as the host does.
            return None if raw is None else json.dumps(raw)
    return None
