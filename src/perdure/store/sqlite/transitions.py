"""The SQLite task hub's transitions, as synchronous functions of one connection.

:class:`~perdure.store.sqlite.SqliteStore` runs each of these on its private
database thread, inside ``BEGIN IMMEDIATE`` … ``COMMIT`` for writes. SQL
strings are constants (or built from a few constant fragments), so sqlite3's
statement cache keeps them prepared; batches go through ``executemany`` and
set-based statements over a JSON array of ids (``json_each``) rather than one
round trip per row.

What each of these does is said once, by the
:class:`~perdure.store.base.Store` method of its name; a docstring here adds
only what SQLite does its own way.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Collection, Iterable, Sequence
from itertools import starmap
from typing import Any, NamedTuple, TypeVar, cast

from ...core.errors import InstanceNotFoundError
from ...core.history import FailureDetails, HistoryEvent
from ...core.status import OrchestrationRuntimeStatus
from ...core.versions import version_key
from .. import base, listing
from ..base import InboxMessage, OrchestrationWorkItem
from ..codec import (
    ClaimedInstance,
    ClaimedTask,
    InstanceRow,
    Lease,
    PageRow,
    TaskRow,
    Unclaimed,
    activity_item,
    decode_event,
    decode_events,
    encode_event,
    encode_failure,
    encode_ids,
    from_us,
    instance_record,
    message_row,
    started_event,
    to_us,
)
from ..paging import budgeted_page, page_byte_budget, page_of
from ..plan import CommitPlan, TaskLease, plan_commit, unclaimed_leases
from ..rules import (
    MAX_MESSAGES_PER_CLAIM,
    check_can_purge,
    check_can_send,
    conflict_message,
)
from ..starts import StartLease
from .queries import SQL, SQL_ONE, Queries

R = TypeVar("R")

def _fetch(conn: sqlite3.Connection, make: Callable[[Iterable[Any]], R], sql: str,
           params: Sequence[Any]) -> list[R]:
    """Every row of ``sql``, each built by ``make`` (a named tuple's ``_make``)."""
    return list(map(make, conn.execute(sql, params)))


def _fetch_rows(conn: sqlite3.Connection, row: Callable[..., R], sql: str,
                params: Sequence[Any]) -> list[R]:
    """Every row of ``sql`` as a ``row`` (a row dataclass of :mod:`perdure.store.codec`)."""
    return list(starmap(row, conn.execute(sql, params)))


def by_ids(values: Sequence[Any]) -> tuple[Queries, Any]:
    """The statements to bind the set ``values`` to as ``{ids}``, and its parameter:
    one value as itself (:data:`~.queries.SQL_ONE`), more as their JSON array."""
    if len(values) == 1:
        return SQL_ONE, values[0]
    return SQL, encode_ids(values)


def _status(conn: sqlite3.Connection, instance_id: str) -> str | None:
    """An instance's runtime status; ``None`` when there is no such instance."""
    for (status,) in conn.execute(SQL.select_status, (instance_id,)):
        return cast(str, status)
    return None


# --- client side -------------------------------------------------------------


def get_instance(conn: sqlite3.Connection, instance_id: str) -> base.InstanceRecord | None:
    rows = _fetch_rows(conn, InstanceRow, SQL.select_instance, (instance_id,))
    return instance_record(rows[0]) if rows else None


def get_history(conn: sqlite3.Connection, instance_id: str) -> list[HistoryEvent]:
    return [event for (text,) in conn.execute(SQL.select_history, (instance_id,))
            for event in decode_events(text)]


def get_histories(conn: sqlite3.Connection,
                  instance_ids: Sequence[str]) -> dict[str, list[HistoryEvent]]:
    histories: dict[str, list[HistoryEvent]] = {instance_id: [] for instance_id in instance_ids}
    for instance_id, text in conn.execute(SQL.select_histories, (encode_ids(list(histories)),)):
        histories[instance_id].extend(decode_events(text))
    return histories


def delete_instances(conn: sqlite3.Connection, instance_ids: Collection[str]) -> None:
    """Delete instances with their history, inbox and tasks (caller holds the transaction)."""
    ids = encode_ids(instance_ids)
    for sql in (SQL.delete_histories, SQL.delete_inboxes, SQL.delete_instance_tasks,
                SQL.delete_instance_rows):
        conn.execute(sql, (ids,))


def create_instance(conn: sqlite3.Connection, new: base.NewInstance, now: int,
                    lease: StartLease | None = None) -> int | None:
    """Create ``new`` (replacing a finished instance), leased by ``lease`` if given;
    the id of its ``ExecutionStarted`` message, ``None`` if ``on_conflict`` was sent.

    Raises ``InstanceAlreadyExistsError`` for an active instance without ``on_conflict``.
    The row is inserted first and the id's status read only when it is taken: a
    new id, by far the common case, costs no lookup of its own.
    """
    created = now if new.created_at is None else to_us(new.created_at)
    key = version_key(new.version)
    held = (None, None, None, 0) if lease is None else \
        (lease.taker.worker_id, lease.lock_token, lease.expires, 1)
    row = (new.instance_id, new.name, new.execution_id, created, now, new.input,
           new.parent_instance_id, new.version, key.fold, key.num, *held)
    try:
        conn.execute(SQL.insert_instance, row)
    except sqlite3.IntegrityError:
        status = _status(conn, new.instance_id)
        if status is None:  # not the id that was refused: no fallback for that
            raise
        instead = conflict_message(new, status)
        if instead is not None:
            conn.execute(SQL.insert_message_if_exists, message_row(instead, now))
            return None
        delete_instances(conn, (new.instance_id,))
        conn.execute(SQL.insert_instance, row)
    event = encode_event(started_event(new, from_us(created)))
    return conn.execute(SQL.insert_start, (new.instance_id, new.execution_id, now, event,
                                           new.parent_instance_id)).lastrowid


def send_message(conn: sqlite3.Connection, message: base.Message, operation: str,
                 allowed: Collection[OrchestrationRuntimeStatus], now: int) -> None:
    """Check the target's status against ``allowed``, then enqueue."""
    status = _status(conn, message.instance_id)
    if status is None:
        raise InstanceNotFoundError(message.instance_id)
    check_can_send(message.instance_id, status, operation, allowed)
    conn.execute(SQL.insert_message, message_row(message, now))


def purge_instance(conn: sqlite3.Connection, instance_id: str) -> bool:
    status = _status(conn, instance_id)
    if status is None:
        return False
    check_can_purge(instance_id, status)
    delete_instances(conn, (instance_id,))
    return True


def delete_idle_entity(conn: sqlite3.Connection, instance_id: str,
                       custom_status: str | None) -> bool:
    row = conn.execute("SELECT custom_status FROM instances WHERE instance_id = ?",
                       (instance_id,)).fetchone()
    if row is None or row[0] != custom_status or conn.execute(
            "SELECT 1 FROM inbox WHERE instance_id = ? LIMIT 1", (instance_id,)).fetchone():
        return False
    delete_instances(conn, (instance_id,))
    return True


def purge_batch(conn: sqlite3.Connection, created_from: int | None, created_to: int | None,
                statuses: list[str], batch_size: int) -> list[str]:
    """Delete up to ``batch_size`` instances matching the filter; returns their ids."""
    sql = SQL.select_purgeable
    params: list[Any] = [encode_ids(statuses)]
    if created_from is not None:
        sql += " AND created_at >= ?"
        params.append(created_from)
    if created_to is not None:
        sql += " AND created_at <= ?"
        params.append(created_to)
    params.append(batch_size)
    ids = [instance_id for (instance_id,) in conn.execute(sql + " LIMIT ?", params)]
    if ids:
        delete_instances(conn, ids)
    return ids


_LISTING = listing.Dialect("?", "?", "instances", "INDEXED BY instances_id_created", "",
                           "instance_id IN (SELECT value FROM json_each(?))")


def query_instances(conn: sqlite3.Connection, query: base.InstanceQuery) -> tuple[
        list[base.InstanceRecord], str | None]:
    """One keyset page of instances and the token of the next one.

    The SQL is assembled from constant fragments, one per filter present, so
    there are few distinct strings and each stays in the statement cache.
    """
    limit = query.page_size + 1  # one row more than asked says whether a next page exists
    if query.instance_id_prefix:
        ids = _prefix_page_ids(conn, query, limit)
        sql: listing.Sql | None = None if not ids else listing.rows_of_ids(
            query, _LISTING, encode_ids(ids))
    else:
        sql = listing.page_rows(query, _LISTING, limit)
    if sql is None:
        return [], None
    text = budgeted_page(sql.text, "?", query.newest_first)
    rows = _fetch_rows(conn, PageRow, text, [*sql.params, page_byte_budget()])
    return page_of(rows, query.page_size)


def _prefix_page_ids(conn: sqlite3.Connection, query: base.InstanceQuery,
                     limit: int) -> list[str]:
    """The ids of a prefix page, by the first plan that answers (see :mod:`..listing`)."""
    prefix = query.instance_id_prefix or ""

    def scan(q: base.InstanceQuery) -> list[str] | None:
        sql = listing.prefix_scan_keys(q, _LISTING)
        if sql is None:
            return []
        scanned = [instance_id for (_, instance_id) in conn.execute(sql.text, sql.params)]
        ids = [instance_id for instance_id in scanned if instance_id.startswith(prefix)]
        done = len(ids) >= limit or len(scanned) < listing.PREFIX_SCAN
        return ids[:limit] if done else None

    ids = scan(query)
    if ids is not None:
        return ids
    edge = listing.prefix_edge(query, _LISTING)
    (edge_us,) = conn.execute(edge.text, edge.params).fetchone()
    if edge_us is None:
        return []
    ids = scan(listing.from_edge(query, edge_us))
    if ids is not None:
        return ids
    ranged = listing.prefix_range_keys(query, _LISTING, limit)
    assert ranged is not None
    return [instance_id for (instance_id,) in conn.execute(ranged.text, ranged.params)]


def count_instances(conn: sqlite3.Connection, query: base.InstanceQuery,
                    bound: int) -> list[base.StatusCount]:
    statuses = listing.counted_statuses(query)
    if not statuses:
        return []
    sql = listing.count_sql(query, _LISTING, bound, statuses)
    found = dict(conn.execute(sql.text, sql.params))
    return listing.counts_of(query, statuses, found, bound)


def get_generations(conn: sqlite3.Connection, instance_id: str) -> list[base.Generation]:
    return [listing.generation_of(*row) for row in conn.execute(SQL.select_generations,
                                                          (instance_id,))]


def register_functions(conn: sqlite3.Connection, orchestrators: Sequence[str],
                       activities: Sequence[str], now: int) -> None:
    rows = [("orchestrator", name, now) for name in orchestrators]
    rows += [("activity", name, now) for name in activities]
    conn.executemany(SQL.register_function, rows)


def known_orchestrators(conn: sqlite3.Connection) -> set[str]:
    return {name for (name,) in conn.execute(SQL.known_orchestrators)}


# --- worker side -------------------------------------------------------------


class ClaimOutlook(NamedTuple):
    """What a claim finds before it takes the write lock (:func:`claim_outlook`)."""

    #: Some instance has a visible message and no live lease.
    claimable: bool
    #: The earliest future ``visible_at`` in any inbox (:func:`next_wakeup`).
    next_due: int | None
    #: Some message is visible, leased or not.
    visible: bool


def claim_outlook(conn: sqlite3.Connection, now: int) -> ClaimOutlook:
    """Whether anything is claimable ``now``, and the next wake-up after it (a read)."""
    exists, next_due, visible = conn.execute(SQL.claim_outlook, (now,)).fetchone()
    return ClaimOutlook(bool(exists), next_due, bool(visible))


def data_version(conn: sqlite3.Connection) -> int:
    """``PRAGMA data_version``: it changes when another connection commits (no I/O)."""
    (value,) = conn.execute("PRAGMA data_version").fetchone()
    return cast(int, value)


def claim_orchestrations(conn: sqlite3.Connection, worker_id: str, limit: int, lease_us: int,
                         now: int, backlog: int, versions: base.VersionFilter | None = None,
                         ) -> list[OrchestrationWorkItem]:
    """Lease up to ``limit`` instances with visible messages and read those messages:
    started instances first, then with the room left at most ``backlog`` new ones
    (of the versions ``versions`` allows)."""
    allowed = base.ANY_VERSION if versions is None else versions.params()
    claimed = _fetch_rows(conn, ClaimedInstance, SQL.claim_instances,
                          (worker_id, now + lease_us, now, limit, *allowed))
    room = min(limit - len(claimed), backlog)
    if room > 0:
        claimed += _fetch_rows(conn, ClaimedInstance, SQL.claim_backlog,
                               (worker_id, now + lease_us, now, room, *allowed))
    if not claimed:
        return []
    items = _work_items(conn, claimed, now)
    # Oldest pending message first, so callers that work in order are fair.
    return sorted(items.values(), key=lambda item: item.messages[0].id if item.messages else 0)


def _work_items(conn: sqlite3.Connection, claimed: list[ClaimedInstance],
                now: int) -> dict[str, OrchestrationWorkItem]:
    """The work items of claimed instances, each with its visible messages."""
    items = {row.instance_id: OrchestrationWorkItem(instance_record(row), row.lock_token,
                                                    row.attempts, [])
             for row in claimed}
    ids = encode_ids(list(items))
    for msg_id, instance_id, execution_id, event in conn.execute(
            SQL.select_claimed_messages, (ids, now, MAX_MESSAGES_PER_CLAIM)):
        items[instance_id].messages.append(
            InboxMessage(msg_id, decode_event(event), execution_id))
    return items


def commit_steps(conn: sqlite3.Connection, steps: Sequence[base.StepCommit], now: int,
                 lease: TaskLease | None = None,
                 ) -> tuple[CommitPlan, list[base.ActivityWorkItem]]:
    """Apply every step whose lease holds, as one transaction (the caller's); with
    ``lease`` ``(worker_id, limit, lease_us)``, then claim activity tasks for it.

    The leases are read once; :func:`~perdure.store.plan.plan_commit` decides
    the rows, which then go kind by kind through ``executemany``.
    """
    sql, ids = by_ids([step.instance_id for step in steps])
    leases = {row.instance_id: row for row in _fetch(conn, Lease._make, sql.select_leases, (ids,))}
    plan = plan_commit(steps, leases, now)
    return plan, _apply(conn, plan, now, lease)


def commit_unclaimed_steps(conn: sqlite3.Connection, steps: Sequence[base.UnclaimedStep],
                           now: int, lease: TaskLease | None = None,
                           ) -> tuple[CommitPlan, list[base.ActivityWorkItem]]:
    """:func:`commit_steps` for steps run without a claim: each applies under the
    lease :func:`~perdure.store.plan.unclaimed_leases` finds it would have claimed."""
    sql, ids = by_ids([step.commit.instance_id for step in steps])
    instances = {row.instance_id: row for row in
                 _fetch(conn, Unclaimed._make, sql.select_unclaimed, (ids, now))}
    results = [result.id for step in steps for result in step.results]
    tokens: dict[int, str] = {}
    if instances and results:
        sql, task_ids = by_ids(results)
        tokens = dict(conn.execute(sql.select_task_tokens, (task_ids,)))
    plan = plan_commit([step.commit for step in steps],
                       unclaimed_leases(steps, instances, tokens), now)
    return plan, _apply(conn, plan, now, lease)


def _apply(conn: sqlite3.Connection, plan: CommitPlan, now: int,
           lease: TaskLease | None) -> list[base.ActivityWorkItem]:
    """Write ``plan``'s rows kind by kind; with ``lease``, claim activity tasks for it."""
    if plan.resets:
        conn.executemany(SQL.delete_history, [(instance_id,) for instance_id in plan.resets])
    if plan.history:
        conn.executemany(SQL.insert_history, plan.history)
    if plan.resets:  # some steps began a new execution (rare)
        conn.executemany(SQL.update_after_new_execution,
                         [row for row in plan.updates if row[0] is not None])
        conn.executemany(SQL.update_after_step, [row for row in plan.updates if row[0] is None])
    elif plan.updates:
        conn.executemany(SQL.update_after_step, plan.updates)
    if plan.consumed:
        conn.executemany(SQL.delete_consumed, plan.consumed)
    if plan.finished_tasks:
        conn.executemany(SQL.delete_task, plan.finished_tasks)
    taken: list[base.ActivityWorkItem] | None = None
    if plan.tasks:
        # While no other task waits for a worker, the claim would take these first:
        # they go in leased, sparing the claim's update of each.
        if lease is not None and not conn.execute(SQL.any_claimable_task, (now,)).fetchone()[0]:
            taken = _insert_leased(conn, plan.tasks, lease, now)
        else:
            conn.executemany(SQL.insert_task, plan.tasks)
    for new in plan.starts:  # rare (sub-orchestrations), and each needs its own conflict check
        if create_instance(conn, new, now) is not None:
            plan.changed.append(new.instance_id)
    if plan.messages:
        conn.executemany(SQL.insert_message_if_exists, plan.messages)
    if taken is not None:
        return taken
    if lease is None or not plan.tasks:
        return []
    worker_id, limit, lease_us = lease
    return claim_activities(conn, worker_id, limit, lease_us, now)


def _insert_leased(conn: sqlite3.Connection, tasks: Sequence[TaskRow], lease: TaskLease,
                   now: int) -> list[base.ActivityWorkItem]:
    """Insert ``tasks``, the first ``limit`` of them leased as a claim would lease them
    (first attempt, a fresh token, visible again when the lease expires); those."""
    worker_id, limit, lease_us = lease
    own, rest = tasks[:limit], tasks[limit:]
    randomness = os.urandom(16 * len(own)).hex()
    tokens = [randomness[32 * i:32 * (i + 1)] for i in range(len(own))]
    conn.executemany(SQL.insert_leased_task,
                     [(*row[:6], now + lease_us, row[7], worker_id, token)
                      for row, token in zip(own, tokens, strict=True)])
    # One writer inserting in turn: the ids of an AUTOINCREMENT table run on.
    (last,) = conn.execute(SQL.last_insert_rowid).fetchone()
    if rest:
        conn.executemany(SQL.insert_task, rest)
    first = last - len(own) + 1
    return [base.ActivityWorkItem(first + i, token, 1, base.ActivityTask(
        instance_id, execution_id, task_id, name, input_, trace_parent))
        for i, ((instance_id, execution_id, task_id, name, input_, _, _, trace_parent), token)
        in enumerate(zip(own, tokens, strict=True))]


def park_instance(conn: sqlite3.Connection, instance_id: str, lock_token: str,
                  failure: FailureDetails, now: int) -> bool:
    """Park an instance still leased by ``lock_token``; whether it was."""
    return conn.execute(SQL.park_instance, (encode_failure(failure), now, instance_id,
                                            lock_token)).rowcount > 0


def unpark_instance(conn: sqlite3.Connection, instance_id: str) -> bool:
    return conn.execute(SQL.unpark_instance, (instance_id,)).rowcount > 0


def unpark_instances(conn: sqlite3.Connection) -> int:
    return conn.execute(SQL.unpark_instances).rowcount


def release_orchestration(conn: sqlite3.Connection, instance_id: str, lock_token: str) -> bool:
    """Drop a lease still held; whether it was."""
    return conn.execute(SQL.release_instance, (instance_id, lock_token)).rowcount > 0


def claim_activities(conn: sqlite3.Connection, worker_id: str, limit: int, lease_us: int,
                     now: int) -> list[base.ActivityWorkItem]:
    """Lease up to ``limit`` claimable tasks, oldest first."""
    rows = _fetch(conn, ClaimedTask._make, SQL.claim_tasks, (worker_id, now + lease_us, now, limit))
    rows.sort()  # RETURNING order is unspecified; hand tasks out in creation order
    return [activity_item(row) for row in rows]


def complete_activities(conn: sqlite3.Connection, results: Sequence[base.ActivityResult],
                        now: int) -> list[bool]:
    """Delete each task still leased by its result's token and deliver the result's message."""
    applied, valid = _valid_results(conn, results)
    _deliver(conn, valid, now)
    return applied


def complete_and_claim(conn: sqlite3.Connection, results: Sequence[base.ActivityResult],
                       worker_id: str, lease_us: int, now: int,
                       versions: base.VersionFilter | None,
                       ) -> tuple[list[bool], list[OrchestrationWorkItem]]:
    """:func:`complete_activities`, handing over the results of the instances it can
    lease (see :meth:`~perdure.store.base.Store.complete_activities_and_claim`)."""
    applied, valid = _valid_results(conn, results)
    if not valid:
        return applied, []
    allowed = base.ANY_VERSION if versions is None else versions.params()
    sql, owners = by_ids(list({r.message.instance_id: None for r in valid}))
    claimed = _fetch_rows(conn, ClaimedInstance, sql.claim_by_id,
                          (worker_id, now + lease_us, now, owners, *allowed))
    items = _work_items(conn, claimed, now) if claimed else {}
    delivered: list[base.ActivityResult] = []
    for result in valid:
        item = items.get(result.message.instance_id)
        if item is None:
            delivered.append(result)
        else:  # its task stays until the step that consumes the result commits
            item.messages.append(InboxMessage(-result.id, result.message.event,
                                              result.message.execution_id))
    _deliver(conn, delivered, now)
    return applied, list(items.values())


def _valid_results(conn: sqlite3.Connection, results: Sequence[base.ActivityResult],
                   ) -> tuple[list[bool], list[base.ActivityResult]]:
    """Per result, whether its task is still leased by its token; and those results
    (the same result twice in a batch counts once)."""
    sql, ids = by_ids([r.id for r in results])
    tokens = dict(conn.execute(sql.select_task_tokens, (ids,)))
    applied: list[bool] = []
    valid: list[base.ActivityResult] = []
    for result in results:
        token = tokens.get(result.id)
        ok = token is not None and token == result.lock_token
        applied.append(ok)
        if ok:
            del tokens[result.id]
            valid.append(result)
    return applied, valid


def _deliver(conn: sqlite3.Connection, results: Sequence[base.ActivityResult],
             now: int) -> None:
    """Delete the results' tasks and put their messages in the inboxes."""
    if results:
        conn.executemany(SQL.delete_task, [(result.id,) for result in results])
        conn.executemany(SQL.insert_message_if_exists,
                         [message_row(result.message, now) for result in results])


def renew_activity_leases(conn: sqlite3.Connection, items: Sequence[tuple[int, str]],
                          expires: int) -> None:
    conn.executemany(SQL.renew_task, [(expires, task_id, token) for task_id, token in items])


def next_wakeup(conn: sqlite3.Connection, now: int) -> int | None:
    """The earliest future ``visible_at`` in any inbox, in microseconds."""
    (value,) = conn.execute(SQL.next_wakeup, (now,)).fetchone()
    return cast(int | None, value)
