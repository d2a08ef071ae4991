"""The history dict codec: every event type round-trips, through JSON too."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perdure.core.history import (
    EVENT_TYPES,
    EventRaised,
    EventSent,
    ExecutionCompleted,
    ExecutionResumed,
    ExecutionRewound,
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
    event_from_dict,
    event_to_dict,
)

TS = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
FAILURE = FailureDetails("ValueError", "bad", "Traceback (most recent call last):\n  ...")

SAMPLES: list[HistoryEvent] = [
    OrchestratorStarted(timestamp=TS),
    ExecutionStarted(timestamp=TS, name="orch", input='{"a":1}', parent_instance_id="p",
                     parent_execution_id="pe", parent_task_id=3),
    ExecutionStarted(timestamp=TS, name="orch"),
    ExecutionCompleted(timestamp=TS, status="Completed", result='"ok"'),
    ExecutionCompleted(timestamp=TS, status="Failed", failure=FAILURE),
    ExecutionTerminated(timestamp=TS, reason="stop"),
    ExecutionTerminated(timestamp=TS),
    ExecutionSuspended(timestamp=TS, reason="pause"),
    ExecutionResumed(timestamp=TS, reason="go"),
    ExecutionRewound(timestamp=TS, reason="again"),
    TaskScheduled(timestamp=TS, task_id=0, name="act", input="[1,2]"),
    TaskCompleted(timestamp=TS, task_id=0, result="null"),
    TaskCompleted(timestamp=TS, task_id=1),
    TaskFailed(timestamp=TS, task_id=2, failure=FAILURE),
    TaskFailed(timestamp=TS, task_id=2, failure=FailureDetails("E", "no trace")),
    SubOrchestrationInstanceCreated(timestamp=TS, task_id=4, name="child", instance_id="i:4",
                                    input='"x"'),
    SubOrchestrationInstanceCompleted(timestamp=TS, task_id=4, result="5"),
    SubOrchestrationInstanceFailed(timestamp=TS, task_id=4, failure=FAILURE),
    TimerCreated(timestamp=TS, task_id=5, fire_at=TS + timedelta(days=1)),
    TimerFired(timestamp=TS, task_id=5,
               fire_at=datetime(2024, 5, 2, 1, tzinfo=timezone(timedelta(hours=-7)))),
    EventSent(timestamp=TS, task_id=6, instance_id="other", name="ping", input="{}"),
    EventRaised(timestamp=TS, name="approval", input='"yes"'),
    EventRaised(timestamp=TS, name="bare"),
]


def test_samples_cover_every_event_type() -> None:
    assert {type(e).__name__ for e in SAMPLES} == set(EVENT_TYPES)


def _round_trip(event: HistoryEvent) -> None:
    encoded = event_to_dict(event)
    assert encoded["type"] == type(event).__name__
    assert event_from_dict(encoded) == event
    # The dict is JSON-ready: it survives a trip through JSON text unchanged.
    through_json = json.loads(json.dumps(encoded))
    assert through_json == encoded
    decoded = event_from_dict(through_json)
    assert decoded == event and type(decoded) is type(event)
    # Equal instants are not enough: the recorded offset survives too.
    for name in ("timestamp", "fire_at"):
        if hasattr(event, name):
            assert getattr(decoded, name).utcoffset() == getattr(event, name).utcoffset()


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_round_trip(event: HistoryEvent) -> None:
    _round_trip(event)


def test_none_fields_are_omitted_and_datetimes_are_iso_text() -> None:
    assert event_to_dict(TaskCompleted(timestamp=TS, task_id=1)) == {
        "type": "TaskCompleted", "timestamp": "2024-05-01T12:30:15.123456+00:00", "task_id": 1}
    encoded = event_to_dict(TaskFailed(timestamp=TS, task_id=2, failure=FAILURE))
    assert encoded["failure"] == {"error_type": "ValueError", "message": "bad",
                                  "stack_trace": FAILURE.stack_trace}


def test_unknown_event_type_is_refused() -> None:
    with pytest.raises(KeyError):
        event_from_dict({"type": "NoSuchEvent", "timestamp": TS.isoformat()})


# --- generated events ---------------------------------------------------------

offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
aware = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1),
                     timezones=st.just(UTC) | offsets)
text = st.text(max_size=20)
opt_text = st.none() | text
json_text = st.none() | st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                               max_size=3),
    max_leaves=8).map(lambda v: json.dumps(v, separators=(",", ":")))
task_ids = st.integers(0, 10**6)
failures = st.builds(FailureDetails, text, text, opt_text)

STRATEGIES: dict[type[HistoryEvent], Any] = {
    OrchestratorStarted: st.builds(OrchestratorStarted, timestamp=aware),
    ExecutionStarted: st.builds(ExecutionStarted, timestamp=aware, name=text, input=json_text,
                                parent_instance_id=opt_text, parent_execution_id=opt_text,
                                parent_task_id=st.none() | task_ids),
    ExecutionCompleted: st.builds(ExecutionCompleted, timestamp=aware, status=text,
                                  result=json_text, failure=st.none() | failures),
    ExecutionTerminated: st.builds(ExecutionTerminated, timestamp=aware, reason=opt_text),
    ExecutionSuspended: st.builds(ExecutionSuspended, timestamp=aware, reason=opt_text),
    ExecutionResumed: st.builds(ExecutionResumed, timestamp=aware, reason=opt_text),
    ExecutionRewound: st.builds(ExecutionRewound, timestamp=aware, reason=opt_text),
    TaskScheduled: st.builds(TaskScheduled, timestamp=aware, task_id=task_ids, name=text,
                             input=json_text),
    TaskCompleted: st.builds(TaskCompleted, timestamp=aware, task_id=task_ids,
                             result=json_text),
    TaskFailed: st.builds(TaskFailed, timestamp=aware, task_id=task_ids, failure=failures),
    SubOrchestrationInstanceCreated: st.builds(
        SubOrchestrationInstanceCreated, timestamp=aware, task_id=task_ids, name=text,
        instance_id=text, input=json_text),
    SubOrchestrationInstanceCompleted: st.builds(
        SubOrchestrationInstanceCompleted, timestamp=aware, task_id=task_ids, result=json_text),
    SubOrchestrationInstanceFailed: st.builds(
        SubOrchestrationInstanceFailed, timestamp=aware, task_id=task_ids, failure=failures),
    TimerCreated: st.builds(TimerCreated, timestamp=aware, task_id=task_ids, fire_at=aware),
    TimerFired: st.builds(TimerFired, timestamp=aware, task_id=task_ids, fire_at=aware),
    EventSent: st.builds(EventSent, timestamp=aware, task_id=task_ids, instance_id=text,
                         name=text, input=json_text),
    EventRaised: st.builds(EventRaised, timestamp=aware, name=text, input=json_text),
}


def test_strategies_cover_every_event_type() -> None:
    assert set(STRATEGIES) == set(EVENT_TYPES.values())


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.one_of(*STRATEGIES.values()))
def test_generated_events_round_trip(event: HistoryEvent) -> None:
    _round_trip(event)
