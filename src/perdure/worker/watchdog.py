"""A time budget for orchestrator steps, enforced from a watchdog thread.

Orchestrator code runs inline on the worker's event loop (handing each step to
a thread would cost more than the step). Code that never yields —
``while True: pass`` — would then hold the loop, and with it every HTTP
request, every other instance and the SIGTERM handler. :class:`StepWatchdog`
bounds that: the loop marks the start and the end of each step (two attribute
writes and an uncontended lock, nothing else on the hot path), and a thread
that wakes a few times per budget raises :class:`StepTimeout` inside the loop
thread when a step overruns, with ``PyThreadState_SetAsyncExc``. The exception
lands at the next bytecode of the running code; the executor fails the
instance with it, and the loop carries on.

A step blocked inside one C call (``time.sleep``, a socket read) cannot be
interrupted this way: the exception lands when the call returns.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time

log = logging.getLogger(__name__)

_SET_ASYNC_EXC = ctypes.pythonapi.PyThreadState_SetAsyncExc
_SET_ASYNC_EXC.restype = ctypes.c_int


def _set_async_exc(thread_id: int, exc_type: type[BaseException] | None) -> None:
    """Raise ``exc_type`` in thread ``thread_id`` at its next bytecode; ``None``
    withdraws one that has not landed yet (NULL, hence no ``argtypes``)."""
    _SET_ASYNC_EXC(ctypes.c_ulong(thread_id),
                   None if exc_type is None else ctypes.py_object(exc_type))


class StepTimeout(BaseException):
    """Raised inside orchestrator code that did not yield within the step budget.

    A ``BaseException``, so that ``except Exception`` in user code does not
    swallow it. Subclasses made by :class:`StepWatchdog` carry the budget.
    """

    budget: float = 0.0

    def __init__(self, *args: object) -> None:
        super().__init__(*args or (
            f"the orchestrator did not yield within the step time budget of "
            f"{self.budget:g}s (worker option step_timeout, perdure --step-timeout)",))


class StepWatchdog:
    """Interrupts orchestrator steps of the thread that started it after ``budget`` seconds.

    Call :meth:`begin` before the synchronous part of each step and
    :meth:`settle` after it (never across an ``await``: other coroutines run
    meanwhile), inside a ``try`` whose ``except StepTimeout`` settles again:
    the interruption may land in the first instruction of ``settle`` itself.
    ``start``/``stop`` run the watchdog thread.
    """

    def __init__(self, budget: float) -> None:
        if budget <= 0:
            raise ValueError("the step budget must be positive")
        self.budget = budget
        self.timeout_type: type[StepTimeout] = type(
            "StepTimeout", (StepTimeout,), {"budget": budget, "__module__": __name__})
        self._lock = threading.Lock()
        self._started: float | None = None  # monotonic start of the running step
        self._fired_at: float | None = None  # when the running step was interrupted
        self._thread_id = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Watch the calling thread (the worker's event loop thread)."""
        self._thread_id = threading.get_ident()
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="perdure-step-watchdog",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the watchdog thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def settle(self) -> None:
        """End the step; call it again when :class:`StepTimeout` escaped a step.

        An interruption can land anywhere in the step's own bookkeeping, even in
        the first instruction of its exit; this returns only once the step is
        over and no interruption can land any more (the watchdog sends the next
        one at least a check interval later).
        """
        while True:
            try:
                self._end()
                return
            except StepTimeout:
                continue

    def begin(self) -> None:
        """A step starts (on the watched thread)."""
        self._started = time.monotonic()

    def _end(self) -> None:
        # Under the lock: once this returns the watchdog can no longer interrupt
        # this step, and an interruption it sent that has not landed yet is
        # withdrawn, so it never lands in the worker's own code after the step.
        with self._lock:
            self._started = None
            if self._fired_at is not None:
                self._fired_at = None
                _set_async_exc(self._thread_id, None)

    def _watch(self) -> None:
        interval = min(1.0, self.budget / 4)
        while not self._stop.wait(interval):
            with self._lock:
                started, now = self._started, time.monotonic()
                if started is None or now - started < self.budget:
                    continue
                # Again after each interval, in case the code swallowed it (bare except).
                if self._fired_at is None or now - self._fired_at >= interval:
                    self._fired_at = now
                    _set_async_exc(self._thread_id, self.timeout_type)
                    log.warning("an orchestrator step ran %.1fs, over its budget of %gs: "
                                "interrupting it", now - started, self.budget)
