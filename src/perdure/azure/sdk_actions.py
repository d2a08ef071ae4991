"""The SDK's tasks and actions as perdure actions (pure, no I/O).

The SDK assigns each task a sequence number itself, counting, and never
reads the ids of scheduling events. :class:`RecordingContext` observes every
number it hands out, and what it stands for; :func:`to_action` maps one of
those onto the perdure action that records it in history.

Retries take numbers that appear in no action list: after a failed attempt
a ``NoOpAction("-WithRetry timer")`` task (a durable timer, the retry delay),
then a ``NoOpAction("rescheduled task")`` (the next attempt).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.durable_functions.models.actions.NoOpAction import NoOpAction
from azure.durable_functions.models.DurableOrchestrationContext import (
    DurableOrchestrationContext,
)
from azure.durable_functions.models.Task import AtomicTask

from ..core.actions import (
    Action,
    CreateTimer,
    ScheduleActivity,
    ScheduleSubOrchestration,
    SendEvent,
)
from ..core.entities import REQUEST_EVENT, EntityId, EntityRequest
from ..core.errors import PerdureError
from .builtin import HTTP_ACTIVITY

# ActionType values (azure/durable_functions/models/actions/ActionType.py).
CALL_ACTIVITY = 0
CALL_ACTIVITY_WITH_RETRY = 1
CALL_SUB_ORCHESTRATOR = 2
CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
CONTINUE_AS_NEW = 4
CREATE_TIMER = 5
CALL_ENTITY = 7
CALL_HTTP = 8
SIGNAL_ENTITY = 9

RETRY_TIMER = "-WithRetry timer"
RESCHEDULED = "rescheduled task"


class UnsupportedActionError(PerdureError):
    """The orchestrator used an SDK feature perdure does not run."""


class RecordingContext(DurableOrchestrationContext):  # type: ignore[misc]
    """The SDK's orchestration context, noting every sequence number it assigns.

    ``assigned`` maps each number to the task (or fire-and-forget action) that
    took it during this replay, in the SDK's own order.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.assigned: dict[int, Any] = {}
        self.exhausted: list[int] = []
        """Numbers of retry timers taken after a retry's last attempt, not fired yet."""
        super().__init__(**kwargs)

    def _add_to_open_tasks(self, task: Any) -> None:
        fresh = isinstance(task, AtomicTask) and task.id is None and not task._is_scheduled
        super()._add_to_open_tasks(task)
        if fresh:
            self.assigned[task.id] = task
            if is_exhausted_retry_timer(task):
                self.exhausted.append(task.id)

    def _record_fire_and_forget_action(self, action: Any) -> None:
        self.assigned[self._sequence_number] = action
        super()._record_fire_and_forget_action(action)


def is_exhausted_retry_timer(task: Any) -> bool:
    """Whether ``task`` is the timer a retry waits for after its last attempt failed.

    DTFx waits one more interval then; perdure fires it at once, in the same
    SDK pass (:class:`~perdure.azure.sdk_session.SdkSession`), and records
    nothing for it, so that the failure lands in the step of the last attempt.
    """
    action = getattr(task, "action_repr", None)
    retry = getattr(task, "parent", None)
    return isinstance(action, NoOpAction) and action.metadata == RETRY_TIMER \
        and retry is not None \
        and retry.num_attempts >= retry.retry_options.max_number_of_attempts


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def sub_orchestration_id(parent_instance_id: str, task_id: int) -> str:
    """The instance id of a sub-orchestration started without one (perdure's rule)."""
    return f"{parent_instance_id}:{task_id}"


def _entity_request(task_id: int, data: dict[str, Any], instance_id: str,
                    now: datetime) -> SendEvent:
    """A call or signal of an entity, sent as perdure's entity request. The request id is
    the answer's event name; the SDK reads it back from the recorded event."""
    target = str(EntityId.parse(data["instanceId"]))
    call = data.get("actionType") == CALL_ENTITY
    request_id = str(uuid.uuid5(uuid.NAMESPACE_URL,
                                f"{instance_id}/{now.isoformat()}/{task_id}"))
    request = EntityRequest("op", request_id, parent=instance_id,
                            operation=data.get("operation"), input=data.get("input"),
                            signal=not call)
    return SendEvent(task_id, target, REQUEST_EVENT, request.encode())


def rekey_entity_call(ctx: RecordingContext, task_id: int, action: Action) -> None:
    """Key a new entity call's task by its request id, as the SDK does when it reads the
    call's ``EventSent`` back from history: the answer event is named after that id."""
    if not isinstance(action, SendEvent) or action.name != REQUEST_EVENT:
        return
    request = EntityRequest.decode(action.input)
    task = ctx.open_tasks.get(task_id)
    if request is not None and not request.signal and task is not None:
        ctx.open_tasks[request.id] = ctx.open_tasks.pop(task_id)


def _from_json(task_id: int, data: dict[str, Any], instance_id: str,
               now: datetime) -> Action | None:
    kind = data.get("actionType")
    if kind in (CALL_ACTIVITY, CALL_ACTIVITY_WITH_RETRY):
        return ScheduleActivity(task_id, data["functionName"], data.get("input"))
    if kind in (CALL_SUB_ORCHESTRATOR, CALL_SUB_ORCHESTRATOR_WITH_RETRY):
        child = data.get("instanceId") or sub_orchestration_id(instance_id, task_id)
        raw = data.get("input")
        # The host stores a child's input as a string holding JSON text (as on Azure).
        version = data.get("version")
        return ScheduleSubOrchestration(task_id, data["functionName"], child,
                                        None if raw is None else json.dumps(raw),
                                        version if isinstance(version, str) else None)
    if kind == CREATE_TIMER:
        return None  # handled from the action object: its datetime, not its text
    if kind == CONTINUE_AS_NEW:
        return None
    if kind in (CALL_ENTITY, SIGNAL_ENTITY):
        return _entity_request(task_id, data, instance_id, now)
    if kind == CALL_HTTP:
        return ScheduleActivity(task_id, HTTP_ACTIVITY, json.dumps(data.get("httpRequest")))
    raise UnsupportedActionError(f"unsupported Durable Functions action type {kind!r}")


def to_action(task_id: int, taken: Any, instance_id: str, now: datetime) -> Action | None:
    """The perdure action for what took sequence number ``task_id``; ``None`` if nothing
    is recorded for it (continue-as-new, a retry's final timer)."""
    action = getattr(taken, "action_repr", taken)
    if isinstance(action, list):  # ReplaySchema V1 wraps actions; perdure asks for V2
        action = action[0]
    if isinstance(action, NoOpAction):
        return _retry_step(task_id, taken, action.metadata, instance_id, now)
    if type(action).__name__ == "CreateTimerAction":
        return CreateTimer(task_id, _aware(action.fire_at))
    return _from_json(task_id, action.to_json(), instance_id, now)


def _retry_step(task_id: int, task: Any, metadata: str | None, instance_id: str,
                now: datetime) -> Action | None:
    retry = task.parent
    if retry is None:
        raise UnsupportedActionError(f"an SDK-internal task ({metadata}) with no retry")
    if metadata == RETRY_TIMER:
        options = retry.retry_options
        if retry.num_attempts >= options.max_number_of_attempts:
            return None  # fired within the SDK pass: see is_exhausted_retry_timer
        delay = timedelta(milliseconds=options.first_retry_interval_in_milliseconds)
        return CreateTimer(task_id, now + delay)
    if metadata == RESCHEDULED:
        original = retry.actions
        if isinstance(original, list):
            original = original[0]
        return _from_json(task_id, original.to_json(), instance_id, now)
    raise UnsupportedActionError(f"unknown SDK-internal task {metadata!r}")
