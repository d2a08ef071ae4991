"""Running a batch of requests on one entity: a pure function of its state and inbox.

:func:`run_batch` applies an entity's queued requests one at a time in
arrival order, and returns its new :class:`~perdure.core.entities.EntityState`
with everything to send: answers to callers, signals to other entities and
orchestrations to start. The worker commits all of it, with the dequeue of
the requests, in one transaction, so an operation is applied exactly once.

Each operation runs on a fresh :class:`EntityContext`. One that raises rolls
back its own state change and its own messages, reports its error to its
caller, and the batch carries on with the next request.

While an orchestration holds the entity's lock, requests from anyone else wait
in the state's queue; the release lets them through, in order.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .entities import EntityId, EntityRequest, EntityResponse, EntityState
from .errors import InvalidArgumentError, UnknownFunctionError
from .history import FailureDetails
from .names import check_name, validate_instance_id
from .serialization import dumps, loads

EntityFunction = Callable[["EntityContext"], Any]


class OperationWatch(Protocol):
    """Bounds each operation's time (the worker's step watchdog): ``begin`` before the
    user code, ``settle`` after it; an overrun raises inside the operation, failing it."""

    def begin(self) -> None:
        """An operation starts."""

    def settle(self) -> None:
        """The operation is over; no interruption lands after this returns."""

_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class EntitySignal:
    """A request for entity ``target`` (a signal, or a lock request moving on)."""

    target: str
    request: EntityRequest


@dataclass(frozen=True, slots=True)
class OrchestrationStart:
    """An orchestration an operation starts."""

    name: str
    instance_id: str
    input: str | None = None


@dataclass(frozen=True, slots=True)
class EntityAnswer:
    """The answer to request ``request_id`` of ``instance_id`` (its execution ``execution_id``)."""

    instance_id: str
    execution_id: str | None
    request_id: str
    response: EntityResponse


@dataclass(slots=True)
class BatchResult:
    """What a batch changed: the entity's new state and the messages to send."""

    state: EntityState
    answers: list[EntityAnswer] = field(default_factory=list)
    signals: list[EntitySignal] = field(default_factory=list)
    starts: list[OrchestrationStart] = field(default_factory=list)
    operations: int = 0
    failed: int = 0


class EntityContext:
    """What an entity function receives for one operation."""

    def __init__(self, entity_id: EntityId, operation: str, input: str | None,
                 exists: bool, state: str | None, new_id: Callable[[], str]) -> None:
        self.entity_id = entity_id
        """This entity's :class:`EntityId`."""
        self.operation_name = operation
        """The operation to apply."""
        self._input = input
        self._exists, self._state_text = exists, state
        self._state: Any = _MISSING  # decoded on first use
        self._state_changed = False
        self._result: Any = None
        self._result_set = False
        self._new_id = new_id
        self.signals: list[EntitySignal] = []
        self.starts: list[OrchestrationStart] = []

    @property
    def entity_name(self) -> str:
        """The entity's name (lower-cased)."""
        return self.entity_id.name

    @property
    def entity_key(self) -> str:
        """The entity's key."""
        return self.entity_id.key

    @property
    def has_state(self) -> bool:
        """Whether the entity has state (it was set and not deleted)."""
        return self._exists

    def get_input(self) -> Any:
        """The operation's input, decoded from JSON."""
        return loads(self._input)

    @property
    def input_json(self) -> str | None:
        """The operation's input as stored, JSON text (``None``: no input)."""
        return self._input

    @property
    def state_json(self) -> str | None:
        """The state as stored when the operation began, JSON text (``None``: no state)."""
        return self._state_text if self._exists else None

    def get_state(self, default: Any = None) -> Any:
        """The entity's state; ``default`` (or what calling it returns) when it has none."""
        if not self._exists:
            return default() if callable(default) else default
        if self._state is _MISSING:
            self._state = loads(self._state_text)
        return self._state

    def set_state(self, value: Any) -> None:
        """Replace the state; it is stored when the operation returns."""
        self._exists, self._state, self._state_changed = True, value, True

    def delete_state(self) -> None:
        """Delete the state: the entity no longer exists once the operation returns."""
        self._exists, self._state, self._state_changed = False, None, True

    def set_result(self, value: Any) -> None:
        """The value a caller of this operation receives."""
        self._result, self._result_set = value, True

    def signal_entity(self, entity_id: EntityId | str | tuple[str, str], operation: str,
                      input: Any = None) -> None:
        """Send an operation to an entity, fire and forget (sent if this operation succeeds)."""
        target = EntityId.of(entity_id)
        check_name(operation, "operation")
        request = EntityRequest("op", self._new_id(), parent=str(self.entity_id),
                                operation=operation, input=dumps(input, "input"))
        self.signals.append(EntitySignal(str(target), request))

    def start_new_orchestration(self, name: str, input: Any = None,
                                instance_id: str | None = None) -> str:
        """Start orchestrator ``name`` (if this operation succeeds); returns its instance id."""
        check_name(name, "orchestrator")
        instance_id = validate_instance_id(instance_id) if instance_id is not None \
            else self._new_id()
        self.starts.append(OrchestrationStart(name, instance_id, dumps(input, "input")))
        return instance_id

    # --- the batch's side ---------------------------------------------------

    def outcome(self) -> tuple[bool, str | None, str | None]:
        """``(exists, state, result)`` as JSON text, once the operation returned."""
        state = dumps(self._state, "entity state") if self._state_changed else self._state_text
        return self._exists, state if self._exists else None, \
            dumps(self._result, "operation result")


def class_entity(cls: type[Any]) -> EntityFunction:
    """An entity function whose operations are the public methods of ``cls``.

    The state is the instance's attributes (``vars(obj)``, a JSON object); a
    new entity is ``cls()``. A method takes the operation's input if it has a
    parameter for it, and its return value is the result. The operation
    ``delete`` (unless the class defines it) deletes the state.
    """
    def run(ctx: EntityContext) -> Any:
        operation = ctx.operation_name
        method = _public_method(cls, operation)
        if method is None and operation.lower() == "delete":
            ctx.delete_state()
            return None
        if method is None:
            raise InvalidArgumentError(f"entity {cls.__name__!r} has no operation {operation!r}")
        obj: Any = object.__new__(cls)
        if ctx.has_state:
            state = ctx.get_state()
            if not isinstance(state, dict):
                raise InvalidArgumentError(f"entity {cls.__name__!r} state is not an object")
            vars(obj).update(state)
        else:
            obj.__init__()
        params = [p for p in inspect.signature(method).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        result = method(obj, ctx.get_input()) if len(params) > 1 else method(obj)
        ctx.set_state(dict(vars(obj)))
        ctx.set_result(result)
        return None

    run.__name__ = cls.__name__
    run.__perdure_class__ = cls  # type: ignore[attr-defined]
    return run


def _public_method(cls: type[Any], operation: str) -> Any:
    if operation.startswith("_"):
        return None
    names = {name.lower(): name for name in dir(cls) if not name.startswith("_")}
    name = operation if operation in names.values() else names.get(operation.lower())
    member = getattr(cls, name, None) if name else None
    return member if inspect.isfunction(member) else None


class _Batch:
    def __init__(self, entity: EntityFunction | None, entity_id: EntityId,
                 state: EntityState, new_id: Callable[[], str],
                 watch: OperationWatch | None) -> None:
        self.entity, self.entity_id, self.new_id = entity, entity_id, new_id
        self.watch = watch
        self.result = BatchResult(state)

    @property
    def state(self) -> EntityState:
        return self.result.state

    def deliver(self, request: EntityRequest) -> None:
        state = self.state
        if request.kind == "release":
            self.release(request)
        elif state.lock is not None and request.parent != state.lock:
            state.queue.append(request)  # waits for the holder's release
        elif request.kind == "lock" and _released_key(request) in state.released:
            state.released = [k for k in state.released if k != _released_key(request)]
        elif request.kind == "lock":
            self.lock(request)
        else:
            self.operate(request)

    def release(self, request: EntityRequest) -> None:
        state = self.state
        # A lock request of the released section that still waits here goes too
        # (its orchestration ended before it got this far).
        queue_length = len(state.queue)
        state.queue = [r for r in state.queue if not (r.kind == "lock" and r.id == request.id)]
        if state.lock != request.parent or state.lock_id != request.id:
            if len(state.queue) == queue_length and state.lock != request.parent:
                # Neither held nor waiting: the request is still on its way here (or
                # this release is a repeat). Remember it, so that it is not granted
                # to an orchestration that has ended; the newest few are kept.
                state.released = [*state.released, _released_key(request)][-_RELEASED_KEPT:]
            return
        state.lock = state.lock_id = None
        waiting, state.queue = state.queue, []
        for queued in waiting:
            self.deliver(queued)

    def lock(self, request: EntityRequest) -> None:
        state = self.state
        state.lock, state.lock_id = request.parent, request.id
        if request.position + 1 < len(request.lock_set):
            moved = request.forwarded()
            self.result.signals.append(EntitySignal(moved.lock_set[moved.position], moved))
        elif request.parent is not None:
            self.answer(request, EntityResponse())

    def operate(self, request: EntityRequest) -> None:
        state, out = self.state, self.result
        out.operations += 1
        operation = request.operation or ""
        ctx = EntityContext(self.entity_id, operation, request.input, state.exists,
                            state.state, self.new_id)
        watch = self.watch
        try:
            if self.entity is None:
                raise UnknownFunctionError("entity", self.entity_id.name)
            if watch is not None:
                watch.begin()
            returned = self.entity(ctx)
            if returned is not None and not ctx._result_set:
                ctx.set_result(returned)
            exists, new_state, result = ctx.outcome()
            if watch is not None:
                watch.settle()
        except BaseException as exc:  # noqa: BLE001 - user code: fails its operation only
            if watch is not None:
                watch.settle()
            out.failed += 1
            if request.answers:
                self.answer(request, EntityResponse(failure=FailureDetails.from_exception(exc)))
            return
        state.exists, state.state = exists, new_state
        out.signals.extend(ctx.signals)
        out.starts.extend(ctx.starts)
        if request.answers:
            self.answer(request, EntityResponse(result=result))

    def answer(self, request: EntityRequest, response: EntityResponse) -> None:
        if request.parent is not None:
            self.result.answers.append(EntityAnswer(request.parent, request.parent_execution,
                                                    request.id, response))


#: Releases remembered per entity for lock requests not arrived yet (a bound keeps
#: the state O(1); one pushed out leaves a lock for ``clean_entity_storage``).
_RELEASED_KEPT = 16


def _released_key(request: EntityRequest) -> str:
    return f"{request.parent} {request.id}"


def run_batch(entity: EntityFunction | None, entity_id: EntityId, state: EntityState,
              requests: Sequence[EntityRequest], new_id: Callable[[], str],
              watch: OperationWatch | None = None) -> BatchResult:
    """Apply ``requests`` in order to an entity in ``state``; ``state`` is not modified.

    ``entity`` ``None`` (no such entity registered) fails every operation.
    ``new_id`` makes the ids of signals and started orchestrations; ``watch``
    bounds each operation's time.
    """
    copy = EntityState(state.exists, state.state, state.lock, state.lock_id, list(state.queue),
                       list(state.released))
    batch = _Batch(entity, entity_id, copy, new_id, watch)
    for request in requests:
        batch.deliver(request)
    return batch.result


__all__ = [
    "BatchResult", "EntityAnswer", "EntityContext", "EntityFunction", "EntitySignal",
    "OperationWatch", "OrchestrationStart", "class_entity", "run_batch",
]
