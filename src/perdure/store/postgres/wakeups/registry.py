"""The worker registry, and targeting: which process to wake for which work.

Workers register in the hub's ``workers`` table (with the origin tag of
their process) on their first claim, and a heartbeat keeps their rows fresh.
The start of an instance wakes one live worker's process (at random) rather
than every worker racing for it; work for the instance's last worker (its
affinity) wakes that worker's process only; work for this process's worker
wakes no other process at all. Broadcast is the fallback when no target is
known. A worker not woken still finds the work at its next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from .. import transitions as ops

logger = logging.getLogger(__name__)

Run = Callable[..., Awaitable[Any]]

#: How often a process refreshes its workers' registry rows.
HEARTBEAT = 5.0
#: A worker not seen for this long is presumed gone (new instances go elsewhere).
WORKER_TTL = 3 * HEARTBEAT
#: How long a process trusts its copy of the registry while it starts instances.
REGISTRY_MAX_AGE = 1.0


class Registry:
    """This process's workers' rows in the registry, and its copy of the live ones."""

    def __init__(self, origin: str, run: Run) -> None:
        self.origin = origin
        self._run = run
        self._local: set[str] = set()
        self._live: dict[str, str] = {}  # worker id -> origin of its process
        self._live_at = -1e9
        self._heartbeat: asyncio.Task[None] | None = None
        self._refresh: asyncio.Task[None] | None = None

    async def worker_seen(self, worker_id: str) -> None:
        """Register a worker of this process (on its first claim) and keep it alive."""
        if worker_id in self._local:
            return
        self._local.add(worker_id)
        self._live[worker_id] = self.origin
        await self._run(ops.register_workers, [worker_id], self.origin)
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._beat(), name="perdure heartbeat")

    def live(self) -> dict[str, str]:
        """The live workers (id -> origin), as last read; refreshed in the background
        when older than :data:`REGISTRY_MAX_AGE` (a caller never waits for it)."""
        if time.monotonic() - self._live_at > REGISTRY_MAX_AGE and (
                self._refresh is None or self._refresh.done()):
            self._refresh = asyncio.create_task(self.refresh())
        return self._live

    def origin_of(self, worker_id: str) -> str | None:
        """The origin of a worker in the last copy read (no refresh), or ``None``."""
        return self._live.get(worker_id)

    async def refresh(self) -> None:
        """Read the live workers now (an old copy, or none, still works if that fails)."""
        try:
            live = await self._run(ops.live_workers, WORKER_TTL)
        except Exception as exc:  # noqa: BLE001 - an old copy (or none) still works
            logger.info("could not read the worker registry (%s)", exc)
            return
        live.update(dict.fromkeys(self._local, self.origin))
        self._live = live
        self._live_at = time.monotonic()

    async def stop(self) -> None:
        """Stop the heartbeat and remove this process's workers from the registry."""
        for task in (self._heartbeat, self._refresh):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._heartbeat = self._refresh = None
        if self._local:
            with contextlib.suppress(Exception):  # the rows expire by themselves anyway
                await self._run(ops.unregister_workers, sorted(self._local))
            self._local.clear()

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            try:
                await self._run(ops.register_workers, sorted(self._local), self.origin)
            except Exception as exc:  # noqa: BLE001 - retried at the next beat
                logger.warning("worker heartbeat failed (%s)", exc)


class Targets:
    """Whom a commit wakes: the processes (origins) of the workers concerned.

    A target is a set of origins (possibly empty: this process only), or
    ``None``: every process (no target is known).
    """

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        # Activity slots this process's worker had free at its last claim.
        self._activity_room = 0

    def any_worker(self) -> set[str] | None:
        """For a new instance: the process of one live worker, at random."""
        live = self._registry.live()
        if not live:
            return None
        return self.owners([random.choice(list(live))])

    def owners(self, worker_ids: Iterable[str | None]) -> set[str] | None:
        """The processes of these workers, or ``None`` if one of them is unknown."""
        found: set[str] = set()
        for worker_id in worker_ids:
            # No refresh: the workers named by affinity ran a step just now.
            origin = None if worker_id is None else self._registry.origin_of(worker_id)
            if origin is None:
                return None
            found.add(origin)
        return found

    def share(self, limit: int) -> int:
        """How much new work a claim of ``limit`` may take: its share among live workers."""
        return -(-limit // max(1, len(self._registry.live())))

    def activity_room(self, free: int) -> None:
        """This process's worker has ``free`` activity slots (as of its latest claim)."""
        self._activity_room = max(0, free)

    def take_activity_room(self, count: int) -> bool:
        """Whether this process's worker will claim ``count`` new tasks itself (it has
        the room), so no other process needs waking; the room is then taken."""
        if count <= self._activity_room:
            self._activity_room -= count
            return True
        return False
