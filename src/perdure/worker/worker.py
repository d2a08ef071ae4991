"""The worker: claims orchestration steps and activity tasks and runs them.

Three loops share one event loop:

* orchestrations: claim a batch of instances with new messages, run each step
  on its executor (kept in memory between steps; rebuilt by replay when it is
  missing or stale), commit the whole batch in one transaction;
* activities: claim tasks up to the concurrency limit and run them (plain
  functions on a few threads, see :mod:`perdure.worker.threads`);
* completions: deliver finished activities in batches, one transaction each.

Loops are woken by the store's signals (in-process commits, LISTEN/NOTIFY) and
fall back to short polling, so nothing waits on a fixed interval when a signal
can wake it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from ..app import App, check_on_nondeterminism
from ..core.entities import EntityId, is_entity_id
from ..core.errors import PerdureError, UnknownFunctionError
from ..core.executor import OrchestrationExecutor
from ..core.history import (
    ExecutionRewound,
    ExecutionStarted,
    FailureDetails,
    HistoryEvent,
    TaskFailed,
)
from ..core.status import OrchestrationRuntimeStatus as Status
from ..core.versions import VersionFailure, VersionMatch
from ..observe import WorkerMetrics, fields, tracing
from ..observe.tracing import SpanRecord
from ..store.base import (
    ActivityResult,
    ActivityWorkItem,
    InboxMessage,
    Message,
    NewInstance,
    OrchestrationWorkItem,
    Store,
    UnclaimedStep,
    handed_over_tasks,
)
from .activity import (
    ActivityClient,
    ActivityContext,
    activity_arguments,
    activity_failed,
    activity_timed_out,
    call_activity,
    is_async_activity,
    run_async_activity,
)
from .cache import ExecutorCache
from .entity_step import entity_step, poison_step
from .observing import activity_outcome, count_activity_start, count_steps, task_fields
from .spans import ActivityRun, activity_run, activity_spans, plan_step
from .step import StepOutcome, build_step, current_events, fail_step, keep_state, rewind_step
from .threads import ThreadRunner
from .versioning import Versioning
from .watchdog import StepTimeout, StepWatchdog

log = logging.getLogger(__name__)

#: The lock token of a work item this worker did not claim (no lease has it): its
#: step commits through :meth:`~perdure.store.base.Store.commit_unclaimed_steps`.
UNCLAIMED = ""

ClientFactory = Callable[[Store, App], ActivityClient]
"""Builds the client a worker hands its activities, from the worker's store and app."""

_client_factory: ClientFactory | None = None


def set_client_factory(factory: ClientFactory) -> None:
    """Set how a :class:`Worker` given no ``client`` builds the one it hands activities.

    The worker layer does not import the client layer, so the composition
    root decides: importing ``perdure`` sets a factory of :class:`perdure.Client`.
    """
    global _client_factory
    _client_factory = factory


@dataclass(slots=True)
class WorkerOptions:
    """Tuning knobs; the defaults suit one machine and a few thousand steps per second.

    ``poll_interval`` only bounds how late an expired lease (a crashed worker's
    work) is noticed: new work wakes the worker through the store's signals.
    ``max_concurrent_activities`` bounds the activities a worker holds at once,
    and each plain one gets a thread of its own, so a worker never claims work
    it cannot start (the rest stays claimable by other workers).
    ``cache_mb`` bounds the estimated memory of the executors kept between
    steps (see :mod:`perdure.worker.cache`; 0 replays every step).
    ``step_timeout`` is the time budget of one orchestrator step (``None``: no
    budget); ``activity_timeout`` bounds each activity attempt unless the
    activity sets its own (``None``, the default: no bound).
    """

    orchestration_batch: int = 200
    activity_batch: int = 200
    max_concurrent_activities: int = 100
    lease_seconds: float = 30.0
    poll_interval: float = 0.5
    max_attempts: int = 10
    cache_mb: float = 32.0
    shutdown_grace: float = 5.0
    step_timeout: float | None = 10.0
    activity_timeout: float | None = None
    version: str | None = None
    """The worker's orchestration version; ``None``: the app's (``App(version=...)``)."""
    version_match: VersionMatch | str | None = None
    """Which instances it runs, by version: ``"current-or-older"`` (the default when
    it has a version), ``"strict"`` or ``"none"`` (all; the default without one)."""
    version_failure: VersionFailure | str | None = None
    """An instance it may not run: ``"leave"`` it unclaimed, or ``"fail"`` it
    (``None``: the app's ``version_failure``, else leave)."""
    on_nondeterminism: str | None = None
    """``"fail"`` or ``"park"``; ``None``: the app's ``on_nondeterminism``."""


#: The longest stop() lets a claim, step or commit in flight finish (or the grace).
_CLAIM_DRAIN = 5.0


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Worker:
    """Runs an :class:`App`'s orchestrators and activities against a task hub.

    Use as ``async with Worker(app, store):`` (opens the store, starts the
    loops, stops them on exit) or ``await worker.start()`` / ``await worker.stop()``.
    """

    def __init__(self, app: App, store: Store, *, options: WorkerOptions | None = None,
                 client: ActivityClient | None = None, worker_id: str | None = None) -> None:
        self.app = app
        self.store = store
        self.options = options or WorkerOptions()
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._client = client
        self._cache = ExecutorCache(int(self.options.cache_mb * 1024 * 1024))
        self._runner: ThreadRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._running: dict[int, str] = {}  # activity id -> lock token, for lease renewal
        # Timed-out plain activities whose thread still runs: they keep their slot.
        self._overdue = 0
        self._watchdog: StepWatchdog | None = None
        self._activity_tasks: set[asyncio.Task[None]] = set()
        self._slot_free = asyncio.Event()
        self._no_activities = asyncio.Event()
        self._results: list[ActivityResult] = []
        # Activity tasks wait for a slot: the backlog of new instances stays closed,
        # so that what is open is bounded by the work in flight (see _orchestration_loop).
        self._tasks_queued = False
        # Results handed over to steps of this worker, by task id, until they commit.
        self._handed: dict[int, ActivityResult] = {}
        # Tasks on their first attempt whose results may step without a claim.
        self._first_runs: set[int] = set()
        # Instances with a step of this worker in flight: one at a time each.
        self._in_flight: set[str] = set()
        self._handover_idle = asyncio.Event()  # no step of handed-over results in flight
        self._handover_idle.set()
        self._results_ready = asyncio.Event()
        self._stopping = False
        self._closed = False  # stopped: results arriving now are not delivered
        # The loops now parked in a wait that stop() may cut short: nothing of
        # theirs is in flight in the store (see _wait).
        self._waiting: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._run_started: dict[int, float] = {}  # activity id -> perf_counter at its start
        self._runs: dict[int, ActivityRun] = {}  # traced activities, until their delivery
        self.metrics = WorkerMetrics(slots_in_use=self._slots_in_use,
                                     slots=self.options.max_concurrent_activities)
        """What this worker has done, read by ``/metrics`` (:mod:`perdure.observe`)."""
        self.versioning = Versioning.of(app, self.options)
        self._claim_filter = self.versioning.claim_filter()
        # Starts of this process handed over while the orchestration loop idles
        # (perdure.store.starts): leased to this worker, run by that loop next.
        self._started: list[OrchestrationWorkItem] = []
        self._claims_idle = False  # the orchestration loop waits for work
        self._start_taker = _StartTaker(self)
        self._parks = check_on_nondeterminism(
            self.options.on_nondeterminism or app.on_nondeterminism) == "park"

    @property
    def client(self) -> ActivityClient:
        """The client handed to activities: the one given, else one built on this
        worker's store by the factory of :func:`set_client_factory`."""
        if self._client is None:
            if _client_factory is None:
                raise PerdureError("this worker was given no client for its activities, and "
                                   "no client factory is set (import perdure, or pass client=)")
            self._client = _client_factory(self.store, self.app)
        return self._client

    # --- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        """Open the store, register the app's functions and start the loops."""
        self._loop = asyncio.get_running_loop()
        await self.store.open()
        await self.store.register_functions(list(self.app.orchestrators),
                                            list(self.app.activities))
        # New code may replay what older code parked: every start retries them once.
        parked = await self.store.unpark_instances()
        if parked:
            log.warning("worker %s retries %d parked instance(s)", self.worker_id, parked)
        self._stopping = self._closed = False
        self._runner = ThreadRunner(self.options.max_concurrent_activities, self._loop)
        if self.options.step_timeout is not None:
            self._watchdog = StepWatchdog(self.options.step_timeout)
            self._watchdog.start()
        for loop_fn in (self._orchestration_loop, self._activity_loop, self._completion_loop,
                        self._renewal_loop):
            self._tasks.append(asyncio.create_task(self._guard(loop_fn), name=loop_fn.__name__))
        self.store.take_starts(self._start_taker)
        log.info("worker %s started", self.worker_id, extra={"worker_id": self.worker_id})

    async def stop(self) -> None:
        """Stop claiming work; give running activities ``shutdown_grace`` seconds to finish.

        Results that arrive in time are delivered; activities still running
        after that keep their leases, which expire so that another worker
        runs them again.
        """
        self._stopping = True
        self.store.stop_taking_starts(self._start_taker)
        claimers = [t for t in self._tasks if t.get_name() in ("_orchestration_loop",
                                                                 "_activity_loop")]
        # Waiting loops stop at once; one inside a claim, step or commit finishes it
        # first. Cancelling a claim in flight could leave what the database gave it
        # leased to a worker that is gone, for a whole lease.
        for task in self._waiting:
            task.cancel()
        if claimers:
            _, unfinished = await asyncio.wait(
                claimers, timeout=max(self.options.shutdown_grace, _CLAIM_DRAIN))
            await _cancel(list(unfinished))
        # Starts handed over that the loop did not get to: claimable again at once.
        started, self._started = self._started, []
        for item in started:
            try:
                await self.store.release_orchestration(item.instance.instance_id,
                                                       item.lock_token)
            except Exception:  # noqa: BLE001 - the lease expires instead
                log.warning("could not release instance %s", item.instance.instance_id,
                            exc_info=True)
        # Steps of handed-over results in flight hold leases too: let them commit.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._handover_idle.wait(), _CLAIM_DRAIN)
        if self._running and self.options.shutdown_grace > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._no_activities.wait(), self.options.shutdown_grace)
        await _cancel(list(self._activity_tasks))
        await _cancel(self._tasks)
        self._tasks.clear()
        self._closed = True
        if self._results:
            await self._flush_results()
        if self._runner is not None:
            self._runner.close()
            self._runner = None
        if self._watchdog is not None:
            self._watchdog.stop()
            self._watchdog = None
        log.info("worker %s stopped", self.worker_id, extra={"worker_id": self.worker_id})

    async def __aenter__(self) -> Worker:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    async def run_forever(self) -> None:
        """Start and run until cancelled."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def _wait(self, waiting: Awaitable[object]) -> None:
        """Await ``waiting`` (an idle wait, no store work in flight) so that stop() can
        cut it short; return at once once stopping."""
        if self._stopping:
            if isinstance(waiting, Coroutine):
                waiting.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._waiting.add(task)
        try:
            await waiting
        finally:
            self._waiting.discard(task)

    async def _guard(self, loop_fn: Any) -> None:
        """Keep a loop alive across store outages: log, back off, carry on."""
        delay = 0.05
        while not self._stopping:
            try:
                await loop_fn()
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a worker must survive a failing store
                log.exception("worker loop %s failed; retrying in %.2fs", loop_fn.__name__, delay)
                await self._wait(asyncio.sleep(delay))
                delay = min(delay * 2, 2.0)

    async def _idle(self, kind: str) -> None:
        timeout = self.options.poll_interval
        if kind != "orchestration":
            await self._wait(self.store.wait_for_work(kind, timeout))  # type: ignore[arg-type]
            return
        due = await self.store.next_wakeup()
        if due is not None:
            timeout = max(0.0, min(timeout, (due - self.store.clock.now()).total_seconds()))
        if self._started:  # handed over while next_wakeup read
            return
        self._claims_idle = True
        try:
            await self._wait(self.store.wait_for_work("orchestration", timeout))
        finally:
            self._claims_idle = False

    # --- orchestrations --------------------------------------------------

    async def _orchestration_loop(self) -> None:
        opts = self.options
        while not self._stopping:
            if self._started:  # leased to this worker by their starts' commits
                items, self._started = self._started, []
                await self._run_batch(items)
                continue
            # New instances from the backlog only as fast as their activities can
            # start: what is open stays bounded by the work in flight, not the backlog.
            items = await self.store.claim_orchestrations(
                self.worker_id, opts.orchestration_batch, opts.lease_seconds,
                backlog=0 if self._stopping or self._tasks_queued else max(0, self._free_slots()),
                versions=self._claim_filter)
            if not items:
                await self._idle("orchestration")
                continue
            await self._run_batch(items)

    def _start_lease(self, new: NewInstance) -> float | None:
        """The lease to take a start of this process for (see :class:`_StartTaker`)."""
        if not self._claims_idle or self._started or self._stopping or self._tasks_queued \
                or self._free_slots() <= 0 or is_entity_id(new.instance_id) \
                or not self.versioning.runs(new.version):
            return None
        return self.options.lease_seconds

    async def _run_batch(self, items: list[OrchestrationWorkItem], claimed: bool = True) -> None:
        """Step every claimed instance, commit the steps in one transaction, start the
        activities they scheduled; hand the results any failed to consume back.

        ``claimed=False``: the items are unclaimed next steps of instances this
        worker stepped last, on handed-over results (see :meth:`_unclaimed_items`),
        committed by :meth:`~perdure.store.base.Store.commit_unclaimed_steps`."""
        busy = [item for item in items if item.instance.instance_id in self._in_flight]
        if busy:  # a step of this worker is in flight for them: after it, by a claim
            items = [item for item in items if item.instance.instance_id not in self._in_flight]
            for item in busy:
                if claimed:
                    await self.store.release_orchestration(item.instance.instance_id,
                                                           item.lock_token)
            self._redeliver(busy)
        stepping = [item.instance.instance_id for item in items]
        self._in_flight.update(stepping)
        try:
            await self._step_batch(items, claimed)
        finally:
            self._in_flight.difference_update(stepping)

    async def _step_batch(self, items: list[OrchestrationWorkItem], claimed: bool) -> None:
        now = self.store.clock.now()
        histories = await self._histories_to_replay(items)
        steps: list[tuple[OrchestrationWorkItem, StepOutcome]] = []
        unconsumed: list[OrchestrationWorkItem] = []  # released or parked
        timing = self.metrics.step_seconds
        tracer = tracing.active()  # None unless an OpenTelemetry SDK is set up
        spans: list[list[SpanRecord]] = []
        for item in items:
            began = time.perf_counter()
            try:
                outcome = await self._step(item, now, histories)
            except Exception:  # noqa: BLE001 - one bad instance must not stop the batch
                inst = item.instance
                log.exception("step of instance %s failed", inst.instance_id,
                              extra=fields(inst.instance_id, inst.execution_id,
                                           orchestrator=inst.name))
                self._cache.pop(item.instance.instance_id)
                unconsumed.append(item)
                if claimed:
                    await self.store.release_orchestration(item.instance.instance_id,
                                                           item.lock_token)
            else:
                if outcome is None:  # parked, nothing to commit
                    unconsumed.append(item)
                else:
                    steps.append((item, outcome))
                    if tracer is not None:
                        spans.append(self._plan_spans(item, outcome, now))
            timing.observe(time.perf_counter() - began)
        # The activities these steps schedule are leased to this worker in the
        # same transaction, up to its free slots, and start at once.
        free = 0 if self._stopping else self._free_slots()
        began = time.perf_counter()
        if claimed:
            applied, tasks = await self.store.commit_steps_and_claim(
                [o.commit for _, o in steps], self.worker_id, free, self.options.lease_seconds)
        else:
            applied, tasks = await self.store.commit_unclaimed_steps(
                [UnclaimedStep(o.commit, item.instance.execution_id, item.instance.history_len,
                               [self._handed[task_id] for task_id in handed_over_tasks([item])])
                 for item, o in steps], self.worker_id, free, self.options.lease_seconds)
        self.metrics.commit_seconds.observe(time.perf_counter() - began)
        scheduled = sum(len(o.commit.activities) for (_, o), ok in zip(steps, applied, strict=True)
                        if ok)
        if scheduled > len(tasks):  # some wait for a slot: open no new instances meanwhile
            self._tasks_queued = True
        for (item, outcome), ok in zip(steps, applied, strict=True):
            self._remember(item, outcome, ok)
            if not ok:
                unconsumed.append(item)
        count_steps(self.metrics, steps, applied, now)
        if not claimed and self._runs:  # their results were delivered by these commits
            done = [self._handed[task_id] for (item, _), ok in zip(steps, applied, strict=True)
                    if ok for task_id in handed_over_tasks([item])]
            self._write_activity_spans(done, [True] * len(done))
        if tracer is not None:
            _write(tracer, [s for plan, ok in zip(spans, applied, strict=True) if ok
                            for s in plan])
        for task in tasks:  # created by this commit, at the steps' time
            task.created_at = task.created_at or now
        self._start_activities(tasks)
        self._redeliver(unconsumed)

    def _redeliver(self, items: list[OrchestrationWorkItem]) -> None:
        """Results handed over to steps that did not commit go to the inboxes instead
        (their tasks are still leased here; were they not, they run again)."""
        for task_id in handed_over_tasks(items):
            result = self._handed.pop(task_id, None)
            if result is not None:
                self._results.append(result)
                self._results_ready.set()

    def _plan_spans(self, item: OrchestrationWorkItem, outcome: StepOutcome,
                    now: datetime) -> list[SpanRecord]:
        cached = self._cache.get(item.instance.instance_id)
        try:
            return plan_step(item, outcome, cached.executor.started if cached else None, now)
        except Exception:  # noqa: BLE001 - tracing must not stop a step
            log.warning("could not plan the spans of a step of instance %s",
                        item.instance.instance_id, exc_info=True)
            return []

    def _remember(self, item: OrchestrationWorkItem, outcome: StepOutcome, applied: bool) -> None:
        instance_id = outcome.commit.instance_id
        # A finished (or continued-as-new) instance's executor goes at once.
        if not applied or not outcome.keep_executor:
            self._cache.pop(instance_id)
            return
        self._cache.committed(instance_id, outcome.history_len, outcome.commit.history,
                              item.instance, outcome.commit.runtime_status)

    def _cached_executor(self, item: OrchestrationWorkItem) -> OrchestrationExecutor | None:
        """The executor kept from this instance's last step here, if it is still current."""
        inst = item.instance
        cached = self._cache.get(inst.instance_id)
        if cached is not None and cached.execution_id == inst.execution_id \
                and cached.history_len == inst.history_len:
            return cached.executor
        return None

    async def _histories_to_replay(self, items: list[OrchestrationWorkItem],
                                   ) -> dict[str, list[HistoryEvent]]:
        """The histories of the batch's instances that have no current executor here
        (their last step ran elsewhere, or long ago), in one read."""
        ids = [item.instance.instance_id for item in items
               if item.instance.history_len and not item.instance.runtime_status.is_terminal
               and self._cached_executor(item) is None]
        return await self.store.get_histories(ids) if ids else {}

    def _executor_for(self, item: OrchestrationWorkItem
                      ) -> tuple[OrchestrationExecutor, bool]:
        """The instance's executor, for a step that will advance it in memory, and
        whether it is new (to be rebuilt from the history before the step)."""
        inst = item.instance
        executor = self._cached_executor(item)
        if executor is not None:
            return executor, False
        return OrchestrationExecutor(self.app.get_orchestrator(inst.name),
                                     inst.instance_id), True

    async def _step(self, item: OrchestrationWorkItem, now: datetime,
                    histories: dict[str, list[HistoryEvent]]) -> StepOutcome | None:
        """The step's outcome to commit; ``None`` when the instance was parked instead."""
        outcome = await self._step_outcome(item, now, histories)
        failure = outcome.commit.failure
        if self._parks and failure is not None and failure.error_type == "NonDeterminismError":
            self._cache.pop(item.instance.instance_id)
            self.metrics.nondeterminism += 1
            await self.store.park_instance(item.instance.instance_id, item.lock_token, failure)
            log.warning("instance %s parked: %s", item.instance.instance_id, failure.message)
            return None
        return outcome

    async def _step_outcome(self, item: OrchestrationWorkItem, now: datetime,
                            histories: dict[str, list[HistoryEvent]]) -> StepOutcome:
        inst = item.instance
        if is_entity_id(inst.instance_id):
            entity = self.app.get_entity(EntityId.parse(inst.instance_id).name)
            commit = poison_step(item) if item.attempts > self.options.max_attempts \
                else entity_step(item, entity, self._watchdog)
            return StepOutcome(commit, 0, keep_executor=False)
        consumed = [m.id for m in item.messages]
        if inst.runtime_status.is_terminal:
            rewind = next((m.event for m in item.messages
                           if isinstance(m.event, ExecutionRewound)), None)
            if rewind is None or inst.runtime_status is not Status.Failed:
                return StepOutcome(keep_state(item, consumed), inst.history_len, False)
            history = await self.store.get_history(inst.instance_id)
            return rewind_step(item, history, now, rewind.reason)
        events = current_events(item)
        if not events:  # only stale messages for an earlier execution: drop them
            return StepOutcome(keep_state(item, consumed), inst.history_len, True)
        mismatch = self.versioning.mismatch(inst.version)
        if mismatch is not None:  # version_failure "fail": claimed only to be failed
            return await self._fail_mismatched(item, events, now, mismatch)
        try:
            executor, fresh = self._executor_for(item)
        except UnknownFunctionError as exc:
            executor = OrchestrationExecutor(lambda ctx: None, inst.instance_id)
            return fail_step(item, executor, now, FailureDetails.from_exception(exc))
        past: list[HistoryEvent] = []
        if fresh and inst.history_len:
            self.metrics.replays += 1
            past = histories.get(inst.instance_id) or \
                await self.store.get_history(inst.instance_id)
        # Until _remember learns that the step committed, the cached entry is
        # stale: if the commit fails, the executor is ahead of the history and
        # the next step rebuilds it from the history instead.
        self._cache.begin_step(inst.instance_id, executor, inst.execution_id, past)
        watchdog = self._watchdog
        if watchdog is None:
            return self._run_step(item, executor, past, events, now)
        watchdog.begin()  # only synchronous code until settle(): user code runs here
        try:
            outcome = self._run_step(item, executor, past, events, now)
            watchdog.settle()
        except StepTimeout as exc:  # it landed outside user code, which would have caught it
            watchdog.settle()
            outcome = fail_step(item, executor, now, FailureDetails.from_exception(exc))
        return outcome

    async def _fail_mismatched(self, item: OrchestrationWorkItem, events: list[HistoryEvent],
                               now: datetime, failure: FailureDetails) -> StepOutcome:
        """Fail an instance of a version this worker may not run, without running its code
        (its parent, if any, learns of the failure)."""
        inst = item.instance
        executor = OrchestrationExecutor(lambda ctx: None, inst.instance_id)
        history = await self.store.get_history(inst.instance_id) if inst.history_len else []
        executor.started = next((e for e in (*history, *events)
                                 if isinstance(e, ExecutionStarted)), None)
        self._cache.pop(inst.instance_id)
        return fail_step(item, executor, now, failure)

    def _run_step(self, item: OrchestrationWorkItem, executor: OrchestrationExecutor,
                  history: list[HistoryEvent], events: list[HistoryEvent],
                  now: datetime) -> StepOutcome:
        """Rebuild the executor from ``history`` (if given), then run the step."""
        if history:
            executor.process(history, replaying=True)
        if item.attempts > self.options.max_attempts:
            failure = FailureDetails(
                "PoisonMessageError",
                f"instance {item.instance.instance_id!r} was claimed {item.attempts} times "
                "without committing a step; giving up")
            return fail_step(item, executor, now, failure)
        return build_step(item, executor, events, now,
                          self.app.orchestrators.__contains__)

    # --- activities ------------------------------------------------------

    async def _activity_loop(self) -> None:
        opts = self.options
        while not self._stopping:
            free = self._free_slots()
            if free <= 0:
                self._slot_free.clear()
                await self._wait(self._slot_free.wait())
                continue
            asked = min(free, opts.activity_batch)
            items = await self.store.claim_activities(self.worker_id, asked, opts.lease_seconds)
            self._tasks_queued = len(items) >= asked  # short of what was asked: none left
            if not items:
                await self._idle("activity")
                continue
            self._start_activities(items)

    def _slots_in_use(self) -> int:
        return len(self._running) + self._overdue

    def _free_slots(self) -> int:
        """Activities this worker may still claim: each one it claims starts at once."""
        return self.options.max_concurrent_activities - len(self._running) - self._overdue

    def _timeout_of(self, name: str) -> float | None:
        return self.app.activity_timeouts.get(name, self.options.activity_timeout)

    def _start_activities(self, items: list[ActivityWorkItem]) -> None:
        if items:
            self._no_activities.clear()
        for item in items:
            self._running[item.id] = item.lock_token
            self._start_activity(item)

    def _start_activity(self, item: ActivityWorkItem) -> None:
        """Run a claimed task: plain functions on the threads, ``async def`` on the loop."""
        task = item.task
        if item.attempts > self.options.max_attempts:
            self.metrics.poison["activity"] += 1
            self._activity_done(item, TaskFailed(task_id=task.task_id, failure=FailureDetails(
                "PoisonMessageError",
                f"activity {task.name!r} was claimed {item.attempts} times without "
                "completing; giving up")))
            return
        try:
            fn = self.app.get_activity(task.name)
        except PerdureError as exc:
            self.metrics.unknown_functions["activity"] += 1
            self._activity_done(item, activity_failed(task, exc))
            return
        count_activity_start(self.metrics, item, self.store.clock.now())
        self._run_started[item.id] = time.perf_counter()
        run = activity_run(task, item.created_at, time.time_ns()) \
            if task.trace_parent is not None and tracing.active() is not None else None
        if run is not None:
            self._runs[item.id] = run
        timeout = self._timeout_of(task.name)
        try:
            is_async = is_async_activity(fn)  # inspects the user's callable
        except Exception as exc:  # noqa: BLE001 - a callable inspect cannot read fails its task
            self._activity_done(item, activity_failed(task, exc))
            return
        if is_async:
            start = functools.partial(asyncio.create_task,
                                      self._run_async_activity(item, fn, timeout))
            # The task copies the current context: the activity runs inside its span.
            running = start() if run is None else tracing.run_inside(run.run_span, start)
            self._activity_tasks.add(running)
            running.add_done_callback(self._activity_tasks.discard)
            return
        try:
            kwargs = activity_arguments(fn, task, lambda: self._activity_context(item))
        except Exception as exc:  # noqa: BLE001 - undecodable input: the task fails
            self._activity_done(item, activity_failed(task, exc))
            return
        assert self._runner is not None
        job = functools.partial(call_activity, fn, task, kwargs)
        if run is not None:
            job = functools.partial(tracing.run_inside, run.run_span, job)
        if timeout is None:
            self._runner.submit(job, functools.partial(self._activity_done, item))
            return
        assert self._loop is not None
        deadline = self._loop.call_later(timeout, self._activity_overran, item, timeout)
        self._runner.submit(job, functools.partial(self._timed_activity_done, item, deadline))

    def _activity_overran(self, item: ActivityWorkItem, timeout: float) -> None:
        """A plain activity ran past its timeout: fail the attempt now.

        Python cannot stop a thread: the function runs on until it returns, its
        result is then discarded, and it keeps its slot (and thread) meanwhile.
        """
        if self._running.get(item.id) != item.lock_token:
            return  # it finished meanwhile
        self._overdue += 1
        log.warning("activity %r of instance %s ran past its timeout of %gs; its thread "
                    "keeps running until the function returns", item.task.name,
                    item.task.instance_id, timeout, extra=task_fields(item.task))
        self._activity_done(item, activity_timed_out(item.task, timeout))

    def _timed_activity_done(self, item: ActivityWorkItem, deadline: asyncio.TimerHandle,
                             event: HistoryEvent) -> None:
        if self._running.get(item.id) == item.lock_token:
            deadline.cancel()
            self._activity_done(item, event)
            return
        self._overdue -= 1  # it overran and was failed already: only the slot is freed
        self._slot_free.set()

    async def _run_async_activity(self, item: ActivityWorkItem, fn: Any,
                                  timeout: float | None) -> None:
        try:
            event = await run_async_activity(fn, item.task,
                                             lambda: self._activity_context(item), timeout)
        except asyncio.CancelledError:  # stopped: the lease expires, another worker reruns it
            self._activity_gone(item)
            self._runs.pop(item.id, None)
            raise
        self._activity_done(item, event)

    def _activity_done(self, item: ActivityWorkItem, event: HistoryEvent) -> None:
        run = self._runs.get(item.id)
        if run is not None:
            run.end_ns = time.time_ns()
            failure = getattr(event, "failure", None)
            run.error = failure.summary() if failure is not None else None
        began = self._run_started.pop(item.id, None)
        if began is not None:  # it ran (not refused as poison or unknown)
            name = item.task.name
            outcome = activity_outcome(event)
            self.metrics.activity_runs[(name, outcome)] += 1
            if outcome != "completed":
                log.info("activity %r of instance %s %s", name, item.task.instance_id,
                         outcome.replace("_", " "), extra=task_fields(item.task))
            self.metrics.activity_seconds[name].observe(time.perf_counter() - began)
        self._activity_gone(item)
        if self._closed:  # after the last flush: the lease expires, another worker reruns it
            self._runs.pop(item.id, None)
            return
        if item.attempts == 1 and not is_entity_id(item.task.instance_id):
            self._first_runs.add(item.id)
        self._results.append(ActivityResult(item.id, item.lock_token, Message(
            item.task.instance_id, event, item.task.execution_id)))
        self._results_ready.set()

    def _activity_gone(self, item: ActivityWorkItem) -> None:
        self._running.pop(item.id, None)
        self._run_started.pop(item.id, None)
        self._slot_free.set()
        if not self._running:
            self._no_activities.set()

    def _activity_context(self, item: ActivityWorkItem) -> ActivityContext:
        assert self._loop is not None
        return ActivityContext(item.task.instance_id, item.task.name, item.task.task_id,
                               item.attempts, self.client, self._loop)

    async def _completion_loop(self) -> None:
        while True:
            await self._results_ready.wait()
            self._results_ready.clear()
            await self._flush_results()

    async def _flush_results(self) -> None:
        results, self._results = self._results, []
        if not results:
            return
        # While running, the results of instances the store can lease here go
        # straight to their next steps: no inbox row, no claim, no wake-up.
        if self._stopping:
            self._first_runs.difference_update(result.id for result in results)
            await self._deliver(results, hand_over=False)
            return
        self._handover_idle.clear()  # stop() waits: the leases taken here must be used
        try:
            await self._hand_over(results)
        finally:
            self._handover_idle.set()

    async def _deliver(self, results: list[ActivityResult],
                       hand_over: bool) -> list[OrchestrationWorkItem]:
        """Complete ``results``, handing some over if ``hand_over``; the items handed over."""
        items: list[OrchestrationWorkItem] = []
        try:
            if hand_over:
                delivered, items = await self.store.complete_activities_and_claim(
                    results, self.worker_id, self.options.lease_seconds, self._claim_filter)
            else:
                delivered = await self.store.complete_activities(results)
        except Exception:
            self._results[:0] = results  # retried by the next flush
            self._results_ready.set()
            raise
        self.metrics.leases_lost["activity"] += delivered.count(False)
        if self._runs:
            self._write_activity_spans(results, delivered)
        return items

    async def _hand_over(self, results: list[ActivityResult]) -> None:
        """Run the next steps of the instances whose executors this worker kept, on
        their results, without claims; deliver the other results, and run the steps
        of the instances they were handed to."""
        by_task = {result.id: result for result in results}
        unclaimed, results = self._unclaimed_items(results)
        if unclaimed:
            await self._run_handed(unclaimed, by_task, claimed=False)
        if results:
            items = await self._deliver(results, hand_over=True)
            if items:
                await self._run_handed(items, by_task, claimed=True)

    async def _run_handed(self, items: list[OrchestrationWorkItem],
                          by_task: dict[int, ActivityResult], claimed: bool) -> None:
        """Run the steps of ``items``, which consume results of ``by_task``; results
        their steps do not consume are flushed again (by :meth:`_redeliver`)."""
        handed = handed_over_tasks(items)
        for task_id in handed:
            self._handed[task_id] = by_task[task_id]
        try:
            await self._run_batch(items, claimed)
        finally:
            for task_id in handed:  # consumed by now, or given back by _redeliver
                self._handed.pop(task_id, None)

    def _unclaimed_items(self, results: list[ActivityResult],
                         ) -> tuple[list[OrchestrationWorkItem], list[ActivityResult]]:
        """The results whose instances can step here without a claim, as work items
        (the executor this worker kept from the instance's last step, the instance as
        that step left it); and the other results.

        Only results of an activity's first attempt step so: a step that crashed the
        process is rerun through a claim, which counts the instance's attempts."""
        first_runs = self._first_runs
        if not self.store.commits_unclaimed_steps:
            first_runs.clear()
            return [], results
        items: dict[str, OrchestrationWorkItem] = {}
        rest: list[ActivityResult] = []
        for result in results:
            message = result.message
            instance_id = message.instance_id
            if result.id in first_runs:
                first_runs.discard(result.id)
                item = items.get(instance_id)
                if item is None:
                    cached = self._cache.get(instance_id)
                    instance = None if cached is None or instance_id in self._in_flight \
                        else cached.current_instance()
                    if instance is not None and instance.execution_id == message.execution_id:
                        item = items[instance_id] = OrchestrationWorkItem(
                            instance, UNCLAIMED, 0, [])
                if item is not None:
                    item.messages.append(InboxMessage(-result.id, message.event,
                                                      message.execution_id))
                    continue
            rest.append(result)
        return list(items.values()), rest

    def _write_activity_spans(self, results: list[ActivityResult], delivered: list[bool]) -> None:
        """The spans of the traced activities whose results were just delivered (only those:
        an attempt whose lease passed to another worker leaves its spans to that one)."""
        now = time.time_ns()
        spans = [span for result, ok in zip(results, delivered, strict=True)
                 if (run := self._runs.pop(result.id, None)) is not None and ok
                 for span in activity_spans(run, now)]
        tracer = tracing.active()
        if spans and tracer is not None:
            _write(tracer, spans)

    async def _renewal_loop(self) -> None:
        interval = self.options.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            if self._running:
                await self.store.renew_activity_leases(list(self._running.items()),
                                                       self.options.lease_seconds)


class _StartTaker:
    """A worker's side of the starts its store hands over (:mod:`perdure.store.starts`):
    it takes one while its orchestration loop idles with activity slots free, and
    runs it in that loop at once; under load, starts wait in the backlog as before."""

    def __init__(self, worker: Worker) -> None:
        self.worker_id = worker.worker_id
        self._worker = worker

    def lease_for(self, new: NewInstance) -> float | None:
        return self._worker._start_lease(new)

    def take(self, item: OrchestrationWorkItem) -> bool:
        if self._worker._stopping:  # its loop will not run it
            return False
        self._worker._started.append(item)
        return True


def _write(tracer: tracing.SpanWriter, spans: list[SpanRecord]) -> None:
    """Write out committed spans; an exporter's failure never touches durable work."""
    for span in spans:
        try:
            tracer.emit(span)
        except Exception:  # noqa: BLE001 - tracing must not stop a worker
            log.warning("could not emit span %s", span.name, exc_info=True)
