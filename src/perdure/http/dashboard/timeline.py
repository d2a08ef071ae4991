"""The Gantt-style timeline of one execution, computed from its stored history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ...core.history import (
    EventRaised,
    ExecutionCompleted,
    ExecutionStarted,
    HistoryEvent,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceCreated,
    SubOrchestrationInstanceFailed,
    TaskCompleted,
    TaskFailed,
    TaskScheduled,
    TimerCreated,
    TimerFired,
)


@dataclass(slots=True)
class Bar:
    """One row: a task from scheduled to finished (``end`` None while open)."""

    kind: str  # activity, sub-orchestration, timer, event
    label: str
    start: datetime
    end: datetime | None
    state: str  # completed, failed, running, fired, waiting, received
    instance_id: str | None = None
    left: float = 0.0
    width: float = 0.0

    @property
    def seconds(self) -> float | None:
        return None if self.end is None else (self.end - self.start).total_seconds()


@dataclass(slots=True)
class Timeline:
    bars: list[Bar]
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def build_timeline(events: Sequence[HistoryEvent], now: datetime) -> Timeline:
    """Bars for every activity, sub-orchestration, timer and raised event, in start order."""
    bars: dict[int, Bar] = {}
    points: list[Bar] = []
    start = events[0].timestamp if events else now
    end: datetime | None = None
    for event in events:
        if isinstance(event, ExecutionStarted):
            start = min(start, event.timestamp)
        elif isinstance(event, TaskScheduled):
            bars[event.task_id] = Bar("activity", event.name, event.timestamp, None, "running")
        elif isinstance(event, SubOrchestrationInstanceCreated):
            bars[event.task_id] = Bar("sub-orchestration", event.name, event.timestamp, None,
                                      "running", instance_id=event.instance_id)
        elif isinstance(event, TimerCreated):
            bars[event.task_id] = Bar("timer", f"until {event.fire_at:%H:%M:%S}",
                                      event.timestamp, None, "waiting")
        elif isinstance(event, TaskCompleted | SubOrchestrationInstanceCompleted | TimerFired
                        | TaskFailed | SubOrchestrationInstanceFailed):
            bar = bars.get(event.task_id)
            if bar is not None:
                bar.end = event.timestamp
                bar.state = ("failed" if isinstance(event, TaskFailed
                                                    | SubOrchestrationInstanceFailed)
                             else "fired" if isinstance(event, TimerFired) else "completed")
        elif isinstance(event, EventRaised):
            points.append(Bar("event", event.name, event.timestamp, event.timestamp, "received"))
        elif isinstance(event, ExecutionCompleted):
            end = event.timestamp
    ordered = sorted([*bars.values(), *points], key=lambda b: b.start)
    finish = max(end if end is not None else now, start)
    total = max((finish - start).total_seconds(), 1e-6)
    for bar in ordered:
        bar_end = bar.end or finish
        bar.left = round(100 * (bar.start - start).total_seconds() / total, 3)
        bar.width = round(max(100 * (bar_end - bar.start).total_seconds() / total, 0.5), 3)
        bar.left = min(bar.left, 99.5)
        bar.width = min(bar.width, 100 - bar.left)
    return Timeline(ordered, start, finish)
