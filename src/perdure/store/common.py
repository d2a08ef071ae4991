"""Logic every SQL task hub shares verbatim.

Time conversions, the JSON encoding of history-event rows, query continuation
tokens, instance-id prefix ranges, the status rules of create / send / purge,
and the loader of numbered migration scripts. The SQLite and PostgreSQL stores
both build on these, so the two agree byte for byte on what they store and on
the errors they raise.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sys
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from ..core.errors import (
    InstanceAlreadyExistsError,
    InstanceFinishedError,
    InvalidArgumentError,
    InvalidInstanceStateError,
)
from ..core.history import (
    ExecutionStarted,
    FailureDetails,
    HistoryEvent,
    event_from_dict,
    event_to_dict,
)
from ..core.names import control_character
from ..core.serialization import value_limits
from ..core.status import TERMINAL_STATUSES, OrchestrationRuntimeStatus
from .base import ActivityTask, InstanceQuery, InstanceRecord, Message, NewInstance, StepCommit

#: How many inbox messages one claim hands over per instance; the rest stay
#: for the next step, so one flooded instance cannot produce a giant step.
MAX_MESSAGES_PER_CLAIM = 1000

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
    return EPOCH + timedelta(microseconds=value)


def seconds_to_us(seconds: float) -> int:
    """A duration in seconds as whole microseconds (lease lengths)."""
    return int(seconds * 1_000_000)


# --- JSON rows -------------------------------------------------------------

_decode = json.JSONDecoder().decode


def _compact_encoder() -> Callable[[Any], str]:
    """Compact JSON text of a value (``separators=(",", ":")``, non-ASCII kept).

    ``JSONEncoder.encode`` builds its C encoder anew on every call, which
    cost as much as encoding a small event: the C encoder is built once here
    (the pure-Python encoder stands in where CPython's C module is missing).
    """
    encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
    make = getattr(json.encoder, "c_make_encoder", None)  # private, hence untyped
    if make is None:  # pragma: no cover - CPython always has it
        return encoder.encode
    chunks = make(None, encoder.default, json.encoder.encode_basestring, None, ":", ",",
                  False, False, True)

    def encode(value: Any) -> str:
        if isinstance(value, str):
            return json.encoder.encode_basestring(value)
        return "".join(chunks(value, 0))
    return encode


_encode = _compact_encoder()


def encode_event(event: HistoryEvent) -> str:
    """A history event as the compact JSON text stored in history and inbox rows."""
    return _encode(event_to_dict(event))


def decode_event(text: str) -> HistoryEvent:
    """Decode :func:`encode_event`."""
    return event_from_dict(_decode(text))


def encode_events(texts: Sequence[str]) -> str:
    """Encoded events (:func:`encode_event`) as one JSON array text."""
    return "[" + ",".join(texts) + "]"


def decode_events(text: str) -> list[HistoryEvent]:
    """Decode :func:`encode_events`."""
    return [event_from_dict(item) for item in _decode(text)]


def encode_failure(failure: FailureDetails | None) -> str | None:
    """Failure details as JSON text, ``None`` staying ``None``."""
    return None if failure is None else _encode(failure.to_dict())


def decode_failure(text: str | None) -> FailureDetails | None:
    """Decode :func:`encode_failure`."""
    return None if text is None else FailureDetails.from_dict(_decode(text))


def encode_ids(ids: Collection[str] | Collection[int]) -> str:
    """A JSON array of ids, bound as one parameter to a set-based statement."""
    return _encode(list(ids))


def started_event(new: NewInstance, created_at: datetime) -> ExecutionStarted:
    """The ``ExecutionStarted`` event that opens a new instance's inbox."""
    return ExecutionStarted(
        timestamp=created_at, name=new.name, input=new.input,
        parent_instance_id=new.parent_instance_id,
        parent_execution_id=new.parent_execution_id, parent_task_id=new.parent_task_id,
    )


# --- rows ------------------------------------------------------------------

#: The instance columns every SQL task hub selects, in the order
#: :func:`instance_record` reads them.
INSTANCE_COLUMNS = (
    "instance_id, name, execution_id, runtime_status, created_at, updated_at, input, "
    "output, custom_status, failure, parent_instance_id, history_len")

TERMINAL_STATUS_VALUES = frozenset(s.value for s in TERMINAL_STATUSES)


def wakes_waiters(status: str, old_status: str) -> bool:
    """Whether a step taking an instance from ``old_status`` to ``status`` concerns
    those waiting on it: they wait for it to finish, so only a step that ends it."""
    return status != old_status and status in TERMINAL_STATUS_VALUES


def instance_record(row: Sequence[Any]) -> InstanceRecord:
    """An :class:`InstanceRecord` from a row of :data:`INSTANCE_COLUMNS`."""
    return InstanceRecord(
        instance_id=row[0], name=row[1], execution_id=row[2],
        runtime_status=OrchestrationRuntimeStatus(row[3]),
        created_at=from_us(row[4]), updated_at=from_us(row[5]), input=row[6], output=row[7],
        custom_status=row[8], failure=decode_failure(row[9]), parent_instance_id=row[10],
        history_len=row[11],
    )


MessageRow = tuple[str, str | None, int | None, str]


def message_row(message: Message, now: int | None) -> MessageRow:
    """Inbox row values ``(instance_id, execution_id, visible_at, event)``.

    No ``visible_at`` means visible ``now``; a store that reads the clock in SQL
    passes ``now=None`` and fills the gap there.
    """
    visible = now if message.visible_at is None else to_us(message.visible_at)
    return message.instance_id, message.execution_id, visible, encode_event(message.event)


def task_row(task: ActivityTask, now: int | None) -> tuple[Any, ...]:
    """Activity task row values ``(instance_id, execution_id, task_id, name, input)``
    followed by ``now`` twice (``created_at``, ``visible_at``)."""
    return (task.instance_id, task.execution_id, task.task_id, task.name, task.input, now, now)


#: A commit's lease of activity tasks: (worker id, at most how many, lease in microseconds).
TaskLease = tuple[str, int, int]


def task_lease(worker_id: str, limit: int, lease_seconds: float) -> TaskLease | None:
    """The :data:`TaskLease` of a ``commit_steps_and_claim`` call (``None``: lease nothing)."""
    return (worker_id, limit, seconds_to_us(lease_seconds)) if limit > 0 else None


@dataclass(slots=True)
class CommitPlan:
    """The rows a batch of :class:`StepCommit` writes, decided from the leases read first.

    Steps own distinct instances, so writing kind by kind equals applying them
    one by one, except that every step's own update precedes every step's side
    effects (as if those steps had committed first). ``changed`` lists the
    instances their waiters should read again after the commit (see
    :func:`wakes_waiters`); a store appends the sub-orchestrations it creates.
    """

    applied: list[bool] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    resets: list[str] = field(default_factory=list)
    #: ``(instance_id, seq, event)``
    history: list[tuple[str, int, str]] = field(default_factory=list)
    #: ``(new_execution_id, input, status, custom_status, output, failure, updated_at,
    #: history_len, instance_id)``
    updates: list[tuple[Any, ...]] = field(default_factory=list)
    #: ``(message id, instance_id)``
    consumed: list[tuple[int, str]] = field(default_factory=list)
    tasks: list[tuple[Any, ...]] = field(default_factory=list)
    messages: list[MessageRow] = field(default_factory=list)
    starts: list[NewInstance] = field(default_factory=list)

    @property
    def tasks_added(self) -> bool:
        """Whether the batch creates activity tasks."""
        return bool(self.tasks)

    @property
    def messages_added(self) -> bool:
        """Whether the batch sends messages or starts instances."""
        return bool(self.messages or self.starts)


def plan_commit(steps: Sequence[StepCommit],
                leases: Mapping[str, tuple[str | None, str, int]],
                now: int | None) -> CommitPlan:
    """Decide which steps apply and the rows they write.

    ``leases`` maps each instance id to ``(lock_token, runtime_status,
    history_len)`` as read (and locked) in the committing transaction. A step
    applies when its token is the current lease; a second step for the same
    lease in one batch does not. ``now`` fills the ``updated_at``, task and
    message timestamps (``None``: the store fills them in SQL).
    """
    plan = CommitPlan()
    used: set[str] = set()
    for step in steps:
        lease = leases.get(step.instance_id)
        ok = (lease is not None and lease[0] is not None and lease[0] == step.lock_token
              and step.instance_id not in used)
        plan.applied.append(ok)
        if not ok or lease is None:
            continue
        used.add(step.instance_id)  # a second step for one instance cannot reuse the lease
        _, old_status, history_len = lease
        seq = history_len
        if step.new_execution_id is not None:
            plan.resets.append(step.instance_id)
            seq = 0
        plan.history.extend((step.instance_id, seq + i, encode_event(event))
                            for i, event in enumerate(step.history))
        status = OrchestrationRuntimeStatus(step.runtime_status).value
        plan.updates.append((step.new_execution_id, step.input, status, step.custom_status,
                             step.output, encode_failure(step.failure), now,
                             seq + len(step.history), step.instance_id))
        plan.consumed.extend((msg_id, step.instance_id) for msg_id in step.consumed)
        plan.tasks.extend(task_row(task, now) for task in step.activities)
        plan.messages.extend(message_row(message, now) for message in step.messages)
        plan.starts.extend(step.start_instances)
        if wakes_waiters(status, old_status):
            plan.changed.append(step.instance_id)
    return plan


# --- queries ---------------------------------------------------------------


def encode_token(created_at_us: int, instance_id: str) -> str:
    """An opaque continuation token: the keyset position after the last row of a page."""
    raw = _encode([created_at_us, instance_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[int, str]:
    """Decode :func:`encode_token`; anything else raises ``InvalidArgumentError``."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value = _decode(raw.decode())
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError):
        value = None
    if (isinstance(value, list) and len(value) == 2 and type(value[0]) is int
            and -(2**63) <= value[0] < 2**63 and isinstance(value[1], str)
            and control_character(value[1]) is None):
        return value[0], value[1]
    raise InvalidArgumentError(f"malformed continuation token {token!r}")


def keyset_conditions(query: InstanceQuery, mark: str,
                      bigint_mark: str | None = None) -> tuple[list[str], list[Any]]:
    """The WHERE conditions shared by both dialects' instance queries, with their parameters.

    The page position (keyset), the creation window (inclusive) and the id
    prefix as a code-point range served by the primary key. ``mark`` is the
    dialect's placeholder; ``bigint_mark`` the one for microsecond times.
    """
    big = bigint_mark or mark
    where: list[str] = []
    params: list[Any] = []
    if query.continuation_token is not None:
        where.append(f"(created_at, instance_id) > ({big}, {mark})")
        params.extend(decode_token(query.continuation_token))
    if query.created_from is not None:
        where.append(f"created_at >= {big}")
        params.append(to_us(query.created_from))
    if query.created_to is not None:
        where.append(f"created_at <= {big}")
        params.append(to_us(query.created_to))
    if query.instance_id_prefix:
        where.append(f"instance_id >= {mark}")
        params.append(query.instance_id_prefix)
        upper = prefix_upper_bound(query.instance_id_prefix)
        if upper is not None:
            where.append(f"instance_id < {mark}")
            params.append(upper)
    return where, params


def page_byte_budget() -> int:
    """Bytes of payload one query page may carry before it is cut (at least 8 MiB).

    A page holds inputs, outputs and custom statuses of up to a thousand
    instances, each up to the value size limit: without a budget one page
    could cost gigabytes to read and serve.
    """
    return max(8 * 1024 * 1024, 2 * value_limits().max_bytes)


#: The payload bytes of an instance row (as characters: close enough for a budget).
PAYLOAD_SIZE = ("coalesce(length(input), 0) + coalesce(length(output), 0) + "
                "coalesce(length(custom_status), 0) + coalesce(length(failure), 0)")


def budgeted_page(inner: str, mark: str) -> str:
    """Wrap a page query so that it stops after the row that crosses the byte budget.

    ``inner`` selects :data:`INSTANCE_COLUMNS`, then ``PAYLOAD_SIZE AS size``,
    ordered by ``created_at, instance_id`` and limited to ``page_size + 1``;
    the budget is the parameter ``mark``. Each row comes back with its running
    payload total and the count of ``inner``'s rows, which :func:`page_of`
    needs to tell whether the page was cut. The first row always comes back.
    """
    return ("SELECT * FROM (SELECT p.*, sum(p.size) OVER (ORDER BY p.created_at, "
            "p.instance_id ROWS UNBOUNDED PRECEDING) AS running, count(*) OVER () AS total "
            f"FROM ({inner}) p) w WHERE w.running - w.size < {mark} "
            "ORDER BY w.created_at, w.instance_id")


def page_of(rows: Sequence[Sequence[Any]], page_size: int) -> tuple[list[InstanceRecord],
                                                                   str | None]:
    """Records of a :func:`budgeted_page` query, and the next page's token.

    A page is cut at ``page_size`` rows or by the byte budget, whichever comes
    first; either way the token carries on after its last row.
    """
    if not rows:
        return [], None
    total = rows[0][-1]
    rows = rows[:page_size]
    token = encode_token(rows[-1][4], rows[-1][0]) if total > len(rows) else None
    return [instance_record(row) for row in rows], token


def seconds_option(options: Mapping[str, str], name: str, default: float,
                   positive: bool = False) -> float:
    """A store URL option given in seconds: ``>= 0`` (or ``> 0`` when ``positive``)."""
    text = options.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value > 0 if positive else value >= 0):  # also rejects NaN
        raise InvalidArgumentError(f"{name} must be a number of seconds, got {text!r}")
    return value


PurgeBatch = Callable[[int | None, int | None, list[str], int], Awaitable[list[str]]]


async def purge_in_batches(created_from: datetime | None, created_to: datetime | None,
                           statuses: Collection[OrchestrationRuntimeStatus] | None,
                           batch_size: int, purge_batch: PurgeBatch) -> int:
    """Run ``purge_batch(from_us, to_us, statuses, size)`` until a batch comes back short.

    Each batch is its own transaction (other writers get in between, and a
    crash keeps the batches done); only finished instances are ever purged.
    Returns how many were purged.
    """
    if batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be at least 1, got {batch_size}")
    wanted = purgeable_status_values(statuses)
    if not wanted:
        return 0
    start = None if created_from is None else to_us(created_from)
    end = None if created_to is None else to_us(created_to)
    total = 0
    while True:
        done = await purge_batch(start, end, wanted, batch_size)
        total += len(done)
        if len(done) < batch_size:
            return total


def check_page_size(page_size: int) -> None:
    """Refuse a page size below 1."""
    if page_size < 1:
        raise InvalidArgumentError(f"page_size must be at least 1, got {page_size}")


def prefix_upper_bound(prefix: str) -> str | None:
    """The least string greater than every string starting with ``prefix``.

    ``prefix <= s < bound`` is then exactly ``s.startswith(prefix)`` in code-point
    order (which is also UTF-8 byte order), so a prefix filter is a range scan
    of the primary key. ``None`` means "no upper bound" (a prefix of U+10FFFF only).
    """
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        if last < sys.maxunicode:
            bumped = last + 1
            if 0xD800 <= bumped <= 0xDFFF:  # surrogates never occur in valid text
                bumped = 0xE000
            return "".join(chars) + chr(bumped)
    return None


def status_values(statuses: Collection[OrchestrationRuntimeStatus]) -> list[str]:
    """Status names, as stored, for an ``IN`` filter."""
    return [OrchestrationRuntimeStatus(s).value for s in statuses]


def purgeable_status_values(
    statuses: Collection[OrchestrationRuntimeStatus] | None,
) -> list[str]:
    """The terminal statuses a purge filter selects (only finished instances are purged)."""
    wanted = TERMINAL_STATUSES if statuses is None else TERMINAL_STATUSES.intersection(
        OrchestrationRuntimeStatus(s) for s in statuses)
    return sorted(s.value for s in wanted)


# --- status rules ----------------------------------------------------------


def check_can_create(instance_id: str, status: str) -> None:
    """Raise ``InstanceAlreadyExistsError`` when ``status`` is active (not finished)."""
    if OrchestrationRuntimeStatus(status) not in TERMINAL_STATUSES:
        raise InstanceAlreadyExistsError(instance_id, status)


def check_can_send(
    instance_id: str, status: str, operation: str,
    allowed: Collection[OrchestrationRuntimeStatus],
) -> None:
    """Raise the error ``send_message`` owes for an instance in ``status``, if any."""
    current = OrchestrationRuntimeStatus(status)
    if current in allowed:
        return
    if current in TERMINAL_STATUSES:
        raise InstanceFinishedError(instance_id, status, operation)
    raise InvalidInstanceStateError(instance_id, status, operation)


def check_can_purge(instance_id: str, status: str) -> None:
    """Raise ``InvalidInstanceStateError`` for an instance that has not finished."""
    if OrchestrationRuntimeStatus(status) not in TERMINAL_STATUSES:
        raise InvalidInstanceStateError(instance_id, status, "purge")


# --- migrations ------------------------------------------------------------

_MIGRATION_NAME = re.compile(r"^(\d{4})_[A-Za-z0-9_]+\.sql$")


def load_migrations(dialect: str) -> list[tuple[int, str, str]]:
    """The numbered scripts of ``store/sql/<dialect>/``: ``(version, name, sql)`` in order.

    Versions must run 1, 2, 3... without gaps, so a missing file is caught here
    rather than as a half-migrated database.
    """
    folder = resources.files(__package__).joinpath("sql", dialect)
    found: list[tuple[int, str, str]] = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [version for version, _, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"{dialect} migrations are not numbered 1..n: {versions}")
    return found


def split_sql(script: str) -> list[str]:
    """Split a migration script into statements at semicolons, dropping ``--`` comment lines.

    Good enough for our own scripts, which keep comments on lines of their own
    and put no semicolon inside a string literal.
    """
    code = "\n".join(ln for ln in script.splitlines() if not ln.lstrip().startswith("--"))
    return [text.strip() for text in code.split(";") if text.strip()]


__all__ = [
    "EPOCH", "INSTANCE_COLUMNS", "MAX_MESSAGES_PER_CLAIM", "PAYLOAD_SIZE", "TERMINAL_STATUS_VALUES",
    "CommitPlan", "budgeted_page", "page_byte_budget",
    "MessageRow", "check_can_create", "check_can_purge", "check_can_send", "check_page_size",
    "decode_event", "decode_events", "decode_failure", "decode_token", "encode_event",
    "encode_events", "encode_failure",
    "encode_ids", "encode_token", "from_us", "instance_record", "load_migrations",
    "message_row", "now_us", "plan_commit", "prefix_upper_bound", "purgeable_status_values",
    "seconds_to_us", "split_sql", "started_event", "status_values", "task_row", "to_us",
]
