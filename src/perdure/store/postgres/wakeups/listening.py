"""Listening: one connection ``LISTEN``-ing on some channels, reconnecting with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from psycopg import AsyncConnection, sql

logger = logging.getLogger(__name__)

#: Reconnection backoff: first and longest delay, in seconds.
_FIRST_DELAY = 0.1
_MAX_DELAY = 5.0


class Listener:
    """``LISTEN`` on ``channels`` on a dedicated connection, forever.

    Every notification goes to ``handle(channel, payload)``. Whenever news
    may have been lost (the connection dropped; it came back, and what was
    sent meanwhile is gone; with ``gap_on_connect``, also its first
    connection, for callers that read state before it listened), it calls
    ``on_gap()``, so that waiters look for themselves.
    """

    def __init__(self, conninfo: str, channels: Sequence[str],
                 handle: Callable[[str, str], None], on_gap: Callable[[], None], *,
                 name: str, gap_on_connect: bool = False) -> None:
        self._conninfo = conninfo
        self._channels = list(channels)
        self._handle = handle
        self._on_gap = on_gap
        self._name = name
        self._gap_on_connect = gap_on_connect
        self._task: asyncio.Task[None] | None = None
        #: Set once the first attempt to listen succeeded or failed.
        self.ready = asyncio.Event()
        #: Whether the connection is listening now.
        self.connected = False

    @property
    def started(self) -> bool:
        """Whether :meth:`start` was called (and :meth:`stop` was not)."""
        return self._task is not None

    def start(self) -> None:
        """Start listening in the background (idempotent)."""
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name=self._name)

    async def wait_ready(self, timeout: float) -> None:
        """Wait up to ``timeout`` for the first attempt to listen to end."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ready.wait(), timeout)

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.connected = False

    async def _listen(self) -> None:
        delay = _FIRST_DELAY
        while True:
            try:
                conn = await AsyncConnection.connect(self._conninfo, autocommit=True)
                async with conn:
                    for channel in self._channels:
                        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    self.connected = True
                    if self.ready.is_set() or self._gap_on_connect:
                        self._on_gap()  # a reconnection: what was sent meanwhile is lost
                    delay = _FIRST_DELAY
                    self.ready.set()
                    async for note in conn.notifies():
                        self._handle(note.channel, note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a listener must outlive its server
                logger.warning("LISTEN connection lost (%s); reconnecting in %.1fs", exc, delay)
            finally:
                self.connected = False
            self.ready.set()
            self._on_gap()  # waiters fall back to polling meanwhile
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_DELAY)
