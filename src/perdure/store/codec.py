"""How the SQL task hubs encode values and rows.

Times are integer microseconds since the epoch; history events, failures and
id lists are compact JSON text. Both dialects store exactly these encodings,
so a hub's rows mean the same whichever store wrote them. The row shapes both
dialects' statements share are typed here, and decode to records here,
in one place for both dialects.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson

from ..core.history import (
    ExecutionStarted,
    FailureDetails,
    HistoryEvent,
    event_from_dict,
    event_to_dict,
)
from ..core.status import OrchestrationRuntimeStatus
from .base import ActivityTask, ActivityWorkItem, InstanceRecord, Message, NewInstance

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)

# --- time ------------------------------------------------------------------


def now_us() -> int:
    """The current time in integer microseconds since the epoch."""
    return time.time_ns() // 1000


def to_us(value: datetime) -> int:
    """A datetime as integer microseconds since the epoch; naive values are taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // _ONE_US


def from_us(value: int) -> datetime:
    """Integer microseconds since the epoch as a timezone-aware UTC datetime."""
    # Positional: timedelta's keyword arguments take a slower path (30% of the call).
    return EPOCH + timedelta(0, 0, value)


def seconds_to_us(seconds: float) -> int:
    """A duration in seconds as whole microseconds (lease lengths)."""
    return int(seconds * 1_000_000)


# --- JSON ------------------------------------------------------------------
#
# orjson: events are encoded and decoded several times per step, and the
# stdlib's encoder (a chain of Python calls per value) and decoder (two regex
# matches per document) were a tenth of a step's CPU. What orjson refuses (an
# integer beyond 64 bits, a lone surrogate) goes through the stdlib instead.


def decode_json(text: str | bytes) -> Any:
    """The value of a JSON text written by :func:`encode_json` (an integer beyond
    64 bits, which none of the store's values holds, would come back a float)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def encode_json(value: Any) -> str:
    """Compact JSON text of ``value`` (no spaces, non-ASCII kept; datetimes as
    their isoformat text).

    For the store's own values (events, failures, ids, page tokens), which hold
    no float: orjson would write an infinite one as ``null``.
    """
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False,
                          default=_isoformat)


def _isoformat(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode_event(event: HistoryEvent) -> str:
    """A history event as the compact JSON text stored in history and inbox rows.

    Its UTC timestamps go to orjson as datetimes: formatting them in Python was
    a tenth of encoding an event.
    """
    return encode_json(event_to_dict(event, utc_datetimes=True))


def decode_event(text: str) -> HistoryEvent:
    """Decode :func:`encode_event`."""
    return event_from_dict(decode_json(text))


def encode_events(texts: Sequence[str]) -> str:
    """Encoded events (:func:`encode_event`) as one JSON array text."""
    return "[" + ",".join(texts) + "]"


def decode_events(text: str) -> list[HistoryEvent]:
    """Decode :func:`encode_events`."""
    return [event_from_dict(item) for item in decode_json(text)]


def encode_failure(failure: FailureDetails | None) -> str | None:
    """Failure details as JSON text, ``None`` staying ``None``."""
    return None if failure is None else encode_json(failure.to_dict())


def decode_failure(text: str | None) -> FailureDetails | None:
    """Decode :func:`encode_failure`."""
    return None if text is None else FailureDetails.from_dict(decode_json(text))


def encode_ids(ids: Collection[str] | Collection[int]) -> str:
    """A JSON array of ids, bound as one parameter to a set-based statement."""
    return encode_json(list(ids))


def started_event(new: NewInstance, created_at: datetime) -> ExecutionStarted:
    """The ``ExecutionStarted`` event that opens a new instance's inbox."""
    return ExecutionStarted(
        timestamp=created_at, name=new.name, input=new.input,
        parent_instance_id=new.parent_instance_id,
        parent_execution_id=new.parent_execution_id, parent_task_id=new.parent_task_id,
        trace_parent=new.trace_parent, trace_state=new.trace_state,
        version=new.version or None,
    )


# --- rows ------------------------------------------------------------------
#
# Every row a statement of both dialects returns or binds has a type here, read
# by name; a dialect's own shapes live beside its statements. The rows that
# start with the instance columns are slotted dataclasses, so that each wider
# row extends :class:`InstanceRow` with only its own columns (built from the
# driver's values as fast as a named tuple, read faster); the others are named
# tuples, as cheap as the plain tuple the driver hands over (SQLite binds them
# as they are).

#: The instance columns every SQL task hub selects, in the order of :class:`InstanceRow`.
INSTANCE_COLUMNS = (
    "instance_id, name, execution_id, runtime_status, created_at, updated_at, input, "
    "output, custom_status, failure, parent_instance_id, history_len, version")


@dataclass(slots=True)
class InstanceRow:
    """A row of :data:`INSTANCE_COLUMNS` (and the head of every row that starts with them)."""

    instance_id: str
    name: str
    execution_id: str
    runtime_status: str
    created_at: int
    updated_at: int
    input: str | None
    output: str | None
    custom_status: str | None
    failure: str | None
    parent_instance_id: str | None
    history_len: int
    version: str


@dataclass(slots=True)
class PageRow(InstanceRow):
    """A row of a byte-budgeted query page (:func:`~perdure.store.paging.budgeted_page`):
    the instance columns, its payload size, the running total, the rows before the cut."""

    size: int
    running: int
    total: int


@dataclass(slots=True)
class ClaimedInstance(InstanceRow):
    """A claimed instance: the instance columns and its new lease."""

    lock_token: str
    attempts: int


_STATUSES = {status.value: status for status in OrchestrationRuntimeStatus}


def status_of(value: str) -> OrchestrationRuntimeStatus:
    """``OrchestrationRuntimeStatus(value)`` as a dict lookup (the enum's call is a
    chain of Python calls, and every row read and every step written takes one)."""
    status = _STATUSES.get(value)
    # Not a status's name: the enum's call raises its ValueError, as before.
    return OrchestrationRuntimeStatus(value) if status is None else status


def instance_record(row: InstanceRow) -> InstanceRecord:
    """The :class:`InstanceRecord` of a row that starts with :data:`INSTANCE_COLUMNS`."""
    return InstanceRecord(
        instance_id=row.instance_id, name=row.name, execution_id=row.execution_id,
        runtime_status=status_of(row.runtime_status),
        created_at=from_us(row.created_at), updated_at=from_us(row.updated_at),
        input=row.input, output=row.output, custom_status=row.custom_status,
        failure=decode_failure(row.failure), parent_instance_id=row.parent_instance_id,
        history_len=row.history_len, version=row.version,
    )


class Lease(NamedTuple):
    """An instance's lease as a commit reads (and locks) it before writing."""

    instance_id: str
    lock_token: str | None
    runtime_status: str
    history_len: int


class Unclaimed(NamedTuple):
    """An instance a claim would take with an empty inbox, as a commit of steps run
    without a claim reads it (see :meth:`~perdure.store.base.Store.commit_unclaimed_steps`)."""

    instance_id: str
    execution_id: str
    runtime_status: str
    history_len: int


class ClaimedTask(NamedTuple):
    """An activity task with its new lease, as a claim returns it."""

    id: int
    lock_token: str
    attempts: int
    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None
    created_at: int
    trace_parent: str | None


def activity_item(row: ClaimedTask) -> ActivityWorkItem:
    """The :class:`ActivityWorkItem` of a claimed task."""
    return ActivityWorkItem(row.id, row.lock_token, row.attempts, ActivityTask(
        row.instance_id, row.execution_id, row.task_id, row.name, row.input, row.trace_parent),
        from_us(row.created_at))


#: Inbox row values as the insert statements bind them: ``(instance_id,
#: execution_id, visible_at, event)``. Rows written (never read back by position)
#: are plain tuples: a named tuple costs a Python call per row, thousands per batch.
MessageRow = tuple[str, str | None, int | None, str]


def message_row(message: Message, now: int | None) -> MessageRow:
    """The inbox row of ``message``.

    No ``visible_at`` means visible ``now``; a store that reads the clock in SQL
    passes ``now=None`` and fills the gap there.
    """
    visible = now if message.visible_at is None else to_us(message.visible_at)
    return (message.instance_id, message.execution_id, visible, encode_event(message.event))


#: Activity task row values as the insert statements bind them: ``(instance_id,
#: execution_id, task_id, name, input, created_at, visible_at)``.
TaskRow = tuple[str, str, int, str, str | None, int | None, int | None, str | None]


def task_row(task: ActivityTask, now: int | None) -> TaskRow:
    """The task row of ``task``, created and visible ``now`` (``None``: the SQL's clock)."""
    return (task.instance_id, task.execution_id, task.task_id, task.name, task.input, now, now,
            task.trace_parent)


__all__ = [
    "EPOCH", "INSTANCE_COLUMNS", "ClaimedInstance", "ClaimedTask", "InstanceRow", "Lease",
    "MessageRow", "PageRow", "TaskRow", "activity_item", "decode_event", "decode_events",
    "decode_failure", "decode_json", "encode_event", "encode_events", "encode_failure",
    "encode_ids", "encode_json", "from_us", "instance_record", "message_row", "now_us",
    "seconds_to_us", "started_event", "status_of", "task_row", "to_us",
]
