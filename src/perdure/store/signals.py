"""In-process wake-ups shared by the task hubs.

A commit in this process wakes this process's workers and waiters at once;
other processes learn of it by polling (SQLite) or LISTEN/NOTIFY (PostgreSQL),
which feed the same :class:`Signals`. All methods run on the store's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from typing import Protocol, get_args

from .base import WorkKind

#: How long news of an instance is remembered for waiters whose read was in flight.
CHANGE_MEMORY = 30.0


class Signals:
    """Edge-triggered wake-ups for work kinds and for news of instances (one
    finished, was created or purged).

    News is also remembered for a while (``time.monotonic()`` of the latest,
    per instance), so that a waiter passing the time it started its read
    (``since``) is not left waiting for news that came while it was reading.
    """

    def __init__(self) -> None:
        self._work: dict[str, asyncio.Event] = {}
        self._instances: dict[str, list[asyncio.Future[None]]] = {}
        self._changed: dict[str, float] = {}
        self._prune_at = 1024
        self._all_changed = float("-inf")

    def _event(self, kind: str) -> asyncio.Event:
        event = self._work.get(kind)
        if event is None:
            event = self._work[kind] = asyncio.Event()
        return event

    def notify(self, kind: WorkKind) -> None:
        """Work of ``kind`` may be ready."""
        self._event(kind).set()

    def notify_work(self) -> None:
        """Work of every kind may be ready (the clock moved: leases expired, timers fell due)."""
        for kind in get_args(WorkKind):
            self._event(kind).set()

    def notify_instances(self, instance_ids: Iterable[str]) -> None:
        """These instances may have finished, been created or purged."""
        now = time.monotonic()
        changed = self._changed
        for instance_id in instance_ids:
            changed[instance_id] = now
            for waiter in self._instances.get(instance_id, ()):
                _release(waiter)
        if len(changed) >= self._prune_at:
            horizon = now - CHANGE_MEMORY
            self._changed = {i: t for i, t in changed.items() if t > horizon}
            self._prune_at = max(1024, 2 * len(self._changed))

    def awaited_instances(self) -> list[str]:
        """The instances someone in this process waits on."""
        return list(self._instances)

    def wake_instance_waiters(self) -> None:
        """Every instance may have changed (news of other processes was lost)."""
        self._all_changed = time.monotonic()
        for waiters in self._instances.values():
            for waiter in waiters:
                _release(waiter)

    def notify_all(self) -> None:
        """Something changed that this process did not see (another process committed).

        Wakes every work waiter and every instance waiter; each re-reads the store.
        """
        self.notify_work()
        self.wake_instance_waiters()

    async def wait_for_work(self, kind: WorkKind, timeout: float) -> None:
        """Wait for a notification of ``kind`` (or ``timeout``), consuming it.

        A notification that arrived since the previous wait returns at once, so
        none is lost between a caller's empty claim and its next wait.
        """
        event = self._event(kind)
        if not event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
        event.clear()

    async def wait_for_instance(self, instance_id: str, timeout: float,
                                since: float | None = None) -> None:
        """Wait until the instance is notified or ``timeout`` passes; at once when
        it was notified at or after ``since`` (a ``time.monotonic()`` reading)."""
        if since is not None and max(self._all_changed,
                                     self._changed.get(instance_id, since - 1)) >= since:
            return
        # A bare future and a timer: thousands of callers may wait at once, and
        # asyncio.wait_for would cost each wait a task of its own.
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        waiters = self._instances.setdefault(instance_id, [])
        waiters.append(waiter)
        timer = loop.call_later(timeout, _release, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            waiters.remove(waiter)
            if not waiters:
                del self._instances[instance_id]


class Waits(Protocol):
    """What a store's waiting methods are answered by: its :class:`Signals`, or the
    PostgreSQL wake-ups that feed them."""

    async def wait_for_work(self, kind: WorkKind, timeout: float) -> None: ...

    async def wait_for_instance(self, instance_id: str, timeout: float,
                                since: float | None = None) -> None: ...

    def wake_instance_waiters(self) -> None: ...


class WaitsOnSignals:
    """The :class:`~perdure.store.base.Store` methods that wait, for both stores:
    answered by the store's ``_waits``."""

    @property
    def _waits(self) -> Waits:
        raise NotImplementedError

    async def wait_for_work(self, kind: WorkKind, timeout: float) -> None:
        await self._waits.wait_for_work(kind, timeout)

    def wake_instance_waiters(self) -> None:
        self._waits.wake_instance_waiters()

    async def wait_for_instance(self, instance_id: str, timeout: float,
                                since: float | None = None) -> None:
        await self._waits.wait_for_instance(instance_id, timeout, since)


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
