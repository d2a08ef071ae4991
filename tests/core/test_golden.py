"""Golden histories: stored task-hub rows that today's code must decode and replay.

Each ``golden/*.json`` holds histories a real worker stored (exactly the row
text of the task hub, written by ``golden/make_golden.py``) for the
orchestrators of ``golden_app.py``. Every one must still decode with the
store's row codec and, replayed step by step through :func:`perdure.core.replay`,
decide what the worker decided then: the same actions in every step, and the
recorded outcome at the end. A renamed field, a changed codec or a replay
change that would strand users' stored instances fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from perdure.core import replay
from perdure.core.actions import RECORDING_EVENTS
from perdure.core.history import (
    EVENT_TYPES,
    ExecutionCompleted,
    ExecutionStarted,
    HistoryEvent,
    OrchestratorStarted,
    event_to_dict,
)
from perdure.core.serialization import loads
from perdure.core.status import OrchestrationRuntimeStatus as Status
from perdure.store.codec import decode_event

from .golden_app import app

GOLDEN = Path(__file__).parent / "golden"
FIXTURES = sorted(GOLDEN.glob("*.json"))


def load(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text())["instances"]


def instance_cases() -> list[Any]:
    return [pytest.param(instance, id=f"{path.stem}:{instance['instance_id']}"
                         + (f":{instance['label']}" if "label" in instance else ""))
            for path in FIXTURES for instance in load(path)]


def decoded(instance: dict[str, Any]) -> list[HistoryEvent]:
    return [decode_event(text) for text in instance["history"]]


def steps(history: list[HistoryEvent]) -> list[tuple[int, int]]:
    """``(start, end)`` of each step: an OrchestratorStarted up to the next one."""
    starts = [i for i, event in enumerate(history) if isinstance(event, OrchestratorStarted)]
    assert starts and starts[0] == 0, "a stored history begins with OrchestratorStarted"
    return list(zip(starts, [*starts[1:], len(history)], strict=True))


def test_there_are_golden_histories() -> None:
    assert len(FIXTURES) >= 9, FIXTURES


def test_the_golden_histories_hold_every_event_type_and_every_final_status() -> None:
    """A new event type (or terminal status) needs a golden history too."""
    events = [event for path in FIXTURES for instance in load(path)
              for event in decoded(instance)]
    assert {type(event).__name__ for event in events} == set(EVENT_TYPES)
    assert {e.status for e in events if isinstance(e, ExecutionCompleted)} == {
        Status.Completed.value, Status.Failed.value, Status.Terminated.value}
    started = [e for e in events if isinstance(e, ExecutionStarted)]
    assert any(e.parent_instance_id and e.parent_execution_id and e.parent_task_id is not None
               for e in started), "no sub-orchestration start with its parent"


@pytest.mark.parametrize("instance", instance_cases())
def test_stored_rows_decode_without_losing_a_field(instance: dict[str, Any]) -> None:
    for text in instance["history"]:
        assert event_to_dict(decode_event(text)) == json.loads(text)


@pytest.mark.parametrize("instance", instance_cases())
def test_a_golden_history_replays_to_its_recorded_outcome(instance: dict[str, Any]) -> None:
    history = decoded(instance)
    instance_id = instance["instance_id"]
    started = next(e for e in history if isinstance(e, ExecutionStarted))
    orchestrator = app.orchestrators[started.name]
    result = None
    for start, end in steps(history):
        step = history[start:end]
        recorded = [e for e in step if isinstance(e, RECORDING_EVENTS)]
        completed = [e for e in step if isinstance(e, ExecutionCompleted)]
        new = [e for e in step if not isinstance(e, (*RECORDING_EVENTS, ExecutionCompleted))]
        # The worker commits [OrchestratorStarted, *new events, *actions, completion].
        assert step == [*new, *recorded, *completed], f"step at {start} is out of order"
        result = replay(orchestrator, history[:start], new, instance_id)
        where = f"{instance_id}, step at event {start}"
        assert [a.to_event(step[0].timestamp) for a in result.actions] == recorded, where
        if completed:
            (done,) = completed
            assert end == len(history), "events after the completion"
            assert result.status.value == done.status, where
            assert result.output == done.result, where
            summary = None if result.failure is None else result.failure.summary()
            assert summary == (None if done.failure is None else done.failure.summary()), where
        else:
            assert not result.status.is_terminal, where
    assert result is not None
    assert result.status.value == instance["runtime_status"]
    assert loads(result.output) == instance["output"]
    assert loads(result.custom_status) == instance["custom_status"]
