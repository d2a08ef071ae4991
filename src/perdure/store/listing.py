"""The SQL of instance listings and counts, built the same way for both dialects.

(And the decoding of the rows the dashboard reads: counts and generations.)

A listing is keyset-paged in ``(created_at, instance_id)`` order, oldest or
newest first. Every filter but the id prefix has an index in that order
(creation time, status, orchestrator name, version), so a page reads about one page
of index entries (a status with a name reads the rows of one of the two
ranges to check the other). The prefix has none (its index orders by id), so a page
with a prefix tries, in turn: the ordered scan, cut after :data:`PREFIX_SCAN`
entries (enough where matches are dense); the same scan from the newest (or
oldest) match on, found by one aggregate over the prefix's key range (enough
where they are dense around it, as when ids grow with time); and last the
prefix's key range itself, read from the ``(instance_id, created_at)``
index and sorted (a status or a name is checked on each row of it). Each
plan's answer is exact when it
fills the page or reads its range to the end.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..core.status import OrchestrationRuntimeStatus
from .base import Generation, InstanceQuery, StatusCount
from .codec import INSTANCE_COLUMNS, from_us, to_us
from .paging import PAYLOAD_SIZE, decode_token, prefix_upper_bound
from .rules import status_values

#: Index entries the ordered scan of a prefix page reads before it gives up
#: for the prefix's own key range.
PREFIX_SCAN = 2000


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the dialects' listing SQL."""

    #: The placeholder of a parameter, and of a microsecond time.
    mark: str
    big: str
    #: The instances table (schema-qualified for PostgreSQL).
    table: str
    #: The clause that makes a prefix range read the ``(instance_id,
    #: created_at)`` index (SQLite's ``INDEXED BY``), and the one that ends the
    #: range's subquery so that the planner reads the range before it sorts
    #: (PostgreSQL's ``OFFSET 0``: else it may walk the creation index backwards,
    #: filtering, a million rows for a prefix of old instances).
    by_id: str
    fence: str
    #: ``instance_id IN`` a list parameter.
    id_in_list: str


class Sql(NamedTuple):
    """One statement with its parameters."""

    text: str
    params: list[Any]


def order_by(query: InstanceQuery) -> str:
    """The listing's ORDER BY clause."""
    if query.newest_first:
        return "ORDER BY created_at DESC, instance_id DESC"
    return "ORDER BY created_at, instance_id"


def conditions(query: InstanceQuery, d: Dialect, *,
               prefix: bool = True) -> tuple[list[str], list[Any]]:
    """The WHERE terms of ``query`` but its statuses: keyset position (in the
    query's direction), creation window (inclusive), name, version and, if ``prefix``,
    the id prefix as a code-point range."""
    where: list[str] = []
    params: list[Any] = []
    if query.continuation_token is not None:
        op = "<" if query.newest_first else ">"
        where.append(f"(created_at, instance_id) {op} ({d.big}, {d.mark})")
        params.extend(decode_token(query.continuation_token))
    if query.created_from is not None:
        where.append(f"created_at >= {d.big}")
        params.append(to_us(query.created_from))
    if query.created_to is not None:
        where.append(f"created_at <= {d.big}")
        params.append(to_us(query.created_to))
    if query.name is not None:
        where.append(f"name = {d.mark}")
        params.append(query.name)
    if query.version is not None:
        where.append(f"version = {d.mark}")
        params.append(query.version)
    if prefix and query.instance_id_prefix:
        terms, values = prefix_range(query.instance_id_prefix, d)
        where += terms
        params += values
    return where, params


def prefix_range(prefix: str, d: Dialect) -> tuple[list[str], list[Any]]:
    """``instance_id`` starts with ``prefix``, as a key range."""
    where, params = [f"instance_id >= {d.mark}"], [prefix]
    upper = prefix_upper_bound(prefix)
    if upper is not None:
        where.append(f"instance_id < {d.mark}")
        params.append(upper)
    return where, params


def _statuses(query: InstanceQuery) -> list[str] | None:
    return None if query.statuses is None else sorted(set(status_values(query.statuses)))


def ordered(query: InstanceQuery, d: Dialect, columns: str, limit: int, *,
            prefix: bool = True) -> Sql | None:
    """``columns`` of the first ``limit`` matching rows in the listing's order
    (``None``: no status can match). Statuses are one ordered index range
    each, merged: a single ``IN`` would sort every matching row before the
    LIMIT could apply."""
    where, params = conditions(query, d, prefix=prefix)
    order = order_by(query)
    statuses = _statuses(query)
    if statuses is None:
        text = f"SELECT {columns} FROM {d.table}"
        if where:
            text += " WHERE " + " AND ".join(where)
        return Sql(f"{text} {order} LIMIT {d.mark}", [*params, limit])
    if not statuses:
        return None
    arm = (f"SELECT * FROM (SELECT {columns} FROM {d.table} WHERE "
           + " AND ".join([f"runtime_status = {d.mark}", *where]) + f" {order} LIMIT {d.mark}) a")
    arms = [f"SELECT * FROM ({arm}{i}) m{i}" for i in range(len(statuses))]
    args = [arg for status in statuses for arg in (status, *params, limit)]
    return Sql(" UNION ALL ".join(arms) + f" {order} LIMIT {d.mark}", [*args, limit])


def page_rows(query: InstanceQuery, d: Dialect, limit: int) -> Sql | None:
    """A page's rows (without a prefix filter: one statement does it all)."""
    return ordered(query, d, f"{INSTANCE_COLUMNS}, {PAYLOAD_SIZE} AS size", limit)


def prefix_scan_keys(query: InstanceQuery, d: Dialect) -> Sql | None:
    """Plan one of a prefix page: the ids (and positions) of the first
    :data:`PREFIX_SCAN` rows in order, whatever their prefix (the caller
    keeps the prefix's; index entries only, no row is read), as
    ``(created_at, instance_id)`` rows."""
    return ordered(query, d, "created_at, instance_id", PREFIX_SCAN, prefix=False)


def prefix_range_keys(query: InstanceQuery, d: Dialect, limit: int) -> Sql | None:
    """Plan two of a prefix page: the first ``limit`` ids of the prefix's key
    range in the listing's order, read from the ``(instance_id, created_at)``
    index and sorted (statuses and name are checked on each row of the range)."""
    statuses = _statuses(query)
    if statuses is not None and not statuses:
        return None
    where, params = conditions(query, d)
    if statuses is not None:
        where.append("runtime_status IN (" + ", ".join([d.mark] * len(statuses)) + ")")
        params += statuses
    inner = (f"SELECT created_at, instance_id FROM {d.table} {d.by_id} WHERE "
             + " AND ".join(where) + f" {d.fence}")
    return Sql(f"SELECT instance_id FROM ({inner}) r {order_by(query)} LIMIT {d.mark}",
               [*params, limit])


def prefix_edge(query: InstanceQuery, d: Dialect) -> Sql:
    """The creation time of the first instance of the prefix in the listing's
    order (the newest, newest first) within the window and past the cursor, or
    NULL: an aggregate over the prefix's key range, read from the index alone.
    Status, name and version are left out (they would read every row of the
    range): no match of the whole query lies beyond it either."""
    where, params = conditions(dataclasses.replace(query, name=None, version=None), d)
    edge = "max" if query.newest_first else "min"
    inner = (f"SELECT created_at FROM {d.table} {d.by_id} WHERE " + " AND ".join(where)
             + f" {d.fence}")
    return Sql(f"SELECT {edge}(created_at) FROM ({inner}) r", params)


def from_edge(query: InstanceQuery, edge_us: int) -> InstanceQuery:
    """``query`` with its creation window cut at ``edge_us`` (no match lies beyond)."""
    edge = from_us(edge_us)
    if query.newest_first:
        return dataclasses.replace(query, created_to=edge if query.created_to is None
                                   else min(edge, query.created_to))
    return dataclasses.replace(query, created_from=edge if query.created_from is None
                               else max(edge, query.created_from))


def rows_of_ids(query: InstanceQuery, d: Dialect, ids: Any) -> Sql:
    """The page rows of ``ids`` (a list parameter), in the listing's order."""
    return Sql(f"SELECT {INSTANCE_COLUMNS}, {PAYLOAD_SIZE} AS size FROM {d.table} "
               f"WHERE {d.id_in_list} {order_by(query)}", [ids])


def count_sql(query: InstanceQuery, d: Dialect, bound: int,
              statuses: list[OrchestrationRuntimeStatus]) -> Sql:
    """Per status of ``statuses``: ``(i, n)`` with ``i`` its index in
    ``statuses`` and ``n`` the rows matching ``query`` (token and page size
    ignored), counted up to ``bound + 1``: each status's own index range.

    With a name or an id prefix (no index range per status) it is one pass
    over the name's (the prefix's) index range instead, cut after ``bound + 1``
    rows; then a status missing from the answer has none among the rows read.
    """
    unpaged = InstanceQuery(query.created_from, query.created_to, None,
                            query.instance_id_prefix, name=query.name, version=query.version)
    where, params = conditions(unpaged, d)
    if one_pass(query):
        cases = " ".join(f"WHEN {d.mark} THEN {i}" for i in range(len(statuses)))
        by_id = d.by_id if query.instance_id_prefix else ""
        inner = (f"SELECT runtime_status FROM {d.table} {by_id} WHERE "
                 + " AND ".join([*where, "runtime_status IN ("
                                 + ", ".join([d.mark] * len(statuses)) + ")"])
                 + f" LIMIT {d.mark}")
        values = [s.value for s in statuses]
        return Sql(f"SELECT CASE runtime_status {cases} END AS i, count(*) AS n FROM ({inner}) r "
                   "GROUP BY runtime_status", [*values, *params, *values, bound + 1])
    arms: list[str] = []
    args: list[Any] = []
    for i, status in enumerate(statuses):
        arms.append(f"SELECT {i} AS i, (SELECT count(*) FROM (SELECT 1 FROM {d.table} "
                    "WHERE " + " AND ".join([f"runtime_status = {d.mark}", *where])
                    + f" LIMIT {d.mark}) c{i}) AS n")
        args += [status.value, *params, bound + 1]
    return Sql(" UNION ALL ".join(arms), args)


def counted_statuses(query: InstanceQuery) -> list[OrchestrationRuntimeStatus]:
    """The statuses :meth:`~perdure.store.base.Store.count_instances` answers for."""
    wanted = None if query.statuses is None else set(query.statuses)
    return [s for s in OrchestrationRuntimeStatus if wanted is None or s in wanted]


def one_pass(query: InstanceQuery) -> bool:
    """Whether :func:`count_sql` counts every status in one pass (a name or a prefix)."""
    return bool(query.instance_id_prefix) or query.name is not None


def counts_of(query: InstanceQuery, statuses: list[OrchestrationRuntimeStatus],
              found: dict[int, int], bound: int) -> list[StatusCount]:
    """The answer of :func:`count_sql`: ``found`` maps a status's index to its rows."""
    if one_pass(query):  # cut after bound + 1 rows: all exact or none
        exact = sum(found.values()) <= bound
        return [StatusCount(s, min(found.get(i, 0), bound), exact)
                for i, s in enumerate(statuses)]
    return [StatusCount(s, min(found[i], bound), found[i] <= bound)
            for i, s in enumerate(statuses)]


def generation_of(generation: int, execution_id: str, started_at: int, ended_at: int,
                  input_preview: str | None) -> Generation:
    """A row of the ``generations`` table."""
    return Generation(generation, execution_id, from_us(started_at), from_us(ended_at),
                      input_preview)


__all__ = [
    "PREFIX_SCAN", "Dialect", "Sql", "conditions", "count_sql", "counts_of", "counted_statuses",
    "generation_of", "one_pass", "order_by", "ordered",
    "from_edge", "page_rows", "prefix_edge", "prefix_range", "prefix_range_keys",
    "prefix_scan_keys", "rows_of_ids",
]
