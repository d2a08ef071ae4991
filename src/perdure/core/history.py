"""History events: the durable record an orchestration is replayed from.

Each event is a frozen, slotted dataclass. JSON values (inputs, results) are
kept as JSON text so that history is stored and replayed without re-encoding.
The dict codec here is the only wire format; SQL rows and HTTP JSON are built
from it at the edges.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class FailureDetails:
    """Why an activity, sub-orchestration or orchestration failed."""

    error_type: str
    message: str
    stack_trace: str | None = None

    @classmethod
    def from_exception(cls, exc: BaseException) -> FailureDetails:
        """Capture an exception's type, message and formatted traceback.

        Never raises: user exceptions whose ``__str__`` (or anything the
        traceback formatter calls) raises fall back to their type name, so a
        failure is always recorded.
        """
        error_type = _type_name(exc)
        try:
            message = str(exc)
        except BaseException:  # noqa: BLE001 - user code: a broken __str__
            message = f"<{error_type} object: str() failed>"
        try:
            tb: str | None = "".join(
                traceback.format_exception(type(exc), exc, exc.__traceback__))
        except BaseException:  # noqa: BLE001 - user code: a broken __str__ or __repr__
            tb = _bare_traceback(exc, error_type, message)
        return cls(error_type, message, tb)

    def to_dict(self) -> dict[str, Any]:
        """Encode as a plain dict."""
        return {"error_type": self.error_type, "message": self.message,
                "stack_trace": self.stack_trace}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FailureDetails:
        """Decode from :meth:`to_dict`."""
        return cls(d["error_type"], d["message"], d.get("stack_trace"))

    def summary(self) -> str:
        """One line: ``ErrorType: message``."""
        return f"{self.error_type}: {self.message}"


def _type_name(exc: BaseException) -> str:
    name = getattr(type(exc), "__name__", None)
    return name if isinstance(name, str) and name else "Exception"


def _bare_traceback(exc: BaseException, error_type: str, message: str) -> str | None:
    """The frames of ``exc``'s traceback without formatting the exception itself."""
    try:
        frames = "".join(traceback.format_tb(exc.__traceback__))
    except BaseException:  # noqa: BLE001 - nothing more can be recovered
        return None
    return f"Traceback (most recent call last):\n{frames}{error_type}: {message}\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEvent:
    """Base of every history event; ``timestamp`` is when it was recorded."""

    timestamp: datetime = field(default_factory=utcnow)


# --- lifecycle -----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OrchestratorStarted(HistoryEvent):
    """Opens one orchestration step; its timestamp is ``current_utc_datetime``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionStarted(HistoryEvent):
    """The orchestration (this generation of it) started."""

    name: str
    input: str | None = None
    parent_instance_id: str | None = None
    parent_execution_id: str | None = None
    parent_task_id: int | None = None
    trace_parent: str | None = None
    """The W3C ``traceparent`` of whoever started it: its spans descend from it."""
    trace_state: str | None = None
    """The W3C ``tracestate`` that came with ``trace_parent``."""
    version: str | None = None
    """The orchestration version the instance was started with (``None``: unversioned)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionCompleted(HistoryEvent):
    """The orchestration finished: Completed, Failed or ContinuedAsNew."""

    status: str
    result: str | None = None
    failure: FailureDetails | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionTerminated(HistoryEvent):
    """A client terminated the instance."""

    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionSuspended(HistoryEvent):
    """A client suspended the instance; events are held until it resumes."""

    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionResumed(HistoryEvent):
    """A client resumed a suspended instance."""

    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionRewound(HistoryEvent):
    """A client rewound a failed instance: its failed tasks run again."""

    reason: str | None = None


# --- activities ----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskScheduled(HistoryEvent):
    """The orchestrator scheduled activity ``name`` as task ``task_id``."""

    task_id: int
    name: str
    input: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskCompleted(HistoryEvent):
    """Activity task ``task_id`` returned ``result``."""

    task_id: int
    result: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskFailed(HistoryEvent):
    """Activity task ``task_id`` raised."""

    task_id: int
    failure: FailureDetails


# --- sub-orchestrations --------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SubOrchestrationInstanceCreated(HistoryEvent):
    """The orchestrator started sub-orchestration ``name`` as task ``task_id``."""

    task_id: int
    name: str
    instance_id: str
    input: str | None = None
    version: str | None = None
    """The version asked for the child (``None``: the parent's)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SubOrchestrationInstanceCompleted(HistoryEvent):
    """Sub-orchestration task ``task_id`` completed with ``result``."""

    task_id: int
    result: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SubOrchestrationInstanceFailed(HistoryEvent):
    """Sub-orchestration task ``task_id`` failed or was terminated."""

    task_id: int
    failure: FailureDetails


# --- timers and events ---------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerCreated(HistoryEvent):
    """The orchestrator created durable timer ``task_id`` due at ``fire_at``."""

    task_id: int
    fire_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerFired(HistoryEvent):
    """Durable timer ``task_id`` came due."""

    task_id: int
    fire_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class EventSent(HistoryEvent):
    """The orchestrator sent event ``name`` to instance ``instance_id``."""

    task_id: int
    instance_id: str
    name: str
    input: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRaised(HistoryEvent):
    """External event ``name`` arrived with payload ``input`` (JSON text)."""

    name: str
    input: str | None = None


# --- codec ---------------------------------------------------------------

EVENT_TYPES: dict[str, type[HistoryEvent]] = {
    cls.__name__: cls
    for cls in (
        OrchestratorStarted, ExecutionStarted, ExecutionCompleted, ExecutionTerminated,
        ExecutionSuspended, ExecutionResumed, ExecutionRewound, TaskScheduled, TaskCompleted,
        TaskFailed, SubOrchestrationInstanceCreated, SubOrchestrationInstanceCompleted,
        SubOrchestrationInstanceFailed, TimerCreated, TimerFired, EventSent, EventRaised,
    )
}

_FIELDS: dict[type[HistoryEvent], tuple[str, ...]] = {}


def _field_names(cls: type[HistoryEvent]) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in fields(cls))
    return names


#: The last datetime formatted and its text: the events of a step share one
#: timestamp, and isoformat() is most of the cost of encoding an event.
_last_iso: tuple[datetime | None, str] = (None, "")


def _isoformat(value: datetime) -> str:
    global _last_iso
    last = _last_iso
    if last[0] is value:
        return last[1]
    text = value.isoformat()
    _last_iso = (value, text)
    return text


def event_to_dict(event: HistoryEvent, *, utc_datetimes: bool = False) -> dict[str, Any]:
    """Encode an event as a plain JSON-ready dict with a ``type`` key.

    With ``utc_datetimes``, UTC datetimes stay datetimes, for an encoder that
    writes them itself as :meth:`~datetime.datetime.isoformat` does (orjson,
    in a fraction of the time); any other datetime becomes its isoformat text.
    """
    cls = type(event)
    out: dict[str, Any] = {"type": cls.__name__}
    for name in _field_names(cls):
        value = getattr(event, name)
        if value is None:
            continue
        kind = type(value)
        if kind is datetime or (kind is not str and isinstance(value, datetime)):
            if not (utc_datetimes and kind is datetime and value.tzinfo is UTC):
                value = _isoformat(value)
        elif isinstance(value, FailureDetails):
            value = value.to_dict()
        out[name] = value
    return out


_DATETIME_FIELDS = frozenset({"timestamp", "fire_at"})


def event_from_dict(data: dict[str, Any]) -> HistoryEvent:
    """Decode an event encoded by :func:`event_to_dict`."""
    kwargs = dict(data)
    cls = EVENT_TYPES[kwargs.pop("type")]
    for key in _DATETIME_FIELDS.intersection(kwargs):
        kwargs[key] = datetime.fromisoformat(kwargs[key])
    if "failure" in kwargs:
        kwargs["failure"] = FailureDetails.from_dict(kwargs["failure"])
    return cls(**kwargs)
