"""The orchestration side of entities: calls, signals and critical sections.

A call or a lock request is an event sent to the entity (recorded in history
as any sent event, so replay matches it) and a wait for the answer event named
after the request id. :class:`EntityLocks` keeps the critical sections of one
execution, so that whatever ends it (a return, an error, a terminate) can
release what it still holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from .entities import (
    EntityId,
    EntityOperationFailedError,
    EntityResponse,
    LockingRulesError,
)
from .serialization import loads
from .task import Task


class EntityCallTask(Task[Any]):
    """Completes with an entity operation's result, or fails with its error."""

    __slots__ = ("_entity_id", "_operation")

    def __init__(self, answer: Task[Any], entity_id: EntityId, operation: str) -> None:
        super().__init__()
        self._entity_id, self._operation = entity_id, operation
        answer._on_done(self._answered)

    def _answered(self, answer: Task[Any]) -> None:
        response = EntityResponse.from_value(answer._result)
        if response.failure is not None:
            self._fail(EntityOperationFailedError(str(self._entity_id), self._operation,
                                                  response.failure))
        else:
            self._complete(loads(response.result))


class CriticalSection:
    """Held locks on entities: ``with (yield ctx.lock([...])):`` releases them on exit.

    Inside, the orchestration may call only the entities it holds (a call to
    another one could wait on an orchestration that waits on this one).
    """

    def __init__(self, locks: EntityLocks, request_id: str, entities: tuple[str, ...]) -> None:
        self._locks, self.request_id, self.entities = locks, request_id, entities

    @property
    def is_held(self) -> bool:
        """Whether the locks are still held (not released yet)."""
        return self._locks.open_section is self

    def release(self) -> None:
        """Release every lock of the section now (idempotent)."""
        self._locks.release(self)

    def __enter__(self) -> CriticalSection:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


class LockTask(Task[CriticalSection]):
    """Completes with the :class:`CriticalSection` once every lock is granted."""

    __slots__ = ("_locks", "_section")

    def __init__(self, answer: Task[Any], locks: EntityLocks, section: CriticalSection) -> None:
        super().__init__()
        self._locks, self._section = locks, section
        answer._on_done(self._granted)

    def _granted(self, _answer: Task[Any]) -> None:
        self._locks.granted(self._section)
        self._complete(self._section)


#: Sends a release of lock request ``request_id`` to the entity ``entity``.
SendRelease = Callable[[str, str], None]


class EntityLocks:
    """The critical sections of one execution (at most one open at a time)."""

    def __init__(self, send_release: SendRelease) -> None:
        self._send_release = send_release
        self.open_section: CriticalSection | None = None
        self._requested: CriticalSection | None = None
        # Requested and not released: what the execution's end must release.
        self._unreleased: dict[str, tuple[str, ...]] = {}
        # Released by this step's actions, which a failed step never sends.
        self._released_now: dict[str, tuple[str, ...]] = {}

    def request(self, request_id: str, entities: Iterable[EntityId]) -> CriticalSection:
        """Register a lock request on ``entities``; returns the section it opens.

        The entities are sorted: every orchestration locks in the same order.
        """
        if self.open_section is not None or self._requested is not None:
            raise LockingRulesError("an orchestration cannot lock entities inside a critical "
                                    "section (or while a lock request waits)")
        ids = tuple(sorted({str(e) for e in entities}))
        if not ids:
            raise LockingRulesError("lock needs at least one entity")
        section = CriticalSection(self, request_id, ids)
        self._requested = section
        self._unreleased[request_id] = ids
        return section

    def granted(self, section: CriticalSection) -> None:
        """Runtime: every lock of ``section`` was granted."""
        if self._requested is section:
            self._requested = None
            self.open_section = section

    def check_call(self, entity_id: EntityId) -> None:
        """Refuse a call that could deadlock: inside a section, to an entity not held."""
        section = self.open_section
        if section is not None and str(entity_id) not in section.entities:
            raise LockingRulesError(
                f"inside a critical section an orchestration may call only the entities it "
                f"holds {list(section.entities)}; {str(entity_id)!r} is not one of them")

    def release(self, section: CriticalSection) -> None:
        """Release ``section``'s locks (sends one release per entity)."""
        ids = self._unreleased.pop(section.request_id, None)
        if self.open_section is section:
            self.open_section = None
        if self._requested is section:
            self._requested = None
        if ids is None:
            return
        for entity in ids:
            self._send_release(entity, section.request_id)
        self._released_now[section.request_id] = ids

    def step_committed(self) -> None:
        """Runtime: this step's actions (its releases among them) will be sent."""
        self._released_now.clear()

    def to_release(self, actions_sent: bool) -> list[tuple[str, str]]:
        """``(entity, lock request id)`` for every lock the ending execution may hold.

        ``actions_sent`` is false when the final step's actions are dropped (a
        failed or terminated execution): releases made by that step are then
        owed too. Releases go to every entity of a lock set: one that the lock
        request has not reached yet remembers the release and drops the request
        when it comes (see ``EntityState.released``).
        """
        owed = dict(self._unreleased)
        if not actions_sent:
            owed.update(self._released_now)
        return [(entity, request_id) for request_id, ids in owed.items() for entity in ids]


__all__ = ["CriticalSection", "EntityCallTask", "EntityLocks", "LockTask", "SendRelease"]
