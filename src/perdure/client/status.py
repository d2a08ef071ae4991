"""The status object a client returns, with its history in the Durable Functions format.

The history stays in the client layer: ``get_status(show_history=True)``
documents it in the ``historyEvents`` shape, for scripts and the CLI as much as
for HTTP. The rest of the wire format (the camelCase status payload and its
time format) is the HTTP layer's: :mod:`perdure.http.wire`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..core.history import (
    ExecutionCompleted,
    ExecutionStarted,
    ExecutionTerminated,
    FailureDetails,
    HistoryEvent,
    OrchestratorStarted,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceCreated,
    SubOrchestrationInstanceFailed,
    TaskCompleted,
    TaskFailed,
    TaskScheduled,
    event_to_dict,
)
from ..core.serialization import loads
from ..core.status import OrchestrationRuntimeStatus
from ..store.base import InstanceRecord


@dataclass(slots=True)
class OrchestrationStatus:
    """An instance's status, as ``get_status`` returns it.

    ``output`` holds the result of a Completed instance, the failure message of
    a Failed one (``failure_details`` has the structured error) and the reason
    of a Terminated one. ``history`` is set only when asked for, in the Durable
    Functions ``historyEvents`` format. ``version`` is the orchestration version
    the instance was started with (``""``: unversioned). A Running instance with
    ``failure_details`` is *parked* (:attr:`parked`): its code no longer replays
    its history, and it waits for a worker with fixed code.
    """

    name: str
    instance_id: str
    runtime_status: OrchestrationRuntimeStatus
    created_time: datetime
    last_updated_time: datetime
    input: Any = None
    output: Any = None
    custom_status: Any = None
    failure_details: FailureDetails | None = None
    parent_instance_id: str | None = None
    history: list[dict[str, Any]] | None = field(default=None)
    version: str = ""

    @property
    def parked(self) -> bool:
        """Whether a worker parked the instance (``App(on_nondeterminism="park")``)."""
        return self.runtime_status is OrchestrationRuntimeStatus.Running \
            and self.failure_details is not None

    @classmethod
    def from_record(cls, record: InstanceRecord, *, show_input: bool = True) -> OrchestrationStatus:
        """Build from a stored instance row."""
        return cls(
            name=record.name, instance_id=record.instance_id,
            runtime_status=record.runtime_status, created_time=record.created_at,
            last_updated_time=record.updated_at,
            input=loads(record.input) if show_input else None,
            output=loads(record.output), custom_status=loads(record.custom_status),
            failure_details=record.failure, parent_instance_id=record.parent_instance_id,
            version=record.version,
        )


@dataclass(slots=True)
class StatusPage:
    """One page of ``get_status_by``; pass ``continuation_token`` back for the next."""

    instances: list[OrchestrationStatus]
    continuation_token: str | None


def _history_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def history_to_df(events: Sequence[HistoryEvent], *, show_history_output: bool,
                  show_input: bool = True) -> list[dict[str, Any]]:
    """Convert history to Durable Functions' ``historyEvents`` shape.

    Step markers are dropped; completions carry their ``FunctionName`` and
    ``ScheduledTime``; a scheduling event disappears once its task completed;
    results appear only with ``show_history_output``.
    """
    scheduled: dict[int, TaskScheduled | SubOrchestrationInstanceCreated] = {}
    finished: set[int] = set()
    for event in events:
        if isinstance(event, TaskScheduled | SubOrchestrationInstanceCreated):
            scheduled[event.task_id] = event
        elif isinstance(event, TaskCompleted | TaskFailed | SubOrchestrationInstanceCompleted
                        | SubOrchestrationInstanceFailed):
            finished.add(event.task_id)
    out: list[dict[str, Any]] = []
    for event in events:
        if isinstance(event, OrchestratorStarted):
            continue
        if isinstance(event, TaskScheduled | SubOrchestrationInstanceCreated) \
                and event.task_id in finished:
            continue
        out.append(_df_event(event, scheduled, show_history_output, show_input))
    return out


_COMPLETIONS = (TaskCompleted, TaskFailed, SubOrchestrationInstanceCompleted,
                SubOrchestrationInstanceFailed)
_RENAMED = {"name": "Name", "status": "OrchestrationStatus", "fire_at": "FireAt",
            "instance_id": "InstanceId", "reason": "Reason"}


def _df_event(event: HistoryEvent, scheduled: dict[int, Any], show_output: bool,
              show_input: bool) -> dict[str, Any]:
    raw = event_to_dict(event)
    item: dict[str, Any] = {"EventType": raw.pop("type"),
                            "Timestamp": _history_time(event.timestamp)}
    del raw["timestamp"]
    task_id = raw.pop("task_id", None)
    # Durable Functions' display format drops these (Version included).
    for key in ("parent_instance_id", "parent_execution_id", "parent_task_id", "version"):
        raw.pop(key, None)
    if isinstance(event, ExecutionStarted):
        item["FunctionName"] = raw.pop("name")
        raw.setdefault("input", None)  # Durable Functions always shows the input, even null
    elif isinstance(event, ExecutionTerminated):
        raw["input"] = raw.pop("reason", None)
    elif isinstance(event, _COMPLETIONS) and task_id in scheduled:
        origin = scheduled[task_id]
        item["FunctionName"] = origin.name
        item["ScheduledTime"] = _history_time(origin.timestamp)
        raw.setdefault("input", origin.input)
    if "input" in raw:
        value = raw.pop("input")
        if show_input:
            item["Input"] = value
    if "result" in raw or isinstance(event, TaskCompleted | SubOrchestrationInstanceCompleted
                                     | ExecutionCompleted):
        value = raw.pop("result", None)
        if show_output:
            item["Result"] = loads(value)
    failure = getattr(event, "failure", None)
    if failure is not None:
        raw.pop("failure")
        item["Reason"] = failure.message
        item["Details"] = failure.stack_trace
        item["FailureDetails"] = _failure(failure)
    for key, value in raw.items():
        item[_RENAMED.get(key, key)] = value
    return item


def _failure(failure: FailureDetails) -> dict[str, Any]:
    return {"ErrorType": failure.error_type, "ErrorMessage": failure.message,
            "StackTrace": failure.stack_trace, "InnerFailure": None, "IsNonRetriable": False,
            "Properties": None}
