"""Wake-ups for the PostgreSQL task hub: who learns of a commit, and when.

The store is a plain ``SKIP LOCKED`` queue: any worker that claims finds the
work, whenever it looks. Wake-ups only spare it the looking. The store tells
its :class:`StoreWakeups` what happened (an instance started, a message was
delivered, steps committed) and asks it before a claim; one of two
implementations answers:

* :class:`NullWakeups`: no ``LISTEN/NOTIFY``. A commit wakes this
  process's waiters; other processes' commits are found by polling, and
  instance waiters learn of them from :class:`~.instances.InstanceCheck`.
* :class:`Wakeups`: the facade over one small piece per mechanism:
  :class:`~.listening.Listener` (``LISTEN`` connections, reconnecting),
  :class:`~.announcing.Announcer` (``NOTIFY`` in batches, after commits),
  :class:`~.registry.Registry` and :class:`~.registry.Targets` (the live
  workers, and which process each wake-up is for), :class:`~.gates.Gates`
  (claims that skip the database while they would find nothing) and
  :class:`~.instances.InstanceCheck` (news a lost ``NOTIFY`` did not bring).
  A wait woken by another process lingers ``coalesce`` seconds, so work
  trickling in is claimed in batches.

Wake-ups are hints: losing one delays work until the next poll, never loses it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from ...base import WorkKind
from ...clock import SYSTEM_CLOCK, Clock
from ...signals import Signals
from .announcing import Announcer
from .channels import Channels
from .gates import KINDS, Gates
from .instances import INSTANCE_CHECK, INSTANCE_CHECK_UNLISTENED, InstanceCheck
from .listening import Listener
from .registry import Registry, Targets

T = TypeVar("T")
Run = Callable[..., Awaitable[Any]]
#: A claim's query: given whether to measure the horizon, the items and the horizon.
Fetch = Callable[[bool], Awaitable[tuple[list[T], float | None]]]


class StoreWakeups(Protocol):
    """What the PostgreSQL store asks of its wake-ups."""

    async def start(self, timeout: float) -> None:
        """Begin (listening, if any); wait up to ``timeout`` for it to be in place."""

    async def stop(self) -> None:
        """Send what is pending and stop every background task."""

    async def worker_seen(self, worker_id: str) -> None:
        """A worker of this process claims (it may now be woken)."""

    def share(self, limit: int) -> int:
        """How many new instances a claim of ``limit`` may take (its share)."""

    async def claim(self, kind: WorkKind, worker_id: str, limit: int, fetch: Fetch[T],
                    held_back: Callable[[list[T]], bool] | None = None) -> list[T]:
        """``fetch``'s items, or ``[]`` without a query when there is surely nothing;
        ``held_back(items)``: whether the claim left work behind on purpose (a
        bound below ``limit``), so that taking less than ``limit`` proves nothing."""

    def activity_room(self, free: int) -> None:
        """This process's worker has ``free`` activity slots."""

    async def next_wakeup(self, read: Callable[[], Awaitable[int | None]]) -> int | None:
        """``read()``'s earliest timer (microseconds), or a copy still known right."""

    def started(self, instance_id: str | None) -> None:
        """A start committed (``instance_id``: a new instance, else a message sent)."""

    def delivered(self, owners: Iterable[str | None]) -> None:
        """Messages reached instances whose last steps ran on ``owners``."""

    def committed(self, changed: Sequence[str], unleased_tasks: int, messages: bool,
                  applied: bool) -> None:
        """Steps committed: ``changed`` instances finished or started, tasks no worker
        holds, messages to other instances, and whether any step was applied."""

    def released(self) -> None:
        """A lease was given up: its instance's messages are claimable."""

    def purged(self, instance_ids: Sequence[str]) -> None:
        """Instances were purged (their waiters should find out)."""

    async def wait_for_work(self, kind: WorkKind, timeout: float) -> None:
        """Return when work of ``kind`` may be ready, or after ``timeout``."""

    async def wait_for_instance(self, instance_id: str, timeout: float,
                                since: float | None = None) -> None:
        """Return when the instance may have changed (since ``since``), or after ``timeout``."""

    def wake_instance_waiters(self) -> None:
        """Wake every instance waiter of this process."""

    def time_moved(self) -> None:
        """The store's clock advanced: leases may have expired and timers fallen due."""


class NullWakeups:
    """Wake-ups without ``LISTEN/NOTIFY``: this process's commits wake its own
    waiters; everything else is found by polling."""

    def __init__(self, run: Run) -> None:
        self.signals = Signals()
        self._check = InstanceCheck(self.signals, run, INSTANCE_CHECK_UNLISTENED)

    async def start(self, timeout: float) -> None:
        return None

    async def stop(self) -> None:
        await self._check.stop()

    async def worker_seen(self, worker_id: str) -> None:
        return None

    def share(self, limit: int) -> int:
        return limit

    async def claim(self, kind: WorkKind, worker_id: str, limit: int, fetch: Fetch[T],
                    held_back: Callable[[list[T]], bool] | None = None) -> list[T]:
        return [] if limit < 1 else (await fetch(False))[0]

    def activity_room(self, free: int) -> None:
        return None

    async def next_wakeup(self, read: Callable[[], Awaitable[int | None]]) -> int | None:
        return await read()

    def started(self, instance_id: str | None) -> None:
        self.signals.notify("orchestration")
        if instance_id is not None:
            self.signals.notify_instances([instance_id])

    def delivered(self, owners: Iterable[str | None]) -> None:
        self.signals.notify("orchestration")

    def committed(self, changed: Sequence[str], unleased_tasks: int, messages: bool,
                  applied: bool) -> None:
        if unleased_tasks > 0:
            self.signals.notify("activity")
        if messages or applied:
            self.signals.notify("orchestration")
        if changed:
            self.signals.notify_instances(changed)

    def released(self) -> None:
        self.signals.notify("orchestration")

    def purged(self, instance_ids: Sequence[str]) -> None:
        if instance_ids:
            self.signals.notify_instances(instance_ids)

    async def wait_for_work(self, kind: WorkKind, timeout: float) -> None:
        await self.signals.wait_for_work(kind, timeout)

    async def wait_for_instance(self, instance_id: str, timeout: float,
                                since: float | None = None) -> None:
        self._check.start()
        await self.signals.wait_for_instance(instance_id, timeout, since)

    def wake_instance_waiters(self) -> None:
        self.signals.wake_instance_waiters()

    def time_moved(self) -> None:
        self.signals.notify_work()


class Wakeups:
    """``LISTEN/NOTIFY`` wake-ups, claim gates and worker registry of one
    PostgreSQL store (one process); ``listen=False`` keeps everything but the
    listening (and so the gates, which rely on it)."""

    def __init__(self, conninfo: str, channels: Channels, run: Run, *, listen: bool,
                 poll_interval: float, coalesce: float, clock: Clock = SYSTEM_CLOCK) -> None:
        self.signals = Signals()
        self._clock = clock
        self.channels = channels
        self._coalesce = coalesce
        self._gates = Gates(poll_interval)
        self._announcer = Announcer(channels, run)
        self._registry = Registry(channels.origin, run)
        self._targets = Targets(self._registry)
        self._check = InstanceCheck(self.signals, run,
                                    INSTANCE_CHECK if listen else INSTANCE_CHECK_UNLISTENED)
        self._listener: Listener | None = None
        self._instance_listener: Listener | None = None
        if listen:
            self._listener = Listener(
                conninfo, [channels.orchestration, channels.activity, channels.direct()],
                self._on_work, self._wake_everything, name="perdure listener")
            # Listened to only once this process waits for an instance; waiters
            # read before it listened, hence a wake-up when it starts.
            self._instance_listener = Listener(
                conninfo, [channels.instances], self._on_instances, self._wake_everything,
                name="perdure instance listener", gap_on_connect=True)
        # When a wake-up from another process first arrived, per kind (coalescing).
        self._remote_since: dict[WorkKind, float] = {}

    @property
    def listening(self) -> bool:
        """Whether this process hears other processes' wake-ups now."""
        return self._listener is not None and self._listener.connected

    # --- lifecycle ------------------------------------------------------------

    async def start(self, timeout: float) -> None:
        """Load the registry and start listening; wait (up to ``timeout``) for LISTEN."""
        await self._registry.refresh()
        if self._listener is not None:
            self._listener.start()
            # Wait for LISTEN, so no commit after open() goes unnoticed; a server
            # that refuses leaves the store polling while the listener retries.
            await self._listener.wait_ready(timeout)

    async def stop(self) -> None:
        """Send pending wake-ups, leave the registry, stop listening."""
        await self._announcer.stop()
        await self._registry.stop()
        for listener in (self._listener, self._instance_listener):
            if listener is not None:
                await listener.stop()
        await self._check.stop()

    # --- claims ---------------------------------------------------------------

    async def worker_seen(self, worker_id: str) -> None:
        """Register a worker of this process (on its first claim) and keep it alive."""
        await self._registry.worker_seen(worker_id)

    def share(self, limit: int) -> int:
        """New work is divided between the live workers: a claim takes at most its
        share of what is not already its own."""
        return self._targets.share(limit)

    async def claim(self, kind: WorkKind, worker_id: str, limit: int, fetch: Fetch[T],
                    held_back: Callable[[list[T]], bool] | None = None) -> list[T]:
        """``fetch(measure)``'s items, or ``[]`` without a query while the gate is
        closed; a claim that took less than ``limit`` took everything there was
        (unless ``held_back(items)``: it left some behind on purpose), and closes
        the gate until its horizon (or a wake-up)."""
        listening = self.listening
        if limit < 1 or (listening and self._gates.is_closed(kind, worker_id)):
            return []
        mark = self._gates.mark(kind)
        items, horizon = await fetch(listening and self._gates.enabled)
        if len(items) < limit and self.listening and not (held_back and held_back(items)):
            # Not if a wake-up arrived while the claim ran (the mark moved):
            # it may be about work the claim did not see.
            self._gates.close(kind, worker_id, mark, horizon)
        return items

    def activity_room(self, free: int) -> None:
        """This process's worker has ``free`` activity slots (its latest claim)."""
        self._targets.activity_room(free)

    async def next_wakeup(self, read: Callable[[], Awaitable[int | None]]) -> int | None:
        """The earliest timer: while LISTEN works, remembered until a wake-up (every
        inbox insert wakes someone) or ``poll_interval``, so an idle worker asks nothing.
        The claim gates open when it falls due."""
        gates = self._gates
        mark = gates.mark("orchestration")
        mono = time.monotonic()
        known, value = gates.timer(self._clock.now_us()) if self.listening else (False, None)
        if not known:
            value = await read()
            if self.listening:
                gates.remember_timer(mark, mono, value)
        if value is not None:
            gates.open_at("orchestration", (value - self._clock.now_us()) / 1e6)
        return value

    # --- what happened ----------------------------------------------------------

    def started(self, instance_id: str | None) -> None:
        """Wake one live worker's process (at random), not every worker to race for
        one instance; any worker may still claim it. With no worker known, all."""
        self._announce(["orchestration"], [] if instance_id is None else [instance_id],
                       {"orchestration": self._targets.any_worker()})

    def delivered(self, owners: Iterable[str | None]) -> None:
        """Each message is for the worker its instance has affinity to: wake that
        worker's process only (none, when it is this one)."""
        self._announce(["orchestration"], (), {"orchestration": self._targets.owners(owners)})

    def committed(self, changed: Sequence[str], unleased_tasks: int, messages: bool,
                  applied: bool) -> None:
        """Tasks no worker holds wake workers, unless this process's worker has the
        room for them. Applied steps release leases: messages that arrived meanwhile
        become claimable, by this process's worker first (affinity); messages to
        other instances are for whichever worker has those."""
        kinds: list[WorkKind] = []
        targets: dict[WorkKind, set[str] | None] = {}
        if unleased_tasks > 0:
            kinds.append("activity")
            if self._targets.take_activity_room(unleased_tasks):
                targets["activity"] = set()
        if messages or applied:
            kinds.append("orchestration")
            if not messages:
                targets["orchestration"] = set()
        self._announce(kinds, changed, targets)

    def released(self) -> None:
        """A released lease's messages are for any worker."""
        self._announce(["orchestration"], (), {})

    def purged(self, instance_ids: Sequence[str]) -> None:
        """A waiter on a purged instance should find out it is gone."""
        self._announce((), instance_ids, {})

    def _announce(self, kinds: Sequence[WorkKind], instance_ids: Sequence[str],
                  targets: dict[WorkKind, set[str] | None]) -> None:
        """Wake this process now, and the processes concerned soon: ``targets`` maps a
        kind to their origins (possibly none: this process only); a kind missing
        from it, or mapped to ``None``, wakes every process."""
        for kind in kinds:
            self._wake(kind)
            self._announcer.work(kind, targets.get(kind))
        if instance_ids:
            self.signals.notify_instances(instance_ids)
            self._announcer.instances(instance_ids)

    # --- waiting --------------------------------------------------------------

    async def wait_for_work(self, kind: WorkKind, timeout: float) -> None:
        """Return when work of ``kind`` may be ready, or after ``timeout`` seconds.

        Woken by another process, it lingers up to ``coalesce`` seconds, so
        that work trickling in (a client starting instances one by one) is
        claimed in batches.
        """
        deadline = time.monotonic() + timeout
        await self.signals.wait_for_work(kind, timeout)
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
        the awaited instances.
        """
        self._check.start()
        listener = self._instance_listener
        if listener is not None:
            if not listener.started:
                listener.start()
            if not listener.ready.is_set():
                started = time.monotonic()
                await listener.wait_ready(timeout)
                timeout = max(0.0, timeout - (time.monotonic() - started))
        await self.signals.wait_for_instance(instance_id, timeout, since)

    def wake_instance_waiters(self) -> None:
        """Wake every instance waiter of this process."""
        self.signals.wake_instance_waiters()

    def time_moved(self) -> None:
        """Open every gate and forget the remembered timer: they were measured on the old clock."""
        for kind in KINDS:
            self._wake(kind)

    # --- hearing ----------------------------------------------------------------

    def _wake(self, kind: WorkKind) -> None:
        """Work of ``kind`` may be ready: open its gates and wake this process's waiters."""
        self._gates.open(kind)
        self.signals.notify(kind)

    def _wake_everything(self) -> None:
        """Wake every waiter of this process (wake-ups may have been lost)."""
        for kind in KINDS:
            self._wake(kind)
        self.signals.notify_all()

    def _on_work(self, channel: str, payload: str) -> None:
        kind = self.channels.work_kind(channel, payload)
        if kind is not None:
            self._remote_since.setdefault(kind, time.monotonic())
            self._wake(kind)

    def _on_instances(self, channel: str, payload: str) -> None:
        ids = self.channels.changed_ids(payload)
        if ids is None:
            self.signals.wake_instance_waiters()
        elif ids:
            self.signals.notify_instances(ids)


__all__ = ["Channels", "NullWakeups", "StoreWakeups", "Wakeups"]
