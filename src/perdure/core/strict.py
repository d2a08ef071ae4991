"""Strict replay: also compare the inputs of activities and sub-orchestrations.

By default replay matches each recorded action by kind and name: that is what
must hold for the recorded results to mean anything to the code. An
orchestrator wrapped in :class:`StrictReplay` (``App(strict_replay=True)``
does it) also fails replay when the code now passes another input to an
activity or sub-orchestration than the one recorded (compared as JSON values,
so key order does not matter).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .actions import Action, ScheduleActivity, ScheduleSubOrchestration
from .serialization import loads


@dataclass(frozen=True, slots=True)
class StrictReplay:
    """An orchestrator whose replay also compares activity and sub-orchestration inputs."""

    orchestrator: Callable[..., Any]
    """The wrapped orchestrator function."""

    def __call__(self, ctx: Any) -> Any:
        return self.orchestrator(ctx)


def input_mismatch(expected: Action, actual: Action) -> str | None:
    """``None`` when ``actual`` (same kind and name as ``expected``) passes the recorded
    input, else the end of a nondeterminism message saying what differs."""
    if not isinstance(expected, ScheduleActivity | ScheduleSubOrchestration) or \
            not isinstance(actual, ScheduleActivity | ScheduleSubOrchestration):
        return None
    if expected.input == actual.input or loads(expected.input) == loads(actual.input):
        return None
    return f"with input {expected.input}, but the code passed input {actual.input}"
