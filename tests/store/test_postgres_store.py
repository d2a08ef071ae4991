"""What only the PostgreSQL task hub has: URL options, schemas, migrations, LISTEN/NOTIFY
wake-ups and gates, the worker registry, and recovery from dropped connections."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from perdure.core.errors import InvalidArgumentError, StoreSchemaError
from perdure.core.status import OrchestrationRuntimeStatus as Status
from perdure.core.versions import VersionMatch
from perdure.store import create_store
from perdure.store.base import ANY_VERSION, VersionFilter
from perdure.store.clock import SYSTEM_CLOCK
from perdure.store.migrate import load_migrations
from perdure.store.postgres import MIGRATIONS, PostgresStore, parse_postgres_url, quote_ident
from perdure.store.postgres.queries import Queries
from perdure.store.postgres.transitions import CLAIM_PLANNING, HORIZON_SCAN, horizon
from perdure.store.postgres.wakeups import Channels

from .helpers import LONG, claim_one, event_message, new, step
from .pg import DATABASE_URL, drop_schema, hub_url, postgres

pytestmark = postgres

# Wake-up tests: a waiter that is not woken waits NO_POLL (also its store's poll
# interval), so a return within PROMPT, generous for a loaded machine, is a wake-up.
NO_POLL = 60.0
PROMPT = 10.0


@pytest.fixture
def schema() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def opened(schema: str) -> AsyncIterator[list[PostgresStore]]:
    """Stores opened by the test on scratch schemas, closed and dropped afterwards."""
    stores: list[PostgresStore] = []
    yield stores
    for store in stores:
        await store.close()
    for name in {s.schema for s in stores} | {schema}:
        await drop_schema(name)


async def open_store(opened: list[PostgresStore], url: str) -> PostgresStore:
    store = create_store(url)
    assert isinstance(store, PostgresStore)
    await store.open()
    opened.append(store)
    return store


async def admin(query: str, *params: Any) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(DATABASE_URL, autocommit=True) as conn:
        cur = await conn.execute(query, params or None)
        return await cur.fetchall() if cur.description else []


# --- URL and options -----------------------------------------------------------


def test_parse_url() -> None:
    conninfo, options = parse_postgres_url(
        "postgresql://u:pw@db.example:6432/hubs?schema=h1&pool_max=4&sslmode=require"
        "&connect_timeout=3")
    assert options == {"schema": "h1", "pool_max": "4"}
    assert conninfo.startswith("postgresql://u:pw@db.example:6432/hubs?")
    params = psycopg.conninfo.conninfo_to_dict(conninfo)
    assert params["sslmode"] == "require" and params["connect_timeout"] == "3"
    assert params["application_name"] == "perdure" and params["keepalives"] == "1"
    assert parse_postgres_url("postgres://localhost/db")[1] == {}
    with pytest.raises(InvalidArgumentError):
        parse_postgres_url("sqlite:///x.db")


@pytest.mark.parametrize("query", ["pool_min=-1", "pool_max=0", "pool_min=5&pool_max=2",
                                   "pool_timeout=0", "poll_interval=-1", "affinity=x",
                                   "coalesce=-0.1",
                                   "schema=", "schema=" + "x" * 64])
def test_bad_options(query: str) -> None:
    with pytest.raises(InvalidArgumentError):
        PostgresStore(f"postgresql://localhost/db?{query}")


def test_create_store_and_repr() -> None:
    for scheme in ("postgresql", "postgres"):
        store = create_store(f"{scheme}://u:secret@localhost/db")
        assert isinstance(store, PostgresStore) and store.schema == "perdure"
        assert "secret" not in repr(store) and "***" in repr(store)


def test_identifiers_and_channels() -> None:
    assert quote_ident('we"ird') == '"we""ird"'
    plain = Channels.for_schema("hub_1", "o1")
    assert plain.orchestration == "perdure_hub_1_orch" and plain.direct() == "perdure_hub_1_to_o1"
    long = Channels.for_schema("Ü" * 30, "0123456789ab")
    other = Channels.for_schema("Ü" * 29, "0123456789ab")
    for name in (long.orchestration, long.activity, long.instances, long.direct()):
        assert len(name.encode()) <= 63
    assert long.orchestration != other.orchestration


# --- schemas and migrations -------------------------------------------------------


async def test_concurrent_first_opens_migrate_once(schema: str,
                                                   opened: list[PostgresStore]) -> None:
    stores = await asyncio.gather(*(open_store(opened, hub_url(schema)) for _ in range(5)))
    rows = await admin(sql.SQL("SELECT version, name FROM {}.schema_version").format(
        sql.Identifier(schema)).as_string(None))
    assert [v for v, _ in rows] == [v for v, _, _ in load_migrations(MIGRATIONS)]
    await stores[0].create_instance(new("a"))
    assert (await stores[4].get_instance("a")) is not None


async def test_newer_schema_is_refused(schema: str, opened: list[PostgresStore]) -> None:
    await open_store(opened, hub_url(schema))
    await admin(sql.SQL("INSERT INTO {}.schema_version (version, name) VALUES (999, 'x')")
                .format(sql.Identifier(schema)).as_string(None))
    with pytest.raises(StoreSchemaError, match="newer"):
        await PostgresStore(hub_url(schema)).open()


async def test_db_migrate_command(schema: str, opened: list[PostgresStore]) -> None:
    result = subprocess.run([sys.executable, "-m", "perdure.cli", "db", "migrate", "--store",
                             hub_url(schema)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    rows = await admin("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
                       schema)
    assert rows[0][0] >= 6


async def test_hubs_in_one_database_are_isolated(opened: list[PostgresStore]) -> None:
    one = await open_store(opened, hub_url(f"test_{uuid.uuid4().hex[:12]}"))
    two = await open_store(opened, hub_url(f"test_{uuid.uuid4().hex[:12]}"))
    await two.wait_for_work("orchestration", 0)
    began = time.monotonic()
    waiter = asyncio.ensure_future(two.wait_for_work("orchestration", 0.3))
    await one.create_instance(new("a"))
    await waiter
    assert time.monotonic() - began >= 0.29  # waited out its time: the other hub is silent
    assert await two.get_instance("a") is None
    assert await two.claim_orchestrations("w", 10, LONG) == []
    assert len(await one.claim_orchestrations("w", 10, LONG)) == 1


async def test_an_unusual_schema_name(opened: list[PostgresStore]) -> None:
    name = f'Hub "{uuid.uuid4().hex[:6]}" ü; DROP'
    store = await open_store(opened, hub_url(name.replace(" ", "%20").replace('"', "%22")
                                             .replace(";", "%3B")))
    assert store.schema == name
    await store.create_instance(new("a"))
    item = await claim_one(store, "a")
    assert await store.commit_steps([step(item, Status.Completed)]) == [True]
    assert await store.purge_instance("a")


# --- query plans -------------------------------------------------------------------

_EMPTY_STEP = {name: [] for name in (
    "ids", "tokens", "statuses", "customs", "outputs", "failures", "added", "h_ids", "h_events",
    "c_ids", "c_msgs", "f_ids", "f_tasks", "t_senders", "t_ids", "t_execs", "t_tasks",
    "t_names", "t_inputs", "t_traces", "m_senders", "m_ids", "m_execs", "m_visible", "m_events")}


def _plan_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for child in node.get("Plans", []) for n in _plan_nodes(child))]


#: The version parameters of a claim by a worker of version 2.0 (current or older).
_VERSIONED = dict(zip(("v_fold", "v_num", "v_low", "v_high"),
                      VersionFilter.of("2.0", VersionMatch.CURRENT_OR_OLDER).params(),
                      strict=True))


async def test_hot_statements_are_planned_on_indexes_even_over_empty_tables(
        opened: list[PostgresStore], schema: str) -> None:
    """A pooled connection plans each statement once, usually while the hub is nearly
    empty. Planned for empty tables, PostgreSQL would scan them whole (or walk the
    inbox's visibility index per instance), and every claim would cost O(backlog)."""
    store = await open_store(opened, hub_url(schema))
    q = Queries.for_schema(quote_ident(schema), SYSTEM_CLOCK)
    statements = {
        "claim_orchestrations": (q.claim_orchestrations, {
            "worker": "w", "limit": 200, "lease": 1, "affinity": 1,
            "share": 200, "backlog": 200, **_VERSIONED}),
        "claimed_messages": (q.claimed_messages, {"ids": ["i"], "max_messages": 100}),
        "claim_activities": (q.claim_activities, {"worker": "w", "limit": 200, "lease": 1}),
        "complete_activities": (q.complete_activities, {
            "ids": [1], "tokens": ["t"], "instances": ["i"], "execs": ["e"], "events": ["{}"]}),
        "commit_steps": (q.commit_steps, {**_EMPTY_STEP, "worker": "w", "lease_count": 10,
                                          "lease": 1}),
        "lock_unclaimed": (q.lock_unclaimed, (["i"],)),
        "lock_task_tokens": (q.lock_task_tokens, ([1],)),
    }
    async with store._connection() as conn:  # set up as every pooled connection is
        mogrifier = psycopg.AsyncClientCursor(conn)
        for name, (text, params) in statements.items():
            literal = mogrifier.mogrify(text, params)
            async with conn.transaction():
                if name == "claim_orchestrations":  # as a claim plans it
                    await conn.execute(CLAIM_PLANNING)
                cur = await conn.execute("EXPLAIN (FORMAT JSON) " + literal)
                row = await cur.fetchone()
            assert row is not None
            nodes = _plan_nodes(row[0][0]["Plan"])
            scanned = [n["Relation Name"] for n in nodes if n["Node Type"] == "Seq Scan"]
            assert not scanned, f"{name} scans {scanned} whole"
            if name == "claimed_messages":
                by_index = {n["Index Name"] for n in nodes
                            if n.get("Index Name", "").startswith("inbox")}
                assert "inbox_instance" in by_index, f"claimed messages found by {by_index}"
            if name == "claim_orchestrations":
                # Each message's instance looked up by its id: no join that reads
                # every unleased instance (a claim would grow with the finished ones).
                joins = {n["Node Type"] for n in nodes} & {"Materialize", "Merge Join",
                                                          "Hash Join"}
                assert not joins, f"the claim joins by {joins}"
                lookups = [n.get("Index Cond", "") for n in nodes
                           if n.get("Relation Name") == "instances" and "Index" in n["Node Type"]]
                assert lookups and all("instance_id = " in c for c in lookups), lookups


async def test_the_horizon_sees_the_backlogs_leases_without_reading_the_backlog(
        opened: list[PostgresStore], schema: str) -> None:
    """A worker whose claims find nothing (its gate closed) learns when the lease on an
    opened instance's first step runs out; the unleased backlog behind it is claimable
    at once and needs no waiting for, and the horizon reads only the backlog's head."""
    store = await open_store(opened, hub_url(schema))
    q = Queries.for_schema(quote_ident(schema), SYSTEM_CLOCK)
    for i in range(HORIZON_SCAN + 5):
        await store.create_instance(new(f"b{i:03}"))
    params = {"worker": "b", "affinity": 1, "scan": HORIZON_SCAN,
              **dict(zip(("v_fold", "v_num", "v_low", "v_high"), ANY_VERSION, strict=True))}
    async with store._connection() as conn:
        assert await horizon(conn, q.orchestration_horizon, params) is None
    [opened_item] = await store.claim_orchestrations("a", 1, 30.0)
    assert opened_item.instance.instance_id == "b000"
    async with store._connection() as conn:
        until = await horizon(conn, q.orchestration_horizon, params)
        assert until is not None and 20.0 < until <= 30.0, until  # a's lease
    await store.release_orchestration("b000", opened_item.lock_token)
    async with store._connection() as conn:  # given back: claimable at once, announced
        assert await horizon(conn, q.orchestration_horizon, params) is None
        mogrifier = psycopg.AsyncClientCursor(conn)
        cur = await conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) "
                                 + mogrifier.mogrify(q.orchestration_horizon, params))
        row = await cur.fetchone()
    assert row is not None
    looked_up = sum(n.get("Actual Loops", 0) for n in _plan_nodes(row[0][0]["Plan"])
                    if n.get("Relation Name") == "instances")
    assert looked_up <= HORIZON_SCAN, looked_up  # the head, not the whole backlog


# --- wake-ups -------------------------------------------------------------------


class CountingRun:
    """Counts the store's database round trips (calls of ``_run``)."""

    def __init__(self, store: PostgresStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        original = store._run

        async def run(fn: Any, *args: Any, **kwargs: Any) -> Any:
            self.calls.append(fn.__name__)
            return await original(fn, *args, **kwargs)

        monkeypatch.setattr(store, "_run", run)


async def test_an_idle_worker_does_not_query(schema: str, opened: list[PostgresStore],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    worker = await open_store(opened, hub_url(schema, poll_interval=NO_POLL))
    client = await open_store(opened, hub_url(schema))
    assert await worker.claim_orchestrations("w", 10, LONG) == []
    assert await worker.claim_activities("w", 10, LONG) == []
    assert await worker.next_wakeup() is None
    counter = CountingRun(worker, monkeypatch)
    for _ in range(50):  # what an idle worker's loops do, many times over
        assert await worker.claim_orchestrations("w", 10, LONG) == []
        assert await worker.claim_activities("w", 10, LONG) == []
        assert await worker.next_wakeup() is None
        await worker.wait_for_work("orchestration", 0.001)
    assert counter.calls == []
    # Work started elsewhere wakes it (milliseconds; the bound is for a loaded machine,
    # far below the wait and the poll), and the claim finds it.
    await client.create_instance(new("a"))
    started = time.monotonic()
    await worker.wait_for_work("orchestration", NO_POLL)
    assert time.monotonic() - started < PROMPT
    items = await worker.claim_orchestrations("w", 10, LONG)
    assert [item.instance.instance_id for item in items] == ["a"]


async def test_without_listen_workers_poll(schema: str, opened: list[PostgresStore]) -> None:
    worker = await open_store(opened, hub_url(schema, listen=0))
    client = await open_store(opened, hub_url(schema))
    assert await worker.claim_orchestrations("w", 10, LONG) == []
    await client.create_instance(new("a"))
    await worker.wait_for_work("orchestration", 0.05)  # no notification: a poll interval
    assert len(await worker.claim_orchestrations("w", 10, LONG)) == 1


async def test_without_listen_instance_waiters_learn_of_changes_by_checking(
        schema: str, opened: list[PostgresStore]) -> None:
    waiter = await open_store(opened, hub_url(schema, listen=0))
    worker = await open_store(opened, hub_url(schema))
    await worker.create_instance(new("a"))
    item = await claim_one(worker, "a")
    await asyncio.sleep(0.5)  # the creation is old news
    woken = asyncio.ensure_future(waiter.wait_for_instance("a", NO_POLL))
    await asyncio.sleep(1.5)
    assert not woken.done()  # nothing changed: no spurious wake-up
    started = time.monotonic()
    await worker.commit_steps([step(item, Status.Completed)])
    await asyncio.wait_for(woken, NO_POLL)  # one check of the awaited instances later
    assert time.monotonic() - started < PROMPT


async def test_lost_status_news_is_caught_up_by_the_check(
        schema: str, opened: list[PostgresStore], monkeypatch: pytest.MonkeyPatch) -> None:
    waiter = await open_store(opened, hub_url(schema))
    worker = await open_store(opened, hub_url(schema))
    await worker.create_instance(new("a"))
    item = await claim_one(worker, "a")
    woken = asyncio.ensure_future(waiter.wait_for_instance("a", NO_POLL))
    await asyncio.sleep(0.2)
    assert not woken.done()
    monkeypatch.setattr(worker._wakeups._announcer, "_send", _send_nothing)  # the NOTIFY is lost
    started = time.monotonic()
    await worker.commit_steps([step(item, Status.Completed)])
    await asyncio.wait_for(woken, NO_POLL)
    assert time.monotonic() - started < PROMPT  # the once-a-second check, not the timeout


async def _send_nothing() -> None:
    return None


async def test_start_wakes_a_registered_worker_only(schema: str,
                                                    opened: list[PostgresStore]) -> None:
    worker = await open_store(opened, hub_url(schema, poll_interval=NO_POLL))
    assert await worker.claim_orchestrations("worker-1", 10, LONG) == []  # registers it
    rows = await admin(sql.SQL("SELECT worker_id FROM {}.workers").format(
        sql.Identifier(schema)).as_string(None))
    assert rows == [("worker-1",)]
    bystander = await open_store(opened, hub_url(schema))
    client = await open_store(opened, hub_url(schema))
    for store in (worker, bystander):
        await store.wait_for_work("orchestration", 0)
    woken = asyncio.ensure_future(worker.wait_for_work("orchestration", NO_POLL))
    idle = asyncio.ensure_future(bystander.wait_for_work("orchestration", 0.3))
    await asyncio.sleep(0.02)
    await client.create_instance(new("a"))
    started = time.monotonic()
    await woken
    assert time.monotonic() - started < PROMPT
    await idle
    assert time.monotonic() - started > 0.2  # the bystander (no worker) was not woken
    await worker.close()
    opened.remove(worker)
    rows = await admin(sql.SQL("SELECT worker_id FROM {}.workers").format(
        sql.Identifier(schema)).as_string(None))
    assert rows == []  # a worker that stops leaves the registry


async def test_affinity_leaves_a_stepped_instance_to_its_worker(
        schema: str, opened: list[PostgresStore]) -> None:
    store = await open_store(opened, hub_url(schema, affinity=0.3))
    await store.create_instance(new("a"))
    item = (await store.claim_orchestrations("w1", 10, LONG))[0]
    assert await store.commit_steps([step(item)]) == [True]
    await store.send_message(event_message("a"), operation="x", allowed=set(Status))
    assert await store.claim_orchestrations("w2", 10, LONG) == []  # w1 holds its state
    assert len(await store.claim_orchestrations("w1", 10, LONG)) == 1
    assert await store.commit_steps([step(item)]) == [False]
    await store.send_message(event_message("a"), operation="x", allowed=set(Status))
    await asyncio.sleep(0.35)
    assert await store.claim_orchestrations("w2", 10, LONG) == []  # leased by w1
    # After the affinity time any worker takes it (w1 may be gone).
    store2 = await open_store(opened, hub_url(schema, affinity=0.05))
    await store2.create_instance(new("b"))
    item = (await store2.claim_orchestrations("w1", 10, LONG))[0]
    await store2.commit_steps([step(item)])
    await store2.send_message(event_message("b"), operation="x", allowed=set(Status))
    await asyncio.sleep(0.1)
    assert [i.instance.instance_id for i in await store2.claim_orchestrations("w2", 10, LONG)
            ] == ["b"]


async def test_workers_divide_new_instances(schema: str, opened: list[PostgresStore]) -> None:
    # poll_interval=0: every claim queries. A start wakes one worker at random, so
    # with gates the second claim found nothing when all ten woke the first (or
    # its notification was still on the way: one CI run in many).
    one = await open_store(opened, hub_url(schema, poll_interval=0))
    two = await open_store(opened, hub_url(schema, poll_interval=0))
    assert await one.claim_orchestrations("w1", 10, LONG) == []  # both register
    assert await two.claim_orchestrations("w2", 10, LONG) == []
    await one._wakeups._registry.refresh()  # as it does every second while busy
    for i in range(10):
        await one.create_instance(new(f"i{i}"))
    first = await one.claim_orchestrations("w1", 10, LONG)
    assert len(first) == 5  # its share of new work: 10 / 2 live workers
    rest = await two.claim_orchestrations("w2", 10, LONG)
    assert len(rest) == 5
    assert not {i.instance.instance_id for i in first} & {i.instance.instance_id for i in rest}


# --- dropped connections -----------------------------------------------------------


async def terminate_sessions(application_name: str) -> int:
    rows = await admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE application_name = %s", application_name)
    return len(rows)


async def test_recovers_when_its_connections_are_killed(schema: str,
                                                        opened: list[PostgresStore]) -> None:
    name = f"perdure-test-{uuid.uuid4().hex[:8]}"
    store = await open_store(opened, hub_url(schema, application_name=name, pool_min=3))
    other = await open_store(opened, hub_url(schema))
    await store.create_instance(new("a"))
    assert await terminate_sessions(name) >= 4  # the pool and the LISTEN connection
    await asyncio.sleep(0.1)
    rec = await store.get_instance("a")  # dead pooled connections are skipped
    assert rec is not None
    await store.send_message(event_message("a"), operation="x", allowed=set(Status))
    assert len((await claim_one(store, "a")).messages) == 2
    # The listener reconnects by itself: other processes' work wakes it again.
    deadline = time.monotonic() + 10
    while True:
        await store.wait_for_work("orchestration", 0)
        waiter = asyncio.ensure_future(store.wait_for_work("orchestration", 1))
        await asyncio.sleep(0.02)
        await other.create_instance(new(f"b{time.monotonic_ns()}"))
        started = time.monotonic()
        await waiter
        if time.monotonic() - started < 0.5:
            break
        assert time.monotonic() < deadline, "the listener did not come back"


async def test_retry_policy_after_a_connection_dies_mid_statement(
        schema: str, opened: list[PostgresStore]) -> None:
    store = await open_store(opened, hub_url(schema))
    attempts: list[int] = []

    async def dies_once(conn: psycopg.AsyncConnection[Any], queries: Any) -> str:
        attempts.append(1)
        if len(attempts) == 1:  # the server goes away while the statement runs
            await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return "done"

    assert await store._run(dies_once) == "done"  # idempotent: retried once on a new connection
    assert len(attempts) == 2
    attempts.clear()
    with pytest.raises(psycopg.OperationalError):  # not idempotent: the caller decides
        await store._run(dies_once, idempotent=False)
    assert len(attempts) == 1


async def test_an_old_worker_does_not_poll_newer_work(schema: str, opened: list[PostgresStore],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Newer instances waiting (their own worker's affinity long run out) are no work
    for an old worker: its claim gate stays closed, it does not query them again."""
    old = await open_store(opened, hub_url(schema, affinity=0))
    new_worker = await open_store(opened, hub_url(schema, affinity=0))
    await new_worker.create_instance(new("n", version="2.0"))
    item = await claim_one(new_worker, "n")
    assert await new_worker.commit_steps([step(item)]) == [True]  # affinity: the new worker
    await new_worker.send_message(event_message("n"), operation="x", allowed=set(Status))
    await asyncio.sleep(0.2)  # the notifications are old news
    v1 = VersionFilter.of("1.0", VersionMatch.CURRENT_OR_OLDER)
    assert await old.claim_orchestrations("old", 10, LONG, versions=v1) == []
    counter = CountingRun(old, monkeypatch)
    for _ in range(50):  # what an old worker's loop does, many times over
        assert await old.claim_orchestrations("old", 10, LONG, versions=v1) == []
        await old.wait_for_work("orchestration", 0.001)
    assert counter.calls == []
    v2 = VersionFilter.of("2.0", VersionMatch.CURRENT_OR_OLDER)
    assert [i.instance.instance_id for i in await old.claim_orchestrations(
        "other", 10, LONG, versions=v2)] == ["n"]


async def test_a_claim_racing_a_commit_reads_the_messages_that_commit_left(
        schema: str, opened: list[PostgresStore]) -> None:
    """A claim's statement snapshot predates the row lock it takes: a step that
    commits in between (its lease expired, its token still current) consumes the
    messages, and the claim must not hand them out again (it did: a start message
    ran twice, once in a PostgreSQL restart fault test)."""
    from perdure.store.postgres import transitions as ops

    store = await open_store(opened, hub_url(schema, affinity=0))
    await store.create_instance(new("x"))
    (first,) = await store.claim_orchestrations("w1", 10, 0.2)
    # Visible messages of instances leased elsewhere, older than x's: the next
    # claim scans (and skips) all of them before it reaches x.
    await admin(sql.SQL(
        "WITH i AS (INSERT INTO {s}.instances (instance_id, name, execution_id, runtime_status,"
        " created_at, updated_at, locked_by, lock_token, lock_expires)"
        " SELECT 'f' || n, 'o', 'e', 'Running', 0, 0, 'w9', 't', 9e15::bigint"
        " FROM generate_series(1, 60000) AS n RETURNING instance_id)"
        " INSERT INTO {s}.inbox (instance_id, execution_id, visible_at, event)"
        " SELECT instance_id, 'e', 0, '{{}}' FROM i").format(s=sql.Identifier(schema))
        .as_string())
    await asyncio.sleep(0.3)  # the first lease expires; its token is still current
    claim = asyncio.create_task(store._run(ops.claim_orchestrations, "w2", 10, 30_000_000, 0))
    await asyncio.sleep(0.02)  # the claim is scanning
    applied = await store.commit_steps([step(first)])
    items, _ = await claim
    consumed = {m.id for m in first.messages}
    for item in items:
        if applied == [True]:
            assert not consumed & {m.id for m in item.messages}, item
