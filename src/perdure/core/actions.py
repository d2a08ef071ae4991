"""Actions: what an orchestrator decided to do in one step.

Each action becomes a history event when the step commits, and on replay the
recorded event must match the action the code schedules at the same position.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .history import (
    EventSent,
    HistoryEvent,
    SubOrchestrationInstanceCreated,
    TaskScheduled,
    TimerCreated,
)


@dataclass(frozen=True, slots=True)
class ScheduleActivity:
    """Run activity ``name`` with ``input`` (JSON text) as task ``task_id``."""

    task_id: int
    name: str
    input: str | None = None

    @classmethod
    def from_event(cls, e: TaskScheduled) -> ScheduleActivity:
        """The action a recorded event stands for."""
        return cls(e.task_id, e.name, e.input)

    def to_event(self, timestamp: datetime) -> HistoryEvent:
        """The history event recording this action."""
        return TaskScheduled(timestamp=timestamp, task_id=self.task_id, name=self.name,
                             input=self.input)


@dataclass(frozen=True, slots=True)
class ScheduleSubOrchestration:
    """Start orchestrator ``name`` as instance ``instance_id`` (task ``task_id``)."""

    task_id: int
    name: str
    instance_id: str
    input: str | None = None
    version: str | None = None
    """The child's version; ``None``: the parent's."""

    @classmethod
    def from_event(cls, e: SubOrchestrationInstanceCreated) -> ScheduleSubOrchestration:
        """The action a recorded event stands for."""
        return cls(e.task_id, e.name, e.instance_id, e.input, e.version)

    def to_event(self, timestamp: datetime) -> HistoryEvent:
        """The history event recording this action."""
        return SubOrchestrationInstanceCreated(
            timestamp=timestamp, task_id=self.task_id, name=self.name,
            instance_id=self.instance_id, input=self.input, version=self.version)


@dataclass(frozen=True, slots=True)
class CreateTimer:
    """A durable timer ``task_id`` due at ``fire_at``."""

    task_id: int
    fire_at: datetime

    @property
    def name(self) -> str:
        """Timers have no name; matching compares kinds only."""
        return "timer"

    @classmethod
    def from_event(cls, e: TimerCreated) -> CreateTimer:
        """The action a recorded event stands for."""
        return cls(e.task_id, e.fire_at)

    def to_event(self, timestamp: datetime) -> HistoryEvent:
        """The history event recording this action."""
        return TimerCreated(timestamp=timestamp, task_id=self.task_id, fire_at=self.fire_at)


@dataclass(frozen=True, slots=True)
class SendEvent:
    """Raise event ``name`` on instance ``instance_id``."""

    task_id: int
    instance_id: str
    name: str
    input: str | None = None

    @classmethod
    def from_event(cls, e: EventSent) -> SendEvent:
        """The action a recorded event stands for."""
        return cls(e.task_id, e.instance_id, e.name, e.input)

    def to_event(self, timestamp: datetime) -> HistoryEvent:
        """The history event recording this action."""
        return EventSent(timestamp=timestamp, task_id=self.task_id,
                         instance_id=self.instance_id, name=self.name, input=self.input)


Action = ScheduleActivity | ScheduleSubOrchestration | CreateTimer | SendEvent



def recorded_action(event: HistoryEvent) -> Action | None:
    """The action a history event records, or ``None`` if it records no action."""
    if isinstance(event, TaskScheduled):
        return ScheduleActivity.from_event(event)
    if isinstance(event, SubOrchestrationInstanceCreated):
        return ScheduleSubOrchestration.from_event(event)
    if isinstance(event, TimerCreated):
        return CreateTimer.from_event(event)
    if isinstance(event, EventSent):
        return SendEvent.from_event(event)
    return None


RECORDING_EVENTS = (TaskScheduled, SubOrchestrationInstanceCreated, TimerCreated, EventSent)


def describe(action: Action) -> str:
    """A short human description, used in nondeterminism messages."""
    kind = {ScheduleActivity: "call activity", ScheduleSubOrchestration: "call sub-orchestrator",
            CreateTimer: "create timer", SendEvent: "send event"}[type(action)]
    return kind if isinstance(action, CreateTimer) else f"{kind} {action.name!r}"
