"""Property: a cached SDK executor and a fresh replay before every step agree, for random
completion orders, batchings and failures (pure: no I/O)."""

from __future__ import annotations

import json
from datetime import timedelta

import azure.durable_functions as df
from df_harness import T0, Run
from hypothesis import given, settings
from hypothesis import strategies as st

from perdure.core.actions import CreateTimer, ScheduleActivity
from perdure.core.history import (
    EventRaised,
    FailureDetails,
    HistoryEvent,
    SubOrchestrationInstanceCompleted,
    TaskCompleted,
    TaskFailed,
    TimerFired,
)
from perdure.core.status import OrchestrationRuntimeStatus as Status

RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=3)


def workflow(context: df.DurableOrchestrationContext):
    width = context.get_input()
    tasks = [context.call_activity_with_retry("flaky", RETRY, i) for i in range(width)]
    tasks.append(context.call_activity("plain", "p"))
    try:
        results = yield context.task_all(tasks)
    except Exception:
        results = ["failed"]
    context.set_custom_status(len(results))
    last = yield context.call_activity("last", results)
    return last


@settings(max_examples=60, deadline=None)
@given(width=st.integers(1, 3), data=st.data())
def test_cached_and_replayed_executors_agree(width: int, data: st.DataObject) -> None:
    cached = Run(workflow, input=str(width))
    fresh = Run(workflow, input=str(width), fresh=True)
    first = cached.start()
    assert fresh.start() == first
    pending: dict[int, object] = {a.task_id: a for a in first.actions}
    for _ in range(60):
        if cached.results[-1].status is not Status.Running:
            break
        assert pending, "a running instance waits on something"
        ids = data.draw(st.lists(st.sampled_from(sorted(pending)), min_size=1, unique=True))
        events: list[HistoryEvent] = []
        for task_id in ids:
            action = pending.pop(task_id)
            if isinstance(action, CreateTimer):
                events.append(TimerFired(task_id=task_id, fire_at=T0))
            elif isinstance(action, ScheduleActivity) and data.draw(st.booleans()):
                events.append(TaskFailed(task_id=task_id,
                                         failure=FailureDetails("E", f"fail {task_id}")))
            else:
                events.append(TaskCompleted(task_id=task_id, result=json.dumps(task_id)))
        a, b = cached.step(*events), fresh.step(*events)
        assert a == b
        pending.update({action.task_id: action for action in a.actions})
    assert cached.results[-1].status in (Status.Completed, Status.Failed)
    assert cached.history == fresh.history


def waiting(context: df.DurableOrchestrationContext):
    rounds = context.get_input()
    seen = []
    for i in range(rounds):
        timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=5))
        event = context.wait_for_external_event("go")
        child = context.call_sub_orchestrator("child", i)
        winner = yield context.task_any([event, timer, child])
        if winner == timer:
            seen.append("timer")
        else:
            timer.cancel()
            seen.append("event" if winner == event else "child")
        context.set_custom_status(seen[-1])
    return seen


@settings(max_examples=60, deadline=None)
@given(rounds=st.integers(1, 3), data=st.data())
def test_events_timers_and_children_agree(rounds: int, data: st.DataObject) -> None:
    cached = Run(waiting, input=str(rounds))
    fresh = Run(waiting, input=str(rounds), fresh=True)
    first = cached.start()
    assert fresh.start() == first
    pending: dict[int, object] = {a.task_id: a for a in first.actions}
    for _ in range(40):
        if cached.results[-1].status is not Status.Running:
            break
        choices = [*sorted(pending), -1]  # -1: raise the event
        picked = data.draw(st.lists(st.sampled_from(choices), min_size=1, unique=True))
        events: list[HistoryEvent] = []
        for task_id in picked:
            if task_id == -1:
                events.append(EventRaised(name="go", input='"now"'))
                continue
            action = pending.pop(task_id)
            if isinstance(action, CreateTimer):
                events.append(TimerFired(task_id=task_id, fire_at=T0))
            else:
                events.append(SubOrchestrationInstanceCompleted(task_id=task_id, result="1"))
        a, b = cached.step(*events), fresh.step(*events)
        assert a == b
        pending.update({action.task_id: action for action in a.actions})
    assert cached.history == fresh.history
