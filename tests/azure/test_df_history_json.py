"""Each perdure history event as the SDK's JSON: the keys the SDK reads are present."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from azure.durable_functions.models.history.HistoryEvent import HistoryEvent as SdkEvent

from perdure.azure.history_json import context_input, timestamp_text, to_sdk_event
from perdure.core.history import (
    EventRaised,
    EventSent,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionSuspended,
    ExecutionTerminated,
    FailureDetails,
    HistoryEvent,
    OrchestratorStarted,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceCreated,
    SubOrchestrationInstanceFailed,
    TaskCompleted,
    TaskFailed,
    TaskScheduled,
    TimerCreated,
    TimerFired,
)

TS = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
FAIL = FailureDetails("ValueError", "bad", "trace")

CASES: list[tuple[HistoryEvent, int, dict[str, object]]] = [
    (OrchestratorStarted(timestamp=TS), 12, {}),
    (ExecutionStarted(timestamp=TS, name="o", input='"x"'), 0,
     {"Name": "o", "Version": "", "Input": '"x"'}),
    (TaskScheduled(timestamp=TS, task_id=3, name="a", input="1"), 4,
     {"EventId": 3, "Name": "a", "Input": "1"}),
    (TaskCompleted(timestamp=TS, task_id=3, result=None), 5,
     {"TaskScheduledId": 3, "Result": None}),
    (TaskFailed(timestamp=TS, task_id=3, failure=FAIL), 6,
     {"TaskScheduledId": 3, "Reason": "Activity function 'a' failed: ValueError: bad",
      "Details": "trace"}),
    (SubOrchestrationInstanceCreated(timestamp=TS, task_id=4, name="c", instance_id="i:4",
                                     input=None), 7,
     {"EventId": 4, "Name": "c", "InstanceId": "i:4", "Version": ""}),
    (SubOrchestrationInstanceCompleted(timestamp=TS, task_id=4, result="2"), 8,
     {"TaskScheduledId": 4, "Result": "2"}),
    (SubOrchestrationInstanceFailed(timestamp=TS, task_id=4, failure=FAIL), 9,
     {"TaskScheduledId": 4, "Reason": "Orchestrator function 'a' failed: ValueError: bad"}),
    (TimerCreated(timestamp=TS, task_id=5, fire_at=TS), 10,
     {"EventId": 5, "FireAt": "2026-01-02T03:04:05.678901Z"}),
    (TimerFired(timestamp=TS, task_id=5, fire_at=TS), 11,
     {"TimerId": 5, "FireAt": "2026-01-02T03:04:05.678901Z"}),
    (EventSent(timestamp=TS, task_id=6, instance_id="j", name="e", input="3"), 14,
     {"EventId": 6, "InstanceId": "j", "Name": "e", "Input": "3"}),
    (EventRaised(timestamp=TS, name="e", input='{"a": 1}'), 15,
     {"Name": "e", "Input": '{"a": 1}'}),
    (ExecutionSuspended(timestamp=TS), 19, {}),
    (ExecutionResumed(timestamp=TS), 20, {}),
]


@pytest.mark.parametrize(("event", "event_type", "fields"), CASES,
                         ids=[type(c[0]).__name__ for c in CASES])
def test_each_event_maps_to_the_sdk_shape(event: HistoryEvent, event_type: int,
                                          fields: dict[str, object]) -> None:
    sdk = to_sdk_event(event, lambda task_id: "a")
    assert sdk is not None
    assert sdk["EventType"] == event_type
    assert sdk["IsPlayed"] is False
    assert sdk["Timestamp"] == "2026-01-02T03:04:05.678901Z"
    for key, value in fields.items():
        assert sdk[key] == value, key
    parsed = SdkEvent(**sdk)  # the SDK's own constructor accepts it
    assert parsed.timestamp == TS


def test_events_the_sdk_does_not_read_are_left_out() -> None:
    assert to_sdk_event(ExecutionTerminated(timestamp=TS), lambda task_id: "") is None


def test_timestamps_are_utc() -> None:
    naive = datetime(2026, 1, 1, 12, 0)
    assert timestamp_text(naive) == "2026-01-01T12:00:00.000000Z"


@pytest.mark.parametrize(("stored", "given"), [
    (None, None), ("null", None), ('"plain"', '"plain"'), ('"{\\"a\\": 1}"', '{"a": 1}'),
    ("5", "5"), ('{"a": 1}', '{"a": 1}'), ('"{oops"', '"{oops"'),
])
def test_context_input_forms(stored: str | None, given: str | None) -> None:
    assert context_input(stored) == given
