"""Build orchestration histories step by step, the way the worker does.

A :class:`Driver` holds the committed history of one instance. Each
``step(*events)`` is one orchestration step: it feeds ``[OrchestratorStarted,
*events]`` both to a fresh :func:`replay` of the whole history and to one
:class:`OrchestrationExecutor` kept alive across steps, asserts that both
decide exactly the same thing, then commits the batch followed by the step's
actions recorded as events, just as the worker appends them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from perdure.core import (
    Action,
    CreateTimer,
    OrchestrationExecutor,
    ReplayResult,
    ScheduleActivity,
    ScheduleSubOrchestration,
    replay,
)
from perdure.core.history import (
    EventRaised,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionSuspended,
    ExecutionTerminated,
    FailureDetails,
    HistoryEvent,
    OrchestratorStarted,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceFailed,
    TaskCompleted,
    TaskFailed,
    TimerFired,
)
from perdure.core.serialization import dumps, loads
from perdure.core.status import OrchestrationRuntimeStatus as Status

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
"""When every driven history starts."""

Orchestrator = Callable[[Any], Any]


# --- events a worker would deliver ----------------------------------------


def completed(task_id: int, value: Any = None) -> TaskCompleted:
    """Activity ``task_id`` returned ``value``."""
    return TaskCompleted(timestamp=T0, task_id=task_id, result=dumps(value))


def failed(task_id: int, error_type: str = "ValueError", message: str = "boom",
           stack_trace: str | None = "Traceback (most recent call last):\n  ...") -> TaskFailed:
    """Activity ``task_id`` raised ``error_type(message)``."""
    return TaskFailed(timestamp=T0, task_id=task_id,
                      failure=FailureDetails(error_type, message, stack_trace))


def sub_completed(task_id: int, value: Any = None) -> SubOrchestrationInstanceCompleted:
    """Sub-orchestration ``task_id`` completed with ``value``."""
    return SubOrchestrationInstanceCompleted(timestamp=T0, task_id=task_id, result=dumps(value))


def sub_failed(task_id: int, error_type: str = "RuntimeError",
               message: str = "child broke") -> SubOrchestrationInstanceFailed:
    """Sub-orchestration ``task_id`` failed."""
    return SubOrchestrationInstanceFailed(timestamp=T0, task_id=task_id,
                                          failure=FailureDetails(error_type, message, "tb"))


def raised(name: str, value: Any = None) -> EventRaised:
    """External event ``name`` arrived with ``value``."""
    return EventRaised(timestamp=T0, name=name, input=dumps(value))


def terminated(reason: Any = None) -> ExecutionTerminated:
    """A client terminated the instance."""
    return ExecutionTerminated(timestamp=T0, reason=reason)


def suspended(reason: str | None = None) -> ExecutionSuspended:
    """A client suspended the instance."""
    return ExecutionSuspended(timestamp=T0, reason=reason)


def resumed(reason: str | None = None) -> ExecutionResumed:
    """A client resumed the instance."""
    return ExecutionResumed(timestamp=T0, reason=reason)


# --- the equivalence the worker relies on ---------------------------------


def _comparable(result: ReplayResult) -> tuple[Any, ...]:
    failure = result.failure
    # Stack traces carry line numbers of the driver; type and message must agree.
    failure_key = None if failure is None else (failure.error_type, failure.message)
    return (result.actions, result.status, result.output, result.custom_status,
            failure_key, result.carryover)


def assert_live_matches_replay(live: OrchestrationExecutor, orchestrator: Orchestrator,
                               past: list[HistoryEvent], batch: list[HistoryEvent],
                               instance_id: str) -> ReplayResult:
    """Feed ``batch`` to the kept-alive ``live`` executor and to a fresh replay of ``past``.

    Both must report the same actions, status, output, custom status, failure,
    carried-over events and open sub-orchestrations: this is what lets the
    worker cache executors in memory. Returns the replay's result.
    """
    replayed = replay(orchestrator, past, batch, instance_id)
    stepped = live.step(batch)
    assert _comparable(stepped) == _comparable(replayed), (
        f"live executor and full replay disagree\n  live:   {stepped}\n  replay: {replayed}")

    fresh = OrchestrationExecutor(orchestrator, instance_id)
    fresh.process(past, replaying=True)
    fresh.step(batch)
    assert live.open_sub_orchestrations() == fresh.open_sub_orchestrations()
    return replayed


def assert_replay_is_quiet(orchestrator: Orchestrator, history: list[HistoryEvent],
                           instance_id: str, expected: ReplayResult) -> None:
    """Replaying a committed history with nothing new schedules nothing and changes nothing."""
    again = replay(orchestrator, history, [], instance_id)
    assert again.actions == [], f"replay of committed history re-scheduled {again.actions}"
    assert _comparable(again)[1:] == _comparable(expected)[1:]


# --- the driver -------------------------------------------------------------


@dataclass
class Driver:
    """One orchestration instance, driven step by step through its history."""

    orchestrator: Orchestrator
    instance_id: str = "inst-1"
    name: str = "orch"
    now: datetime = T0
    tick: timedelta = timedelta(seconds=10)

    def __post_init__(self) -> None:
        self.history: list[HistoryEvent] = []
        self.live = OrchestrationExecutor(self.orchestrator, self.instance_id)
        self.results: list[ReplayResult] = []

    # -- stepping

    def start(self, input: Any = None, *events: HistoryEvent,
              parent_instance_id: str | None = None) -> ReplayResult:
        """The first step: ``ExecutionStarted`` with ``input`` (then ``events``)."""
        started = ExecutionStarted(timestamp=self.now, name=self.name, input=dumps(input),
                                   parent_instance_id=parent_instance_id)
        return self.step(started, *events)

    def step(self, *events: HistoryEvent, at: datetime | None = None) -> ReplayResult:
        """One orchestration step at ``at`` (default: ``tick`` after the previous one)."""
        if at is not None:
            self.now = at
        elif self.results:
            self.now += self.tick
        batch: list[HistoryEvent] = [OrchestratorStarted(timestamp=self.now), *events]
        result = assert_live_matches_replay(self.live, self.orchestrator, self.history, batch,
                                            self.instance_id)
        self.history += [*batch, *(action.to_event(self.now) for action in result.actions)]
        assert_replay_is_quiet(self.orchestrator, self.history, self.instance_id, result)
        self.results.append(result)
        return result

    # -- reading the state

    @property
    def last(self) -> ReplayResult:
        """The result of the latest step."""
        return self.results[-1]

    @property
    def status(self) -> Status:
        """The runtime status after the latest step."""
        return self.last.status

    @property
    def output(self) -> Any:
        """The decoded output after the latest step."""
        return loads(self.last.output)

    @property
    def custom_status(self) -> Any:
        """The decoded custom status after the latest step."""
        return loads(self.last.custom_status)

    def all_actions(self) -> list[Action]:
        """Every action scheduled so far, in order."""
        return [a for r in self.results for a in r.actions]

    def action(self, task_id: int) -> Action:
        """The action scheduled as ``task_id``."""
        matches = [a for a in self.all_actions() if a.task_id == task_id]
        assert len(matches) == 1, f"no single action with task id {task_id}: {matches}"
        return matches[0]

    def timer(self, task_id: int) -> CreateTimer:
        """The timer scheduled as ``task_id``."""
        action = self.action(task_id)
        assert isinstance(action, CreateTimer), action
        return action

    def fired(self, task_id: int) -> TimerFired:
        """The ``TimerFired`` event for timer ``task_id``, at its due time."""
        return TimerFired(timestamp=self.timer(task_id).fire_at, task_id=task_id,
                          fire_at=self.timer(task_id).fire_at)

    def fire(self, task_id: int) -> ReplayResult:
        """A step at timer ``task_id``'s due time, delivering its ``TimerFired``."""
        return self.step(self.fired(task_id), at=self.timer(task_id).fire_at)


def activity(task_id: int, name: str, input: Any = None) -> ScheduleActivity:
    """The action ``ctx.call_activity(name, input)`` as task ``task_id``."""
    return ScheduleActivity(task_id, name, dumps(input))


def sub_orchestration(task_id: int, name: str, instance_id: str,
                      input: Any = None) -> ScheduleSubOrchestration:
    """The action ``ctx.call_sub_orchestrator(...)`` as task ``task_id``."""
    return ScheduleSubOrchestration(task_id, name, instance_id, dumps(input))


# --- one scenario, two flavours --------------------------------------------


def asyncified(gen_fn: Orchestrator) -> Orchestrator:
    """The same orchestrator as an ``async def``: each ``yield task`` becomes ``await task``.

    Exceptions raised by ``await`` are thrown back into the generator, so
    ``try``/``except`` around a ``yield`` behaves as it would around an ``await``.
    """

    async def orchestrator(ctx: Any) -> Any:
        gen = gen_fn(ctx)
        if not inspect.isgenerator(gen):
            return gen
        return await _drive(gen)

    orchestrator.__name__ = f"async_{gen_fn.__name__}"
    return orchestrator


async def _drive(gen: Generator[Any, Any, Any]) -> Any:
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            task = gen.throw(error) if error is not None else gen.send(value)
        except StopIteration as stop:
            return stop.value
        try:
            value, error = await task, None
        except Exception as exc:  # noqa: BLE001 - handed to the generator like a yield would
            value, error = None, exc
