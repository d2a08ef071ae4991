"""The orchestration context: the only door from orchestrator code to the world.

Everything here is deterministic: time and ids come from history, and every
durable call records an action with the next sequence number, which replay
matches against the recorded history.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from .actions import Action, CreateTimer, ScheduleActivity, ScheduleSubOrchestration, SendEvent
from .entities import REQUEST_EVENT, EntityId, EntityRequest
from .entity_calls import CriticalSection, EntityCallTask, EntityLocks, LockTask
from .errors import EventTimeoutError, InvalidArgumentError, TaskFailedError
from .history import EventRaised, ExecutionStarted, FailureDetails
from .names import check_instance_id, check_name, validate_instance_id
from .retry import RetryOptions
from .serialization import dumps, loads
from .task import CompletableTask, Task, WhenAllTask, WhenAnyTask
from .versions import check_version


class Runtime(Protocol):
    """What the context asks of the driver running it (the executor implements it).

    The one call from the context to its driver; everything else flows the
    other way, through the context's runtime methods (``begin``,
    ``deliver_event``, ``resolve``, ``take_actions``, ``take_action``).
    """

    def continue_as_new(self, input: str | None, carryover: Sequence[EventRaised],
                        preserve_unprocessed_events: bool = False) -> None:
        """End this execution once the step commits; start anew with ``input``."""
        ...

# The namespace Durable Functions uses for deterministic GUIDs.
_UUID_NAMESPACE = uuid.UUID("9e952958-5e33-4daf-827f-2fa12937b875")


class _ReplaySafeLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Drops records while the orchestrator replays, so each line is logged once."""

    def __init__(self, logger: logging.Logger, ctx: OrchestrationContext) -> None:
        super().__init__(logger, {})
        self._ctx = ctx

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging API
        return not self._ctx.is_replaying and self.logger.isEnabledFor(level)

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        extra = kwargs.setdefault("extra", {})
        extra.setdefault("instance_id", self._ctx.instance_id)
        extra.setdefault("orchestrator", self._ctx.name)
        return msg, kwargs


class ExternalEventTask(CompletableTask[Any]):
    """Waits for the next event with ``name``; fails with a timeout if one was set."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        super().__init__(-1)
        self.name = name


class RetryableTask(Task[Any]):
    """An activity or sub-orchestration retried after failures, with durable-timer backoff."""

    __slots__ = ("_ctx", "_options", "_schedule", "_attempt", "_started")

    def __init__(self, ctx: OrchestrationContext, options: RetryOptions,
                 schedule: Any) -> None:
        super().__init__()
        self._ctx, self._options, self._schedule = ctx, options, schedule
        self._attempt = 1
        self._started = ctx.current_utc_datetime
        schedule()._on_done(self._attempt_done)

    def _attempt_done(self, attempt: Task[Any]) -> None:
        if not attempt.is_failed:
            self._complete(attempt._result)
            return
        elapsed = (self._ctx.current_utc_datetime - self._started).total_seconds()
        delay = self._options.next_delay(self._attempt, elapsed)
        if delay is None:
            self._fail(attempt.exception)  # type: ignore[arg-type]
            return
        self._attempt += 1
        self._ctx.create_timer(timedelta(seconds=delay))._on_done(
            lambda _timer: self._schedule()._on_done(self._attempt_done))


class OrchestrationContext:
    """What an orchestrator function receives: deterministic access to durable operations."""

    def __init__(self, runtime: Runtime, instance_id: str) -> None:
        self._runtime = runtime
        self.instance_id = instance_id
        """The id of this orchestration instance."""
        self.parent_instance_id: str | None = None
        """The id of the orchestration that started this one as a sub-orchestration."""
        self.name = ""
        """The orchestrator's registered name."""
        self.version = ""
        """The version this instance was started with (``""``: unversioned)."""
        self.is_replaying = False
        """True while the code re-executes steps already in history."""
        self.current_utc_datetime = datetime.fromtimestamp(0, UTC)
        """The time this step started, from history (never the wall clock)."""
        self.logger: logging.LoggerAdapter = _ReplaySafeLogger(  # type: ignore[type-arg]
            logging.getLogger("perdure.orchestration"), self)
        """A logger that stays silent during replay."""
        self._input: str | None = None
        self._sequence = 0
        self._uuid_counter = 0
        self._pending_actions: dict[int, Action] = {}
        self._open_tasks: dict[int, CompletableTask[Any]] = {}
        self._open_children: dict[int, str] = {}
        self._waiters: dict[str, deque[ExternalEventTask]] = {}
        self._received: dict[str, deque[EventRaised]] = {}
        self._custom_status: str | None = None
        self._locks = EntityLocks(self._send_release)
        self.event_waits: list[tuple[ExternalEventTask, datetime]] = []
        """Every external-event wait so far with the time it began (the dashboard's
        timeline replays history to draw them)."""

    # --- inputs and state ------------------------------------------------

    def get_input(self) -> Any:
        """The orchestration's input, decoded from JSON."""
        return loads(self._input)

    def set_custom_status(self, value: Any) -> None:
        """Publish a JSON value in the instance's status, committed with this step."""
        self._custom_status = dumps(value, "custom status")

    def new_uuid(self) -> str:
        """A deterministic UUID: the same on every replay of this point."""
        self._uuid_counter += 1
        name = f"{self.instance_id}_{self.current_utc_datetime.isoformat()}_{self._uuid_counter}"
        return str(uuid.uuid5(_UUID_NAMESPACE, name))

    # --- scheduling ------------------------------------------------------

    def _next_id(self) -> int:
        task_id = self._sequence
        self._sequence += 1
        return task_id

    def _schedule(self, action: Action) -> CompletableTask[Any]:
        task: CompletableTask[Any] = CompletableTask(action.task_id)
        self._pending_actions[action.task_id] = action
        self._open_tasks[action.task_id] = task
        return task

    def call_activity(self, name: str, input: Any = None) -> Task[Any]:
        """Schedule activity ``name`` with a JSON ``input``; the task completes with its result."""
        check_name(name, "activity")
        encoded = dumps(input, "input")  # before taking an id: a refused call uses none
        return self._schedule(ScheduleActivity(self._next_id(), name, encoded))

    def call_activity_with_retry(self, name: str, retry_options: RetryOptions,
                                 input: Any = None) -> Task[Any]:
        """Like :meth:`call_activity`, retrying failures as ``retry_options`` says."""
        check_name(name, "activity")
        encoded = dumps(input, "input")
        return RetryableTask(self, retry_options, lambda: self._schedule(
            ScheduleActivity(self._next_id(), name, encoded)))

    def call_sub_orchestrator(self, name: str, input: Any = None,
                              instance_id: str | None = None,
                              version: str | None = None) -> Task[Any]:
        """Start orchestrator ``name`` as a child; the task completes with its output.

        The child runs at ``version``, by default this instance's own version.
        """
        check_name(name, "orchestrator")
        if instance_id is not None:
            validate_instance_id(instance_id)
        if version is not None:
            check_version(version)
        encoded = dumps(input, "input")
        task_id = self._next_id()
        child_id = instance_id or f"{self.instance_id}:{task_id}"
        task = self._schedule(ScheduleSubOrchestration(task_id, name, child_id, encoded,
                                                       version))
        self._open_children[task_id] = child_id
        return task

    def call_sub_orchestrator_with_retry(self, name: str, retry_options: RetryOptions,
                                         input: Any = None,
                                         instance_id: str | None = None,
                                         version: str | None = None) -> Task[Any]:
        """Like :meth:`call_sub_orchestrator`, retrying failures as ``retry_options`` says.

        Each attempt after the first gets its own child id unless ``instance_id`` is given.
        """
        return RetryableTask(self, retry_options, lambda: self.call_sub_orchestrator(
            name, input, instance_id, version))

    def create_timer(self, fire_at: datetime | timedelta) -> Task[None]:
        """A durable timer due at ``fire_at`` (an aware datetime, or a delay from now)."""
        if isinstance(fire_at, timedelta):
            fire_at = self.current_utc_datetime + fire_at
        elif fire_at.tzinfo is None:
            raise InvalidArgumentError("create_timer needs a timezone-aware datetime")
        return self._schedule(CreateTimer(self._next_id(), fire_at))

    def wait_for_external_event(self, name: str,
                                timeout: timedelta | float | None = None) -> Task[Any]:
        """Wait for event ``name``; events raised earlier are delivered first, in order.

        With ``timeout`` (a timedelta or seconds) the task fails with
        :class:`EventTimeoutError` when it runs out; a timed-out wait consumes nothing.
        """
        check_name(name, "event")
        task = ExternalEventTask(name)
        self.event_waits.append((task, self.current_utc_datetime))
        buffered = self._received.get(name)
        if buffered:
            task._complete(loads(buffered.popleft().input))
            return task
        self._waiters.setdefault(name, deque()).append(task)
        if timeout is not None:
            delay = timeout if isinstance(timeout, timedelta) else timedelta(seconds=timeout)
            self.create_timer(delay)._on_done(lambda _t: self._expire_wait(task))
        return task

    def _expire_wait(self, task: ExternalEventTask) -> None:
        if task.is_completed:
            return
        waiters = self._waiters.get(task.name)
        if waiters is not None and task in waiters:
            waiters.remove(task)
        task._fail(EventTimeoutError(task.name))

    def send_event(self, instance_id: str, name: str, data: Any = None) -> None:
        """Raise event ``name`` on another instance (fire and forget, recorded in history)."""
        check_name(name, "event")
        check_instance_id(instance_id)
        encoded = dumps(data, "event data")
        self._schedule(SendEvent(self._next_id(), instance_id, name, encoded))
        # Nothing completes a sent event: drop it from the open tasks at once.
        self._open_tasks.pop(self._sequence - 1)

    # --- entities --------------------------------------------------------

    def _send_to_entity(self, entity: str, request: EntityRequest) -> None:
        self.send_event(entity, REQUEST_EVENT, request.to_dict())

    def _send_release(self, entity: str, request_id: str) -> None:
        self._send_to_entity(entity, EntityRequest("release", request_id,
                                                   parent=self.instance_id))

    def call_entity(self, entity_id: EntityId | str | tuple[str, str], operation: str,
                    input: Any = None) -> Task[Any]:
        """Apply ``operation`` to an entity; the task completes with its result, or fails
        with :class:`EntityOperationFailedError` when the operation raises."""
        target = EntityId.of(entity_id)
        check_name(operation, "operation")
        self._locks.check_call(target)
        encoded = dumps(input, "input")
        request_id = self.new_uuid()
        self._send_to_entity(str(target), EntityRequest(
            "op", request_id, parent=self.instance_id, operation=operation, input=encoded,
            signal=False))
        return EntityCallTask(self.wait_for_external_event(request_id), target, operation)

    def signal_entity(self, entity_id: EntityId | str | tuple[str, str], operation: str,
                      input: Any = None) -> None:
        """Send ``operation`` to an entity, fire and forget (it is created if absent)."""
        target = EntityId.of(entity_id)
        check_name(operation, "operation")
        encoded = dumps(input, "input")
        self._send_to_entity(str(target), EntityRequest(
            "op", self.new_uuid(), parent=self.instance_id, operation=operation, input=encoded))

    def lock(self, entity_ids: Sequence[EntityId | str | tuple[str, str]]
             ) -> Task[CriticalSection]:
        """Lock entities for a critical section: ``with (yield ctx.lock([...])):``.

        The task completes once no other orchestration can operate on any of
        them; leaving the ``with`` block (or the orchestration ending, for any
        reason) releases them. Entities are locked in one global order, so two
        orchestrations locking overlapping sets cannot deadlock.
        """
        targets = [EntityId.of(e) for e in entity_ids]
        request_id = self.new_uuid()
        section = self._locks.request(request_id, targets)
        self._send_to_entity(section.entities[0], EntityRequest(
            "lock", request_id, parent=self.instance_id, lock_set=section.entities))
        return LockTask(self.wait_for_external_event(request_id), self._locks, section)

    @property
    def critical_section(self) -> CriticalSection | None:
        """The critical section the orchestration is in, if any."""
        return self._locks.open_section

    def task_all(self, tasks: Sequence[Task[Any]]) -> Task[list[Any]]:
        """A task completing with every result in order, failing on the first failure."""
        return WhenAllTask(tasks)

    def task_any(self, tasks: Sequence[Task[Any]]) -> Task[Task[Any]]:
        """A task completing with the first of ``tasks`` to complete."""
        return WhenAnyTask(tasks)

    def continue_as_new(self, input: Any = None,
                        preserve_unprocessed_events: bool = False) -> None:
        """Restart this instance with a fresh history and ``input``, once this step commits.

        With ``preserve_unprocessed_events`` the events received but not yet
        consumed are delivered to the new execution.
        """
        encoded = dumps(input, "input")
        carry = [e for q in self._received.values() for e in q] if preserve_unprocessed_events \
            else []
        self._runtime.continue_as_new(encoded, carry, preserve_unprocessed_events)

    # --- the runtime interface: called by the executor, not by orchestrator code ---

    @property
    def custom_status(self) -> str | None:
        """The JSON text of the custom status set so far (``None``: never set)."""
        return self._custom_status

    def open_sub_orchestrations(self) -> list[str]:
        """Instance ids of sub-orchestrations started and not yet finished."""
        return list(self._open_children.values())

    def locks_to_release(self, actions_sent: bool) -> list[tuple[str, str]]:
        """Runtime: ``(entity, lock request id)`` of every lock the ending execution may
        hold (see :meth:`EntityLocks.to_release`)."""
        return self._locks.to_release(actions_sent)

    def begin(self, started: ExecutionStarted) -> None:
        """Runtime: take the name, input, parent and version of the execution ``started``."""
        self.name, self._input = started.name, started.input
        self.parent_instance_id = started.parent_instance_id
        self.version = started.version or ""

    def take_actions(self) -> list[Action]:
        """Runtime: the actions scheduled since the last call, in order, forgotten now."""
        actions = list(self._pending_actions.values())
        self._pending_actions.clear()
        self._locks.step_committed()
        return actions

    def take_action(self, task_id: int) -> Action | None:
        """Runtime: the action scheduled at ``task_id``, which history recorded already
        (so it is no new work); ``None`` if the code scheduled nothing there."""
        return self._pending_actions.pop(task_id, None)

    def deliver_event(self, event: EventRaised) -> None:
        """Runtime: hand ``event`` to the first wait for its name, else keep it for one."""
        waiters = self._waiters.get(event.name)
        if waiters:
            waiters.popleft()._complete(loads(event.input))
        else:
            self._received.setdefault(event.name, deque()).append(event)

    def resolve(self, task_id: int, result: str | None = None,
                failure: FailureDetails | None = None, what: str = "activity") -> None:
        """Runtime: complete (with the JSON ``result``) or fail the task at ``task_id``."""
        task = self._open_tasks.pop(task_id, None)
        self._open_children.pop(task_id, None)
        if task is None:
            return  # a duplicate or stale completion: nothing waits for it
        if failure is None:
            task._complete(loads(result))
        else:
            task._fail(TaskFailedError(f"{what} task {task_id} failed: {failure.summary()}",
                                       failure))



