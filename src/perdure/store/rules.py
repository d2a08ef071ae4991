"""The rules of the task hub that do not depend on the SQL dialect.

Which statuses let an instance be created afresh, be sent a message or be
purged; which steps wake those waiting on an instance; the limits of a claim
and of a query page. Both stores call these, so they raise the same errors
for the same states.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from datetime import datetime

from ..core.errors import (
    InstanceAlreadyExistsError,
    InstanceFinishedError,
    InvalidArgumentError,
    InvalidInstanceStateError,
)
from ..core.status import TERMINAL_STATUSES, OrchestrationRuntimeStatus
from .base import InstanceQuery, Message, NewInstance
from .codec import to_us
from .paging import decode_token

#: How many inbox messages one claim hands over per instance; the rest stay
#: for the next step, so one flooded instance cannot produce a giant step.
MAX_MESSAGES_PER_CLAIM = 1000

#: The finished statuses, as stored.
TERMINAL_STATUS_VALUES = frozenset(s.value for s in TERMINAL_STATUSES)


def wakes_waiters(status: str, old_status: str) -> bool:
    """Whether a step taking an instance from ``old_status`` to ``status`` concerns
    those waiting on it: they wait for it to finish, so only a step that ends it."""
    return status != old_status and status in TERMINAL_STATUS_VALUES


# --- creating, sending, purging ---------------------------------------------


def conflict_message(new: NewInstance, status: str) -> Message | None:
    """What creating ``new`` does when an instance in ``status`` holds its id.

    ``None``: the holder has finished and is replaced. An active holder is
    kept and gets ``new.on_conflict`` (returned, for the caller to send)
    instead; without ``on_conflict`` the start is refused with
    ``InstanceAlreadyExistsError``.
    """
    if status in TERMINAL_STATUS_VALUES:
        return None
    if new.on_conflict is None:
        raise InstanceAlreadyExistsError(new.instance_id, status)
    return new.on_conflict


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


PurgeBatch = Callable[[int | None, int | None, list[str], int], Awaitable[list[str]]]


async def purge_in_batches(created_from: datetime | None, created_to: datetime | None,
                           statuses: Collection[OrchestrationRuntimeStatus] | None,
                           batch_size: int, purge_batch: PurgeBatch,
                           purged: Callable[[list[str]], None]) -> int:
    """Run ``purge_batch(from_us, to_us, statuses, size)`` until a batch comes back short,
    telling ``purged`` the ids of each batch once it has committed.

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
        purged(done)
        total += len(done)
        if len(done) < batch_size:
            return total


# --- limits ------------------------------------------------------------------


def check_query(query: InstanceQuery) -> None:
    """Refuse a page size below 1 or a continuation token we did not issue, on the
    caller's side (before any thread or connection is taken)."""
    if query.page_size < 1:
        raise InvalidArgumentError(f"page_size must be at least 1, got {query.page_size}")
    if query.continuation_token is not None:
        decode_token(query.continuation_token)


def check_count_bound(bound: int) -> None:
    """Refuse a count bound below 1 (see ``Store.count_instances``)."""
    if not isinstance(bound, int) or isinstance(bound, bool) or bound < 1:
        raise InvalidArgumentError(f"a count bound must be a positive integer, got {bound!r}")


__all__ = [
    "MAX_MESSAGES_PER_CLAIM", "TERMINAL_STATUS_VALUES", "PurgeBatch", "check_can_purge",
    "check_can_send", "check_count_bound", "check_query", "purge_in_batches",
    "purgeable_status_values", "conflict_message", "status_values", "wakes_waiters",
]
