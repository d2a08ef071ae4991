"""Threads for plain (blocking) activity functions, handing results back in batches.

``loop.run_in_executor`` costs a concurrent and an asyncio future, a condition
variable and one wake-up of the event loop (a syscall) per call: for short
activities that is more than the activity itself. :class:`ThreadRunner` keeps
a fixed set of daemon threads fed from one queue; a finished job's callback is
queued for the event loop, which is woken once for everything that finished
meanwhile.

Threads are daemons: a hung activity never keeps the process from exiting (its
lease expires and another worker runs it again).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Job = Callable[[], Any]
Done = Callable[[Any], None]


class ThreadRunner:
    """Runs ``job()`` on up to ``size`` threads and ``done(result)`` on ``loop``.

    ``job`` must not raise (it returns its error as a value); a job that does
    is logged and its ``done`` is not called.
    """

    def __init__(self, size: int, loop: asyncio.AbstractEventLoop,
                 name: str = "perdure-activity") -> None:
        if size < 1:
            raise ValueError("a thread runner needs at least one thread")
        self._size = size
        self._loop = loop
        self._name = name
        self._jobs: queue.SimpleQueue[tuple[Job, Done] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()  # guards the counts and the hand-back
        self._idle = 0  # threads waiting for a job
        self._queued = 0  # jobs no thread has taken yet
        self._finished: deque[tuple[Done, Any]] = deque()
        self._wake_pending = False
        self._closed = False

    def submit(self, job: Job, done: Done) -> None:
        """Queue ``job``; ``done(result)`` runs later on the event loop."""
        if self._closed:
            raise RuntimeError("thread runner is closed")
        with self._lock:
            self._queued += 1
            # A thread per job that would otherwise wait, up to the limit.
            start = self._queued > self._idle and len(self._threads) < self._size
        if start:
            self._start_thread()
        self._jobs.put((job, done))

    def close(self) -> None:
        """Let the threads exit once the jobs queued before are done (does not wait)."""
        self._closed = True
        for _ in self._threads:
            self._jobs.put(None)

    def _start_thread(self) -> None:
        thread = threading.Thread(target=self._work, daemon=True,
                                  name=f"{self._name}-{len(self._threads)}")
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        jobs = self._jobs
        while True:
            with self._lock:
                self._idle += 1
            entry = jobs.get()
            with self._lock:
                self._idle -= 1
                if entry is not None:
                    self._queued -= 1
            if entry is None:
                return
            job, done = entry
            try:
                result = job()
            except BaseException:  # noqa: BLE001 - a broken job must not kill the thread
                log.exception("activity job raised")
                continue
            self._hand_back(done, result)

    def _hand_back(self, done: Done, result: Any) -> None:
        with self._lock:
            self._finished.append((done, result))
            if self._wake_pending:
                return
            self._wake_pending = True
        try:
            self._loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop is closed: the process is shutting down
            pass

    def _drain(self) -> None:
        with self._lock:
            finished, self._finished = self._finished, deque()
            self._wake_pending = False
        for done, result in finished:
            try:
                done(result)
            except Exception:  # noqa: BLE001 - one callback must not lose the others
                log.exception("activity completion callback raised")
