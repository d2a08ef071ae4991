"""Drive an SDK orchestrator on perdure's executor from hand-built events (no I/O)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df

from perdure.azure import DFOrchestrationExecutor
from perdure.core.executor import OrchestrationExecutor, ReplayResult
from perdure.core.history import ExecutionStarted, HistoryEvent, OrchestratorStarted

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def sdk_orchestrator(fn: Callable[..., Any]) -> Any:
    """``df.Orchestrator.create(fn)``, run on perdure's DF executor."""
    handle = df.Orchestrator.create(fn)
    handle.__perdure_executor__ = DFOrchestrationExecutor
    return handle


class Run:
    """One orchestration instance: its history, stepped on a cached executor, or replayed
    from the history by a fresh executor before every step (``fresh=True``)."""

    def __init__(self, fn: Callable[..., Any], input: str | None = None,
                 instance_id: str = "inst", *, fresh: bool = False,
                 parent_instance_id: str | None = None) -> None:
        self.handle = sdk_orchestrator(fn)
        self.instance_id = instance_id
        self.fresh = fresh
        self.history: list[HistoryEvent] = []
        self.executor = OrchestrationExecutor(self.handle, instance_id)
        self.steps = 0
        self.results: list[ReplayResult] = []
        self._start = ExecutionStarted(timestamp=T0, name=getattr(fn, "__name__", "orch"),
                                       input=input, parent_instance_id=parent_instance_id)

    @property
    def now(self) -> datetime:
        """The timestamp of the next step."""
        return T0 + timedelta(seconds=self.steps)

    def start(self) -> ReplayResult:
        """The first step."""
        return self.step(self._start)

    def step(self, *events: HistoryEvent) -> ReplayResult:
        """Run one step over ``events``; record it as the worker would commit it."""
        now = self.now
        self.steps += 1
        if self.fresh:
            self.executor = OrchestrationExecutor(self.handle, self.instance_id)
            self.executor.process(self.history, replaying=True)
        batch: list[HistoryEvent] = [OrchestratorStarted(timestamp=now), *events]
        result = self.executor.step(batch)
        self.history += batch
        self.history += [action.to_event(now) for action in result.actions]
        self.results.append(result)
        return result

    def replay(self, handle: Any | None = None) -> OrchestrationExecutor:
        """A fresh executor (for ``handle``, default this run's) over the whole history."""
        executor = OrchestrationExecutor(handle or self.handle, self.instance_id)
        executor.process(self.history, replaying=True)
        return executor
