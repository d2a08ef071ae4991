"""The PostgreSQL task hub's transitions, as async functions of one connection.

:class:`~perdure.store.postgres.PostgresStore` takes a pooled connection (in
autocommit mode) and hands it to one of these, with the hub's
:class:`~perdure.store.postgres.queries.Queries`. Most transitions are a single
statement, so they cost one round trip and one commit: data-modifying CTEs do
the check and the write together. ``commit_steps`` is one statement too for a
batch of ordinary steps; a batch that resets a history or starts
sub-orchestrations is a transaction that locks the leases first.

No transition sends ``NOTIFY`` itself: a transaction that notifies holds a
cluster-wide lock through its commit's WAL flush, which would serialize every
commit of every worker. The store sends the wake-ups after the commit, in
batches (see :mod:`perdure.store.postgres.wakeups`).

Times are bigint microseconds; "now" is the server's clock, so leases and
visibility mean the same on every machine sharing the hub.

A transition does what the :class:`~perdure.store.base.Store` method of
its name says; its docstring here, if any, says only how PostgreSQL does it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import psycopg
from psycopg import AsyncConnection, errors
from psycopg.rows import args_row
from psycopg_pool import PoolTimeout

from ...core.errors import (
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    StoreUnavailableError,
)
from ...core.history import FailureDetails, HistoryEvent
from ...core.status import OrchestrationRuntimeStatus
from ...core.versions import version_key
from .. import base, listing
from ..base import ActivityTask, ActivityWorkItem, InboxMessage, OrchestrationWorkItem
from ..codec import (
    ClaimedInstance,
    ClaimedTask,
    InstanceRow,
    Lease,
    PageRow,
    Unclaimed,
    activity_item,
    decode_event,
    decode_events,
    encode_event,
    encode_events,
    encode_failure,
    from_us,
    instance_record,
    message_row,
    started_event,
    task_row,
    to_us,
)
from ..paging import budgeted_page, page_byte_budget, page_of
from ..plan import CommitPlan, TaskLease, plan_commit, unclaimed_leases
from ..rules import (
    MAX_MESSAGES_PER_CLAIM,
    TERMINAL_STATUS_VALUES,
    check_can_purge,
    check_can_send,
    conflict_message,
    status_values,
    wakes_waiters,
)
from .queries import Queries
from .rows import (
    Changed,
    ClaimedMessages,
    Committed,
    CompletedTask,
    Earliest,
    Horizon,
    StatusOwner,
    fetch,
)

Conn = AsyncConnection[Any]



# --- client side -------------------------------------------------------------


async def get_instance(conn: Conn, q: Queries, instance_id: str) -> base.InstanceRecord | None:
    rows = await fetch(conn, InstanceRow, q.select_instance, (instance_id,))
    return instance_record(rows[0]) if rows else None


async def get_instances(conn: Conn, q: Queries,
                        instance_ids: Sequence[str]) -> list[base.InstanceRecord | None]:
    """Each instance's row (``None`` when unknown), in the order asked."""
    if len(instance_ids) == 1:
        return [await get_instance(conn, q, instance_ids[0])]
    records = [instance_record(row) for row in await fetch(
        conn, InstanceRow, q.select_instances, (list(set(instance_ids)),))]
    rows = {record.instance_id: record for record in records}
    return [rows.get(instance_id) for instance_id in instance_ids]


async def get_history(conn: Conn, q: Queries, instance_id: str) -> list[HistoryEvent]:
    cur = await conn.execute(q.select_history, (instance_id,))
    return [event for (text,) in await cur.fetchall() for event in decode_events(text)]


async def get_histories(conn: Conn, q: Queries,
                        instance_ids: Sequence[str]) -> dict[str, list[HistoryEvent]]:
    histories: dict[str, list[HistoryEvent]] = {instance_id: [] for instance_id in instance_ids}
    cur = await conn.execute(q.select_histories, (list(histories),))
    for instance_id, text in await cur.fetchall():
        histories[instance_id].extend(decode_events(text))
    return histories


async def create_instances(conn: Conn, q: Queries,
                           starts: Sequence[tuple[base.NewInstance, int]]) -> list[bool | None]:
    """Create each ``(new, created_at)``: per start, ``True`` if created in the
    common, one-statement way, else ``None``: the id is taken (or repeated in
    the batch), for :func:`create_instance` to settle one by one."""
    firsts: dict[str, int] = {}
    for index, (new, _) in enumerate(starts):
        firsts.setdefault(new.instance_id, index)
    batch = [starts[i] for i in firsts.values()]
    cur = await conn.execute(q.create_many, dict(zip(
        ("ids", "names", "execs", "created", "inputs", "parents", "events", "versions",
         "folds", "nums"),
        _columns([(new.instance_id, new.name, new.execution_id, created, new.input,
                   new.parent_instance_id, encode_event(started_event(new, from_us(created))),
                   new.version, *version_key(new.version).columns())
                  for new, created in batch]), strict=True)))
    inserted = {instance_id for (instance_id,) in await cur.fetchall()}
    return [True if new.instance_id in inserted and firsts[new.instance_id] == index else None
            for index, (new, _) in enumerate(starts)]


async def create_instance(conn: Conn, q: Queries, new: base.NewInstance, created: int) -> bool:
    """Create ``new`` in a transaction, whatever holds its id: ``False`` if
    ``on_conflict`` was sent instead (or it already existed)."""
    async with conn.transaction():
        return await create_locked(conn, q, new, created)


async def create_locked(conn: Conn, q: Queries, new: base.NewInstance, created: int,
                        event: str | None = None) -> bool:
    """Create ``new`` inside the caller's transaction, locking any instance holding the id.

    A finished instance is replaced; an active one raises
    ``InstanceAlreadyExistsError`` or gets ``new.on_conflict``. An instance
    that already runs ``new.execution_id`` is this very start, retried after
    an ambiguous commit: nothing more to do. Returns whether it was created.
    """
    if event is None:
        event = encode_event(started_event(new, from_us(created)))
    for _ in range(3):  # a concurrent start or purge can move the ground twice at most
        row = await (await conn.execute(q.lock_status, (new.instance_id,))).fetchone()
        if row is not None:
            status, execution_id = row
            if execution_id == new.execution_id:
                return False
            instead = conflict_message(new, status)
            if instead is not None:
                await insert_messages(conn, q, [message_row(instead, None)])
                return False
            await delete_instances(conn, q, [new.instance_id])
        else:  # messages that raced the purge of an earlier instance of the id
            await conn.execute(q.delete_leftovers, (new.instance_id,))
        inserted = await (await conn.execute(q.insert_instance, (
            new.instance_id, new.name, new.execution_id, created, new.input,
            new.parent_instance_id, new.version, *version_key(new.version).columns()),
        )).fetchone()
        if inserted is not None:
            await conn.execute(q.insert_start, (new.instance_id, new.execution_id, event,
                                                new.parent_instance_id))
            return True
    raise InstanceAlreadyExistsError(new.instance_id, "Pending")


async def delete_instances(conn: Conn, q: Queries, instance_ids: Collection[str]) -> None:
    """Delete instances with their history, inbox and tasks (caller holds the transaction)."""
    await conn.execute(q.delete_instances, {"ids": list(instance_ids)})


async def insert_messages(conn: Conn, q: Queries, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert inbox rows ``(instance_id, execution_id, visible_at|None, event)`` whose
    instance exists, in order."""
    if rows:
        await conn.execute(q.insert_messages_if_exist, _columns(rows))


async def notify(conn: Conn, q: Queries, notes: Sequence[tuple[str, str]]) -> None:
    """Send ``(channel, payload)`` notifications (in their own transaction)."""
    if notes:
        await conn.execute(q.notify, ([c for c, _ in notes], [p for _, p in notes]))


async def send_message(conn: Conn, q: Queries, message: base.Message, operation: str,
                       allowed: Collection[OrchestrationRuntimeStatus]) -> str | None:
    """Check the target's status against ``allowed`` and enqueue, in one statement.

    Returns the worker the instance has affinity to (``locked_by``).
    """
    instance_id, execution_id, visible, event = message_row(message, None)
    found = await fetch(conn, StatusOwner, q.send_message, {
        "id": instance_id, "exec": execution_id, "visible": visible, "event": event,
        "allowed": status_values(allowed)})
    if not found:
        raise InstanceNotFoundError(message.instance_id)
    check_can_send(message.instance_id, found[0].runtime_status, operation, allowed)
    return found[0].locked_by


async def purge(conn: Conn, q: Queries, where: str, params: dict[str, Any],
                limit: int) -> tuple[list[str], list[tuple[str, str]]]:
    """Delete up to ``limit`` finished instances matching ``where`` (SQL over the
    ``params``): returns the purged ids and the ``(id, status)`` of those kept."""
    # The last "{where}": a quoted schema before it may contain those characters.
    head, _, tail = q.purge_lock.rpartition("{where}")
    sql = head + where + tail
    async with conn.transaction():
        cur = await conn.execute(sql, {**params, "limit": limit})
        purged: list[str] = []
        kept: list[tuple[str, str]] = []
        for instance_id, status in await cur.fetchall():
            if status in TERMINAL_STATUS_VALUES:
                purged.append(instance_id)
            else:
                kept.append((instance_id, status))
        if purged:
            await delete_instances(conn, q, purged)
    return purged, kept


async def purge_instance(conn: Conn, q: Queries, instance_id: str) -> bool:
    purged, kept = await purge(conn, q, "instance_id = %(id)s", {"id": instance_id}, 1)
    for _, status in kept:
        check_can_purge(instance_id, status)
    return bool(purged)


async def delete_idle_entity(conn: Conn, q: Queries, instance_id: str,
                             custom_status: str | None) -> bool:
    """The row is locked first: a request racing the delete waits, then creates anew."""
    async with conn.transaction():
        row = await (await conn.execute(
            f"SELECT custom_status FROM {q.schema}.instances WHERE instance_id = %s FOR UPDATE",
            (instance_id,))).fetchone()
        if row is None or row[0] != custom_status:
            return False
        if await (await conn.execute(
                f"SELECT 1 FROM {q.schema}.inbox WHERE instance_id = %s LIMIT 1",
                (instance_id,))).fetchone():
            return False
        await delete_instances(conn, q, [instance_id])
        return True


async def purge_batch(conn: Conn, q: Queries, created_from: int | None, created_to: int | None,
                      statuses: list[str], batch_size: int) -> list[str]:
    """Delete up to ``batch_size`` finished instances matching the filter; returns their ids."""
    where = ["runtime_status = ANY(%(statuses)b::text[])"]
    params: dict[str, Any] = {"statuses": statuses}
    if created_from is not None:
        where.append("created_at >= %(start)s::bigint")
        params["start"] = created_from
    if created_to is not None:
        where.append("created_at <= %(end)s::bigint")
        params["end"] = created_to
    purged, _ = await purge(conn, q, " AND ".join(where), params, batch_size)
    return purged


def _listing(q: Queries) -> listing.Dialect:
    # The id column is COLLATE "C", so the prefix range compares code points.
    return listing.Dialect("%s", "%s::bigint", f"{q.schema}.instances", "", "OFFSET 0",
                           "instance_id = ANY(%s::text[])")


async def query_instances(conn: Conn, q: Queries, query: base.InstanceQuery) -> tuple[
        list[base.InstanceRecord], str | None]:
    """One keyset page of instances and the token of the next one."""
    d = _listing(q)
    limit = query.page_size + 1  # one row more says whether a next page exists
    if query.instance_id_prefix:
        ids = await _prefix_page_ids(conn, d, query, limit)
        sql = None if not ids else listing.rows_of_ids(query, d, ids)
    else:
        sql = listing.page_rows(query, d, limit)
    if sql is None:
        return [], None
    text = budgeted_page(sql.text, "%s", query.newest_first)
    rows = await fetch(conn, PageRow, text, [*sql.params, page_byte_budget()])
    return page_of(rows, query.page_size)


async def _prefix_page_ids(conn: Conn, d: listing.Dialect, query: base.InstanceQuery,
                           limit: int) -> list[str]:
    """The ids of a prefix page, by the first plan that answers (see :mod:`..listing`)."""
    prefix = query.instance_id_prefix or ""

    async def scan(q: base.InstanceQuery) -> list[str] | None:
        sql = listing.prefix_scan_keys(q, d)
        if sql is None:
            return []
        cur = await conn.execute(sql.text, sql.params)
        scanned = [instance_id for (_, instance_id) in await cur.fetchall()]
        ids = [instance_id for instance_id in scanned if instance_id.startswith(prefix)]
        done = len(ids) >= limit or len(scanned) < listing.PREFIX_SCAN
        return ids[:limit] if done else None

    ids = await scan(query)
    if ids is not None:
        return ids
    edge = listing.prefix_edge(query, d)
    row = await (await conn.execute(edge.text, edge.params)).fetchone()
    if row is None or row[0] is None:
        return []
    ids = await scan(listing.from_edge(query, row[0]))
    if ids is not None:
        return ids
    ranged = listing.prefix_range_keys(query, d, limit)
    assert ranged is not None
    cur = await conn.execute(ranged.text, ranged.params)
    return [instance_id for (instance_id,) in await cur.fetchall()]


async def count_instances(conn: Conn, q: Queries, query: base.InstanceQuery,
                          bound: int) -> list[base.StatusCount]:
    statuses = listing.counted_statuses(query)
    if not statuses:
        return []
    sql = listing.count_sql(query, _listing(q), bound, statuses)
    found = dict(await (await conn.execute(sql.text, sql.params)).fetchall())
    return listing.counts_of(query, statuses, found, bound)


async def get_generations(conn: Conn, q: Queries, instance_id: str) -> list[base.Generation]:
    cur = await conn.execute(q.select_generations, (instance_id,))
    return [listing.generation_of(*row) for row in await cur.fetchall()]


async def register_functions(conn: Conn, q: Queries, orchestrators: Sequence[str],
                             activities: Sequence[str]) -> None:
    """Sorted: concurrent upserts lock in order."""
    rows = sorted({("orchestrator", n) for n in orchestrators} | {("activity", n)
                                                                  for n in activities})
    if rows:
        await conn.execute(q.register, ([k for k, _ in rows], [n for _, n in rows]))


async def known_orchestrators(conn: Conn, q: Queries) -> set[str]:
    return {name for (name,) in await (await conn.execute(q.known_orchestrators)).fetchall()}


# --- worker side -------------------------------------------------------------


#: How many waiting messages of other workers' (or leased) instances a horizon
#: looks at; past that it answers "soon" (HORIZON_CAP) rather than scan a backlog.
HORIZON_SCAN = 64
#: "Soon": how long claims skip the database after a claim that did not
#: measure its horizon (it found some work, but not a full batch).
HORIZON_CAP = 0.05


async def horizon(conn: Conn, sql: str, params: dict[str, Any] | None = None) -> float | None:
    """Seconds until work of a kind may appear unannounced (``None``: never)."""
    found = await fetch(conn, Horizon, sql, params)
    if not found:
        return None
    until, truncated = found[0]
    seconds = None if until is None else max(0.0, until / 1e6)
    if truncated:  # the scan stopped early: something may come sooner than it saw
        seconds = HORIZON_CAP if seconds is None else min(seconds, HORIZON_CAP)
    return seconds


#: The planner settings of a claim's transaction (one statement). A
#: claim must walk the queue's index in order, look each message's instance up
#: by its id, and stop at its limit. From the statistics of an emptier queue the
#: planner picked a hash join and a sort of every visible message instead, which
#: cost each claim time in proportion to the backlog (a 2,000-instance backlog
#: drained at 127/s, against 805/s so); with those off, a nested loop over every
#: unleased instance, materialized once and compared with each message (a claim
#: grew with the finished instances: 170 ms after 5,000, and two workers ran W1
#: slower than one). Only the nested loop with a lookup per message is left.
#: Statements are prepared once per connection, so the claim keeps the plan made
#: here; every other statement, the listings' sorts among them, plans with the
#: defaults.
CLAIM_PLANNING = ("SELECT set_config('enable_sort', 'off', true),"
                  " set_config('enable_hashjoin', 'off', true),"
                  " set_config('enable_mergejoin', 'off', true),"
                  " set_config('enable_material', 'off', true)")


async def claim_orchestrations(conn: Conn, q: Queries, worker_id: str, limit: int,
                               lease_us: int, affinity_us: int, with_horizon: bool = False,
                               share: int | None = None, backlog: int | None = None,
                               versions: base.VersionFilter | None = None,
                               ) -> tuple[list[OrchestrationWorkItem], float | None]:
    """Lease up to ``limit`` instances with visible messages, with those messages.

    An instance whose last step ran on another worker is left to that worker
    for ``affinity_us``; of the instances that are not its own, it takes at
    most ``share`` (default ``limit``), and at most ``backlog`` (default ``limit``)
    new instances from the backlog clients queued, after the started ones. With
    ``with_horizon``, also returns how long claims may skip the database:
    :func:`horizon`, measured when nothing was found; a short while after a
    claim that found less than ``limit``; else ``None``.
    """
    allowed = dict(zip(("v_fold", "v_num", "v_low", "v_high"),
                       base.ANY_VERSION if versions is None else versions.params(), strict=True))
    params = {"worker": worker_id, "limit": limit, "lease": lease_us,
              "affinity": affinity_us,
              "share": limit if share is None else share,
              "backlog": limit if backlog is None else backlog, **allowed}
    async with conn.transaction():
        await conn.execute(CLAIM_PLANNING)
        rows = await fetch(conn, ClaimedInstance, q.claim_orchestrations, params)
        # Read committed: this statement sees every step committed before the claim
        # took its locks (see claimed_messages).
        inboxes = {row.instance_id: row for row in await fetch(
            conn, ClaimedMessages, q.claimed_messages,
            {"ids": [row.instance_id for row in rows], "max_messages": MAX_MESSAGES_PER_CLAIM},
        )} if rows else {}
    items: list[OrchestrationWorkItem] = []
    for row in rows:
        inbox = inboxes[row.instance_id]
        messages = [InboxMessage(msg_id, decode_event(event), execution_id)
                    for msg_id, execution_id, event in zip(
                        inbox.message_ids or [], inbox.message_executions or [],
                        inbox.message_events or [], strict=True)]
        items.append(OrchestrationWorkItem(instance_record(row), row.lock_token, row.attempts,
                                           messages))
    # Oldest pending message first, so callers that work in order are fair.
    items.sort(key=lambda item: item.messages[0].id if item.messages else 0)
    if not with_horizon or len(items) >= limit:
        return items, None
    if items:
        return items, HORIZON_CAP
    return items, await horizon(conn, q.orchestration_horizon, {
        "worker": worker_id, "affinity": affinity_us, "scan": HORIZON_SCAN, **allowed})


def opened_from_backlog(items: Sequence[OrchestrationWorkItem]) -> int:
    """How many of a claim's items may be new instances from the backlog: never
    stepped, and started by a client (an overcount only keeps a claim gate open)."""
    return sum(1 for item in items
               if item.instance.history_len == 0 and item.instance.parent_instance_id is None)


async def commit_steps(conn: Conn, q: Queries, steps: Sequence[base.StepCommit],
                       lease: TaskLease | None = None, *, unleased: bool = False,
                       ) -> tuple[CommitPlan, list[ActivityWorkItem]]:
    """Apply every step whose lease holds, as one transaction; with ``lease``
    ``(worker_id, limit, lease_us)``, lease up to ``limit`` of the tasks it
    creates to that worker and return them.

    The common case is one statement (``commit_steps`` in ``queries.sql``). A batch
    that resets a history (continue-as-new, rewind) or starts
    sub-orchestrations takes :func:`commit_steps_locked` instead (which
    leases nothing). ``unleased``: the steps' instances are unleased, checked and
    locked by the caller's transaction (:func:`commit_unclaimed_steps`).
    """
    if any(step.start_instances or step.new_execution_id is not None for step in steps):
        return await commit_steps_locked(conn, q, steps), []
    firsts: dict[str, base.StepCommit] = {}
    for step in steps:
        firsts.setdefault(step.instance_id, step)  # a second step for one lease never applies
    unique = list(firsts.values())
    history = [(step.instance_id, encode_events([encode_event(e) for e in step.history]))
               for step in unique if step.history]
    consumed = [(step.instance_id, msg_id) for step in unique for msg_id in step.consumed
                if msg_id > 0]
    finished = [(step.instance_id, -msg_id) for step in unique for msg_id in step.consumed
                if msg_id < 0]  # handed-over results: their tasks
    tasks = [(step.instance_id, task.instance_id, task.execution_id, task.task_id, task.name,
              task.input, task.trace_parent) for step in unique for task in step.activities]
    messages = [(step.instance_id, *message_row(message, None))
                for step in unique for message in step.messages]
    params: dict[str, Any] = dict(zip(
        ("ids", "tokens", "statuses", "customs", "outputs", "failures", "added"),
        _columns([(step.instance_id, None if unleased else step.lock_token,
                   OrchestrationRuntimeStatus(step.runtime_status).value, step.custom_status,
                   step.output, encode_failure(step.failure), len(step.history))
                  for step in unique]), strict=True))
    params.update(_named(("h_ids", "h_events"), history))
    params.update(_named(("c_ids", "c_msgs"), consumed))
    params.update(_named(("f_ids", "f_tasks"), finished))
    params.update(_named(("t_senders", "t_ids", "t_execs", "t_tasks", "t_names", "t_inputs",
                          "t_traces"),
                         tasks))
    params.update(_named(("m_senders", "m_ids", "m_execs", "m_visible", "m_events"), messages))
    worker, limit, lease_us = lease if lease is not None else ("", 0, 0)
    params.update(worker=worker, lease_count=limit, lease=lease_us)
    leased: dict[str, str] = {}
    taken: list[ActivityWorkItem] = []
    for row in await fetch(conn, Committed, q.commit_steps, params):
        if row.task_row_id is None:  # an applied step
            assert row.old_status is not None
            leased[row.instance_id] = row.old_status
        else:  # a task leased here: every column is set
            assert row.lock_token is not None and row.attempts is not None
            assert row.execution_id is not None and row.task_id is not None
            assert row.name is not None
            taken.append(ActivityWorkItem(row.task_row_id, row.lock_token, row.attempts,
                                          ActivityTask(row.instance_id, row.execution_id,
                                                       row.task_id, row.name, row.input,
                                                       row.trace_parent)))
    taken.sort(key=lambda item: item.id)
    plan = CommitPlan()
    for step in steps:
        old_status = leased.pop(step.instance_id, None)
        plan.applied.append(old_status is not None)
        if old_status is None:
            continue
        if wakes_waiters(OrchestrationRuntimeStatus(step.runtime_status).value, old_status):
            plan.changed.append(step.instance_id)
        plan.tasks.extend(task_row(task, None) for task in step.activities)
        plan.messages.extend(message_row(m, None) for m in step.messages)
    return plan, taken


async def commit_unclaimed_steps(conn: Conn, q: Queries, steps: Sequence[base.UnclaimedStep],
                                 lease: TaskLease | None = None,
                                 ) -> tuple[CommitPlan, list[ActivityWorkItem]]:
    """:func:`commit_steps` for steps run without a claim, in one transaction: their
    instances and their results' tasks are locked and checked first (see
    :func:`~perdure.store.plan.unclaimed_leases`), then the steps that hold commit
    as steps of unleased instances (a ``NULL`` token). Steps that reset a history or
    start instances do not apply (the multi-statement path leases and checks
    otherwise): their results go by a claim."""
    simple = [step for step in steps
              if not step.commit.start_instances and step.commit.new_execution_id is None]
    holding: dict[str, base.StepCommit] = {}
    taken: list[ActivityWorkItem] = []
    async with conn.transaction():
        if simple:
            cur = conn.cursor(row_factory=args_row(Unclaimed))
            await cur.execute(q.lock_unclaimed, ([s.commit.instance_id for s in simple],))
            instances = {row.instance_id: row for row in await cur.fetchall()}
            results = [result.id for step in simple for result in step.results]
            tokens: dict[int, str] = {}
            if instances and results:
                cur2 = await conn.execute(q.lock_task_tokens, (results,))
                tokens = {task_id: token for task_id, token in await cur2.fetchall()}
            leases = unclaimed_leases(simple, instances, tokens)
            for step in simple:  # the first step of an instance, as plan_commit takes
                if step.commit.instance_id in leases:
                    holding.setdefault(step.commit.instance_id, step.commit)
        plan = CommitPlan()
        if holding:
            plan, taken = await commit_steps(conn, q, list(holding.values()), lease,
                                             unleased=True)
    applied = dict(zip(holding, plan.applied, strict=True))
    plan.applied = [holding.get(step.commit.instance_id) is step.commit
                    and applied[step.commit.instance_id] for step in steps]
    return plan, taken


def _named(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict[str, list[Any]]:
    """Named array parameters, one per column of ``rows`` (empty arrays when none)."""
    columns = _columns(rows) if rows else [[] for _ in names]
    return dict(zip(names, columns, strict=True))


async def commit_steps_locked(conn: Conn, q: Queries, steps: Sequence[base.StepCommit],
                              ) -> CommitPlan:
    """:func:`commit_steps` as a transaction of several statements, for batches
    that reset a history or start instances.

    Round trip 1 locks the leases (in id order) and reads them; then the
    writes of all applied steps are pipelined, kind by kind as arrays, with
    each sub-orchestration's conflict check in between, and the ``COMMIT``.
    """
    async with conn.pipeline(), conn.transaction():
        leases = {row.instance_id: row for row in await fetch(
            conn, Lease, q.lock_leases, ([step.instance_id for step in steps],))}
        plan = plan_commit(steps, leases, None)
        if plan.resets:
            await conn.execute(q.delete_history, (plan.resets,))
        if plan.history:  # one row per step: its events, from the position of the first
            await conn.execute(q.insert_history, _columns(plan.history))
        if plan.updates:
            # updated_at is the server's clock ({now}), not the plan's.
            await conn.execute(q.update_after_step, _columns(
                [(execution, input_, status, custom, output, failure, length, instance)
                 for execution, input_, status, custom, output, failure, _updated_at, length,
                 instance in plan.updates]))
        if plan.consumed:
            await conn.execute(q.delete_consumed, _columns(plan.consumed))
        if plan.tasks:
            await conn.execute(q.insert_tasks, _columns(
                [(instance, execution, task_id, name, input_, trace)
                 for instance, execution, task_id, name, input_, _created, _visible, trace
                 in plan.tasks]))
        for new in plan.starts:
            created = q.clock.now_us() if new.created_at is None else to_us(new.created_at)
            if await create_locked(conn, q, new, created):
                plan.changed.append(new.instance_id)
        await insert_messages(conn, q, plan.messages)
    return plan


def _columns(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """Rows as one list per column, for ``unnest`` over array parameters."""
    return [list(col) for col in zip(*rows, strict=True)]


async def park_instance(conn: Conn, q: Queries, instance_id: str, lock_token: str,
                        failure: FailureDetails) -> bool:
    """Park an instance still leased by ``lock_token``; whether it was."""
    cur = await conn.execute(q.park_instance, (encode_failure(failure), instance_id, lock_token))
    return await cur.fetchone() is not None


async def unpark_instance(conn: Conn, q: Queries, instance_id: str) -> bool:
    return (await conn.execute(q.unpark_instance, (instance_id,))).rowcount > 0


async def unpark_instances(conn: Conn, q: Queries) -> int:
    return (await conn.execute(q.unpark_instances)).rowcount


async def release_orchestration(conn: Conn, q: Queries, instance_id: str,
                                lock_token: str) -> bool:
    """Drop a lease still held; whether it was."""
    cur = await conn.execute(q.release, (instance_id, lock_token))
    return await cur.fetchone() is not None


async def claim_activities(conn: Conn, q: Queries, worker_id: str, limit: int,
                           lease_us: int, with_horizon: bool = False,
                           ) -> tuple[list[ActivityWorkItem], float | None]:
    """Lease up to ``limit`` claimable tasks, oldest first (and the horizon, as above)."""
    params = {"worker": worker_id, "limit": limit, "lease": lease_us}
    rows = await fetch(conn, ClaimedTask, q.claim_activities, params)
    rows.sort(key=lambda row: row.id)  # RETURNING order is unspecified; creation order
    items = [activity_item(row) for row in rows]
    if not with_horizon or len(items) >= limit:
        return items, None
    if items:
        return items, HORIZON_CAP
    return items, await horizon(conn, q.activity_horizon, {"scan": HORIZON_SCAN})


async def complete_activities(conn: Conn, q: Queries, results: Sequence[base.ActivityResult],
                              ) -> tuple[list[bool], set[str | None]]:
    """Delete each task still leased by its result's token and deliver its message.

    Returns, per result, whether it applied, and the workers (``locked_by``)
    the receiving instances have affinity to, for targeted wake-ups.
    """
    # Message rows: (instance_id, execution_id, visible_at, event).
    instances, execs, _, events = _columns([message_row(r.message, None) for r in results])
    rows_done = await fetch(conn, CompletedTask, q.complete_activities, {
        "ids": [r.id for r in results], "tokens": [r.lock_token for r in results],
        "instances": instances, "execs": execs, "events": events})
    done = {row.id for row in rows_done}
    applied: list[bool] = []
    for result in results:
        applied.append(result.id in done)
        done.discard(result.id)  # the same result twice in a batch completes once
    return applied, {row.locked_by for row in rows_done}


async def renew_activity_leases(conn: Conn, q: Queries, items: Sequence[tuple[int, str]],
                                lease_us: int) -> None:
    await conn.execute(q.renew, (lease_us, [i for i, _ in items], [t for _, t in items]))


async def register_workers(conn: Conn, q: Queries, worker_ids: Sequence[str],
                           origin: str) -> None:
    """Record (or refresh) workers of the process tagged ``origin``; forget long-gone ones."""
    if worker_ids:
        await conn.execute(q.register_workers, (origin, list(worker_ids)))
    await conn.execute(q.forget_workers)


async def unregister_workers(conn: Conn, q: Queries, worker_ids: Sequence[str]) -> None:
    """Remove workers that stop."""
    await conn.execute(q.unregister_workers, (list(worker_ids),))


async def live_workers(conn: Conn, q: Queries, ttl_seconds: float) -> dict[str, str]:
    """Workers seen within ``ttl_seconds``: worker id -> origin of its process."""
    cur = await conn.execute(q.live_workers, (int(ttl_seconds * 1_000_000),))
    return {worker_id: origin for worker_id, origin in await cur.fetchall()}


#: How far before the previous check a change is still reported (a commit in flight).
CHECK_SLACK_US = 250_000


async def changed_instances(conn: Conn, q: Queries, instance_ids: Sequence[str],
                            since_us: int | None) -> tuple[list[str], int]:
    """Which of the instances finished at or after ``since_us`` (server time; ``None``:
    none), and the server time of this read, for the next one."""
    rows = await fetch(conn, Changed, q.changed_instances, {
        "ids": list(instance_ids), "since": since_us, "slack": CHECK_SLACK_US,
        "finished": sorted(TERMINAL_STATUS_VALUES)})
    # At least one row, which carries the server time.
    return [row.instance_id for row in rows if row.instance_id is not None], rows[0].server_us


# What the server (or the pool) says that no retry of ours can fix: the operator
# must free disk, fail over to a writable primary, raise limits or start it.
UNAVAILABLE: tuple[type[Exception], ...] = (
    PoolTimeout, errors.DiskFull, errors.InsufficientResources, errors.OutOfMemory,
    errors.TooManyConnections, errors.ReadOnlySqlTransaction, errors.CannotConnectNow)


def unavailable(url: str, exc: Exception) -> StoreUnavailableError:
    """The :class:`StoreUnavailableError` for one of :data:`UNAVAILABLE`."""
    if isinstance(exc, PoolTimeout):
        reason = "no connection to the database server became available in time"
    elif isinstance(exc, errors.ReadOnlySqlTransaction):
        reason = "the database server is read-only (a standby?)"
    elif isinstance(exc, errors.DiskFull):
        reason = "the database server's disk is full"
    else:
        sqlstate = exc.sqlstate if isinstance(exc, psycopg.Error) else None
        reason = f"the database server is out of resources or not accepting connections " \
                 f"(SQLSTATE {sqlstate})"
    return StoreUnavailableError(url, reason)


async def next_wakeup(conn: Conn, q: Queries) -> int | None:
    """The earliest future ``visible_at`` in any inbox, in microseconds."""
    found = await fetch(conn, Earliest, q.next_wakeup)
    return found[0].visible_at if found else None
