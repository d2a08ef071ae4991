"""Announcing: ``NOTIFY`` other processes of a commit, in batches, outside the commit.

A transaction that notifies holds a cluster-wide lock through its commit's
WAL flush, which would serialize every commit of every worker; so one
background task sends what accumulated since its last round, in one relaxed
statement, after the commits it announces.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ...base import WorkKind
from .. import transitions as ops
from .channels import KIND_CODES, Channels

logger = logging.getLogger(__name__)

Run = Callable[..., Awaitable[Any]]


class Announcer:
    """The outgoing wake-ups of one process, sent by one background task."""

    def __init__(self, channels: Channels, run: Run) -> None:
        self._channels = channels
        self._run = run
        # Dicts as ordered sets: a wake-up queued twice before a round is sent once.
        self._work: dict[tuple[str, str], None] = {}
        self._instances: dict[str, None] = {}
        self._task: asyncio.Task[None] | None = None

    def work(self, kind: WorkKind, targets: set[str] | None) -> None:
        """Wake the processes ``targets`` (origins) for ``kind``; ``None``: every process."""
        ch = self._channels
        if targets is None:
            self._work[(ch.broadcast(kind), f"{ch.origin}|")] = None
        else:
            for target in targets - {ch.origin}:
                self._work[(ch.direct(target), KIND_CODES[kind])] = None
        self._flush()

    def instances(self, instance_ids: Iterable[str]) -> None:
        """Tell every process that these instances changed status."""
        self._instances.update(dict.fromkeys(instance_ids))
        self._flush()

    async def stop(self) -> None:
        """Wait for the wake-ups queued so far to be sent (or to fail)."""
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(Exception):
                await task

    def _flush(self) -> None:
        if (self._work or self._instances) and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._send())

    async def _send(self) -> None:
        ch = self._channels
        while self._work or self._instances:
            notes = list(self._work)
            notes += [(ch.instances, p) for p in ch.instance_payloads(self._instances)]
            self._work.clear()
            self._instances.clear()
            try:
                await self._run(ops.notify, notes)
            except Exception as exc:  # noqa: BLE001 - a wake-up only: others also poll
                logger.info("could not send wake-ups (%s)", exc)
