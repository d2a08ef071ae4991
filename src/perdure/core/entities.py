"""Durable entities: their ids, the messages they exchange and their stored state.

An entity is a small stateful object addressed by a name and a key. It lives
in the task hub as an instance whose id is ``@name@key`` (the name
lower-cased: entity names are case-insensitive, as in Durable Functions) and
whose history stays empty: everything it keeps, its user state, who holds its
lock and the requests waiting for that lock, is one :class:`EntityState`
stored in the instance row, so its storage does not grow with the operations
it has processed.

Entities and orchestrations talk through the inboxes they already have, as
Durable Functions does: a request is an ``EventRaised`` named :data:`REQUEST_EVENT`
carrying an :class:`EntityRequest` (the first one a new entity gets rides in its
``ExecutionStarted`` input), and the answer to a call or a lock is an
``EventRaised`` named after the request id, carrying an :class:`EntityResponse`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from .errors import InvalidArgumentError, TaskFailedError
from .history import FailureDetails
from .names import MAX_INSTANCE_ID_LENGTH, control_character
from .serialization import dumps, loads

#: The event name of every request addressed to an entity.
REQUEST_EVENT = "op"

RequestKind = Literal["op", "lock", "release"]


@dataclass(frozen=True, slots=True)
class EntityId:
    """An entity's address: ``EntityId("Counter", "c1")`` is instance ``@counter@c1``.

    The name is case-insensitive (kept lower-cased); the key is taken as given.
    """

    name: str
    key: str

    def __post_init__(self) -> None:
        for what, value in (("entity name", self.name), ("entity key", self.key)):
            if not isinstance(value, str) or not value:
                raise InvalidArgumentError(f"{what} must be a non-empty string, got {value!r}")
            char = control_character(value)
            if char is not None:
                raise InvalidArgumentError(f"{what} {value!r} contains the control character "
                                           f"{char!r}")
        if "@" in self.name:
            raise InvalidArgumentError(f"entity name {self.name!r} must not contain '@'")
        object.__setattr__(self, "name", self.name.lower())
        if len(str(self)) > MAX_INSTANCE_ID_LENGTH:
            raise InvalidArgumentError(f"entity id {str(self)!r} is longer than "
                                       f"{MAX_INSTANCE_ID_LENGTH} characters")

    def __str__(self) -> str:
        return f"@{self.name}@{self.key}"

    @classmethod
    def parse(cls, instance_id: str) -> EntityId:
        """The entity of an instance id ``@name@key``; ``InvalidArgumentError`` otherwise."""
        if not is_entity_id(instance_id):
            raise InvalidArgumentError(f"{instance_id!r} is not an entity id (@name@key)")
        name, _, key = instance_id[1:].partition("@")
        return cls(name, key)

    @classmethod
    def of(cls, value: EntityId | str | tuple[str, str]) -> EntityId:
        """Accept an ``EntityId``, its instance id ``@name@key`` or a ``(name, key)`` pair."""
        if isinstance(value, EntityId):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        if isinstance(value, tuple) and len(value) == 2:
            return cls(value[0], value[1])
        raise InvalidArgumentError(f"expected an EntityId, '@name@key' or (name, key), "
                                   f"got {value!r}")


def is_entity_id(instance_id: str) -> bool:
    """Whether ``instance_id`` addresses an entity (``@name@key``)."""
    return instance_id.startswith("@") and instance_id.find("@", 2) > 1


# --- messages ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntityRequest:
    """One message to an entity: an operation, a lock request or a lock release.

    ``parent`` is the sender (an orchestration, or an entity for its signals);
    ``parent_execution`` the sender's execution, so that an answer never
    reaches a later execution of it. A lock request travels along
    ``lock_set`` (sorted, so that every orchestration locks in one global
    order and none can deadlock another): ``position`` is the entity it is at.
    """

    kind: RequestKind
    id: str
    parent: str | None = None
    parent_execution: str | None = None
    operation: str | None = None
    input: str | None = None
    signal: bool = True
    lock_set: tuple[str, ...] = ()
    position: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Encode as a plain dict (only the fields set)."""
        out: dict[str, Any] = {"kind": self.kind, "id": self.id}
        for key, value in (("parent", self.parent), ("exec", self.parent_execution),
                           ("op", self.operation), ("input", self.input)):
            if value is not None:
                out[key] = value
        if not self.signal:
            out["signal"] = False
        if self.lock_set:
            out["lock_set"], out["position"] = list(self.lock_set), self.position
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EntityRequest:
        """Decode :meth:`to_dict`."""
        return cls(d["kind"], d["id"], d.get("parent"), d.get("exec"), d.get("op"),
                   d.get("input"), d.get("signal", True), tuple(d.get("lock_set", ())),
                   d.get("position", 0))

    def encode(self) -> str:
        """JSON text, the payload of a request event."""
        text = dumps(self.to_dict(), "entity request")
        assert text is not None
        return text

    @classmethod
    def decode(cls, text: str | None) -> EntityRequest | None:
        """The request in ``text``; ``None`` when it holds none (a stray event)."""
        value = loads(text)
        if not isinstance(value, dict) or value.get("kind") not in ("op", "lock", "release"):
            return None
        try:
            return cls.from_dict(value)
        except (KeyError, TypeError):
            return None

    def forwarded(self) -> EntityRequest:
        """This lock request, moved on to the next entity of its lock set."""
        return replace(self, position=self.position + 1)

    @property
    def answers(self) -> bool:
        """Whether the sender waits for an answer (a call, or a lock request)."""
        return self.kind == "lock" or (self.kind == "op" and not self.signal)


@dataclass(frozen=True, slots=True)
class EntityResponse:
    """The answer to a call (a JSON result or a failure) or to a lock request."""

    result: str | None = None
    failure: FailureDetails | None = None

    def encode(self) -> str:
        """JSON text, the payload of the answer event."""
        # Durable Functions' shape: "result" always holds JSON text, and a failure
        # adds "exceptionType" (its result is then the message).
        if self.failure is None:
            body: dict[str, Any] = {"result": "null" if self.result is None else self.result}
        else:
            body = {"failure": self.failure.to_dict(), "exceptionType": self.failure.error_type,
                    "result": dumps(self.failure.message)}
        text = dumps(body, "entity response")
        assert text is not None
        return text

    @classmethod
    def from_value(cls, value: Any) -> EntityResponse:
        """The response an answer event's decoded payload holds."""
        if isinstance(value, dict) and isinstance(value.get("failure"), dict):
            return cls(failure=FailureDetails.from_dict(value["failure"]))
        return cls(result=value.get("result") if isinstance(value, dict) else None)


class EntityOperationFailedError(TaskFailedError):
    """An entity operation called by an orchestration raised; ``details`` says how."""

    def __init__(self, entity_id: str, operation: str, failure: FailureDetails) -> None:
        super().__init__(f"operation {operation!r} of entity {entity_id!r} failed: "
                         f"{failure.summary()}", failure)
        self.entity_id = entity_id
        self.operation = operation


class LockingRulesError(InvalidArgumentError):
    """An orchestration broke a rule of critical sections (they prevent deadlocks)."""


# --- stored state -----------------------------------------------------------


@dataclass(slots=True)
class EntityState:
    """Everything an entity keeps, stored as one JSON value in its instance row.

    ``state`` is the user's state as JSON text (meaningful when ``exists``);
    ``lock`` is the orchestration holding the entity, ``lock_id`` its lock
    request; ``queue`` holds the requests waiting for the lock, in arrival order;
    ``released`` the lock requests (``"parent lock-id"``) whose release came here
    before they did (their orchestration ended while they travelled along their
    lock set): such a request, arriving later, is dropped instead of granted.
    """

    exists: bool = False
    state: str | None = None
    lock: str | None = None
    lock_id: str | None = None
    queue: list[EntityRequest] = field(default_factory=list)
    released: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        """No state, no lock and nothing queued: the entity may be removed."""
        return not self.exists and self.lock is None and not self.queue

    def encode(self) -> str:
        """JSON text for the instance row."""
        body: dict[str, Any] = {"exists": self.exists}
        if self.exists:
            body["state"] = self.state
        if self.lock is not None:
            body["lock"], body["lock_id"] = self.lock, self.lock_id
        if self.queue:
            body["queue"] = [r.to_dict() for r in self.queue]
        if self.released:
            body["released"] = self.released
        text = dumps(body, "entity state")
        assert text is not None
        return text

    @classmethod
    def decode(cls, text: str | None) -> EntityState:
        """The state stored as ``text`` (``None``: a new entity)."""
        value = loads(text)
        if not isinstance(value, dict):
            return cls()
        return cls(bool(value.get("exists")), value.get("state"), value.get("lock"),
                   value.get("lock_id"),
                   [EntityRequest.from_dict(r) for r in value.get("queue", ())],
                   [str(r) for r in value.get("released", ())])


__all__ = [
    "REQUEST_EVENT", "EntityId", "EntityOperationFailedError", "EntityRequest",
    "EntityResponse", "EntityState", "LockingRulesError", "RequestKind", "is_entity_id",
]
