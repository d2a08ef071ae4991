"""The Gantt-style timeline of one execution, computed from its stored history.

History records when an event arrived, not when the orchestrator began to
wait for it: :func:`event_waits` finds that by replaying the history with
the app's orchestrator (as a worker would, without running anything), so a
wait is drawn from its start to the event's arrival.
"""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ...core.executor import OrchestrationExecutor
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

    kind: str  # activity, sub-orchestration, timer, event wait, event
    label: str
    start: datetime
    end: datetime | None
    state: str  # completed, failed, running, fired, waiting, received, timed-out
    instance_id: str | None = None
    left: float = 0.0
    width: float = 0.0

    @property
    def seconds(self) -> float | None:
        return None if self.end is None else (self.end - self.start).total_seconds()


@dataclass(frozen=True, slots=True)
class Wait:
    """One external-event wait: its event's name, when it began, how it ended."""

    name: str
    start: datetime
    state: str  # received (its event arrived), waiting, timed-out


#: Histories longer than this are not replayed for their waits (a page stays fast).
REPLAY_LIMIT = 5000
logger = logging.getLogger(__name__)


def event_waits(orchestrator: Callable[..., Any] | None, instance_id: str,
                events: Sequence[HistoryEvent]) -> list[Wait] | None:
    """The external-event waits of the execution ``events`` record, in the order
    they began; ``None`` when they cannot be known (no such orchestrator here,
    a history too long, or code that does not replay)."""
    if orchestrator is None or len(events) > REPLAY_LIMIT:
        return None
    try:
        executor = OrchestrationExecutor(orchestrator, instance_id)
        executor.process(events, replaying=True)
        executor.take_actions()
    except Exception:  # noqa: BLE001 - the timeline does without
        logger.debug("no replay of %s for its timeline", instance_id, exc_info=True)
        return None
    return [Wait(task.name, start, "timed-out" if task.is_failed
                 else "received" if task.is_completed else "waiting")
            for task, start in executor.ctx.event_waits]


@dataclass(slots=True)
class Timeline:
    bars: list[Bar]
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def build_timeline(events: Sequence[HistoryEvent], now: datetime,
                   waits: Sequence[Wait] | None = None) -> Timeline:
    """Bars for every activity, sub-orchestration, timer and external-event wait, in
    start order. With ``waits`` (of :func:`event_waits`) a wait is a bar from its
    start to its event's arrival; without them, and for an event no wait took,
    the arrival is a point."""
    bars: dict[int, Bar] = {}
    points: list[Bar] = []
    arrivals: dict[str, deque[datetime]] = defaultdict(deque)
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
            arrivals[event.name].append(event.timestamp)
        elif isinstance(event, ExecutionCompleted):
            end = event.timestamp
    # Waits take their events first come, first served, as the context hands them out.
    for wait in waits or ():
        if wait.state == "received" and arrivals[wait.name]:
            arrived = arrivals[wait.name].popleft()
            points.append(Bar("event wait", wait.name, min(wait.start, arrived), arrived,
                              "received"))
        elif wait.state != "received":
            points.append(Bar("event wait", wait.name, wait.start,
                              wait.start if wait.state == "timed-out" else None, wait.state))
    for name, times in arrivals.items():
        points.extend(Bar("event", name, at, at, "received") for at in times)
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
