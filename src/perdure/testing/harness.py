"""An in-memory, synchronous runner for orchestrators, on a virtual clock.

:class:`OrchestrationHarness` plays the worker's part without a task hub: it
runs each step with the core's executor and turns it into history with the
worker's own step functions (:mod:`perdure.worker.step`), runs activities (real
ones or fakes) at once, starts sub-orchestrations in the same harness, and
fires timers by moving a virtual clock. After every step it replays the
instance's history on a fresh executor and checks that it decides exactly
what the live executor decided (the same actions, inputs included, and the
same outcome), so a test of nondeterministic orchestrator code fails with a
:class:`~perdure.testing.ReplayMismatchError`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from ..app import App
from ..core.actions import (
    Action,
    CreateTimer,
    ScheduleActivity,
    ScheduleSubOrchestration,
    SendEvent,
    describe,
)
from ..core.entities import EntityId, is_entity_id
from ..core.errors import InvalidArgumentError, PerdureError
from ..core.executor import OrchestrationExecutor, ReplayResult, replay
from ..core.history import (
    EventRaised,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionSuspended,
    ExecutionTerminated,
    FailureDetails,
    HistoryEvent,
    OrchestratorStarted,
)
from ..core.names import check_name, validate_instance_id
from ..core.serialization import dumps, loads
from ..core.status import OrchestrationRuntimeStatus as Status
from ..core.versions import check_version
from ..store.base import (
    ActivityTask,
    InboxMessage,
    InstanceRecord,
    Message,
    NewInstance,
    OrchestrationWorkItem,
)
from ..worker.activity import (
    ActivityContext,
    activity_arguments,
    activity_failed,
    call_activity,
    is_async_activity,
    run_async_activity,
)
from ..worker.step import current_events, new_execution_id, step_commit
from .entities import HarnessEntities
from .replay import ReplayMismatch, ReplayMismatchError, find_mismatch

Orchestrator = Callable[..., Any]
Activity = Callable[..., Any]

DEFAULT_START = datetime(2025, 1, 1, tzinfo=UTC)
"""Where the virtual clock starts unless the harness is given ``start``."""


class HarnessError(PerdureError):
    """The harness cannot go on: too many steps (an endless loop?) or a misuse."""


@dataclass(frozen=True, slots=True)
class Event:
    """An external event the harness raises during a run.

    Without ``at`` it is raised when the orchestration becomes idle (no activity
    or sub-orchestration left to finish, nothing else due now), in list order:
    "raise E once the orchestrator waits". With ``at`` (a delay from the start of
    the run, or an aware datetime) it is raised when the virtual clock reaches
    that time, interleaved with timers in time order. ``instance_id`` addresses
    another instance of the harness (a sub-orchestration) instead of the run's.
    """

    name: str
    data: Any = None
    at: timedelta | datetime | None = None
    instance_id: str | None = None

    def __post_init__(self) -> None:
        check_name(self.name, "event")
        if self.at is not None and not (
                isinstance(self.at, timedelta) and self.at >= timedelta(0)
                or isinstance(self.at, datetime) and self.at.tzinfo is not None):
            raise InvalidArgumentError(f"Event.at must be a non-negative timedelta or an aware "
                                       f"datetime, got {self.at!r}")
        if self.instance_id is not None:
            validate_instance_id(self.instance_id)


@dataclass(frozen=True, slots=True)
class ScheduledCall:
    """One thing an orchestration scheduled, in the order it did."""

    kind: Literal["activity", "sub_orchestration", "timer", "send_event"]
    """What was scheduled."""
    name: str
    """The activity, orchestrator or event name (``"timer"`` for timers)."""
    input: Any
    """The decoded input (the fire time for a timer)."""
    task_id: int
    """The position in the orchestration's history."""
    at: datetime
    """The virtual time of the step that scheduled it."""
    instance_id: str
    """The instance that scheduled it."""
    target: str | None = None
    """The instance a sub-orchestration or sent event is addressed to."""


@dataclass(slots=True)
class OrchestrationResult:
    """What a harness run of one instance came to (a snapshot)."""

    instance_id: str
    """The instance's id."""
    name: str
    """The orchestrator's name."""
    runtime_status: Status
    """``Completed``, ``Failed``, ``Terminated``, or ``Running``/``Suspended`` when it
    still waits (for an event nobody raised, for example)."""
    output: Any
    """The decoded output (for a failure, the failure message Durable Functions shows)."""
    custom_status: Any
    """The decoded custom status (``None``: never set)."""
    failure: FailureDetails | None
    """Why it failed, if it did."""
    calls: list[ScheduledCall]
    """Everything it scheduled, in order, across all its executions."""
    history: list[HistoryEvent]
    """The history of its current execution, as a task hub would store it."""
    continued_as_new: int = 0
    """How many times it continued as new."""
    children: dict[str, OrchestrationResult] = field(default_factory=dict)
    """The results of the sub-orchestrations it started, by instance id."""

    @property
    def is_completed(self) -> bool:
        """Whether it completed successfully."""
        return self.runtime_status is Status.Completed

    def activity_calls(self, name: str | None = None) -> list[ScheduledCall]:
        """The activity calls (of activity ``name``, when given), in order."""
        return [c for c in self.calls if c.kind == "activity" and name in (None, c.name)]

    def raise_for_failure(self) -> None:
        """Raise :class:`AssertionError` with the failure unless it completed."""
        if self.runtime_status is not Status.Completed:
            detail = f": {self.failure.summary()}" if self.failure else ""
            raise AssertionError(f"orchestration {self.instance_id!r} is "
                                 f"{self.runtime_status.value}{detail}")


@dataclass(slots=True)
class _Instance:
    instance_id: str
    name: str
    fn: Orchestrator
    execution_id: str
    executor: OrchestrationExecutor
    created_at: datetime
    activities: Mapping[str, Activity]
    orchestrators: Mapping[str, Orchestrator]
    input: str | None = None
    parent_instance_id: str | None = None
    version: str = ""
    status: Status = Status.Pending
    output: str | None = None
    custom_status: str | None = None
    failure: FailureDetails | None = None
    history: list[HistoryEvent] = field(default_factory=list)
    inbox: list[Message] = field(default_factory=list)
    calls: list[ScheduledCall] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    continued: int = 0


class OrchestrationRun:
    """A started orchestration in a harness: raise events into it, read its result."""

    def __init__(self, harness: OrchestrationHarness, instance_id: str) -> None:
        self._harness = harness
        self.instance_id = instance_id
        """The instance's id."""

    @property
    def status(self) -> Status:
        """Its runtime status now."""
        return self._harness._instance(self.instance_id).status

    @property
    def result(self) -> OrchestrationResult:
        """A snapshot of where it is now."""
        return self._harness.result(self.instance_id)

    def raise_event(self, name: str, data: Any = None) -> None:
        """Raise event ``name`` now, then run until idle."""
        self._harness.raise_event(self.instance_id, name, data)

    def terminate(self, reason: str | None = None) -> None:
        """Terminate it now (its open sub-orchestrations too), then run until idle."""
        self._harness._send(self.instance_id, ExecutionTerminated(
            timestamp=self._harness.now, reason=reason))

    def suspend(self, reason: str | None = None) -> None:
        """Suspend it now: events are held until :meth:`resume`."""
        self._harness._send(self.instance_id, ExecutionSuspended(
            timestamp=self._harness.now, reason=reason))

    def resume(self, reason: str | None = None) -> None:
        """Resume it after :meth:`suspend`."""
        self._harness._send(self.instance_id, ExecutionResumed(
            timestamp=self._harness.now, reason=reason))


class OrchestrationHarness:
    """Runs an app's orchestrators synchronously in memory, with no task hub.

    ::

        h = OrchestrationHarness(app)
        result = h.run("checkout", {"cart": 1}, activities={"charge": lambda order: "ok"},
                       events=[Event("approved", True)])
        assert result.output == "done"

    Activities run for real unless faked by name (``activities=``; a fake takes
    the same arguments, an ``ActivityContext`` included when it asks for one);
    ``orchestrators=`` replaces sub-orchestrators the same way. The clock is
    virtual: it starts at ``start`` and moves only by :meth:`advance` or, in
    :meth:`run`, by skipping straight to the next timer or timed event while
    nothing else can happen. ``client`` is what activities find in
    ``ActivityContext.client`` (``None`` by default). ``check_replay`` (on by
    default) replays each instance's history after every step and raises
    :class:`ReplayMismatchError` where a fresh replay disagrees with the live
    run. ``max_steps`` bounds the orchestration steps one call may run.
    """

    def __init__(self, app: App, *, start: datetime = DEFAULT_START, client: Any = None,
                 check_replay: bool = True, max_steps: int = 10_000) -> None:
        if not isinstance(app, App):
            raise InvalidArgumentError(f"OrchestrationHarness needs a perdure.App, got "
                                       f"{type(app).__name__}")
        if not isinstance(start, datetime) or start.tzinfo is None:
            raise InvalidArgumentError("start must be a timezone-aware datetime")
        if max_steps < 1:
            raise InvalidArgumentError("max_steps must be at least 1")
        self.app = app
        """The app whose functions run."""
        self.client = client
        """What activities get as ``ActivityContext.client``."""
        self.check_replay = check_replay
        """Whether every step is checked against a fresh replay."""
        self.max_steps = max_steps
        self._now = start
        self._instances: dict[str, _Instance] = {}
        self._entities = HarnessEntities(app)
        self._activities: list[ActivityTask] = []
        self._timers: list[tuple[datetime, int, Message]] = []
        self._idle_events: list[tuple[str, Event]] = []
        self._seq = itertools.count()
        self._steps = 0

    # --- the clock -------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The virtual time."""
        return self._now

    def advance(self, delta: timedelta) -> None:
        """Move the virtual clock by ``delta``, firing every timer (and timed event) due
        on the way at its own time, and run until idle."""
        if not isinstance(delta, timedelta) or delta < timedelta(0):
            raise InvalidArgumentError("advance takes a non-negative timedelta")
        self._steps = 0
        target = self._now + delta
        self._drain()
        while self._timers and self._timers[0][0] <= target:
            self._fire_next()
        self._now = target
        self._drain()

    # --- starting and running -------------------------------------------

    def start(self, name: str, input: Any = None, *, instance_id: str | None = None,
              activities: Mapping[str, Activity] | None = None,
              orchestrators: Mapping[str, Orchestrator] | None = None,
              events: Iterable[Event] = (), version: str | None = None) -> OrchestrationRun:
        """Start orchestrator ``name`` and run it until idle, without moving the clock.

        The instance runs at ``version`` (``ctx.version``; default: the app's).

        ``events`` are raised as :class:`Event` describes: those without ``at`` each
        time the harness finds nothing left to run, those with ``at`` when the
        clock gets there (by :meth:`advance`, or in :meth:`run`).
        """
        fakes = _check_fakes(activities, "activities")
        subs = _check_fakes(orchestrators, "orchestrators")
        fn = subs.get(name) or self.app.get_orchestrator(name)
        iid = instance_id or f"test-{len(self._instances) + 1}"
        validate_instance_id(iid)
        if iid in self._instances:
            raise InvalidArgumentError(f"the harness already has an instance {iid!r}")
        planned = list(events)
        for event in planned:
            if not isinstance(event, Event):
                raise InvalidArgumentError(f"events holds perdure.testing.Event items, not "
                                           f"{type(event).__name__}")
        self._steps = 0
        version = self.app.version if version is None else check_version(version)
        self._create(iid, name, fn, dumps(input, "input"), fakes, subs, None,
                     version=version or "")
        for event in planned:
            self._plan(iid, event)
        self._drain()
        return OrchestrationRun(self, iid)

    def run(self, name: str, input: Any = None, *, instance_id: str | None = None,
            activities: Mapping[str, Activity] | None = None,
            orchestrators: Mapping[str, Orchestrator] | None = None,
            events: Iterable[Event] = (), version: str | None = None) -> OrchestrationResult:
        """Run orchestrator ``name`` with ``input`` as far as it goes; its result.

        Raises the idle events in order, and skips the clock to the next timer
        or timed event whenever nothing else can happen. Returns once the
        instance finishes, or when it waits for something that never comes (its
        status is then ``Running``). Raises :class:`HarnessError` past
        ``max_steps`` steps (an orchestration that never ends, such as an eternal
        monitor: drive it with :meth:`start` and :meth:`advance` instead).
        """
        handle = self.start(name, input, instance_id=instance_id, activities=activities,
                            orchestrators=orchestrators, events=events, version=version)
        inst = self._instance(handle.instance_id)
        while not inst.status.is_terminal and self._timers:
            self._fire_next()
        return self.result(handle.instance_id)

    def raise_event(self, instance_id: str, name: str, data: Any = None) -> None:
        """Raise event ``name`` on ``instance_id`` now, then run until idle."""
        self._steps = 0
        self._send(instance_id, EventRaised(timestamp=self._now, name=name,
                                            input=dumps(data, "event data")))

    def result(self, instance_id: str) -> OrchestrationResult:
        """A snapshot of instance ``instance_id`` (a run's, or a sub-orchestration's)."""
        inst = self._instance(instance_id)
        return OrchestrationResult(
            inst.instance_id, inst.name, inst.status, loads(inst.output),
            loads(inst.custom_status), inst.failure, list(inst.calls), list(inst.history),
            inst.continued, {c: self.result(c) for c in inst.children})

    # --- internals -------------------------------------------------------

    def _instance(self, instance_id: str) -> _Instance:
        try:
            return self._instances[instance_id]
        except KeyError:
            raise InvalidArgumentError(f"the harness has no instance {instance_id!r}") from None

    def _create(self, iid: str, name: str, fn: Orchestrator, input: str | None,
                fakes: Mapping[str, Activity], subs: Mapping[str, Orchestrator],
                parent: tuple[str, str, int] | None, execution_id: str | None = None,
                version: str = "") -> None:
        execution_id = execution_id or new_execution_id()
        inst = _Instance(iid, name, fn, execution_id, OrchestrationExecutor(fn, iid),
                         self._now, fakes, subs, input,
                         parent_instance_id=parent[0] if parent else None, version=version)
        self._instances[iid] = inst
        inst.inbox.append(Message(iid, ExecutionStarted(
            timestamp=self._now, name=name, input=input,
            parent_instance_id=parent[0] if parent else None,
            parent_execution_id=parent[1] if parent else None,
            parent_task_id=parent[2] if parent else None, version=version or None),
            execution_id))

    def _plan(self, iid: str, event: Event) -> None:
        if event.at is None:
            self._idle_events.append((event.instance_id or iid, event))
            return
        at = self._now + event.at if isinstance(event.at, timedelta) else event.at
        target = event.instance_id or iid
        message = Message(target, EventRaised(timestamp=at, name=event.name,
                                              input=dumps(event.data, "event data")))
        heapq.heappush(self._timers, (at, next(self._seq), message))

    def _deliver(self, iid: str, event: Event) -> None:
        self._instance(iid).inbox.append(Message(iid, EventRaised(
            timestamp=self._now, name=event.name, input=dumps(event.data, "event data"))))

    def _send(self, instance_id: str, event: HistoryEvent) -> None:
        self._instance(instance_id).inbox.append(Message(instance_id, event))
        self._drain()

    def _fire_next(self) -> None:
        due, _, message = heapq.heappop(self._timers)
        self._now = max(self._now, due)
        self._route(message)
        # Everything due at the same moment arrives together, as in one claim.
        while self._timers and self._timers[0][0] <= self._now:
            self._route(heapq.heappop(self._timers)[2])
        self._drain()

    def _route(self, message: Message) -> None:
        if message.visible_at is not None and message.visible_at > self._now:
            heapq.heappush(self._timers, (message.visible_at, next(self._seq), message))
            return
        target = self._instances.get(message.instance_id)
        if target is not None:  # events sent to unknown instances are dropped
            target.inbox.append(message)

    def _drain(self) -> None:
        """Run steps and activities until nothing is left but waiting."""
        while True:
            ready = [i for i in self._instances.values() if i.inbox]
            if ready:
                for inst in ready:
                    self._step(inst)
                continue
            if self._entities.ready:
                for commit in self._entities.run(self._now):
                    self._apply_starts(None, commit.start_instances)
                    for message in commit.messages:
                        self._route(message)
                continue
            if not self._activities:
                if not self._idle_events:
                    return
                target, event = self._idle_events.pop(0)
                self._deliver(target, event)
                continue
            tasks, self._activities = self._activities, []
            for task in tasks:
                self._run_activity(task)

    def _step(self, inst: _Instance) -> None:
        self._steps += 1
        if self._steps > self.max_steps:
            raise HarnessError(f"more than {self.max_steps} orchestration steps without an end "
                               "(an endless loop?); raise max_steps or drive the run with "
                               "start() and advance()")
        messages, inst.inbox = inst.inbox, []
        record = InstanceRecord(inst.instance_id, inst.name, inst.execution_id, inst.status,
                                inst.created_at, self._now, inst.input, inst.output,
                                inst.custom_status, inst.failure, inst.parent_instance_id,
                                len(inst.history), inst.version)
        item = OrchestrationWorkItem(record, "harness", 1, [
            InboxMessage(n, m.event, m.execution_id) for n, m in enumerate(messages)])
        if inst.status.is_terminal:
            return  # a finished instance consumes its messages and changes nothing
        events = current_events(item)
        if not events:
            return
        now = self._now
        past = list(inst.history)
        step_events: list[HistoryEvent] = [OrchestratorStarted(timestamp=now), *events]
        result = inst.executor.step(step_events)
        if self.check_replay:
            self._check(inst, past, step_events, result)
        for action in result.actions:
            inst.calls.append(_call(inst.instance_id, action, now))
        outcome = step_commit(item, inst.executor, result, events, now,
                              lambda name: name in inst.orchestrators
                              or name in self.app.orchestrators)
        commit = outcome.commit
        inst.status, inst.custom_status = commit.runtime_status, commit.custom_status
        inst.output, inst.failure = commit.output, commit.failure
        if commit.new_execution_id is not None:
            inst.history = list(commit.history)
            inst.execution_id = commit.new_execution_id
            inst.input = commit.input
            inst.executor = OrchestrationExecutor(inst.fn, inst.instance_id)
            inst.continued += 1
        else:
            inst.history.extend(commit.history)
        self._activities.extend(commit.activities)
        self._apply_starts(inst, commit.start_instances)
        for message in commit.messages:
            self._route(message)

    def _apply_starts(self, inst: _Instance | None, starts: list[NewInstance]) -> None:
        for new in starts:
            if is_entity_id(new.instance_id):
                self._entities.deliver(new)
                continue
            existing = self._instances.get(new.instance_id)
            if existing is not None and not existing.status.is_terminal:
                if new.on_conflict is not None:
                    self._route(new.on_conflict)
                continue
            if inst is None:  # started by an entity: a top-level instance
                self._create(new.instance_id, new.name, self.app.get_orchestrator(new.name),
                             new.input, {}, {}, None, new.execution_id)
                continue
            assert new.parent_instance_id and new.parent_execution_id
            assert new.parent_task_id is not None
            self._create(new.instance_id, new.name,
                         inst.orchestrators.get(new.name) or self.app.get_orchestrator(new.name),
                         new.input, inst.activities, inst.orchestrators,
                         (new.parent_instance_id, new.parent_execution_id, new.parent_task_id),
                         new.execution_id, new.version)
            if new.instance_id not in inst.children:
                inst.children.append(new.instance_id)

    def signal_entity(self, entity_id: EntityId | str | tuple[str, str], operation: str,
                      input: Any = None) -> None:
        """Send an operation to an entity, as ``Client.signal_entity`` does, and run until
        nothing is left but waiting."""
        self._entities.signal(entity_id, operation, input)
        self._drain()

    def read_entity_state(self, entity_id: EntityId | str | tuple[str, str]
                          ) -> tuple[bool, Any]:
        """``(exists, state)`` of an entity of this harness."""
        return self._entities.read(entity_id)

    def _check(self, inst: _Instance, past: list[HistoryEvent],
               step_events: list[HistoryEvent], live: ReplayResult) -> None:
        """A fresh replay of ``past`` then this step must decide what the live run did."""
        mismatch, _ = find_mismatch(inst.fn, inst.instance_id, inst.name, past)
        if mismatch is not None:
            raise ReplayMismatchError(mismatch)
        fresh = replay(inst.fn, past, step_events, inst.instance_id)
        for index in range(max(len(live.actions), len(fresh.actions))):
            want = live.actions[index] if index < len(live.actions) else None
            got = fresh.actions[index] if index < len(fresh.actions) else None
            if want != got:
                position = (want or got).task_id  # type: ignore[union-attr]
                raise ReplayMismatchError(ReplayMismatch(
                    inst.instance_id, inst.name, position, _full(want),
                    f"on replay {'scheduled nothing there' if got is None else _full(got)}"))
        for label, a, b in (("status", live.status.value, fresh.status.value),
                            ("output", live.output, fresh.output),
                            ("custom status", live.custom_status, fresh.custom_status),
                            ("failure", live.failure and live.failure.summary(),
                             fresh.failure and fresh.failure.summary())):
            if a != b:
                raise ReplayMismatchError(ReplayMismatch(
                    inst.instance_id, inst.name, None, f"{label} {a}",
                    f"on replay came to {label} {b}"))

    def _run_activity(self, task: ActivityTask) -> None:
        inst = self._instances[task.instance_id]
        if inst.execution_id != task.execution_id:
            return  # its execution continued as new: the result would be dropped
        fn = inst.activities.get(task.name)
        event: HistoryEvent
        try:
            if fn is None:
                fn = self.app.get_activity(task.name)
            if is_async_activity(fn):
                event = _run_coroutine(lambda: run_async_activity(
                    fn, task, lambda: self._context(task, asyncio.get_running_loop())))
            else:
                loop = asyncio.new_event_loop()
                try:
                    kwargs = activity_arguments(fn, task, lambda: self._context(task, loop))
                    event = call_activity(fn, task, kwargs)
                finally:
                    loop.close()
        except Exception as exc:  # noqa: BLE001 - as the worker: a bad activity fails its task
            event = activity_failed(task, exc)
        self._route(Message(task.instance_id, event, task.execution_id))

    def _context(self, task: ActivityTask, loop: asyncio.AbstractEventLoop) -> ActivityContext:
        return ActivityContext(task.instance_id, task.name, task.task_id, 1, self.client, loop)


def _check_fakes(fakes: Mapping[str, Callable[..., Any]] | None,
                 what: str) -> Mapping[str, Callable[..., Any]]:
    if fakes is None:
        return {}
    if not isinstance(fakes, Mapping):
        raise InvalidArgumentError(f"{what} must map names to functions")
    for name, fn in fakes.items():
        if not isinstance(name, str) or not callable(fn):
            raise InvalidArgumentError(f"{what}[{name!r}] must be a function, got "
                                       f"{type(fn).__name__}")
    return dict(fakes)


def _call(instance_id: str, action: Action, now: datetime) -> ScheduledCall:
    if isinstance(action, ScheduleActivity):
        return ScheduledCall("activity", action.name, loads(action.input), action.task_id,
                             now, instance_id)
    if isinstance(action, ScheduleSubOrchestration):
        return ScheduledCall("sub_orchestration", action.name, loads(action.input),
                             action.task_id, now, instance_id, action.instance_id)
    if isinstance(action, CreateTimer):
        return ScheduledCall("timer", "timer", action.fire_at, action.task_id, now,
                             instance_id)
    assert isinstance(action, SendEvent)
    return ScheduledCall("send_event", action.name, loads(action.input), action.task_id, now,
                         instance_id, action.instance_id)


def _full(action: Action | None) -> str:
    if action is None:
        return "nothing"
    if isinstance(action, CreateTimer):
        return f"create timer due {action.fire_at.isoformat()}"
    return f"{describe(action)} with input {action.input}"


def _run_coroutine(make: Callable[[], Any]) -> Any:
    """Run an async activity to its end: here, or on a thread when a loop already runs here
    (a harness used inside an ``async def`` test)."""
    async def main() -> Any:
        return await make()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(asyncio.run(main())))
    thread.start()
    thread.join()
    return box[0]
