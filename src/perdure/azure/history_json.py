"""perdure history events as the Durable Functions SDK reads them (pure, no I/O).

The SDK's orchestrator handler takes the whole history as a list of
``HistoryEvent`` JSON objects (``EventType``, ``EventId``, ``IsPlayed``,
``Timestamp`` and type-specific fields). :func:`to_sdk_event` builds one
per perdure event; events the SDK has no use for map to ``None``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..core.history import (
    EventRaised,
    EventSent,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionSuspended,
    FailureDetails,
    HistoryEvent,
    OrchestratorStarted,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceCreated,
    SubOrchestrationInstanceFailed,
    TaskCompleted,
    TaskFailed,
    TaskScheduled,
    TimerCreated,
    TimerFired,
)

# HistoryEventType values (azure/durable_functions/models/history/HistoryEventType.py).
EXECUTION_STARTED = 0
TASK_SCHEDULED = 4
TASK_COMPLETED = 5
TASK_FAILED = 6
SUB_ORCHESTRATION_CREATED = 7
SUB_ORCHESTRATION_COMPLETED = 8
SUB_ORCHESTRATION_FAILED = 9
TIMER_CREATED = 10
TIMER_FIRED = 11
ORCHESTRATOR_STARTED = 12
EVENT_SENT = 14
EVENT_RAISED = 15
EXECUTION_SUSPENDED = 19
EXECUTION_RESUMED = 20

SdkEvent = dict[str, Any]
"""One history event in the SDK's JSON shape."""

NameOf = Callable[[int], str]
"""The name of the activity or sub-orchestration scheduled as a task id (for failure texts)."""


def timestamp_text(value: datetime) -> str:
    """``value`` as the SDK's ``DATETIME_STRING_FORMAT`` (UTC, microseconds, ``Z``)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _base(event_type: int, event: HistoryEvent, event_id: int = -1) -> SdkEvent:
    return {"EventType": event_type, "EventId": event_id, "IsPlayed": False,
            "Timestamp": timestamp_text(event.timestamp)}


def failure_reason(kind: str, name: str, failure: FailureDetails) -> str:
    """The ``Reason`` of a failed task, as the host words it."""
    return f"{kind} function '{name}' failed: {failure.summary()}"


def to_sdk_event(event: HistoryEvent, name_of: NameOf) -> SdkEvent | None:
    """The SDK's JSON for ``event``, or ``None`` if the SDK does not need it.

    ``Result``, ``TimerId``, ``FireAt`` and ``Version`` are always present
    where the SDK reads them: it raises ``AttributeError`` on a missing one.
    """
    handler = _HANDLERS.get(type(event))
    return handler(event, name_of) if handler is not None else None


def _orchestrator_started(e: OrchestratorStarted, name_of: NameOf) -> SdkEvent:
    return _base(ORCHESTRATOR_STARTED, e)


def _execution_started(e: ExecutionStarted, name_of: NameOf) -> SdkEvent:
    out = _base(EXECUTION_STARTED, e)
    out.update(Name=e.name, Version=e.version or "", Input=e.input)  # context.version
    return out


def _task_scheduled(e: TaskScheduled, name_of: NameOf) -> SdkEvent:
    out = _base(TASK_SCHEDULED, e, e.task_id)
    out.update(Name=e.name, Version="", Input=e.input)
    return out


def _task_completed(e: TaskCompleted, name_of: NameOf) -> SdkEvent:
    out = _base(TASK_COMPLETED, e)
    out.update(TaskScheduledId=e.task_id, Result=e.result)
    return out


def _task_failed(e: TaskFailed, name_of: NameOf) -> SdkEvent:
    out = _base(TASK_FAILED, e)
    out.update(TaskScheduledId=e.task_id,
               Reason=failure_reason("Activity", name_of(e.task_id), e.failure),
               Details=e.failure.stack_trace or "")
    return out


def _sub_created(e: SubOrchestrationInstanceCreated, name_of: NameOf) -> SdkEvent:
    out = _base(SUB_ORCHESTRATION_CREATED, e, e.task_id)
    out.update(Name=e.name, InstanceId=e.instance_id, Input=e.input, Version=e.version or "")
    return out


def _sub_completed(e: SubOrchestrationInstanceCompleted, name_of: NameOf) -> SdkEvent:
    out = _base(SUB_ORCHESTRATION_COMPLETED, e)
    out.update(TaskScheduledId=e.task_id, Result=e.result)
    return out


def _sub_failed(e: SubOrchestrationInstanceFailed, name_of: NameOf) -> SdkEvent:
    out = _base(SUB_ORCHESTRATION_FAILED, e)
    out.update(TaskScheduledId=e.task_id,
               Reason=failure_reason("Orchestrator", name_of(e.task_id), e.failure),
               Details=e.failure.stack_trace or "")
    return out


def _timer_created(e: TimerCreated, name_of: NameOf) -> SdkEvent:
    out = _base(TIMER_CREATED, e, e.task_id)
    out.update(FireAt=timestamp_text(e.fire_at))
    return out


def _timer_fired(e: TimerFired, name_of: NameOf) -> SdkEvent:
    out = _base(TIMER_FIRED, e)
    out.update(TimerId=e.task_id, FireAt=timestamp_text(e.fire_at))
    return out


def _event_sent(e: EventSent, name_of: NameOf) -> SdkEvent:
    out = _base(EVENT_SENT, e, e.task_id)
    out.update(Name=e.name, InstanceId=e.instance_id, Input=e.input)
    return out


def _event_raised(e: EventRaised, name_of: NameOf) -> SdkEvent:
    out = _base(EVENT_RAISED, e)
    out.update(Name=e.name, Input=e.input)
    return out


def _suspended(e: ExecutionSuspended, name_of: NameOf) -> SdkEvent:
    return _base(EXECUTION_SUSPENDED, e)


def _resumed(e: ExecutionResumed, name_of: NameOf) -> SdkEvent:
    return _base(EXECUTION_RESUMED, e)


_HANDLERS: dict[type[HistoryEvent], Callable[[Any, NameOf], SdkEvent]] = {
    OrchestratorStarted: _orchestrator_started,
    ExecutionStarted: _execution_started,
    TaskScheduled: _task_scheduled,
    TaskCompleted: _task_completed,
    TaskFailed: _task_failed,
    SubOrchestrationInstanceCreated: _sub_created,
    SubOrchestrationInstanceCompleted: _sub_completed,
    SubOrchestrationInstanceFailed: _sub_failed,
    TimerCreated: _timer_created,
    TimerFired: _timer_fired,
    EventSent: _event_sent,
    EventRaised: _event_raised,
    ExecutionSuspended: _suspended,
    ExecutionResumed: _resumed,
}


def context_input(stored: str | None) -> str | None:
    """The context's ``input`` for a stored orchestration input (JSON text).

    The SDK's ``get_input()`` decodes a string holding JSON text. Inputs that
    came through the SDK's client, a parent or continue-as-new are stored as
    such a string already (double-encoded, as on Azure) and pass as is; any
    other value passes as its JSON text; a string that is not JSON passes as
    its JSON encoding, so that ``get_input()`` returns it unchanged.
    """
    if stored is None:
        return None
    value = json.loads(stored)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return json.dumps(value)
        return value
    return stored
