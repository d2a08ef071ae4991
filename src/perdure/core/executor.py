"""The replay driver: feeds history events to an orchestrator and collects its actions.

An :class:`OrchestrationExecutor` is incremental. A worker keeps one alive in
memory between steps and feeds it only the new events; after a restart (or on
another worker) a fresh executor replays the whole history first. Both paths
run the same handlers, so they produce the same actions. :func:`replay` is the
pure-function form: no I/O, no clock, no randomness, no asyncio.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .actions import RECORDING_EVENTS, Action, describe, recorded_action
from .context import OrchestrationContext
from .errors import NonDeterminismError
from .history import (
    EventRaised,
    ExecutionCompleted,
    ExecutionResumed,
    ExecutionRewound,
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
from .serialization import dumps
from .status import OrchestrationRuntimeStatus as Status
from .strict import StrictReplay, input_mismatch
from .task import Task

Orchestrator = Callable[[OrchestrationContext], Any]

# Client requests addressed to the instance rather than to one execution of it.
_INSTANCE_REQUESTS: tuple[type[HistoryEvent], ...] = (
    ExecutionTerminated, ExecutionSuspended, ExecutionResumed)

# Events that still act on a suspended instance; all others wait for resume. The step's
# clock and the records of actions decided before the suspension are not held: holding
# them would run resumed code at a stale time and, on replay, re-schedule those actions.
_WHILE_SUSPENDED = (ExecutionResumed, ExecutionTerminated, ExecutionSuspended,
                    OrchestratorStarted, *RECORDING_EVENTS)


@dataclass(slots=True)
class Completion:
    """How an execution ended."""

    status: Status
    output: str | None = None
    failure: FailureDetails | None = None
    carryover: list[HistoryEvent] = field(default_factory=list)


@dataclass(slots=True)
class ReplayResult:
    """What a step decided: new actions, and the instance state after it."""

    actions: list[Action]
    status: Status
    output: str | None = None
    custom_status: str | None = None
    failure: FailureDetails | None = None
    carryover: list[HistoryEvent] = field(default_factory=list)


class OrchestrationExecutor:
    """Runs one orchestrator function over its history, one event at a time.

    An orchestrator may bring its own driver: when it has an attribute
    ``__perdure_executor__`` (a subclass of this class), constructing an
    executor for it builds that subclass instead. The worker and
    :func:`replay` then drive it unchanged; ``perdure.azure`` uses this to run
    Durable Functions orchestrators through the SDK's own handler.
    """

    #: Event type -> ``handler(executor, event)`` (filled in below the class; a
    #: subclass may bring its own table).
    HANDLERS: ClassVar[dict[type[HistoryEvent], Callable[[Any, Any], None]]]

    def __new__(cls, orchestrator: Orchestrator, instance_id: str) -> OrchestrationExecutor:
        custom = getattr(orchestrator, "__perdure_executor__", None)
        if cls is OrchestrationExecutor and isinstance(custom, type) \
                and issubclass(custom, OrchestrationExecutor):
            return object.__new__(custom)
        return object.__new__(cls)

    def __init__(self, orchestrator: Orchestrator, instance_id: str) -> None:
        self._fn = orchestrator
        self._strict = isinstance(orchestrator, StrictReplay)
        self.ctx = OrchestrationContext(self, instance_id)
        self._body: Any = None
        self._awaiting: Task[Any] | None = None
        self._started = False
        self._suspended = False
        self._held: list[HistoryEvent] = []
        self._preserve_unprocessed = False
        self.completion: Completion | None = None
        self.started: ExecutionStarted | None = None
        """The event that started this execution (name, input, parent)."""

    # --- public ------------------------------------------------------------

    @property
    def status(self) -> Status:
        """The runtime status after the events processed so far."""
        if self.completion is not None:
            return self.completion.status
        if self._suspended:
            return Status.Suspended
        return Status.Running if self._started else Status.Pending

    def process(self, events: Iterable[HistoryEvent], *, replaying: bool) -> None:
        """Apply ``events`` in order; stops early once the execution completes."""
        if self.completion is not None:
            return  # a finished execution takes no more events (and carries none over)
        ctx = self.ctx
        pending = iter(events)
        for event in pending:
            if self.completion is not None:
                rest = [event, *pending]
                if replaying:
                    self._check_ended_early(rest)
                self._carry_over(rest)
                return
            ctx.is_replaying = replaying
            if self._suspended and not isinstance(event, _WHILE_SUSPENDED):
                self._held.append(event)
                continue
            try:
                self.HANDLERS[type(event)](self, event)
                self._resume()
            except NonDeterminismError as exc:
                self._finish(Status.Failed, failure=FailureDetails.from_exception(exc))

    def take_actions(self) -> list[Action]:
        """The actions scheduled since the last call (new work for this step)."""
        return self.ctx.take_actions()

    def fail(self, failure: FailureDetails) -> None:
        """End the execution as Failed with ``failure`` (poison work, a step timeout, ...)."""
        self._finish(Status.Failed, failure=failure)

    def step(self, events: Sequence[HistoryEvent]) -> ReplayResult:
        """Process new (not replayed) events and report the step's outcome."""
        self.process(events, replaying=False)
        return self.result()

    def result(self) -> ReplayResult:
        """Take the pending actions and describe the state they leave."""
        done = self.completion
        actions = self.take_actions() if done is None or done.status in (
            Status.Completed, Status.ContinuedAsNew) else []
        return ReplayResult(
            actions=actions, status=self.status,
            output=done.output if done else None,
            custom_status=self.ctx.custom_status,
            failure=done.failure if done else None,
            carryover=done.carryover if done else [],
        )

    def discard(self) -> None:
        """Take this executor apart: it is never driven again.

        An executor is a web of reference cycles (its context, body, tasks and
        logger point at each other), which only the cycle collector frees, and a
        long-kept one sits in the generation it collects most rarely. Closing the
        body (as collecting it would: ``finally`` blocks run, and whatever they
        raise is ignored) and clearing the attributes of the executor and its
        context frees most of it at once, by reference counting.
        """
        body, self._body = getattr(self, "_body", None), None
        close = getattr(body, "close", None)
        if close is not None:
            try:
                close()
            except BaseException:  # noqa: BLE001, S110 - user code: as when collected
                pass
        ctx = getattr(self, "ctx", None)
        if ctx is not None:
            vars(ctx).clear()
        vars(self).clear()

    def open_sub_orchestrations(self) -> list[str]:
        """Instance ids of sub-orchestrations started and not yet finished."""
        return self.ctx.open_sub_orchestrations()

    def continue_as_new(self, input: str | None, carryover: Sequence[HistoryEvent],
                        preserve_unprocessed_events: bool = False) -> None:
        """Called by the context: end this execution and start anew with ``input``.

        With ``preserve_unprocessed_events``, events of this step that were not
        processed yet are carried over too (after ``carryover``).
        """
        self._preserve_unprocessed = preserve_unprocessed_events
        self._finish(Status.ContinuedAsNew, output=input, carryover=list(carryover))

    def _check_ended_early(self, rest: list[HistoryEvent]) -> None:
        # History recorded actions past the point where the code now returns:
        # the code changed, and its new result must not be committed.
        # Actions the final step scheduled before returning (a sent event, a lock
        # release) are recorded after its events: those match, and are no change.
        done = self.completion
        recorded = next((e for e in rest if isinstance(e, RECORDING_EVENTS)
                         and not self._matches_pending(e)), None)
        if done is None or recorded is None or done.status not in (
                Status.Completed, Status.ContinuedAsNew):
            return
        action = recorded_action(recorded)
        assert action is not None
        error = NonDeterminismError(
            f"non-deterministic orchestrator {self.ctx.name!r}: at position "
            f"{action.task_id} history expected {describe(action)}, but the code "
            "returned before scheduling it")
        self._finish(Status.Failed, failure=FailureDetails.from_exception(error))

    def _matches_pending(self, event: Any) -> bool:
        expected = recorded_action(event)
        action = self.ctx.take_action(event.task_id)
        return action is not None and expected is not None \
            and type(action) is type(expected) and action.name == expected.name

    def _carry_over(self, unprocessed: list[HistoryEvent]) -> None:
        # The worker consumes the whole batch. Requests addressed to the instance
        # (terminate, suspend, resume) always move on to the new execution; raised
        # events do when continue_as_new asked to preserve them.
        done = self.completion
        if done is None or done.status is not Status.ContinuedAsNew:
            return
        kept = _INSTANCE_REQUESTS + ((EventRaised,) if self._preserve_unprocessed else ())
        done.carryover.extend(e for e in unprocessed if isinstance(e, kept))

    # --- event handlers -------------------------------------------------

    def _on_orchestrator_started(self, event: OrchestratorStarted) -> None:
        self.ctx.current_utc_datetime = event.timestamp

    def _on_execution_started(self, event: ExecutionStarted) -> None:
        ctx = self.ctx
        self.started = event
        ctx.begin(event)
        self._started = True
        try:
            body = self._fn(ctx)
        except BaseException as exc:  # noqa: BLE001 - user code: even SystemExit fails it
            self._finish(Status.Failed, failure=FailureDetails.from_exception(exc))
            return
        if inspect.isgenerator(body) or inspect.iscoroutine(body):
            self._body = body
            self._advance(None, None)
        elif self.completion is None:  # a plain function may have called continue_as_new
            self._finish_with(body)

    def _on_terminated(self, event: ExecutionTerminated) -> None:
        self._finish(Status.Terminated, output=dumps(event.reason, "reason"))

    def _on_suspended(self, event: ExecutionSuspended) -> None:
        self._suspended = True

    def _on_resumed(self, event: ExecutionResumed) -> None:
        if not self._suspended:
            return
        self._suspended = False
        held, self._held = self._held, []
        self.process(held, replaying=self.ctx.is_replaying)

    def _on_action_recorded(self, event: Any) -> None:
        expected = recorded_action(event)
        assert expected is not None
        action = self.ctx.take_action(event.task_id)
        recorded = describe(expected)
        if action is None:
            raise NonDeterminismError(
                f"non-deterministic orchestrator {self.ctx.name!r}: at position {event.task_id} "
                f"history expected {recorded}, but the code scheduled nothing there")
        if type(action) is not type(expected) or action.name != expected.name:
            raise NonDeterminismError(
                f"non-deterministic orchestrator {self.ctx.name!r}: at position {event.task_id} "
                f"history expected {recorded}, but the code tried to {describe(action)}")
        differs = input_mismatch(expected, action) if self._strict else None
        if differs is not None:
            raise NonDeterminismError(
                f"non-deterministic orchestrator {self.ctx.name!r}: at position {event.task_id} "
                f"history expected {recorded} {differs}")

    # --- driving the body ------------------------------------------------

    def _resume(self) -> None:
        task = self._awaiting
        if task is not None and task.is_completed and self.completion is None:
            if task.is_failed:
                self._advance(None, task.exception)
            else:
                self._advance(task._result, None)

    def _advance(self, value: Any, error: BaseException | None) -> None:
        """Run the body until it awaits an incomplete task, returns or raises.

        Anything the body raises, ``BaseException`` included (``sys.exit()``,
        ``KeyboardInterrupt``, the worker's step-timeout), fails the instance:
        user code must never stop the process.
        """
        body = self._body
        refused: TypeError | None = None
        while True:
            try:
                yielded = body.throw(error) if error is not None else body.send(value)
            except StopIteration as stop:
                if self.completion is None:
                    self._finish_with(stop.value)
                return
            except BaseException as exc:  # noqa: BLE001 - user code: fails the instance
                if self.completion is None:
                    self._finish(Status.Failed, failure=FailureDetails.from_exception(exc))
                return
            if self.completion is not None:
                return  # continue_as_new ended the execution
            if not isinstance(yielded, Task):
                if refused is not None:
                    # The body swallowed the error and awaited a non-task again: it
                    # would loop forever, so the instance fails with the first error.
                    self._finish(Status.Failed, failure=FailureDetails.from_exception(refused))
                    return
                error = refused = TypeError(
                    f"orchestrator {self.ctx.name!r} awaited {_describe(yielded)}, which is "
                    "not a perdure task; orchestrators may only await tasks from the context")
                value = None
                continue
            refused = None
            if not yielded.is_completed:
                self._awaiting = yielded
                return
            error = yielded.exception
            value = None if error is not None else yielded._result

    def _finish_with(self, value: Any) -> None:
        try:
            output = dumps(value, "orchestrator output")
        except BaseException as exc:  # noqa: BLE001 - also user types whose encoding raises
            self._finish(Status.Failed, failure=FailureDetails.from_exception(exc))
            return
        self._finish(Status.Completed, output=output)

    def _finish(self, status: Status, output: str | None = None,
                failure: FailureDetails | None = None,
                carryover: list[HistoryEvent] | None = None) -> None:
        if failure is not None:
            output = dumps(f"Orchestrator function '{self.ctx.name}' failed: {failure.summary()}")
        self.completion = Completion(status, output, failure, carryover or [])
        self._awaiting = None


def _describe(value: Any) -> str:
    """``repr(value)`` for an error message, shortened, and safe if ``__repr__`` raises."""
    try:
        text = repr(value)
    except BaseException:  # noqa: BLE001 - user objects may have a broken __repr__
        return f"a {type(value).__name__} object"
    return text if len(text) <= 200 else text[:197] + "..."


def _ignore(executor: OrchestrationExecutor, event: HistoryEvent) -> None:
    """Events that record state but need no action on replay."""


#: How an executor applies each kind of event: a table of the class, not of each
#: executor (bound methods there made every executor a dozen more objects and cycles).
OrchestrationExecutor.HANDLERS = {
    OrchestratorStarted: OrchestrationExecutor._on_orchestrator_started,
    ExecutionStarted: OrchestrationExecutor._on_execution_started,
    ExecutionTerminated: OrchestrationExecutor._on_terminated,
    ExecutionSuspended: OrchestrationExecutor._on_suspended,
    ExecutionResumed: OrchestrationExecutor._on_resumed,
    ExecutionRewound: _ignore,
    ExecutionCompleted: _ignore,
    TaskCompleted: lambda ex, e: ex.ctx.resolve(e.task_id, e.result),
    TaskFailed: lambda ex, e: ex.ctx.resolve(e.task_id, failure=e.failure),
    SubOrchestrationInstanceCompleted: lambda ex, e: ex.ctx.resolve(e.task_id, e.result),
    SubOrchestrationInstanceFailed: lambda ex, e: ex.ctx.resolve(
        e.task_id, failure=e.failure, what="sub-orchestration"),
    TimerFired: lambda ex, e: ex.ctx.resolve(e.task_id),
    EventRaised: lambda ex, e: ex.ctx.deliver_event(e),
    **{recording: OrchestrationExecutor._on_action_recorded for recording in RECORDING_EVENTS},
}


def replay(orchestrator: Orchestrator, past_events: Sequence[HistoryEvent],
           new_events: Sequence[HistoryEvent], instance_id: str = "") -> ReplayResult:
    """Replay ``past_events``, apply ``new_events``, and return the step's outcome.

    The pure form of the executor: the same inputs always give the same result.
    """
    executor = OrchestrationExecutor(orchestrator, instance_id)
    executor.process(past_events, replaying=True)
    return executor.step(new_events)
