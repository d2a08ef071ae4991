"""Wake-ups for the PostgreSQL task hub: LISTEN/NOTIFY, claim gates and the worker registry.

A :class:`Wakeups` belongs to one :class:`~perdure.store.postgres.PostgresStore`
(one process). It keeps the process's :class:`~perdure.store.signals.Signals`
fed, and it keeps idle workers off the database:

* **Listening.** One dedicated connection ``LISTEN``-s on the hub's broadcast
  channels and on this process's own channel, and reconnects with backoff;
  after a reconnect every waiter is woken, since notifications sent meanwhile
  were lost. Instance status changes have a channel of their own, listened to
  (on a second connection) only once this process waits for an instance.
* **Announcing.** After a commit the store calls :meth:`announce`: this
  process's waiters wake at once; other processes get a ``NOTIFY`` sent by one
  background task, in batches, outside the committing transaction (PostgreSQL
  serializes notifying commits on a lock held through the WAL flush).
* **Targeting.** Workers register in the hub's ``workers`` table. The start
  of an instance wakes one live worker's process (at random) rather than
  every worker racing for it; activity results wake the process of the
  worker that ran the instance's last step (its affinity). A targeted wake-up
  goes to that process's own channel, so no other process even receives it;
  work for the local worker wakes no other process at all. Broadcast is the
  fallback when no target is known. A worker not woken still finds the work
  at its next poll.
* **Gating.** While LISTEN works, a claim that took less than it asked for
  took everything there was, and stays right until a wake-up arrives or a
  deadline the claim measured (a lease expiring, a timer falling due, another
  worker's affinity running out): until then claims return nothing without a
  query, so an idle worker costs nearly nothing. ``poll_interval`` caps every
  gate, in case a wake-up was lost.
* **Coalescing.** A wait woken by another process lingers ``coalesce``
  seconds, so work trickling in is claimed in batches.

Wake-ups are hints: losing one delays work until the next poll, never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, get_args

from psycopg import AsyncConnection, sql

from . import postgres_ops as ops
from .base import WorkKind
from .signals import Signals

logger = logging.getLogger(__name__)

KINDS: tuple[WorkKind, ...] = get_args(WorkKind)
#: How often a process refreshes its workers' registry rows.
HEARTBEAT = 5.0
#: A worker not seen for this long is presumed gone (new instances go elsewhere).
WORKER_TTL = 3 * HEARTBEAT
#: How long a process trusts its copy of the registry while it starts instances.
REGISTRY_MAX_AGE = 1.0
#: How often a process with instance waiters reads which of them finished: the
#: fallback for news lost (a process that died between its commit and its
#: NOTIFY), and the only news without LISTEN.
INSTANCE_CHECK = 1.0
INSTANCE_CHECK_UNLISTENED = 0.1

#: A NOTIFY payload must stay under 8000 bytes.
_PAYLOAD_LIMIT = 7000
_KIND_CODES: dict[WorkKind, str] = {"orchestration": "o", "activity": "a"}
_CODE_KINDS: dict[str, WorkKind] = {code: kind for kind, code in _KIND_CODES.items()}

Run = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Channels:
    """The NOTIFY channels of one task hub, and this process's origin tag.

    ``tag`` names the hub (its schema, or a digest of a long or unusual
    name: channel names are identifiers of at most 63 bytes). Broadcast
    payloads start with the origin, so a process skips its own.
    """

    tag: str
    origin: str

    @classmethod
    def for_schema(cls, schema: str, origin: str) -> Channels:
        """The channels of the hub in ``schema``, for the process tagged ``origin``."""
        tag = schema
        if not re.fullmatch(r"[a-z0-9_]{1,24}", schema):
            tag = "h" + hashlib.sha1(schema.encode()).hexdigest()[:16]
        return cls(tag, origin)

    @property
    def orchestration(self) -> str:
        """Broadcast: orchestration work may be ready."""
        return f"perdure_{self.tag}_orch"

    @property
    def activity(self) -> str:
        """Broadcast: activity work may be ready."""
        return f"perdure_{self.tag}_act"

    @property
    def instances(self) -> str:
        """Instances changed status (payload: their ids)."""
        return f"perdure_{self.tag}_inst"

    def direct(self, origin: str | None = None) -> str:
        """The channel of one process (payload: the kind of work)."""
        return f"perdure_{self.tag}_to_{origin or self.origin}"

    def instance_payloads(self, instance_ids: Iterable[str]) -> list[str]:
        """``origin|["id", ...]`` payloads, each under the NOTIFY size limit."""
        payloads: list[str] = []
        batch: list[str] = []
        size = 0
        for instance_id in instance_ids:
            cost = len(instance_id.encode()) * 2 + 8
            if batch and size + cost > _PAYLOAD_LIMIT:
                payloads.append(self._encode(batch))
                batch, size = [], 0
            batch.append(instance_id)
            size += cost
        if batch:
            payloads.append(self._encode(batch))
        return payloads

    def _encode(self, ids: list[str]) -> str:
        return f"{self.origin}|{json.dumps(ids, separators=(',', ':'))}"


class Wakeups:
    """LISTEN/NOTIFY, claim gates and worker registry of one PostgreSQL store."""

    def __init__(self, conninfo: str, channels: Channels, run: Run, *, listen: bool,
                 poll_interval: float, coalesce: float) -> None:
        self.signals = Signals()
        self.channels = channels
        self._conninfo = conninfo
        self._run = run
        self._listen_enabled = listen
        self._poll_interval = poll_interval
        self._coalesce = coalesce
        self._broadcast: dict[str, WorkKind] = {channels.orchestration: "orchestration",
                                                channels.activity: "activity"}
        self._channel_of = {kind: ch for ch, kind in self._broadcast.items()}
        self._listener: asyncio.Task[None] | None = None
        self._instance_listener: asyncio.Task[None] | None = None
        self._instance_checker: asyncio.Task[None] | None = None
        self._instances_ready = asyncio.Event()
        self._instances_ready.set()  # until a listener is started
        self.listening = False
        # Per (kind, worker id): claims differ by worker (affinity).
        self._gate_until: dict[tuple[WorkKind, str], float] = {}
        self._wakes = dict.fromkeys(KINDS, 0)
        self._remote_since: dict[WorkKind, float] = {}
        self._outbox: dict[tuple[str, str], None] = {}
        self._outbox_instances: dict[str, None] = {}
        self._announcer: asyncio.Task[None] | None = None
        self._local_workers: set[str] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._live: dict[str, str] = {}  # worker id -> origin of its process
        self._live_at = -1e9
        self._refresh: asyncio.Task[None] | None = None
        #: Activity slots this process's worker had free at its last claim.
        self.activity_room = 0

    # --- lifecycle ------------------------------------------------------------

    async def start(self, timeout: float) -> None:
        """Load the registry and start listening; wait (up to ``timeout``) for LISTEN."""
        await self._refresh_registry()
        if not self._listen_enabled:
            return
        ready = asyncio.Event()
        channels = [self.channels.orchestration, self.channels.activity, self.channels.direct()]
        self._listener = asyncio.create_task(
            self._listen(channels, ready, self._on_work), name="perdure listener")
        # Wait for LISTEN, so no commit after open() goes unnoticed; a server
        # that refuses leaves the store polling while the listener retries.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready.wait(), timeout)

    async def stop(self) -> None:
        """Send pending wake-ups, leave the registry, stop listening."""
        if self._announcer is not None:
            with contextlib.suppress(Exception):
                await self._announcer
        for task in (self._heartbeat, self._refresh, self._listener, self._instance_listener,
                     self._instance_checker):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._heartbeat = self._refresh = self._listener = self._announcer = None
        self._instance_listener = self._instance_checker = None
        self.listening = False
        if self._local_workers:
            with contextlib.suppress(Exception):  # the rows expire by themselves anyway
                await self._run(ops.unregister_workers, sorted(self._local_workers))
            self._local_workers.clear()

    # --- gates ----------------------------------------------------------------

    def wakes(self, kind: WorkKind) -> int:
        """A counter of wake-ups of ``kind`` (read before a claim, for :meth:`claimed_all`)."""
        return self._wakes[kind]

    def wake(self, kind: WorkKind) -> None:
        """Work of ``kind`` may be ready: open its gate and wake this process's waiters."""
        self._wakes[kind] += 1
        for key in [key for key in self._gate_until if key[0] == kind]:
            del self._gate_until[key]
        self.signals.notify(kind)

    def wake_everything(self) -> None:
        """Wake every waiter of this process (wake-ups may have been lost)."""
        for kind in KINDS:
            self.wake(kind)
        self.signals.notify_all()

    @property
    def gating(self) -> bool:
        """Whether claims close their gate (LISTEN works and gates are on)."""
        return self.listening and self._poll_interval > 0

    def gated(self, kind: WorkKind, worker_id: str) -> bool:
        """Whether a claim of ``kind`` by ``worker_id`` may skip the database and find nothing."""
        return self.listening and time.monotonic() < self._gate_until.get((kind, worker_id), 0.0)

    def claimed_all(self, kind: WorkKind, worker_id: str, wakes_before: int,
                    horizon: float | None) -> None:
        """A claim took all the work there was: close the gate of ``kind`` for
        ``worker_id`` until ``horizon`` seconds (capped by ``poll_interval``).

        Not if a wake-up arrived while the claim ran: it may be about work the
        claim did not see.
        """
        if self.gating and self._wakes[kind] == wakes_before:
            wait = self._poll_interval if horizon is None else min(horizon, self._poll_interval)
            self._gate_until[(kind, worker_id)] = time.monotonic() + wait

    def open_gate_at(self, kind: WorkKind, seconds: float) -> None:
        """Make sure the gates of ``kind`` open within ``seconds`` (a timer falls due)."""
        due = time.monotonic() + max(0.0, seconds)
        for key, until in self._gate_until.items():
            if key[0] == kind:
                self._gate_until[key] = min(until, due)

    # --- waiting --------------------------------------------------------------

    async def wait_for_work(self, kind: WorkKind, timeout: float) -> None:
        """Return when work of ``kind`` may be ready, or after ``timeout`` seconds.

        Woken by another process, it lingers up to ``coalesce`` seconds, so
        that work trickling in (a client starting instances one by one) is
        claimed in batches.
        """
        deadline = time.monotonic() + timeout
        await self.signals.wait(kind, timeout)
        since = self._remote_since.pop(kind, None)
        if since is not None and self._coalesce > 0:
            delay = min(since + self._coalesce, deadline) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    async def wait_for_instance(self, instance_id: str, timeout: float,
                                since: float | None = None) -> None:
        """Return when the instance may have finished, been created or purged (since
        ``since``), or after ``timeout``.

        The first wait of a process starts listening for status changes (and
        waits for that to be in place, within its ``timeout``), and checking
        the awaited instances (:meth:`_check_instances`).
        """
        if self._instance_checker is None or self._instance_checker.done():
            self._instance_checker = asyncio.create_task(self._check_instances(),
                                                         name="perdure instance checker")
        if self._listen_enabled and self._instance_listener is None:
            self._instances_ready = asyncio.Event()
            self._instance_listener = asyncio.create_task(self._listen(
                [self.channels.instances], self._instances_ready, self._on_instances),
                name="perdure instance listener")
        if not self._instances_ready.is_set():
            started = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._instances_ready.wait(), timeout)
            timeout = max(0.0, timeout - (time.monotonic() - started))
        await self.signals.wait_instance(instance_id, timeout, since)

    async def _check_instances(self) -> None:
        """While instances are awaited: one read per interval of which of them finished.

        The statement names every awaited instance and compares its
        ``updated_at`` with the server time of the previous check, so it costs
        one round trip per interval however many callers wait.
        """
        interval = INSTANCE_CHECK if self._listen_enabled else INSTANCE_CHECK_UNLISTENED
        mark: int | None = None  # the server time of the previous check
        while mark is None:
            try:
                _, mark = await self._run(ops.changed_instances, [], None)
            except Exception as exc:  # noqa: BLE001 - e.g. the server restarts
                logger.info("could not start checking awaited instances (%s)", exc)
                await asyncio.sleep(interval)
        while True:
            await asyncio.sleep(interval)
            awaited = self.signals.awaited_instances()
            if not awaited:
                continue  # the old mark stays: changes since then are still reported
            try:
                changed, mark = await self._run(ops.changed_instances, awaited, mark)
            except Exception as exc:  # noqa: BLE001 - a fallback: the next check retries
                logger.info("could not check awaited instances (%s)", exc)
                continue
            self.signals.notify_instances(changed)

    # --- announcing -----------------------------------------------------------

    def announce(self, kinds: Sequence[WorkKind] = (), instance_ids: Sequence[str] = (), *,
                 targets: dict[WorkKind, set[str] | None] | None = None) -> None:
        """After a commit: wake this process now, and the processes concerned soon.

        ``targets`` maps a kind to the origins of the processes to wake (a set,
        possibly empty: only this process), or ``None`` to wake every process.
        A kind missing from ``targets`` wakes every process.
        """
        ch = self.channels
        for kind in kinds:
            self.wake(kind)
            wanted = None if targets is None else targets.get(kind)
            if wanted is None:
                self._outbox[(self._channel_of[kind], f"{ch.origin}|")] = None
            else:
                for target in wanted - {ch.origin}:
                    self._outbox[(ch.direct(target), _KIND_CODES[kind])] = None
        if instance_ids:
            self.signals.notify_instances(instance_ids)
            self._outbox_instances.update(dict.fromkeys(instance_ids))
        if (self._outbox or self._outbox_instances) and (
                self._announcer is None or self._announcer.done()):
            self._announcer = asyncio.create_task(self._send())

    async def _send(self) -> None:
        ch = self.channels
        while self._outbox or self._outbox_instances:
            notes = list(self._outbox)
            notes += [(ch.instances, p) for p in ch.instance_payloads(self._outbox_instances)]
            self._outbox.clear()
            self._outbox_instances.clear()
            try:
                await self._run(ops.notify, notes)
            except Exception as exc:  # noqa: BLE001 - a wake-up only: others also poll
                logger.info("could not send wake-ups (%s)", exc)

    # --- listening ------------------------------------------------------------

    async def _listen(self, channels: list[str], ready: asyncio.Event,
                      handle: Callable[[str, str], None]) -> None:
        """LISTEN on ``channels`` forever, reconnecting with backoff."""
        work = handle == self._on_work
        delay = 0.1
        while True:
            try:
                conn = await AsyncConnection.connect(self._conninfo, autocommit=True)
                async with conn:
                    for channel in channels:
                        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    if work:
                        self.listening = True
                    if ready.is_set() or not work:
                        # A reconnection (what was sent meanwhile is lost), or the
                        # first status listener (waiters read before it listened).
                        self.wake_everything()
                    delay = 0.1
                    ready.set()
                    async for note in conn.notifies():
                        handle(note.channel, note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a listener must outlive its server
                logger.warning("LISTEN connection lost (%s); reconnecting in %.1fs", exc, delay)
            finally:
                if work:
                    self.listening = False
            ready.set()
            self.wake_everything()  # waiters fall back to polling meanwhile
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _on_work(self, channel: str, payload: str) -> None:
        kind = self._broadcast.get(channel)
        if kind is None:  # our own channel: the payload is the kind
            kind = _CODE_KINDS.get(payload)
            if kind is None:
                return
        elif payload.partition("|")[0] == self.channels.origin:
            return  # our own commit: its waiters were woken when it returned
        self._remote_since.setdefault(kind, time.monotonic())
        self.wake(kind)

    def _on_instances(self, channel: str, payload: str) -> None:
        origin, _, rest = payload.partition("|")
        if origin == self.channels.origin:
            return
        try:
            ids = json.loads(rest)
        except ValueError:
            self.signals.notify_every_instance()
        else:
            self.signals.notify_instances(ids)

    # --- worker registry --------------------------------------------------------

    async def worker_seen(self, worker_id: str) -> None:
        """Register a worker of this process (on its first claim) and keep it alive."""
        if worker_id in self._local_workers:
            return
        self._local_workers.add(worker_id)
        self._live[worker_id] = self.channels.origin
        await self._run(ops.register_workers, [worker_id], self.channels.origin)
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._beat(), name="perdure heartbeat")

    def is_local(self, worker_id: str | None) -> bool:
        """Whether ``worker_id`` is a worker of this process."""
        return worker_id in self._local_workers

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            try:
                await self._run(ops.register_workers, sorted(self._local_workers),
                                self.channels.origin)
            except Exception as exc:  # noqa: BLE001 - retried at the next beat
                logger.warning("worker heartbeat failed (%s)", exc)

    def pick_worker(self) -> str | None:
        """A live worker to wake for a new instance (at random), or ``None`` if none is known.

        The registry copy is refreshed in the background when it is older
        than :data:`REGISTRY_MAX_AGE`; a start never waits for it.
        """
        if time.monotonic() - self._live_at > REGISTRY_MAX_AGE and (
                self._refresh is None or self._refresh.done()):
            self._refresh = asyncio.create_task(self._refresh_registry())
        if not self._live:
            return None
        return random.choice(list(self._live))

    def live_workers(self) -> int:
        """How many workers are alive, as last read from the registry (at least ours)."""
        if time.monotonic() - self._live_at > REGISTRY_MAX_AGE and (
                self._refresh is None or self._refresh.done()):
            self._refresh = asyncio.create_task(self._refresh_registry())
        return len(self._live)

    def origins(self, worker_ids: Iterable[str | None]) -> set[str] | None:
        """The processes of these workers, or ``None`` if one of them is unknown."""
        found: set[str] = set()
        for worker_id in worker_ids:
            origin = None if worker_id is None else self._live.get(worker_id)
            if origin is None:
                return None
            found.add(origin)
        return found

    async def _refresh_registry(self) -> None:
        try:
            live = await self._run(ops.live_workers, WORKER_TTL)
        except Exception as exc:  # noqa: BLE001 - an old copy (or none) still works
            logger.info("could not read the worker registry (%s)", exc)
            return
        live.update(dict.fromkeys(self._local_workers, self.channels.origin))
        self._live = live
        self._live_at = time.monotonic()

