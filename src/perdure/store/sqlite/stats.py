"""The SQLite task hub's gauges for ``/metrics`` (:meth:`Store.hub_stats`)."""

from __future__ import annotations

import sqlite3

from ...core.status import OrchestrationRuntimeStatus
from ..base import HubStats
from .queries import SQL


def hub_stats(conn: sqlite3.Connection, now: int, cap: int) -> HubStats:
    """Instances per status and the backlog, each figure one bounded index scan."""
    counts: dict[tuple[OrchestrationRuntimeStatus, str], int] = {}
    for status in OrchestrationRuntimeStatus:
        for version, count in conn.execute(SQL.count_statuses, (status.value, cap)):
            counts[(status, version)] = count
    instances, tasks, oldest_message, oldest_task = conn.execute(
        SQL.backlog, (now, cap)).fetchone()
    return HubStats(counts, instances, tasks, _age(now, oldest_message),
                    _age(now, oldest_task), cap)


def _age(now: int, since: int | None) -> float | None:
    return None if since is None else max(0, now - since) / 1_000_000
