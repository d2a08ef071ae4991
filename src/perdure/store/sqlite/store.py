"""The embedded task hub: one SQLite file in WAL mode.

Each async method is one synchronous transition (see
:mod:`perdure.store.sqlite.transitions`). It runs inline on the event loop over a
connection that never waits for a lock: a transition takes tens of
microseconds, far less than handing it to another thread and back. When
another process holds the write lock, the transition goes instead to a
dedicated database thread with its own connection, which waits for the lock
(busy timeout) without blocking the loop. Several processes may open the same
file: writes serialize on SQLite's write lock (``BEGIN IMMEDIATE``) and leases
keep claims exclusive.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple, TypeVar, cast
from urllib.parse import parse_qsl, urlsplit

from ...core.errors import InvalidArgumentError, StoreOpenError, StoreUnavailableError
from ...core.history import FailureDetails, HistoryEvent
from ...core.status import OrchestrationRuntimeStatus
from .. import base
from ..clock import SYSTEM_CLOCK, Clock
from ..codec import from_us, now_us, seconds_to_us, to_us
from ..migrate import Migration, apply_migrations, load_migrations
from ..options import integer_option, seconds_option
from ..plan import CommitPlan, TaskLease, task_lease
from ..rules import check_count_bound, check_query, purge_in_batches
from ..signals import Signals, WaitsOnSignals
from ..starts import HandsOverStarts, started_item
from . import stats
from . import transitions as ops
from .health import HUB_FILE_GONE, file_identity, file_replaced, unavailable_reason
from .queries import SQL

logger = logging.getLogger(__name__)

T = TypeVar("T")

_SYNCHRONOUS = ("NORMAL", "FULL")
#: Seconds between write-ahead log checkpoints while the hub is written to.
CHECKPOINT_INTERVAL = 1.0
#: Seconds without a background checkpoint after which a write starts one itself
#: (see :meth:`SqliteStore._keep_log_short`): a caller writing in a loop that never
#: yields (back-to-back starts) starves the checkpointer task, and the log would
#: grow without bound, slowing every read. Half an interval late: the log such a
#: loop writes in that time is a few hundred megabytes.
STARVED_CHECKPOINT = 1.5 * CHECKPOINT_INTERVAL
#: Bytes of write-ahead log beyond which a checkpoint waits for other processes'
#: writers (see :meth:`SqliteStore._checkpoint_mode`), and a quiet hub's log file
#: is cut back to nothing. A commit never cuts it: truncating a log that a burst
#: of writes grew to hundreds of megabytes took the commit 300 ms; a log file
#: left at its size is written over from its start once checkpointed.
WAL_SIZE_LIMIT = 64 * 1024 * 1024
#: Seconds an empty claim's look answers next_wakeup for (see there).
IDLE_OUTLOOK_SECONDS = 0.005
#: Seconds a look that found no visible message answers claims for (see
#: _QuietHub): well below any lease, so that a lease left to expire (its step's
#: commit failed) with a message under it is looked for again in time.
QUIET_SECONDS = 1.0
#: Bytes a page of a new hub file. A start writes 13 pages to the log (the rows
#: and an entry in each index): side by side with SQLite's default 4 KB, 2 KB
#: pages took starts 24–42% faster, releases of waiting instances 10–20% and W1
#: 5%, and instances carrying 8 KB payloads 10% slower.
PAGE_SIZE = 2048
#: The numbered schema scripts (see :mod:`perdure.store.migrate`).
MIGRATIONS = resources.files(__package__).joinpath("migrations")


def parse_sqlite_url(url: str) -> tuple[str, dict[str, str]]:
    """Split ``sqlite:///relative.db`` / ``sqlite:////abs.db?opt=v`` into (path, options)."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite" or parts.netloc or not parts.path.startswith("/") \
            or len(parts.path) < 2:
        raise InvalidArgumentError(
            f"invalid SQLite store URL {url!r}: expected sqlite:///relative/path.db "
            "or sqlite:////absolute/path.db")
    return parts.path[1:], dict(parse_qsl(parts.query, keep_blank_values=True))


class SqliteStore(HandsOverStarts, WaitsOnSignals):
    """The SQLite task hub at ``url`` (created and migrated by :meth:`open`).

    ``url`` is ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``,
    with optional query parameters:

    * ``synchronous=NORMAL|FULL`` (default ``NORMAL``). In WAL mode ``NORMAL``
      is durable against process crashes: a commit survives the process dying
      at any point. Only an OS crash or power loss may roll back the last
      commits. ``FULL`` syncs the WAL on every commit and survives power loss
      too, at the cost of an fsync per transaction.
    * ``busy_timeout=<seconds>`` (default 10): how long a write waits for
      another process's write lock before failing.
    * ``poll_interval=<seconds>`` (default 0.1; 0 disables): how often the
      store checks whether another process committed, to wake this process's
      waiters. Commits made through this store wake them at once. With 0,
      other processes' commits reach them only through the waiters' own
      re-reads, every few seconds.
    * ``page_size=<bytes>`` (default 2048; a power of two from 512 to 65536):
      the page size of a hub file this store creates (an existing file keeps
      its own). Every commit writes each page it changed to the log in full,
      and a step changes a page of each index it touches: small pages make
      each commit write less. Larger pages suit hubs whose inputs and outputs
      run to many kilobytes.
    """

    def __init__(self, url: str, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.url = url
        self.clock = clock
        path, options = parse_sqlite_url(url)
        self._path = path
        unknown = set(options) - {"synchronous", "busy_timeout", "poll_interval", "page_size"}
        if unknown:
            raise InvalidArgumentError(f"unknown SQLite store option(s): {sorted(unknown)}")
        self._synchronous = options.get("synchronous", "NORMAL").upper()
        if self._synchronous not in _SYNCHRONOUS:
            raise InvalidArgumentError(
                f"synchronous must be NORMAL or FULL, got {self._synchronous!r}")
        self._busy_timeout = seconds_option(options, "busy_timeout", 10.0)
        self._poll_interval = seconds_option(options, "poll_interval", 0.1)
        self._page_size = integer_option(options, "page_size", PAGE_SIZE, minimum=512)
        if self._page_size & (self._page_size - 1) or self._page_size > 65536:
            raise InvalidArgumentError(
                f"page_size must be a power of two from 512 to 65536, got {self._page_size}")
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None  # only ever used on the executor thread
        self._inline: sqlite3.Connection | None = None  # only ever used on the event loop
        self._signals = Signals()
        self._watcher: asyncio.Task[None] | None = None
        self._checkpointer: asyncio.Task[None] | None = None
        self._checkpointed = time.monotonic()  # the last checkpoint, or open
        self._starved_checkpoint: Future[bool] | None = None  # see _keep_log_short
        self._log_outgrown = False  # the last checkpoint left a long log behind
        self._file_page_size = self._page_size  # the file's own, once open
        self._writes = 0  # write transactions so far (for the checkpointer)
        self._work_queued = False  # see _work_added
        self._idle: _IdleLook | None = None  # the last empty claim's look (next_wakeup)
        self._quiet: _QuietHub | None = None  # no message visible since that look
        self._forget_clock: Callable[[], None] | None = None

    # The hub file's (st_dev, st_ino) once connected, and why it is unusable since
    # (class defaults: set by _connect and _check_file).
    _identity: tuple[int, int] | None = None
    _gone: str | None = None

    @property
    def _waits(self) -> Signals:
        return self._signals

    def __repr__(self) -> str:
        return f"SqliteStore({self.url!r})"

    # --- plumbing -------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the database thread."""
        if self._executor is None:
            raise RuntimeError(f"{self!r} is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` outside a transaction (each statement sees a snapshot)."""
        if self._inline is not None:
            try:
                return fn(self._inline, *args)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
        return await self._run(self._call, fn, *args)

    async def _write(self, fn: Callable[..., T], *args: Any, relaxed: bool = False) -> T:
        """Run ``fn(conn, *args)`` as one ``BEGIN IMMEDIATE`` transaction.

        ``relaxed`` commits without an fsync (see :meth:`_lease_write`). A full
        disk, a read-only or deleted hub raise :class:`StoreUnavailableError`.
        """
        if self._gone is not None:
            raise StoreUnavailableError(self.url, self._gone)
        self._writes += 1
        try:
            if self._inline is not None:
                try:
                    result = _transaction(self._inline, relaxed, fn, *args)
                    self._keep_log_short()
                    return result
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc):
                        raise
                    # Another process holds the write lock: wait for it off the loop.
            return await self._run(self._transaction, relaxed, fn, *args)
        except sqlite3.OperationalError as exc:
            reason = unavailable_reason(exc)
            if reason is None:
                raise
            raise StoreUnavailableError(self.url, reason) from exc

    async def _lease_write(self, fn: Callable[..., T], *args: Any) -> T:
        """A write that only takes or gives up leases: it needs no fsync of its own.

        Losing it to a power cut is harmless (the work is simply unleased), and
        the next durable commit syncs the log up to and including it. So with
        ``synchronous=FULL`` it commits at ``NORMAL``.
        """
        return await self._write(fn, *args, relaxed=self._synchronous == "FULL")

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._conn is not None
        return fn(self._conn, *args)

    def _transaction(self, relaxed: bool, fn: Callable[..., T], *args: Any) -> T:
        assert self._conn is not None
        return _transaction(self._conn, relaxed, fn, *args)

    # --- lifecycle ------------------------------------------------------------

    async def open(self) -> None:
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="perdure-sqlite")
        try:
            await self._run(self._open_sync)
        except BaseException as exc:
            self._executor.shutdown(wait=False)
            self._executor = None
            if isinstance(exc, sqlite3.Error | OSError):
                # A directory, a file that is not a database, a folder we may not
                # create: the caller's URL is wrong, which is no bug of ours.
                raise StoreOpenError(self.url, _open_reason(exc)) from exc
            raise
        # The file exists and is migrated: the loop's own connection never waits.
        self._inline = self._connect(busy_timeout=0.0)
        if self._poll_interval > 0:
            self._watcher = asyncio.create_task(self._watch(), name=f"{self!r} watcher")
        self._checkpointer = asyncio.create_task(self._checkpoint(),
                                                 name=f"{self!r} checkpointer")
        self._forget_clock = self.clock.on_advance(self._clock_advanced)

    def _connect(self, busy_timeout: float) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, timeout=busy_timeout, isolation_level=None,
                               cached_statements=256)
        try:
            # Only a file without tables takes it (before WAL mode writes the header).
            conn.execute(f"PRAGMA page_size = {self._page_size}")
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            _enter_wal_mode(conn, busy_timeout)
            # Validated against _SYNCHRONOUS: PRAGMA values cannot be bound.
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            conn.execute("PRAGMA temp_store = MEMORY")
            # 8 MB of pages per connection: the hot pages of a draining hub fit, and
            # the worker's memory stays bounded however large the hub grows.
            conn.execute("PRAGMA cache_size = -8000")
            # No commit pays for a checkpoint: the checkpointer task does them.
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            conn.execute("PRAGMA journal_size_limit = -1")
        except BaseException:
            conn.close()
            raise
        if self._identity is None:
            self._identity = file_identity(self._path)
        return conn

    def _check_file(self) -> None:
        """Refuse writes from now on if the hub file was deleted or replaced while open.

        A stat is a microsecond or two: it runs once a second (checkpointer)
        and before each start, not per step.
        """
        if self._identity is not None and self._gone is None \
                and file_replaced(self._path, self._identity):
            self._gone = HUB_FILE_GONE
            logger.error("%s: %s; refusing writes", self.url, self._gone)

    def _open_sync(self) -> None:
        if self._path != ":memory:":  # "created on first use" includes its folder
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            if Path(self._path).is_dir():  # SQLite would only say "unable to open database file"
                raise IsADirectoryError(errno.EISDIR, "Is a directory", self._path)
        conn = self._connect(self._busy_timeout)
        try:
            apply_migrations(load_migrations(MIGRATIONS), _Migrating(conn))
            (self._file_page_size,) = conn.execute("PRAGMA page_size").fetchone()
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    async def close(self) -> None:
        if self._forget_clock is not None:
            self._forget_clock()
            self._forget_clock = None
        for task in (self._watcher, self._checkpointer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._watcher = self._checkpointer = None
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        if self._executor is None:
            return
        try:
            await self._run(self._close_sync)
        finally:
            self._executor.shutdown(wait=False)
            self._executor = None

    def _close_sync(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _checkpoint(self) -> None:
        """Copy the write-ahead log into the database file, off the event loop.

        SQLite's automatic checkpoint runs inside whichever commit crosses its
        threshold: that commit (on the event loop) then waits for a thousand
        pages to be written and synced, which showed as 15 ms stalls every few
        dozen steps. Here a passive checkpoint (which never blocks writers)
        runs on the database thread once a second while there are writes, and
        quiet rounds cut a log file that outgrew its limit back to nothing
        (see :meth:`_cut_back_sync`).
        """
        seen = self._writes
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL)
            self._check_file()
            if self._writes == seen:
                self._checkpointed = time.monotonic()
                if self._wal_file_size() <= WAL_SIZE_LIMIT:
                    continue
                work: Callable[[sqlite3.Connection], object] = self._cut_back_sync
            else:
                seen = self._writes
                work = partial(self._checkpoint_sync, mode=self._checkpoint_mode())
            try:
                await self._run(self._call, work)
                self._checkpointed = time.monotonic()
            except sqlite3.Error:  # e.g. a busy file; the next round retries
                logger.warning("checkpointing %s failed", self.url, exc_info=True)

    def _checkpoint_sync(self, conn: sqlite3.Connection, mode: str) -> bool:
        """``PRAGMA wal_checkpoint(mode)`` on ``conn``: whether it copied the whole log.

        Notes whether it left part of a long log behind (see :meth:`_checkpoint_mode`).
        """
        row = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        if row is None:
            return False
        # (busy, frames in the log, frames copied); busy and -1s when another
        # connection was checkpointing, or there is no log.
        busy, frames, copied = row
        self._log_outgrown = copied < frames and frames * self._file_page_size > WAL_SIZE_LIMIT
        return not busy and copied == frames

    def _cut_back_sync(self, conn: sqlite3.Connection) -> None:
        """Cut a log file that outgrew its limit back to nothing, once the hub is quiet.

        Only when a passive checkpoint reached the log's end (no other process
        wrote meanwhile): TRUNCATE then has nothing left to copy, and holds off
        writers only while it waits for readers.
        """
        if self._checkpoint_sync(conn, "PASSIVE"):
            self._checkpoint_sync(conn, "TRUNCATE")

    def _wal_file_size(self) -> int:
        """Bytes of the write-ahead log file (0 when there is none, or in memory)."""
        try:
            return os.path.getsize(self._path + "-wal")
        except OSError:
            return 0

    def _checkpoint_mode(self) -> str:
        """PASSIVE (never blocks a writer), or RESTART once the log outgrew its limit.

        While other processes write too, a passive checkpoint never reaches the
        end of the log, so the log is never started afresh and grows without
        bound (and every read searches a longer log index). RESTART waits for
        the writers in flight and makes the next writer start the log anew.
        So RESTART once a checkpoint left part of a log longer than the limit
        uncopied: the log's length, not its file's, which keeps its size once
        the log starts afresh.
        """
        return "RESTART" if self._log_outgrown else "PASSIVE"

    def _keep_log_short(self) -> None:
        """After an inline write: checkpoint for the checkpointer task if it is starved.

        A caller writing in a loop that never yields (back-to-back starts)
        keeps the task from running. The bulk of the checkpoint (copying the
        log and syncing it) then goes to the database thread, beside the
        writes; once it is done, the next write copies inline only what was
        written meanwhile, so that the write after it starts the log afresh.
        Inline, the whole checkpoint stalled the writer 250 ms every few
        seconds and starts ran 25% slower.
        """
        starved = self._starved_checkpoint
        if starved is not None:
            if starved.done():
                self._starved_checkpoint = None
                if starved.exception() is not None:
                    logger.warning("checkpointing %s failed", self.url,
                                   exc_info=starved.exception())
                self._checkpoint_inline()
        elif time.monotonic() - self._checkpointed > STARVED_CHECKPOINT \
                and self._executor is not None:
            self._checkpointed = time.monotonic()
            self._starved_checkpoint = self._executor.submit(
                self._call, self._checkpoint_sync, "PASSIVE")

    def _checkpoint_inline(self) -> None:
        """Checkpoint on the loop's own connection.

        Between two writes of this connection nothing else writes here, so the
        checkpoint reaches the end of the log and the next write starts it afresh.
        """
        assert self._inline is not None
        self._checkpointed = time.monotonic()
        try:
            self._checkpoint_sync(self._inline, self._checkpoint_mode())
        except sqlite3.Error:  # e.g. a busy file; the next starved write retries
            logger.warning("checkpointing %s failed", self.url, exc_info=True)

    async def _watch(self) -> None:
        """Wake this process's waiters when another process commits.

        ``PRAGMA data_version`` changes when any other connection commits, and
        costs no I/O to read, so polling it is cheap.
        """
        last: int | None = None
        while True:
            try:
                version: int | None = await self._read(ops.data_version)
            except sqlite3.Error:  # e.g. a busy file; the next poll retries
                logger.warning("polling %s failed", self.url, exc_info=True)
                version = last
            if last is not None and version != last:
                self._signals.notify_all()
            last = version
            await asyncio.sleep(self._poll_interval)

    # --- client side ------------------------------------------------------------

    async def create_instance(self, new: base.NewInstance) -> None:
        self._check_file()
        now = self.clock.now_us()
        lease = self._start_lease(new, now) if new.on_conflict is None else None
        message_id = await self._write(ops.create_instance, new, now, lease)
        if message_id is None:  # on_conflict was sent instead
            self._work_added()
            return
        self._signals.notify_instances((new.instance_id,))
        if lease is None:
            self._work_added()
            return
        if lease.taker.take(started_item(new, lease, now, message_id)):
            self._signals.notify("orchestration")  # the taker's loop, waiting for work
        else:  # it stopped while a busy file kept the start waiting
            await self.release_orchestration(new.instance_id, lease.lock_token)

    async def get_instance(self, instance_id: str) -> base.InstanceRecord | None:
        return await self._read(ops.get_instance, instance_id)

    async def get_history(self, instance_id: str) -> list[HistoryEvent]:
        return await self._read(ops.get_history, instance_id)

    async def get_histories(self, instance_ids: Sequence[str]) -> dict[str, list[HistoryEvent]]:
        return await self._read(ops.get_histories, list(instance_ids))

    async def query_instances(self, query: base.InstanceQuery) -> base.InstancePage:
        check_query(query)
        rows, token = await self._read(ops.query_instances, query)
        return base.InstancePage(rows, token)

    async def count_instances(self, query: base.InstanceQuery,
                              bound: int) -> list[base.StatusCount]:
        check_count_bound(bound)
        return await self._read(ops.count_instances, query, bound)

    async def get_generations(self, instance_id: str) -> list[base.Generation]:
        return await self._read(ops.get_generations, instance_id)

    async def send_message(
        self, message: base.Message, *, operation: str,
        allowed: Collection[OrchestrationRuntimeStatus],
    ) -> None:
        now = self.clock.now_us()
        await self._write(ops.send_message, message, operation, frozenset(allowed), now)
        self._work_added(message.visible_at is None or to_us(message.visible_at) <= now)

    async def purge_instance(self, instance_id: str) -> bool:
        purged = await self._write(ops.purge_instance, instance_id)
        if purged:  # a waiter on a purged instance should find out it is gone
            self._signals.notify_instances((instance_id,))
        return purged

    async def delete_idle_entity(self, instance_id: str, custom_status: str | None) -> bool:
        deleted = await self._write(ops.delete_idle_entity, instance_id, custom_status)
        if deleted:
            self._signals.notify_instances((instance_id,))
        return deleted

    async def purge_instances(
        self, created_from: datetime | None, created_to: datetime | None,
        statuses: Collection[OrchestrationRuntimeStatus] | None, batch_size: int = 500,
    ) -> int:
        return await purge_in_batches(created_from, created_to, statuses, batch_size,
                                      partial(self._write, ops.purge_batch),
                                      self._signals.notify_instances)

    async def register_functions(self, orchestrators: Sequence[str],
                                 activities: Sequence[str]) -> None:
        await self._write(ops.register_functions, list(orchestrators), list(activities),
                          self.clock.now_us())

    async def known_orchestrators(self) -> set[str]:
        return await self._read(ops.known_orchestrators)

    async def hub_stats(self, cap: int = base.HUB_STATS_CAP) -> base.HubStats:
        return await self._read(stats.hub_stats, self.clock.now_us(), cap)

    # --- worker side ------------------------------------------------------------

    async def claim_orchestrations(
        self, worker_id: str, limit: int, lease_seconds: float, backlog: int | None = None,
        versions: base.VersionFilter | None = None,
    ) -> list[base.OrchestrationWorkItem]:
        if limit < 1:
            return []
        now = self.clock.now_us()
        # An idle worker claims after every commit and every wake-up: most such
        # claims find nothing, and a read says so without taking the write lock
        # (and tells next_wakeup what the worker asks next). A write here that
        # queued claimable work makes the look needless.
        if self._work_queued:
            self._work_queued = False
        elif self._still_quiet(now):
            return []
        else:
            before = ops.data_version(self._inline) if self._inline is not None else None
            outlook = await self._read(ops.claim_outlook, now)
            if not outlook.claimable:
                read_at = time.monotonic()
                self._idle = _IdleLook(outlook.next_due, self._writes, read_at)
                if not outlook.visible and before is not None:
                    self._quiet = _QuietHub(before, outlook.next_due, read_at)
                return []
        return await self._lease_write(ops.claim_orchestrations, worker_id, limit,
                                       seconds_to_us(lease_seconds), now,
                                       limit if backlog is None else backlog, versions)

    async def commit_steps(self, steps: Sequence[base.StepCommit]) -> list[bool]:
        applied, _ = await self._commit(steps, None)
        return applied

    async def commit_steps_and_claim(
        self, steps: Sequence[base.StepCommit], worker_id: str, limit: int, lease_seconds: float,
    ) -> tuple[list[bool], list[base.ActivityWorkItem]]:
        return await self._commit(steps, task_lease(worker_id, limit, lease_seconds))

    commits_unclaimed_steps = True

    async def commit_unclaimed_steps(
        self, steps: Sequence[base.UnclaimedStep], worker_id: str, limit: int,
        lease_seconds: float,
    ) -> tuple[list[bool], list[base.ActivityWorkItem]]:
        return await self._commit(steps, task_lease(worker_id, limit, lease_seconds),
                                  ops.commit_unclaimed_steps, releases=False)

    async def _commit(self, steps: Sequence[Any], lease: TaskLease | None,
                      transition: Callable[..., tuple[CommitPlan, list[base.ActivityWorkItem]]]
                      = ops.commit_steps, releases: bool = True,
                      ) -> tuple[list[bool], list[base.ActivityWorkItem]]:
        """Commit ``steps`` by ``transition``; ``releases``: applied steps give up leases
        (steps run without a claim held none, on instances with nothing visible)."""
        if not steps:
            return [], []
        now = self.clock.now_us()
        outcome, taken = await self._write(transition, steps, now, lease)
        # A claim that took less than its limit took every claimable task.
        if outcome.tasks_added and (lease is None or len(taken) >= lease[1]):
            self._signals.notify("activity")
        # Applied steps release leases: messages that arrived meanwhile become
        # claimable (if any did: the claim's look finds out).
        if outcome.messages_added:
            self._work_added(bool(outcome.starts) or any(
                visible is None or visible <= now for _, _, visible, _ in outcome.messages))
        elif releases and any(outcome.applied):
            self._signals.notify("orchestration")
        if outcome.changed:
            self._signals.notify_instances(outcome.changed)
        return outcome.applied, taken

    async def park_instance(self, instance_id: str, lock_token: str,
                            failure: FailureDetails) -> bool:
        return await self._write(ops.park_instance, instance_id, lock_token, failure,
                                 self.clock.now_us())

    async def unpark_instance(self, instance_id: str) -> bool:
        unparked = await self._write(ops.unpark_instance, instance_id)
        if unparked:
            self._work_added()
        return unparked

    async def unpark_instances(self) -> int:
        count = await self._write(ops.unpark_instances)
        if count:
            self._work_added()
        return count

    async def release_orchestration(self, instance_id: str, lock_token: str) -> None:
        if await self._lease_write(ops.release_orchestration, instance_id, lock_token):
            self._work_added()

    async def claim_activities(
        self, worker_id: str, limit: int, lease_seconds: float,
    ) -> list[base.ActivityWorkItem]:
        if limit < 1:
            return []
        return await self._lease_write(ops.claim_activities, worker_id, limit,
                                 seconds_to_us(lease_seconds), self.clock.now_us())

    async def complete_activities(self, results: Sequence[base.ActivityResult]) -> list[bool]:
        if not results:
            return []
        applied = await self._write(ops.complete_activities, results, self.clock.now_us())
        if any(applied):
            self._work_added()
        return applied

    async def complete_activities_and_claim(
        self, results: Sequence[base.ActivityResult], worker_id: str, lease_seconds: float,
        versions: base.VersionFilter | None = None,
    ) -> tuple[list[bool], list[base.OrchestrationWorkItem]]:
        if not results:
            return [], []
        applied, items = await self._write(ops.complete_and_claim, results, worker_id,
                                           seconds_to_us(lease_seconds), self.clock.now_us(),
                                           versions)
        if sum(applied) > len(base.handed_over_tasks(items)):  # some went to inboxes
            self._work_added()
        return applied, items

    async def renew_activity_leases(
        self, items: Sequence[tuple[int, str]], lease_seconds: float,
    ) -> None:
        if items:
            await self._lease_write(ops.renew_activity_leases, items,
                              self.clock.now_us() + seconds_to_us(lease_seconds))

    async def next_wakeup(self) -> datetime | None:
        # Right after a claim found nothing (a worker going idle asks at once),
        # its look read the answer: it holds if nothing was written here since,
        # and only for a moment (another process may write meanwhile).
        idle, self._idle = self._idle, None
        if idle is not None and idle.writes == self._writes \
                and time.monotonic() - idle.read_at < IDLE_OUTLOOK_SECONDS:
            value = idle.next_due
        else:
            value = await self._read(ops.next_wakeup, self.clock.now_us())
        return None if value is None else from_us(value)

    def _work_added(self, claimable: bool = True) -> None:
        """A write here queued messages (``claimable``: visible now) or gave a lease up
        on some: wake the workers, and if a claim can take them at once, let it skip
        its look."""
        self._work_queued = self._work_queued or claimable
        self._quiet = None
        self._signals.notify("orchestration")

    def _clock_advanced(self) -> None:
        """Leases may have expired and timers fallen due at once (a test's clock)."""
        self._quiet = None
        self._signals.notify_work()

    def _still_quiet(self, now: int) -> bool:
        """Whether the last look that found no visible message still answers a claim:
        since it, nothing was queued or released here, no other connection committed,
        no timer fell due, and little time passed. A start handed over to a worker
        here keeps it (that worker's step consumes the message, or gives it up)."""
        quiet = self._quiet
        if quiet is None or self._inline is None:
            return False
        if time.monotonic() - quiet.read_at >= QUIET_SECONDS \
                or (quiet.next_due is not None and now >= quiet.next_due) \
                or ops.data_version(self._inline) != quiet.data_version:
            self._quiet = None
            return False
        # What the worker asks next: the same look's answer.
        self._idle = _IdleLook(quiet.next_due, self._writes, time.monotonic())
        return True


class _QuietHub(NamedTuple):
    """A claim's look that found no message visible at all, leased or not: until a
    message is queued (here, or by another connection) or falls due, no claim can
    find work (see ``SqliteStore._still_quiet``)."""

    #: ``PRAGMA data_version`` of the loop's connection, read before the look.
    data_version: int
    #: The earliest future ``visible_at`` then.
    next_due: int | None
    #: ``time.monotonic()`` then.
    read_at: float


class _IdleLook(NamedTuple):
    """What an empty claim's look read of the next wake-up, and when."""

    next_due: int | None
    #: ``SqliteStore._writes`` then: a write here since makes it stale.
    writes: int
    #: ``time.monotonic()`` then.
    read_at: float


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    """True when SQLite refused because another connection holds a lock."""
    return getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) \
        or "locked" in str(exc)


#: Seconds between two tries to enter WAL mode while another process creates the file.
WAL_RETRY = 0.01


def _enter_wal_mode(conn: sqlite3.Connection, busy_timeout: float) -> None:
    """``PRAGMA journal_mode = WAL``, waiting up to ``busy_timeout`` for its lock.

    While another process is creating the file, SQLite may refuse the change
    at once, without calling the busy handler: two processes opening a new hub
    together failed one open in about forty.
    """
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(WAL_RETRY)


def _transaction(conn: sqlite3.Connection, relaxed: bool, fn: Callable[..., T],
                 *args: Any) -> T:
    """``fn(conn, *args)`` inside ``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error.

    ``relaxed`` commits at ``synchronous=NORMAL`` on a ``FULL`` connection (the
    level can only change between transactions).
    """
    if relaxed:
        conn.execute("PRAGMA synchronous = NORMAL")
        try:
            return _transaction(conn, False, fn, *args)
        finally:
            conn.execute("PRAGMA synchronous = FULL")
    # IMMEDIATE takes the write lock up front: a deferred transaction that
    # read first could not upgrade to a writer without a busy error.
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn, *args)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


def _open_reason(exc: sqlite3.Error | OSError) -> str:
    """Why opening failed, without the ``[Errno N]`` noise of an OSError."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc)


class _Migrating:
    """The SQLite glue of :func:`~perdure.store.migrate.apply_migrations`.

    ``BEGIN IMMEDIATE`` takes the write lock, so two processes opening a new
    file at once cannot both migrate it.
    """

    label = "SQLite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def installed_version(self) -> int | None:
        try:
            (version,) = self._conn.execute(SQL.schema_version).fetchone()
        except sqlite3.OperationalError:  # no table yet: a new file
            return None
        return cast(int, version)

    @contextlib.contextmanager
    def migrating(self) -> Iterator[None]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(SQL.create_schema_version)
            yield
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def execute(self, statement: str) -> None:
        self._conn.execute(statement)

    def record(self, migration: Migration) -> None:
        self._conn.execute(SQL.record_migration, (migration.version, migration.name, now_us()))
