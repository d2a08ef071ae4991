"""The scale-out task hub: PostgreSQL, shared by any number of processes and machines.

Every ``perdure worker`` and ``perdure serve`` process opens a
:class:`PostgresStore` on the same database and schema. Connections come from
an async ``psycopg_pool`` pool (no thread hop); each transition is one
statement or one short transaction (see :mod:`.transitions`;
the SQL is in ``queries.sql``, the schema in numbered migrations under
``migrations/``). Work is claimed in batches with
``FOR UPDATE SKIP LOCKED`` under leases, so a worker never waits on another's
rows; a batch of steps commits as one statement; starts made at the same time
share one commit. An instance stays with the worker that ran its last step
(which holds its state in memory) unless that worker leaves it waiting. Wake-ups
go through ``LISTEN/NOTIFY``, addressed to the process concerned, with polling
as the fallback: the store tells :mod:`.wakeups` what it
committed, and asks it before a claim.

Failures and retries. After a server restart every pooled connection is dead:
a connection is checked (without a round trip) each time it leaves the pool,
and a method whose statement fails because its connection broke is retried
once on a fresh one when that is safe:

* reads and claims always (a claim whose result was lost only delays that
  work until its lease expires);
* ``commit_steps``, ``complete_activities``, ``release_orchestration``,
  ``renew_activity_leases`` and ``register_functions``: the lease check makes
  them idempotent, so a retry after a commit whose acknowledgement was lost
  reports the step as not applied (it was, once) instead of applying it twice;
* ``create_instance``: a retry recognises its own execution id;
* ``purge_instance`` / ``purge_instances``: a retry may report as absent an
  instance the lost commit did purge;
* ``send_message`` is not idempotent (an event would arrive twice), so it is
  retried only when the server certainly rolled it back (a deadlock or
  serialization failure); otherwise the error reaches the caller, who was
  never told the message was accepted.

Deadlocks and serialization failures roll the whole transaction back, so
every method retries them once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Sequence
from datetime import datetime
from functools import partial
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from ...core.entities import is_entity_id
from ...core.errors import InvalidArgumentError, StoreOpenError
from ...core.history import FailureDetails, HistoryEvent
from ...core.status import OrchestrationRuntimeStatus
from .. import base
from ..batcher import Batcher
from ..clock import SYSTEM_CLOCK, Clock
from ..codec import from_us, seconds_to_us, to_us
from ..migrate import Migration, apply_migrations, load_migrations
from ..options import integer_option, seconds_option
from ..plan import CommitPlan, TaskLease, task_lease
from ..rules import check_count_bound, check_query, purge_in_batches
from ..signals import WaitsOnSignals
from ..starts import HandsOverStarts
from . import stats
from . import transitions as ops
from .queries import Queries
from .wakeups import Channels, StoreWakeups, Wakeups

logger = logging.getLogger(__name__)

T = TypeVar("T")
Conn = AsyncConnection[Any]

DEFAULT_SCHEMA = "perdure"
#: First key of the advisory lock that serializes migrations (the second is the schema).
_MIGRATION_LOCK = 0x70657264  # "perd"
#: The numbered schema scripts (see :mod:`perdure.store.migrate`).
MIGRATIONS = resources.files(__package__).joinpath("migrations")
#: SQLSTATEs after which the server has certainly rolled the transaction back.
_ROLLED_BACK = frozenset({"40P01", "40001"})
_OPTIONS = {"schema", "pool_min", "pool_max", "pool_timeout", "poll_interval", "listen",
            "affinity", "coalesce"}
# libpq settings perdure supplies unless the URL gives its own: fail fast on an
# unreachable host, notice a silently dropped peer, and name the sessions.
_LIBPQ_DEFAULTS = {"connect_timeout": "10", "keepalives": "1", "keepalives_idle": "30",
                   "keepalives_interval": "10", "keepalives_count": "3",
                   "application_name": "perdure"}


def parse_postgres_url(url: str) -> tuple[str, dict[str, str]]:
    """Split a ``postgresql://`` URL into a libpq URL and perdure's own options.

    perdure's options (``schema``, ``pool_min``, ``pool_max``, ``pool_timeout``,
    ``poll_interval``, ``listen``) are removed from the query string; any other
    parameter (``sslmode``, ``connect_timeout``...) is left for libpq.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise InvalidArgumentError(
            f"invalid PostgreSQL store URL {url!r}: expected postgresql://user@host/db")
    ours: dict[str, str] = {}
    rest: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in _OPTIONS:
            ours[key] = value
        else:
            rest.append((key, value))
    present = {key for key, _ in rest}
    rest += [(k, v) for k, v in _LIBPQ_DEFAULTS.items() if k not in present]
    return urlunsplit(parts._replace(query=urlencode(rest))), ours


def quote_ident(name: str) -> str:
    """``name`` as a quoted SQL identifier (any text but NUL is allowed)."""
    return '"' + name.replace('"', '""') + '"'


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresStore(HandsOverStarts, WaitsOnSignals):
    """The PostgreSQL task hub at ``url`` (schema created and migrated by :meth:`open`).

    ``url`` is a libpq URL, ``postgresql://user[:password]@host[:port]/db``,
    with optional query parameters of its own:

    * ``schema`` (default ``perdure``): the schema holding this task hub, so
      several hubs can share one database. Created on first use.
    * ``pool_min`` / ``pool_max`` (default 1 / 10): connections kept open /
      at most opened by this process, plus one for ``LISTEN``.
    * ``pool_timeout`` (default 30): seconds a call waits for a connection
      (e.g. while the server restarts) before failing.
    * ``poll_interval`` (default 2.0): while ``LISTEN`` works, the longest an
      idle worker goes without looking for work (expired leases and timers
      are looked for when due; this covers lost notifications). 0 means
      look on every call.
    * ``listen`` (default 1): 0 turns ``LISTEN/NOTIFY`` wake-ups off (for
      poolers in transaction mode); workers then poll.
    * ``affinity`` (default 0.5): seconds an instance with new messages waits
      for the worker that ran its last step (which holds its state in memory)
      before any other worker takes it. 0: any worker, at once.
    * ``coalesce`` (default 0.002): seconds a worker woken by another process
      waits for more work to arrive before it claims (bigger batches).

    Other parameters go to libpq (``sslmode=require``, ``connect_timeout=5``...).
    """

    def __init__(self, url: str, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.url = url
        self.clock = clock
        self._forget_clock: Callable[[], None] | None = None
        self._conninfo, options = parse_postgres_url(url)
        self._schema = options.get("schema", DEFAULT_SCHEMA)
        if not self._schema or "\x00" in self._schema or len(self._schema.encode()) > 63:
            raise InvalidArgumentError(
                f"schema must be 1 to 63 bytes without NUL, got {self._schema!r}")
        self._pool_min = integer_option(options, "pool_min", 1, 0)
        self._pool_max = integer_option(options, "pool_max", 10, 1)
        if self._pool_max < self._pool_min:
            raise InvalidArgumentError("pool_max must be at least pool_min")
        self._pool_timeout = seconds_option(options, "pool_timeout", 30.0, positive=True)
        poll_interval = seconds_option(options, "poll_interval", 2.0)
        listen = options.get("listen", "1") not in ("0", "false", "off", "no")
        self._affinity_us = seconds_to_us(seconds_option(options, "affinity", 0.5))
        coalesce = seconds_option(options, "coalesce", 0.002)
        self._q = Queries.for_schema(quote_ident(self._schema), clock)
        self._channels = Channels.for_schema(self._schema, uuid.uuid4().hex[:12])
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._wakeups: StoreWakeups = Wakeups(
            self._conninfo, self._channels, self._run, listen=listen,
            poll_interval=poll_interval, coalesce=coalesce, clock=clock)
        # Starts made at the same time share one statement and one commit.
        self._starts: Batcher[tuple[base.NewInstance, int], bool | None] = Batcher(
            lambda starts: self._run(ops.create_instances, starts))
        # Reads made at the same time (status polls, waiters) share one statement.
        self._reads: Batcher[str, base.InstanceRecord | None] = Batcher(
            lambda ids: self._run(ops.get_instances, ids))

    @property
    def _waits(self) -> StoreWakeups:
        return self._wakeups

    def __repr__(self) -> str:
        return f"PostgresStore({_redact(self.url)!r})"

    @property
    def schema(self) -> str:
        """The schema holding this task hub."""
        return self._schema

    # --- lifecycle ------------------------------------------------------------

    async def open(self) -> None:
        """Also starts listening (see :mod:`.wakeups`)."""
        if self._pool is not None:
            return
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            self._conninfo, min_size=self._pool_min, max_size=self._pool_max, open=False,
            kwargs={"autocommit": True}, configure=_configure, timeout=self._pool_timeout,
            name=f"perdure:{self._schema}")
        try:
            # A direct connection first: an unreachable server fails here at once,
            # where the pool would retry for pool_timeout.
            await migrate(self._conninfo, self._schema)
            await pool.open(wait=self._pool_min > 0, timeout=self._pool_timeout)
        except psycopg.Error as exc:
            # Unreachable server, unknown database, refused login, no right to
            # create the schema: the URL or the server is wrong, not perdure.
            await pool.close()
            raise StoreOpenError(_redact(self.url), str(exc)) from exc
        self._pool = pool
        await self._wakeups.start(self._pool_timeout)
        self._forget_clock = self.clock.on_advance(self._clock_moved)

    def _clock_moved(self) -> None:
        """Statements read the moved clock from now on; waiters look again."""
        self._q = Queries.for_schema(self._q.schema, self.clock)
        self._wakeups.time_moved()

    async def close(self) -> None:
        """Stops listening first."""
        if self._pool is None:
            return
        if self._forget_clock is not None:
            self._forget_clock()
            self._forget_clock = None
        await self._wakeups.stop()
        pool, self._pool = self._pool, None
        await pool.close()

    # --- plumbing -------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Conn]:
        """A pooled connection, skipping any the server has closed while it sat idle."""
        pool = self._pool
        if pool is None:
            raise RuntimeError(f"{self!r} is not open")
        conn = await pool.getconn()
        while _is_dead(conn):
            await conn.close()
            await pool.putconn(conn)  # discarded; the pool opens a replacement
            conn = await pool.getconn()
        try:
            yield conn
        finally:
            await pool.putconn(conn)

    async def _run(self, fn: Callable[..., Awaitable[T]], *args: Any,
                   idempotent: bool = True) -> T:
        """``fn(conn, queries, *args)`` on a pooled connection, retried once if safe."""
        for attempt in (1, 2):
            conn: Conn | None = None
            try:
                async with self._connection() as conn:
                    return await fn(conn, self._q, *args)
            except ops.UNAVAILABLE as exc:
                raise ops.unavailable(_redact(self.url), exc) from exc
            except psycopg.OperationalError as exc:
                rolled_back = exc.sqlstate in _ROLLED_BACK
                broken = conn is not None and (conn.broken or conn.closed)
                if attempt == 2 or not (rolled_back or (broken and idempotent)):
                    raise
                logger.warning("%s failed (%s); retrying once", getattr(fn, "__name__", fn),
                               exc, extra={"store": _redact(self.url)})
        raise AssertionError("unreachable")

    # --- client side ------------------------------------------------------------

    async def create_instance(self, new: base.NewInstance) -> None:
        """Concurrent starts share one commit; a retry recognises ``new.execution_id``."""
        created_at = self.clock.now_us() if new.created_at is None else to_us(new.created_at)
        # A request to an entity mostly finds it existing: enqueue at once (one
        # transaction) rather than fail a shared insert first.
        created = None if is_entity_id(new.instance_id) else \
            await self._starts.submit((new, created_at))
        if created is None:  # the id is taken: replace a finished instance, or refuse
            created = await self._run(ops.create_instance, new, created_at)
        self._wakeups.started(new.instance_id if created else None)

    async def get_instance(self, instance_id: str) -> base.InstanceRecord | None:
        """Concurrent reads share one statement."""
        return await self._reads.submit(instance_id)

    async def get_history(self, instance_id: str) -> list[HistoryEvent]:
        return await self._run(ops.get_history, instance_id)

    async def get_histories(self, instance_ids: Sequence[str]) -> dict[str, list[HistoryEvent]]:
        return await self._run(ops.get_histories, list(instance_ids))

    async def query_instances(self, query: base.InstanceQuery) -> base.InstancePage:
        check_query(query)
        rows, token = await self._run(ops.query_instances, query)
        return base.InstancePage(rows, token)

    async def count_instances(self, query: base.InstanceQuery,
                              bound: int) -> list[base.StatusCount]:
        check_count_bound(bound)
        return await self._run(ops.count_instances, query, bound)

    async def get_generations(self, instance_id: str) -> list[base.Generation]:
        return await self._run(ops.get_generations, instance_id)

    async def send_message(
        self, message: base.Message, *, operation: str,
        allowed: Collection[OrchestrationRuntimeStatus],
    ) -> None:
        """One statement, not retried after a connection loss (see the module doc)."""
        owner = await self._run(ops.send_message, message, operation, frozenset(allowed),
                                idempotent=False)
        self._wakeups.delivered([owner])

    async def purge_instance(self, instance_id: str) -> bool:
        purged = await self._run(ops.purge_instance, instance_id)
        if purged:
            self._wakeups.purged([instance_id])
        return purged

    async def delete_idle_entity(self, instance_id: str, custom_status: str | None) -> bool:
        deleted = await self._run(ops.delete_idle_entity, instance_id, custom_status)
        if deleted:
            self._wakeups.purged([instance_id])
        return deleted

    async def purge_instances(
        self, created_from: datetime | None, created_to: datetime | None,
        statuses: Collection[OrchestrationRuntimeStatus] | None, batch_size: int = 500,
    ) -> int:
        return await purge_in_batches(created_from, created_to, statuses, batch_size,
                                      partial(self._run, ops.purge_batch), self._wakeups.purged)

    async def register_functions(self, orchestrators: Sequence[str],
                                 activities: Sequence[str]) -> None:
        await self._run(ops.register_functions, list(orchestrators), list(activities))

    async def known_orchestrators(self) -> set[str]:
        return await self._run(ops.known_orchestrators)

    async def hub_stats(self, cap: int = base.HUB_STATS_CAP) -> base.HubStats:
        return await self._run(stats.hub_stats, cap)

    # --- worker side ------------------------------------------------------------

    async def claim_orchestrations(
        self, worker_id: str, limit: int, lease_seconds: float, backlog: int | None = None,
        versions: base.VersionFilter | None = None,
    ) -> list[base.OrchestrationWorkItem]:
        """``SKIP LOCKED``; an instance waits ``affinity`` seconds for its last step's worker."""
        wakeups = self._wakeups
        await wakeups.worker_seen(worker_id)
        bound = limit if backlog is None else max(0, backlog)
        return await wakeups.claim("orchestration", worker_id, limit, lambda measure: self._run(
            ops.claim_orchestrations, worker_id, limit, seconds_to_us(lease_seconds),
            self._affinity_us, measure, wakeups.share(limit), bound, versions),
            None if bound >= limit else lambda items: ops.opened_from_backlog(items) >= bound)

    async def commit_steps(self, steps: Sequence[base.StepCommit]) -> list[bool]:
        applied, _ = await self._commit(steps, None)
        return applied

    async def commit_steps_and_claim(
        self, steps: Sequence[base.StepCommit], worker_id: str, limit: int, lease_seconds: float,
    ) -> tuple[list[bool], list[base.ActivityWorkItem]]:
        """Leases only tasks these steps create (none when a step resets a history or
        starts sub-orchestrations); a retried commit's first leases run once expired."""
        return await self._commit(steps, task_lease(worker_id, limit, lease_seconds))

    commits_unclaimed_steps = True

    async def commit_unclaimed_steps(
        self, steps: Sequence[base.UnclaimedStep], worker_id: str, limit: int,
        lease_seconds: float,
    ) -> tuple[list[bool], list[base.ActivityWorkItem]]:
        """Steps that reset a history or start instances do not apply (by a claim, then)."""
        return await self._commit(steps, task_lease(worker_id, limit, lease_seconds),
                                  ops.commit_unclaimed_steps)

    async def _commit(self, steps: Sequence[Any], lease: TaskLease | None,
                      transition: Callable[..., Awaitable[tuple[CommitPlan,
                                                                list[base.ActivityWorkItem]]]]
                      = ops.commit_steps) -> tuple[list[bool], list[base.ActivityWorkItem]]:
        if not steps:
            return [], []
        plan, taken = await self._run(transition, steps, lease)
        self._wakeups.committed(plan.changed, len(plan.tasks) - len(taken),
                                plan.messages_added, any(plan.applied))
        return plan.applied, taken

    async def park_instance(self, instance_id: str, lock_token: str,
                            failure: FailureDetails) -> bool:
        return await self._run(ops.park_instance, instance_id, lock_token, failure)

    async def unpark_instance(self, instance_id: str) -> bool:
        unparked = await self._run(ops.unpark_instance, instance_id)
        if unparked:
            self._wakeups.released()  # claimable again: open the claim gates
        return unparked

    async def unpark_instances(self) -> int:
        count = await self._run(ops.unpark_instances)
        if count:
            self._wakeups.released()  # they are claimable again: open the claim gates
        return count

    async def release_orchestration(self, instance_id: str, lock_token: str) -> None:
        if await self._run(ops.release_orchestration, instance_id, lock_token):
            self._wakeups.released()

    async def claim_activities(
        self, worker_id: str, limit: int, lease_seconds: float,
    ) -> list[base.ActivityWorkItem]:
        wakeups = self._wakeups
        wakeups.activity_room(limit)  # commits meanwhile may count on it
        items = await wakeups.claim("activity", worker_id, limit, lambda measure: self._run(
            ops.claim_activities, worker_id, limit, seconds_to_us(lease_seconds), measure))
        wakeups.activity_room(limit - len(items))
        return items

    async def complete_activities(self, results: Sequence[base.ActivityResult]) -> list[bool]:
        """One statement."""
        if not results:
            return []
        applied, owners = await self._run(ops.complete_activities, results)
        if any(applied):
            self._wakeups.delivered(owners)
        return applied

    async def complete_activities_and_claim(
        self, results: Sequence[base.ActivityResult], worker_id: str, lease_seconds: float,
        versions: base.VersionFilter | None = None,
    ) -> tuple[list[bool], list[base.OrchestrationWorkItem]]:
        """Hands over nothing: the workers' claims already take the instances in
        one round trip each, woken by LISTEN/NOTIFY."""
        return await self.complete_activities(results), []

    async def renew_activity_leases(
        self, items: Sequence[tuple[int, str]], lease_seconds: float,
    ) -> None:
        if items:
            await self._run(ops.renew_activity_leases, items, seconds_to_us(lease_seconds))

    async def next_wakeup(self) -> datetime | None:
        """Cached while LISTEN works, until a wake-up or ``poll_interval``."""
        value = await self._wakeups.next_wakeup(lambda: self._run(ops.next_wakeup))
        return None if value is None else from_us(value)



# --- helpers -------------------------------------------------------------------


async def _configure(conn: Conn) -> None:
    # Every statement is prepared on first use and planned once, generically:
    # the statements are few and fixed, and a step's commit costs less to run
    # than to plan. A session stuck inside a transaction (its process paused
    # or hung) would hold row locks that claims skip forever; the server ends
    # it instead.
    #
    # A generic plan is made once, from the statistics of that moment, and a
    # task hub's tables are queues: nearly empty when a worker starts, a
    # backlog of thousands a second later. Planned for empty tables, claims
    # and steps would scan whole tables on every call. Every statement here
    # reads rows by an index (a key, or the head of a queue), which is the
    # right plan at any size: sequential scans are ruled out where an index
    # serves.
    #
    # JIT compiling pays off for long analytic queries only; for these it is
    # pure latency (and the disabled scans' cost penalty would trigger it).
    # One round trip (a simple-protocol batch), before statements are prepared.
    await conn.execute("SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off; "
                       "SET jit = off; SET idle_in_transaction_session_timeout = '60s'")
    conn.prepare_threshold = 0


def _is_dead(conn: Conn) -> bool:
    """Whether an idle pooled connection is unusable, without a round trip.

    An idle session receives nothing unless the server is closing it (a
    restart sends ``57P01 admin_shutdown`` and hangs up), so a readable socket
    means the connection is gone.
    """
    if conn.closed or conn.broken:
        return True
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError, psycopg.Error):
        return True
    return bool(readable)


class _Migrating:
    """The PostgreSQL glue of :func:`~perdure.store.migrate.apply_migrations`.

    A transaction-scoped advisory lock serializes concurrent first starts.
    """

    def __init__(self, conn: psycopg.Connection[Any], schema: str) -> None:
        self._conn = conn
        self._schema = schema
        self._qs = quote_ident(schema)
        self.label = f"PostgreSQL (schema {schema})"

    def installed_version(self) -> int | None:
        try:
            row = self._conn.execute(
                f"SELECT coalesce(max(version), 0) FROM {self._qs}.schema_version").fetchone()
        except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
            return None  # a new hub (inside migrating() the table always exists)
        return 0 if row is None else int(row[0])

    @contextlib.contextmanager
    def migrating(self) -> Iterator[None]:
        conn, qs = self._conn, self._qs
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                         (_MIGRATION_LOCK, self._schema))
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {qs}")
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {qs}.schema_version (version integer PRIMARY KEY, "
                "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
            # The scripts name their tables unqualified.
            conn.execute(f"SET LOCAL search_path TO {qs}")
            yield

    def execute(self, statement: str) -> None:
        self._conn.execute(statement)

    def record(self, migration: Migration) -> None:
        self._conn.execute(
            f"INSERT INTO {self._qs}.schema_version (version, name) VALUES (%s, %s)",
            (migration.version, migration.name))


async def migrate(conninfo: str, schema: str) -> int:
    """Create ``schema`` and apply the numbered scripts it lacks; returns the schema version.

    Runs on a worker thread with a synchronous connection (the migration
    runner is synchronous, shared with SQLite).
    """
    def run() -> int:
        with psycopg.Connection.connect(conninfo, autocommit=True) as conn:
            return apply_migrations(load_migrations(MIGRATIONS), _Migrating(conn, schema))
    return await asyncio.to_thread(run)


__all__ = ["DEFAULT_SCHEMA", "PostgresStore", "migrate", "parse_postgres_url",
           "quote_ident"]
