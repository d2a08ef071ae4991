"""Running activity functions: argument injection, and the event each call ends in."""

from __future__ import annotations

import asyncio
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..core.errors import ActivityTimeoutError
from ..core.history import FailureDetails, HistoryEvent, TaskCompleted, TaskFailed
from ..core.serialization import dumps, loads
from ..store.base import ActivityTask


class ActivityClient(Protocol):
    """The client a worker hands its activities, as far as the worker itself uses it.

    :class:`perdure.Client` is one. A protocol, so that the worker layer does
    not import the client layer: whoever builds the worker (the CLI, the
    ``perdure`` package) gives it the client, or a factory of one.
    """

    def create_http_management_payload(self, instance_id: str,
                                       base_url: str | None = None) -> dict[str, str]:
        """The management URLs of an instance the client has seen."""
        ...

    async def http_management_payload(self, instance_id: str,
                                      base_url: str | None = None) -> dict[str, str]:
        """The management URLs of any instance, read from the hub when needed."""
        ...

    def blocking(self, loop: asyncio.AbstractEventLoop) -> Any:
        """A blocking facade over the client, whose store lives on ``loop``."""
        ...


@dataclass
class ActivityContext:
    """What an activity may ask for by annotating a parameter with ``ActivityContext``.

    ``client`` is the async orchestration client (for ``async def`` activities);
    ``sync_client`` is its blocking facade, usable from plain activities, which
    run in worker threads. Both are typed ``Any`` here, because the worker
    layer does not import the client: they are a :class:`perdure.Client` and a
    :class:`perdure.SyncClient` (annotate a variable with them to type-check
    their calls) unless the worker was given another client.
    """

    instance_id: str
    """The id of the orchestration instance that scheduled this activity."""
    name: str
    """The activity's registered name."""
    task_id: int
    """The task's position in the orchestration's history."""
    attempt: int
    """1 for the first delivery; higher when a crashed worker's claim is retried."""
    client: Any
    """The async orchestration client (an :class:`ActivityClient`)."""
    _loop: asyncio.AbstractEventLoop

    @property
    def sync_client(self) -> Any:
        """A blocking client bound to the worker's event loop (for plain activities)."""
        return self.client.blocking(self._loop)

    def create_http_management_payload(self, instance_id: str | None = None) -> dict[str, str]:
        """Management URLs for ``instance_id`` (default: this activity's instance).

        With keys on, their tokens are bound to the instance's generation. A
        plain activity (in a worker thread) reads it from the hub, blocking; an
        ``async def`` activity, on the event loop, must not block: it should
        ``await ctx.http_management_payload()``. Called from the loop, this
        method uses only what the client has seen already (and raises
        ``InvalidArgumentError`` for an instance it has not).
        """
        target = instance_id or self.instance_id
        client: ActivityClient = self.client
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            return client.create_http_management_payload(target)
        return asyncio.run_coroutine_threadsafe(client.http_management_payload(target),
                                                self._loop).result()

    async def http_management_payload(self, instance_id: str | None = None) -> dict[str, str]:
        """Management URLs for ``instance_id`` (default: this activity's instance), for
        ``async def`` activities; see :meth:`create_http_management_payload`."""
        client: ActivityClient = self.client
        return await client.http_management_payload(instance_id or self.instance_id)


@dataclass(frozen=True, slots=True)
class _Signature:
    input_param: str | None
    context_param: str | None
    is_async: bool


_SIGNATURES: dict[Callable[..., Any], _Signature] = {}


def _signature(fn: Callable[..., Any]) -> _Signature:
    sig = _SIGNATURES.get(fn)
    if sig is not None:
        return sig
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable annotations: fall back to names
        hints = {}
    input_param = context_param = None
    for param in inspect.signature(fn).parameters.values():
        annotation = hints.get(param.name, param.annotation)
        is_context = annotation is ActivityContext or (
            isinstance(annotation, str) and annotation.endswith("ActivityContext"))
        if is_context:
            context_param = param.name
        elif input_param is None and param.kind in (param.POSITIONAL_ONLY,
                                                    param.POSITIONAL_OR_KEYWORD):
            input_param = param.name
    sig = _SIGNATURES[fn] = _Signature(input_param, context_param,
                                       inspect.iscoroutinefunction(fn))
    return sig


def is_async_activity(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` is an ``async def`` activity (run on the event loop, not in a thread)."""
    return _signature(fn).is_async


def activity_arguments(fn: Callable[..., Any], task: ActivityTask,
                       make_context: Callable[[], ActivityContext]) -> dict[str, Any]:
    """The keyword arguments of ``fn`` for ``task``: its decoded input, its context."""
    sig = _signature(fn)
    kwargs: dict[str, Any] = {}
    if sig.input_param is not None:
        kwargs[sig.input_param] = loads(task.input)
    if sig.context_param is not None:
        kwargs[sig.context_param] = make_context()
    return kwargs


def activity_failed(task: ActivityTask, exc: BaseException) -> TaskFailed:
    """The ``TaskFailed`` event of ``task`` for ``exc``."""
    return TaskFailed(task_id=task.task_id, failure=FailureDetails.from_exception(exc))


def call_activity(fn: Callable[..., Any], task: ActivityTask,
                  kwargs: dict[str, Any]) -> HistoryEvent:
    """Call a plain activity (in a worker thread); its ``TaskCompleted`` or ``TaskFailed``.

    Never raises: even ``SystemExit`` or ``KeyboardInterrupt`` raised by the
    function (which cannot stop the worker from a thread) fail the task.
    """
    try:
        return _completed(task, fn(**kwargs))
    except BaseException as exc:  # noqa: BLE001 - user code: anything becomes TaskFailed
        return activity_failed(task, exc)


async def run_async_activity(fn: Callable[..., Any], task: ActivityTask,
                             make_context: Callable[[], ActivityContext],
                             timeout: float | None = None) -> HistoryEvent:
    """Run an ``async def`` activity; its ``TaskCompleted`` or ``TaskFailed``.

    Raises only ``CancelledError``, and only when the worker cancelled it (on
    stop). Anything the activity raises itself — ``CancelledError``,
    ``SystemExit``, ``KeyboardInterrupt`` included, which asyncio would
    otherwise let escape the event loop — fails the task, and so does running
    past ``timeout`` (:class:`ActivityTimeoutError`).
    """
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            value = await fn(**activity_arguments(fn, task, make_context))
        return _completed(task, value)
    except asyncio.CancelledError as exc:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # the worker is stopping: the lease expires, another worker reruns it
        return activity_failed(task, exc)
    except TimeoutError as exc:
        if deadline.expired() and timeout is not None:
            return activity_failed(task, ActivityTimeoutError(task.name, timeout))
        return activity_failed(task, exc)
    except BaseException as exc:  # noqa: BLE001 - user code: anything becomes TaskFailed
        return activity_failed(task, exc)


def activity_timed_out(task: ActivityTask, timeout: float) -> TaskFailed:
    """The ``TaskFailed`` event of an attempt of ``task`` that ran past ``timeout``."""
    return activity_failed(task, ActivityTimeoutError(task.name, timeout))


def _completed(task: ActivityTask, value: Any) -> TaskCompleted:
    return TaskCompleted(task_id=task.task_id,
                         result=dumps(value, f"result of activity {task.name!r}"))
