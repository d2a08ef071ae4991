"""The time a task hub runs by: the wall clock, which a test can move forward.

Leases, timers, message visibility and the worker's idle timeouts all read one
:class:`Clock` per store (``store.clock``). In production it is the wall clock
(:data:`SYSTEM_CLOCK`, which never moves). A test gives the store its own
``Clock()`` and calls :meth:`Clock.advance` to make a lease expire or a timer
fall due at once instead of sleeping it out: time keeps flowing, shifted by the
sum of the advances. PostgreSQL reads its clock in SQL (the server's
``statement_timestamp()``); a store there adds the same offset to its statements.

Clocks only move forward, as a paused process experiences it: everything a lease
guards against (another worker taking the work, a stale commit refused) happens
exactly as after a real pause.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ..core.errors import InvalidArgumentError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Clock:
    """The wall clock plus an offset that :meth:`advance` grows.

    Listeners registered with :meth:`on_advance` run on every advance, in the
    caller's thread: stores use them to wake their waiters so that work made due
    by the jump is claimed without waiting for a poll. Advance a clock from the
    event loop of the stores that use it.
    """

    __slots__ = ("_listeners", "_movable", "offset_us")

    def __init__(self, *, movable: bool = True) -> None:
        self.offset_us = 0
        """Microseconds added to the wall clock (the sum of the advances)."""
        self._movable = movable
        self._listeners: list[Callable[[], None]] = []

    def now_us(self) -> int:
        """The current time in integer microseconds since the epoch."""
        return time.time_ns() // 1000 + self.offset_us

    def now(self) -> datetime:
        """The current time as an aware UTC datetime."""
        return _EPOCH + timedelta(microseconds=self.now_us())

    def advance(self, seconds: float | timedelta) -> None:
        """Move the clock forward by ``seconds`` (or a timedelta) and tell the listeners."""
        if not self._movable:
            raise InvalidArgumentError("the system clock cannot be moved; "
                                       "give the store its own Clock()")
        step = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
        if step < timedelta(0):
            raise InvalidArgumentError(f"a clock only moves forward, got {seconds!r}")
        self.offset_us += step // timedelta(microseconds=1)
        for listener in list(self._listeners):
            listener()

    def on_advance(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` after every advance; returns the function that unregisters it."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)
        return remove


SYSTEM_CLOCK = Clock(movable=False)
"""The wall clock: the default of every store. It cannot be advanced."""

__all__ = ["SYSTEM_CLOCK", "Clock"]
