"""What only the SQLite task hub has: its URL, pragmas, migrations, thread and file locking."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from perdure.core.errors import InvalidArgumentError, StoreOpenError, StoreSchemaError
from perdure.core.status import OrchestrationRuntimeStatus as Status
from perdure.store import create_store
from perdure.store.base import ActivityTask
from perdure.store.migrate import load_migrations
from perdure.store.sqlite import MIGRATIONS, SqliteStore, parse_sqlite_url
from perdure.store.sqlite import store as sqlite_module

from .helpers import LONG, advance, claim_one, event_message, new, soon, start, step


def url_for(path: Path, query: str = "") -> str:
    return f"sqlite:///{path}" + (f"?{query}" if query else "")


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(url_for(tmp_path / "hub.db"))
    await store.open()
    yield store
    await store.close()


async def pragma(store: SqliteStore, name: str) -> Any:
    def read(conn: sqlite3.Connection) -> Any:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]

    return await store._run(store._call, read)  # the waiting (database-thread) connection


def test_parse_url() -> None:
    assert parse_sqlite_url("sqlite:///rel/hub.db") == ("rel/hub.db", {})
    assert parse_sqlite_url("sqlite:////abs/hub.db?synchronous=FULL") == (
        "/abs/hub.db", {"synchronous": "FULL"})
    for bad in ("sqlite://hub.db", "sqlite:/", "sqlite:///", "postgresql:///x", "hub.db"):
        with pytest.raises(InvalidArgumentError):
            parse_sqlite_url(bad)


@pytest.mark.parametrize("query", ["synchronous=OFF", "busy_timeout=abc", "poll_interval=-1",
                                   "colour=blue", "page_size=1000", "page_size=256",
                                   "page_size=131072", "page_size=big"])
def test_bad_options(query: str) -> None:
    with pytest.raises(InvalidArgumentError):
        SqliteStore(f"sqlite:///hub.db?{query}")


def test_create_store_builds_sqlite() -> None:
    store = create_store("sqlite:///x.db")
    assert isinstance(store, SqliteStore) and store.url == "sqlite:///x.db"


async def test_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = SqliteStore("sqlite:///sub.db")
    await store.open()
    await store.create_instance(new("a"))
    await store.close()
    assert (tmp_path / "sub.db").exists()


async def test_missing_folder_is_created(tmp_path: Path) -> None:
    store = SqliteStore(url_for(tmp_path / "a" / "b" / "hub.db"))
    await store.open()
    await store.close()
    assert (tmp_path / "a" / "b" / "hub.db").exists()


async def test_pragmas(sqlite_store: SqliteStore, tmp_path: Path) -> None:
    assert await pragma(sqlite_store, "journal_mode") == "wal"
    assert await pragma(sqlite_store, "synchronous") == 1  # NORMAL
    assert await pragma(sqlite_store, "busy_timeout") == 10_000
    # The event loop's own connection never waits: a busy write goes to the thread.
    assert sqlite_store._inline is not None
    assert sqlite_store._inline.execute("PRAGMA busy_timeout").fetchone()[0] == 0
    assert sqlite_store._inline.execute("PRAGMA synchronous").fetchone()[0] == 1
    full = SqliteStore(url_for(tmp_path / "full.db", "synchronous=full&busy_timeout=2.5"))
    await full.open()
    try:
        assert await pragma(full, "synchronous") == 2  # FULL
        assert await pragma(full, "busy_timeout") == 2500
    finally:
        await full.close()


async def test_a_new_hub_takes_the_page_size_and_an_old_one_keeps_its_own(
        sqlite_store: SqliteStore, tmp_path: Path) -> None:
    assert await pragma(sqlite_store, "page_size") == 2048  # the default
    await sqlite_store.close()
    reopened = SqliteStore(url_for(tmp_path / "hub.db", "page_size=8192"))
    await reopened.open()
    try:
        assert await pragma(reopened, "page_size") == 2048  # the file's own
        await reopened.create_instance(new("still-writable"))
    finally:
        await reopened.close()
    large = SqliteStore(url_for(tmp_path / "large.db", "page_size=8192"))
    await large.open()
    try:
        assert await pragma(large, "page_size") == 8192
        assert large._inline is not None
        assert large._inline.execute("PRAGMA page_size").fetchone()[0] == 8192
    finally:
        await large.close()


async def test_the_log_is_checkpointed_off_the_event_loop(sqlite_store: SqliteStore,
                                                          tmp_path: Path) -> None:
    """No commit checkpoints (a 1,000-page checkpoint stalled the loop for ~15 ms);
    the checkpointer copies the log into the database file in the background."""
    assert sqlite_store._inline is not None
    assert sqlite_store._inline.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    assert await pragma(sqlite_store, "wal_autocheckpoint") == 0
    db_file = tmp_path / "hub.db"
    before = db_file.stat().st_size
    for i in range(300):
        await sqlite_store.create_instance(new(f"i{i}", input='"' + "x" * 200 + '"'))
    deadline = time.monotonic() + 5
    while db_file.stat().st_size <= before:
        assert time.monotonic() < deadline, "the log was never checkpointed"
        await asyncio.sleep(0.1)


async def test_migrations_are_recorded_and_not_rerun(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    for _ in range(2):
        store = SqliteStore(url_for(path))
        await store.open()
        await store.create_instance(new(f"i{time.monotonic_ns()}"))
        await store.close()
    with sqlite3.connect(path) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_version")]
        assert versions == [v for v, _, _ in load_migrations(MIGRATIONS)]
        assert conn.execute("SELECT count(*) FROM instances").fetchone()[0] == 2


async def test_a_hub_with_a_row_per_event_moves_to_a_row_per_step(tmp_path: Path) -> None:
    """Migration 7: the per-event history rows of older hubs keep their events and
    positions, and steps after it append behind them."""
    path = tmp_path / "hub.db"
    store = SqliteStore(url_for(path))
    await store.open()
    await start(store, "a")
    await advance(store, "a", Status.Running)
    before = await store.get_history("a")
    await store.close()
    with sqlite3.connect(path) as conn:  # back to version 6: one row per event
        conn.executescript("""
            CREATE TABLE history_v6 (instance_id TEXT NOT NULL, seq INTEGER NOT NULL,
                                     event TEXT NOT NULL, PRIMARY KEY (instance_id, seq))
                                     WITHOUT ROWID;
            INSERT INTO history_v6 SELECT h.instance_id, h.seq + e.key, e.value
              FROM history AS h, json_each(h.events) AS e;
            DROP TABLE history;
            ALTER TABLE history_v6 RENAME TO history;
            DELETE FROM schema_version WHERE version = 7;""")
        assert conn.execute("SELECT count(*) FROM history").fetchone()[0] == len(before) > 2
    store = SqliteStore(url_for(path))
    await store.open()
    try:
        assert await store.get_history("a") == before
        assert (await store.get_histories(["a"]))["a"] == before
        await advance(store, "a", Status.Completed)
        after = await store.get_history("a")
        assert after[:len(before)] == before and len(after) == len(before) + 2
        assert (await store.get_instance("a")).history_len == len(after)  # type: ignore[union-attr]
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:  # the old events one row each, the new step one row
        assert conn.execute("SELECT count(*) FROM history").fetchone()[0] == len(before) + 1


async def test_opening_waits_for_wal_mode_while_another_process_creates_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite may refuse to enter WAL mode at once, without the busy handler, while
    another process creates the file: the open retries within its busy timeout."""
    refusals = {"left": 3}
    real_connect = sqlite3.connect

    class Refusing(sqlite3.Connection):
        def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
            if sql == "PRAGMA journal_mode = WAL" and refusals["left"] > 0:
                refusals["left"] -= 1
                raise sqlite3.OperationalError("database is locked")
            return super().execute(sql, *args)

    monkeypatch.setattr(sqlite3, "connect",
                        lambda *args, **kwargs: real_connect(*args, factory=Refusing, **kwargs))
    store = SqliteStore(url_for(tmp_path / "hub.db"))
    await store.open()
    try:
        assert refusals["left"] == 0
        assert await pragma(store, "journal_mode") == "wal"
    finally:
        await store.close()
    refusals["left"] = 1
    with pytest.raises(StoreOpenError, match="locked"):  # no time to wait: it says so
        await SqliteStore(url_for(tmp_path / "other.db", "busy_timeout=0")).open()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    store = SqliteStore(url_for(path))
    await store.open()
    await store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (999, 'future', 0)")
    with pytest.raises(StoreSchemaError, match="newer"):
        await SqliteStore(url_for(path)).open()


async def test_closed_store(tmp_path: Path) -> None:
    store = SqliteStore(url_for(tmp_path / "hub.db"))
    with pytest.raises(RuntimeError, match="not open"):
        await store.get_instance("a")
    await store.open()
    await store.close()
    await store.close()
    with pytest.raises(RuntimeError, match="not open"):
        await store.get_instance("a")


async def test_loop_keeps_running_while_a_write_waits_for_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    store = SqliteStore(url_for(path))
    await store.open()
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        write = asyncio.ensure_future(store.create_instance(new("a")))
        ticks = 0
        for _ in range(10):
            await asyncio.sleep(0.02)
            ticks += 1
        assert ticks == 10 and not write.done()
        blocker.execute("COMMIT")
        await asyncio.wait_for(write, 5)
        assert (await claim_one(store, "a")).attempts == 1
    finally:
        blocker.close()
        await store.close()


async def test_busy_timeout_fails_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    store = SqliteStore(url_for(path, "busy_timeout=0.1"))
    await store.open()
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await store.create_instance(new("a"))
        blocker.execute("ROLLBACK")
        await store.create_instance(new("a"))  # the store recovered
        rec = await store.get_instance("a")
        assert rec is not None and rec.runtime_status is Status.Pending
    finally:
        blocker.close()
        await store.close()


async def test_lease_writes_skip_the_fsync_but_keep_full_durability(tmp_path: Path) -> None:
    """With synchronous=FULL, claims commit at NORMAL and FULL is restored afterwards."""
    store = SqliteStore(url_for(tmp_path / "full.db", "synchronous=FULL"))
    await store.open()
    try:
        await store.create_instance(new("a"))
        assert (await claim_one(store, "a")).instance.instance_id == "a"
        assert store._inline is not None
        assert store._inline.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL again
        assert not store._inline.in_transaction
    finally:
        await store.close()


async def test_writes_that_never_yield_still_checkpoint_the_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Back-to-back starts on the loop's own connection never let the checkpointer
    # task run; once it is starved, a write hands a checkpoint to the database
    # thread, and the first write after it is done copies the rest inline, so
    # the log starts afresh (and the instances reach the database file).
    from perdure.store.sqlite import store as sqlite_module

    monkeypatch.setattr(sqlite_module, "STARVED_CHECKPOINT", -1.0)  # starved at once
    store = SqliteStore(url_for(tmp_path / "hub.db"))
    await store.open()
    try:
        before = (tmp_path / "hub.db").stat().st_size
        await store.create_instance(new("i0"))
        assert store._starved_checkpoint is not None  # on the database thread, beside the writes
        for i in range(1, 50):
            await store.create_instance(new(f"i{i}"))
        offloaded = store._starved_checkpoint  # None if the last write caught up
        if offloaded is not None:
            offloaded.result(timeout=10)
        monkeypatch.setattr(sqlite_module, "STARVED_CHECKPOINT", 1000.0)  # no more of them
        await store.create_instance(new("catch-up"))  # copies the rest inline, if any
        assert store._starved_checkpoint is None
        # Checkpointed: the database file itself grew, not only the log.
        assert (tmp_path / "hub.db").stat().st_size > before
        await store.create_instance(new("afresh"))  # the log starts over
        assert store._inline is not None
        (_, frames, _) = store._inline.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert 0 < frames < 40, frames  # one start's pages, not fifty-two starts'
        assert await store.get_instance("i49") is not None
    finally:
        await store.close()


async def test_a_commit_never_cuts_the_log_file_and_a_quiet_round_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Truncating a log file that a burst grew large stalled the commit that did
    # it; the file is written over instead, and cut once nothing is written.
    from perdure.store.sqlite import store as sqlite_module

    monkeypatch.setattr(sqlite_module, "STARVED_CHECKPOINT", 1000.0)
    monkeypatch.setattr(sqlite_module, "WAL_SIZE_LIMIT", 64 * 1024)
    monkeypatch.setattr(sqlite_module, "CHECKPOINT_INTERVAL", 0.05)
    store = SqliteStore(url_for(tmp_path / "hub.db"))
    wal = tmp_path / "hub.db-wal"
    await store.open()
    try:
        # A burst that never yields: the checkpointer task cannot run, and the log
        # grows to a hundred starts (far more than the few written over it below).
        for i in range(100):
            await store.create_instance(new(f"i{i}"))
        monkeypatch.setattr(sqlite_module, "STARVED_CHECKPOINT", -1.0)
        await store.create_instance(new("i100"))  # hands a checkpoint to the thread
        offloaded = store._starved_checkpoint
        assert offloaded is not None
        offloaded.result(timeout=10)
        monkeypatch.setattr(sqlite_module, "STARVED_CHECKPOINT", 1000.0)  # no more of them
        await store.create_instance(new("j0"))  # catches up inline after its commit
        grown = wal.stat().st_size
        assert grown > 64 * 1024
        for i in range(1, 4):  # a log started afresh, written over the file's start
            await store.create_instance(new(f"j{i}"))
        assert wal.stat().st_size == grown
        assert store._checkpoint_mode() == "PASSIVE"  # the log is short, not its file
        # Another process's reader pins the log, and its writer adds to it: quiet
        # rounds here cannot copy the whole log, and leave the file alone.
        reader = sqlite3.connect(tmp_path / "hub.db", isolation_level=None)
        writer = sqlite3.connect(tmp_path / "hub.db", isolation_level=None)
        try:
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM instances").fetchone()
            writer.execute("INSERT INTO functions VALUES ('activity', 'other', 0)")
            await asyncio.sleep(0.5)  # ten quiet rounds
            assert wal.stat().st_size == grown
            reader.execute("COMMIT")
            deadline = asyncio.get_running_loop().time() + 10
            while wal.stat().st_size > 0:  # now a quiet round truncates it
                assert asyncio.get_running_loop().time() < deadline, wal.stat().st_size
                await asyncio.sleep(0.02)
        finally:
            reader.close()
            writer.close()
        assert await store.get_instance("j2") is not None
    finally:
        await store.close()


async def test_a_log_longer_than_its_limit_is_checkpointed_with_restart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Another process's writes keep a passive checkpoint from ever reaching the
    # log's end; past its limit, the checkpoint waits for them (RESTART).
    from perdure.store.sqlite import store as sqlite_module

    monkeypatch.setattr(sqlite_module, "WAL_SIZE_LIMIT", 16 * 1024)
    store = SqliteStore(url_for(tmp_path / "hub.db"))
    other = sqlite3.connect(tmp_path / "hub.db", isolation_level=None)
    await store.open()
    try:
        assert store._checkpoint_mode() == "PASSIVE"
        for i in range(20):
            await store.create_instance(new(f"i{i}"))
        other.execute("BEGIN")  # a reader pins the log: no checkpoint reaches its end
        other.execute("SELECT count(*) FROM instances").fetchone()
        for i in range(20):
            await store.create_instance(new(f"j{i}"))
        assert store._inline is not None
        store._checkpoint_sync(store._inline, "PASSIVE")
        assert store._checkpoint_mode() == "RESTART"
        other.execute("COMMIT")
        store._checkpoint_sync(store._inline, "RESTART")  # reaches the end now
        assert store._checkpoint_mode() == "PASSIVE"
    finally:
        other.close()
        await store.close()


def statements(store: SqliteStore) -> list[str]:
    """The statements the loop's own connection runs from now on (first words)."""
    seen: list[str] = []
    assert store._inline is not None
    store._inline.set_trace_callback(lambda sql: seen.append(" ".join(sql.split()[:6])))
    return seen


async def test_a_claim_after_a_start_here_skips_its_look(sqlite_store: SqliteStore) -> None:
    await sqlite_store.create_instance(new("a"))
    seen = statements(sqlite_store)
    await claim_one(sqlite_store, "a")
    assert not any("SELECT EXISTS" in sql for sql in seen)  # no look: the start queued it
    seen.clear()
    assert await sqlite_store.claim_orchestrations("w1", 10, 30.0) == []
    assert any("SELECT EXISTS" in sql for sql in seen)  # nothing queued here since: it looks
    assert not any(sql.startswith("BEGIN") for sql in seen)  # and takes no write lock


async def test_an_empty_claim_answers_the_next_wakeup_until_a_write(
        sqlite_store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    await start(sqlite_store, "a")
    due = soon(60)
    await sqlite_store.send_message(event_message("a", visible_at=due), operation="timer",
                                    allowed=set(Status))
    assert await sqlite_store.claim_orchestrations("w1", 10, 30.0) == []
    seen = statements(sqlite_store)
    assert await sqlite_store.next_wakeup() == due
    assert seen == []  # the claim's look had read it
    assert await sqlite_store.next_wakeup() == due and len(seen) == 1  # used once only
    # A write after the look: the answer is read afresh.
    assert await sqlite_store.claim_orchestrations("w1", 10, 30.0) == []
    earlier = soon(30)
    await sqlite_store.send_message(event_message("a", visible_at=earlier), operation="timer",
                                    allowed=set(Status))
    seen.clear()
    assert await sqlite_store.next_wakeup() == earlier and len(seen) == 1
    # And only for a moment: another process may have written since.
    monkeypatch.setattr(sqlite_module, "IDLE_OUTLOOK_SECONDS", 0.0)
    assert await sqlite_store.claim_orchestrations("w1", 10, 30.0) == []
    seen.clear()
    assert await sqlite_store.next_wakeup() == earlier and len(seen) == 1


def test_a_set_of_one_value_is_bound_as_itself() -> None:
    """Steps, results and claims of one instance skip json_each, three times its cost."""
    import json

    from perdure.store.sqlite.queries import SQL, SQL_ONE
    from perdure.store.sqlite.transitions import by_ids

    assert by_ids(["a"]) == (SQL_ONE, "a")
    sql, param = by_ids(["a", "b"])
    assert sql is SQL and json.loads(param) == ["a", "b"]
    for name in ("select_leases", "select_task_tokens", "claim_by_id"):
        assert "json_each" in getattr(SQL, name) and "json_each" not in getattr(SQL_ONE, name)
    assert "IN (?4)" in SQL_ONE.claim_by_id and "json_each(?4)" in SQL.claim_by_id


async def test_a_commit_leases_a_task_that_waited_before_its_own(
        sqlite_store: SqliteStore) -> None:
    """A commit's own tasks go in leased only while no other task waits: else its
    lease takes the oldest claimable tasks first, as a claim would."""
    store = sqlite_store
    for iid in ("old", "new"):
        await store.create_instance(new(iid))
    old, fresh = (await store.claim_orchestrations("w", 10, LONG))
    waiting = ActivityTask("old", old.instance.execution_id, 0, "act", None)
    assert await store.commit_steps([step(old, activities=[waiting])]) == [True]
    own = ActivityTask("new", fresh.instance.execution_id, 0, "act", None)
    applied, leased = await store.commit_steps_and_claim([step(fresh, activities=[own])],
                                                         "w", 1, LONG)
    assert applied == [True]
    assert [w.task for w in leased] == [waiting]
    (rest,) = await store.claim_activities("w2", 10, LONG)
    assert rest.task == own
