"""Gating: claims that skip the database while they would find nothing.

While LISTEN works, a claim that took less than it asked for took
everything there was, and stays right until a wake-up arrives or a deadline
the claim measured (a lease expiring, a timer falling due, another worker's
affinity running out): until then claims return nothing without a query, so
an idle worker costs nearly nothing. ``poll_interval`` caps every gate, in
case a wake-up was lost. The earliest timer (``next_wakeup``) is remembered
the same way.
"""

from __future__ import annotations

import time
from typing import get_args

from ...base import WorkKind

KINDS: tuple[WorkKind, ...] = get_args(WorkKind)


class Gates:
    """The claim gates of one process, per (kind, worker id): claims differ by
    worker (affinity). Only meaningful while LISTEN works: the caller asks."""

    def __init__(self, poll_interval: float) -> None:
        self._poll_interval = poll_interval
        self._until: dict[tuple[WorkKind, str], float] = {}
        # Wake-ups per kind so far: a claim or read that saw one arrive while
        # it ran may have missed the work it announced, and closes nothing.
        self._wakes = dict.fromkeys(KINDS, 0)
        # next_wakeup's answer: (wakes when read, good until, value).
        self._timer: tuple[int, float, int | None] | None = None

    @property
    def enabled(self) -> bool:
        """Whether gates close at all (``poll_interval`` 0: every claim queries)."""
        return self._poll_interval > 0

    def mark(self, kind: WorkKind) -> int:
        """Taken before a claim, for :meth:`close`."""
        return self._wakes[kind]

    def open(self, kind: WorkKind) -> None:
        """Work of ``kind`` may be ready: open its gates (and forget the timer)."""
        self._wakes[kind] += 1
        for key in [key for key in self._until if key[0] == kind]:
            del self._until[key]

    def is_closed(self, kind: WorkKind, worker_id: str) -> bool:
        """Whether a claim of ``kind`` by ``worker_id`` would find nothing."""
        return time.monotonic() < self._until.get((kind, worker_id), 0.0)

    def close(self, kind: WorkKind, worker_id: str, mark: int, horizon: float | None) -> None:
        """A claim took all there was: close the gate for ``horizon`` seconds (capped
        by ``poll_interval``), unless a wake-up arrived since ``mark``."""
        if self.enabled and self._wakes[kind] == mark:
            wait = self._poll_interval if horizon is None else min(horizon, self._poll_interval)
            self._until[(kind, worker_id)] = time.monotonic() + wait

    def open_at(self, kind: WorkKind, seconds: float) -> None:
        """Make sure the gates of ``kind`` open within ``seconds`` (a timer falls due)."""
        due = time.monotonic() + max(0.0, seconds)
        for key, until in self._until.items():
            if key[0] == kind:
                self._until[key] = min(until, due)

    def timer(self, now_us: int) -> tuple[bool, int | None]:
        """The remembered earliest timer, if still right: ``(known, value)``."""
        cached = self._timer
        if (cached is not None and cached[0] == self._wakes["orchestration"]
                and time.monotonic() < cached[1] and (cached[2] is None or cached[2] > now_us)):
            return True, cached[2]
        return False, None

    def remember_timer(self, mark: int, read_at: float, value: int | None) -> None:
        """Remember the earliest timer read at ``read_at`` (monotonic) after ``mark``,
        until a wake-up or ``poll_interval``."""
        if self._wakes["orchestration"] == mark:
            self._timer = (mark, read_at + self._poll_interval, value)
