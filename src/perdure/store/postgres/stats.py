"""The PostgreSQL task hub's gauges for ``/metrics`` (:meth:`Store.hub_stats`)."""

from __future__ import annotations

from typing import Any, NamedTuple

from psycopg import AsyncConnection

from ...core.status import OrchestrationRuntimeStatus
from ..base import HubStats
from .queries import Queries
from .rows import fetch

Conn = AsyncConnection[Any]


class _StatusCount(NamedTuple):
    status: str
    version: str
    instances: int


class _Backlog(NamedTuple):
    instances: int
    tasks: int
    oldest_message: int | None
    oldest_task: int | None
    now: int


async def hub_stats(conn: Conn, q: Queries, cap: int) -> HubStats:
    """Instances per status and the backlog, each figure one bounded index scan
    (ages by the server's clock, as leases and visibility are)."""
    rows = await fetch(conn, _StatusCount, q.count_statuses, {
        "statuses": [status.value for status in OrchestrationRuntimeStatus], "cap": cap})
    counts = {(OrchestrationRuntimeStatus(row.status), row.version): row.instances
              for row in rows}
    (backlog,) = await fetch(conn, _Backlog, q.backlog, {"cap": cap})
    return HubStats(counts, backlog.instances, backlog.tasks,
                    _age(backlog.now, backlog.oldest_message),
                    _age(backlog.now, backlog.oldest_task), cap)


def _age(now: int, since: int | None) -> float | None:
    return None if since is None else max(0, now - since) / 1_000_000
