"""The rows only the PostgreSQL statements return, one type per shape (the
shapes both dialects share are in :mod:`perdure.store.codec`).

Each is built by psycopg as the row arrives (:func:`fetch`), in the column
order of its statement in ``queries.sql``; the code reading them uses names.
"""

from __future__ import annotations

from typing import Any, NamedTuple, TypeVar

from psycopg import AsyncConnection
from psycopg.rows import args_row

R = TypeVar("R")


async def fetch(conn: AsyncConnection[Any], row: type[R], query: str,
                params: Any = None) -> list[R]:
    """Every row of ``query`` as a ``row``."""
    cur = conn.cursor(row_factory=args_row(row))
    await cur.execute(query, params)
    return await cur.fetchall()


class StatusOwner(NamedTuple):
    """``send_message``: the target's status and the worker it has affinity to."""

    runtime_status: str
    locked_by: str | None


class Horizon(NamedTuple):
    """``*_horizon``: microseconds until work may appear unannounced, and whether
    the scan stopped early."""

    until_us: int | None
    truncated: bool


class ClaimedMessages(NamedTuple):
    """``claimed_messages``: a claimed instance's visible messages, as three arrays."""

    instance_id: str
    message_ids: list[int] | None
    message_executions: list[str | None] | None
    message_events: list[str] | None


class Committed(NamedTuple):
    """``commit_steps``: an applied step (``task_row_id`` NULL, with its status
    before), or a task it created leased to the committing worker."""

    instance_id: str
    old_status: str | None
    task_row_id: int | None
    lock_token: str | None
    attempts: int | None
    execution_id: str | None
    task_id: int | None
    name: str | None
    input: str | None
    trace_parent: str | None


class CompletedTask(NamedTuple):
    """``complete_activities``: a completed task, and the worker its instance has
    affinity to."""

    id: int
    locked_by: str | None


class Changed(NamedTuple):
    """``changed_instances``: a finished instance (or NULL), with the server time."""

    instance_id: str | None
    server_us: int


class Earliest(NamedTuple):
    """``next_wakeup``: the earliest future ``visible_at`` (NULL: none)."""

    visible_at: int | None
