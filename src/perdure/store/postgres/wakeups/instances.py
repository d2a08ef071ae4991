"""The lost-NOTIFY check: a periodic read of which awaited instances finished.

A process that died between its commit and its ``NOTIFY`` leaves waiters
elsewhere uninformed; and without LISTEN this read is the only news.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ...signals import Signals
from .. import transitions as ops

logger = logging.getLogger(__name__)

Run = Callable[..., Awaitable[Any]]

#: How often a process with instance waiters reads which of them finished.
INSTANCE_CHECK = 1.0
#: The same without LISTEN, where it is the only news.
INSTANCE_CHECK_UNLISTENED = 0.1


class InstanceCheck:
    """While instances are awaited: one read per ``interval`` of which of them finished.

    The statement names every awaited instance and compares its
    ``updated_at`` with the server time of the previous check, so it costs
    one round trip per interval however many callers wait.
    """

    def __init__(self, signals: Signals, run: Run, interval: float) -> None:
        self._signals = signals
        self._run = run
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run the check in the background (idempotent; restarted if it ended)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._check(), name="perdure instance checker")

    async def stop(self) -> None:
        """Stop checking."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _check(self) -> None:
        interval = self._interval
        mark: int | None = None  # the server time of the previous check
        while mark is None:
            try:
                _, mark = await self._run(ops.changed_instances, [], None)
            except Exception as exc:  # noqa: BLE001 - e.g. the server restarts
                logger.info("could not start checking awaited instances (%s)", exc)
                await asyncio.sleep(interval)
        while True:
            await asyncio.sleep(interval)
            awaited = self._signals.awaited_instances()
            if not awaited:
                continue  # the old mark stays: changes since then are still reported
            try:
                changed, mark = await self._run(ops.changed_instances, awaited, mark)
            except Exception as exc:  # noqa: BLE001 - a fallback: the next check retries
                logger.info("could not check awaited instances (%s)", exc)
                continue
            self._signals.notify_instances(changed)
