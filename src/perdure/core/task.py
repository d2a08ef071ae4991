"""Durable tasks: what orchestrator code yields or awaits.

A task's ``__await__`` yields the task itself, so the replay driver resumes a
generator orchestrator (``yield task``) and an ``async def`` one (``await
task``) the same way, with ``send`` and ``throw``; no event loop is involved.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Task(Generic[T]):
    """A durable operation that completes with a result or an exception."""

    __slots__ = ("_done", "_result", "_exception", "_listeners")

    def __init__(self) -> None:
        self._done = False
        self._result: Any = None
        self._exception: BaseException | None = None
        self._listeners: list[Callable[[Task[Any]], None]] = []

    @property
    def is_completed(self) -> bool:
        """True once the task has a result or an exception."""
        return self._done

    @property
    def is_failed(self) -> bool:
        """True when the task completed with an exception."""
        return self._exception is not None

    @property
    def result(self) -> T:
        """The result; raises the task's exception if it failed."""
        if self._exception is not None:
            raise self._exception
        if not self._done:
            raise RuntimeError("the task has not completed")
        return self._result  # type: ignore[no-any-return]

    @property
    def exception(self) -> BaseException | None:
        """The exception the task failed with, if any."""
        return self._exception

    def _complete(self, result: Any) -> None:
        if self._done:
            return
        self._done, self._result = True, result
        self._notify()

    def _fail(self, exc: BaseException) -> None:
        if self._done:
            return
        self._done, self._exception = True, exc
        self._notify()

    def _notify(self) -> None:
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            listener(self)

    def _on_done(self, listener: Callable[[Task[Any]], None]) -> None:
        if self._done:
            listener(self)
        else:
            self._listeners.append(listener)

    def __await__(self) -> Generator[Task[T], Any, T]:
        return (yield self)  # type: ignore[no-any-return]


class CompletableTask(Task[T]):
    """A task completed by one history event, identified by ``task_id``."""

    __slots__ = ("task_id",)

    def __init__(self, task_id: int) -> None:
        super().__init__()
        self.task_id = task_id


class WhenAllTask(Task[list[Any]]):
    """Completes with every child's result in order; fails as soon as one child fails."""

    __slots__ = ("_children", "_remaining")

    def __init__(self, children: Sequence[Task[Any]]) -> None:
        super().__init__()
        self._children = list(children)
        self._remaining = len(self._children)
        if not self._children:
            self._complete([])
        for child in self._children:
            child._on_done(self._child_done)

    def _child_done(self, child: Task[Any]) -> None:
        if child.is_failed:
            self._fail(child.exception)  # type: ignore[arg-type]
            return
        self._remaining -= 1
        if self._remaining == 0:
            self._complete([c._result for c in self._children])


class WhenAnyTask(Task[Task[Any]]):
    """Completes with the first child task to complete (successfully or not)."""

    __slots__ = ("_children",)

    def __init__(self, children: Sequence[Task[Any]]) -> None:
        super().__init__()
        self._children = list(children)
        if not self._children:
            raise ValueError("task_any needs at least one task")
        for child in self._children:
            child._on_done(self._complete)
