"""Group commit for concurrent calls: requests made while a batch is in flight
travel together in the next one.

A :class:`Batcher` turns many concurrent ``await batcher.submit(x)`` into few
calls of its ``run(list_of_x) -> list_of_results``: the first request starts a
batch at once (no added latency when alone), and every request made while
that batch is in flight joins the next. Each request gets its own result, or
the exception of its batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """Runs concurrent requests in batches of at most ``max_batch``."""

    def __init__(self, run: Callable[[list[T]], Awaitable[Sequence[R]]],
                 max_batch: int = 500) -> None:
        self._run = run
        self._max = max_batch
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Run ``item`` in the next batch and return its result."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:self._max], self._pending[self._max:]
            try:
                results = await self._run([item for item, _ in batch])
            except BaseException as exc:  # noqa: BLE001 - handed to every requester
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
                    raise
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
