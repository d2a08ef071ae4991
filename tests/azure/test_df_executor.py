"""The SDK-driven executor, from hand-built histories: every action type, ids with retries,
outcomes, inputs and nondeterminism (pure: no I/O)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import pytest
from df_harness import T0, Run, sdk_orchestrator

from perdure.core.actions import CreateTimer, ScheduleActivity, ScheduleSubOrchestration, SendEvent
from perdure.core.entities import EntityRequest
from perdure.core.executor import replay
from perdure.core.history import (
    EventRaised,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionSuspended,
    ExecutionTerminated,
    FailureDetails,
    OrchestratorStarted,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceFailed,
    TaskCompleted,
    TaskFailed,
    TimerFired,
)
from perdure.core.status import OrchestrationRuntimeStatus as Status

BOOM = FailureDetails("ValueError", "boom", "Traceback...\nValueError: boom\n")
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5000, max_number_of_attempts=2)


def done(task_id: int, value: Any) -> TaskCompleted:
    return TaskCompleted(task_id=task_id, result=json.dumps(value))


def chain(context: df.DurableOrchestrationContext):
    first = yield context.call_activity("hello", "Tokyo")
    second = yield context.call_activity("hello", "Seattle")
    return [first, second]


# --- each action type ---------------------------------------------------------


def test_activities_run_in_sequence_and_complete() -> None:
    run = Run(chain)
    assert run.start().actions == [ScheduleActivity(0, "hello", '"Tokyo"')]
    assert run.step(done(0, "Hi Tokyo")).actions == [ScheduleActivity(1, "hello", '"Seattle"')]
    last = run.step(done(1, "Hi Seattle"))
    assert last.status is Status.Completed
    assert json.loads(last.output or "null") == ["Hi Tokyo", "Hi Seattle"]
    assert last.actions == []


def test_fan_out_schedules_every_activity_in_one_step() -> None:
    def fan(context):
        results = yield context.task_all([context.call_activity("f", i) for i in range(3)])
        return sum(results)

    run = Run(fan)
    assert run.start().actions == [ScheduleActivity(i, "f", str(i)) for i in range(3)]
    assert run.step(done(2, 20), done(0, 0)).status is Status.Running
    result = run.step(done(1, 10))
    assert (result.status, result.output) == (Status.Completed, "30")


def test_sub_orchestrations_default_and_explicit_ids() -> None:
    def parent(context):
        a = yield context.call_sub_orchestrator("child", {"n": 1})
        b = yield context.call_sub_orchestrator("child", "x", instance_id="fixed")
        return [a, b]

    run = Run(parent, instance_id="p")
    [first] = run.start().actions
    # The child's input is stored as a string holding JSON text, as the host does.
    assert first == ScheduleSubOrchestration(0, "child", "p:0", json.dumps('{"n": 1}'))
    [second] = run.step(SubOrchestrationInstanceCompleted(task_id=0, result='"A"')).actions
    assert second == ScheduleSubOrchestration(1, "child", "fixed", json.dumps('"x"'))
    assert run.executor.open_sub_orchestrations() == ["fixed"]
    last = run.step(SubOrchestrationInstanceCompleted(task_id=1, result='"B"'))
    assert json.loads(last.output or "") == ["A", "B"]
    assert run.executor.open_sub_orchestrations() == []


def test_a_failed_sub_orchestration_raises_in_the_parent() -> None:
    def parent(context):
        try:
            yield context.call_sub_orchestrator("child")
        except Exception as exc:
            return str(exc)

    run = Run(parent)
    run.start()
    out = run.step(SubOrchestrationInstanceFailed(task_id=0, failure=BOOM))
    assert "Orchestrator function 'child' failed: ValueError: boom" in json.loads(out.output)


def test_timers_and_external_events() -> None:
    def waits(context):
        yield context.create_timer(context.current_utc_datetime + timedelta(minutes=1))
        approved = yield context.wait_for_external_event("Approval")
        return approved

    run = Run(waits)
    assert run.start().actions == [CreateTimer(0, T0 + timedelta(minutes=1))]
    assert run.step(TimerFired(task_id=0, fire_at=T0)).actions == []  # a wait: no action
    out = run.step(EventRaised(name="Approval", input='{"by": "me"}'))
    assert json.loads(out.output or "") == {"by": "me"}


def test_task_any_with_a_cancelled_timer() -> None:
    def race(context):
        deadline = context.current_utc_datetime + timedelta(hours=1)
        timer = context.create_timer(deadline)
        event = context.wait_for_external_event("Approval")
        winner = yield context.task_any([event, timer])
        if winner == event:
            timer.cancel()
            return "approved"
        return "timed out"

    run = Run(race)
    assert run.start().actions == [CreateTimer(0, T0 + timedelta(hours=1))]
    out = run.step(EventRaised(name="Approval", input="true"))
    assert (out.status, out.output) == (Status.Completed, '"approved"')

    late = Run(race)
    late.start()
    assert late.step(TimerFired(task_id=0, fire_at=T0)).output == '"timed out"'


def test_continue_as_new_keeps_the_double_encoding() -> None:
    def counter(context):
        n = context.get_input() or 0
        if n < 2:
            context.continue_as_new(n + 1)
        return n

    out = Run(counter, input=json.dumps("1")).start()
    assert out.status is Status.ContinuedAsNew
    assert out.output == json.dumps("2")  # a string holding JSON text, as the host stores it
    final = Run(counter, input=out.output).start()
    assert (final.status, final.output) == (Status.Completed, "2")


def test_custom_status_and_falsy_custom_status() -> None:
    def status(context):
        context.set_custom_status({"stage": 1})
        yield context.call_activity("a")
        context.set_custom_status(0)  # the SDK drops falsy values
        return None

    run = Run(status)
    assert json.loads(run.start().custom_status or "") == {"stage": 1}
    assert run.step(done(0, None)).custom_status is None


# --- task ids with retries ---------------------------------------------------


def retried(context):
    first = yield context.call_activity_with_retry("flaky", RETRY, "in")
    second = yield context.call_activity("after")
    return [first, second]


def test_retry_ids_timer_then_reattempt_then_success() -> None:
    run = Run(retried)
    assert run.start().actions == [ScheduleActivity(0, "flaky", '"in"')]
    assert run.step(TaskFailed(task_id=0, failure=BOOM)).actions == [
        CreateTimer(1, run.now - timedelta(seconds=1) + timedelta(seconds=5))]
    assert run.step(TimerFired(task_id=1, fire_at=T0)).actions == [
        ScheduleActivity(2, "flaky", '"in"')]
    assert run.step(done(2, "ok")).actions == [ScheduleActivity(3, "after", "null")]
    assert json.loads(run.step(done(3, "fine")).output or "") == ["ok", "fine"]


def test_retry_exhaustion_fails_in_the_step_of_the_last_attempt() -> None:
    run = Run(retried)
    run.start()
    run.step(TaskFailed(task_id=0, failure=BOOM))
    run.step(TimerFired(task_id=1, fire_at=T0))
    # DTFx waits once more after the last attempt; perdure fires that timer (id 3) at
    # once, within the SDK pass, and records nothing for it.
    out = run.step(TaskFailed(task_id=2, failure=BOOM))
    assert (out.status, out.actions) == (Status.Failed, [])
    assert out.failure is not None
    assert "Activity function 'flaky' failed: ValueError: boom" in out.failure.message


def test_after_an_exhausted_retry_is_caught_the_ids_go_on() -> None:
    def caught(context):
        try:
            yield context.call_activity_with_retry("flaky", RETRY)
        except Exception:
            pass
        return (yield context.call_activity("fallback"))

    for fresh in (False, True):
        run = Run(caught, fresh=fresh)
        run.start()
        run.step(TaskFailed(task_id=0, failure=BOOM))
        run.step(TimerFired(task_id=1, fire_at=T0))
        # Id 3 went to the final timer; the fallback takes 4.
        assert run.step(TaskFailed(task_id=2, failure=BOOM)).actions == [
            ScheduleActivity(4, "fallback", "null")]
        assert run.step(done(4, "plan B")).output == '"plan B"'


def test_a_rewound_exhausted_retry_runs_its_last_attempt_again() -> None:
    run = Run(retried)
    run.start()
    run.step(TaskFailed(task_id=0, failure=BOOM))
    run.step(TimerFired(task_id=1, fire_at=T0))
    assert run.step(TaskFailed(task_id=2, failure=BOOM)).status is Status.Failed
    # What perdure's rewind leaves: the last step's failure dropped, the attempt rerun.
    run.history = [e for e in run.history
                   if not (isinstance(e, TaskFailed) and e.task_id == 2)]
    run.fresh = True
    assert run.step(done(2, "ok")).actions == [ScheduleActivity(3, "after", "null")]
    assert json.loads(run.step(done(3, "fine")).output or "") == ["ok", "fine"]


def test_ids_with_fan_out_and_retries_interleaved() -> None:
    def fan(context):
        tasks = [context.call_activity_with_retry("r", RETRY, 0), context.call_activity("p", 1),
                 context.call_activity_with_retry("r", RETRY, 2)]
        results = yield context.task_all(tasks)
        return results

    run = Run(fan)
    assert [a.task_id for a in run.start().actions] == [0, 1, 2]
    # Both retried attempts fail in one step: their timers take 3 and 4, in event order.
    out = run.step(TaskFailed(task_id=2, failure=BOOM), TaskFailed(task_id=0, failure=BOOM))
    assert [(type(a), a.task_id) for a in out.actions] == [(CreateTimer, 3), (CreateTimer, 4)]
    out = run.step(TimerFired(task_id=4, fire_at=T0), done(1, "p"))
    assert out.actions == [ScheduleActivity(5, "r", "0")]  # timer 4 belonged to task 0
    out = run.step(TimerFired(task_id=3, fire_at=T0))
    assert out.actions == [ScheduleActivity(6, "r", "2")]
    out = run.step(done(6, "r2"), done(5, "r0"))
    assert json.loads(out.output or "") == ["r0", "p", "r2"]


# --- outcomes -------------------------------------------------------------------


def test_a_generator_raising_fails_the_instance() -> None:
    def bad(context):
        yield context.call_activity("a")
        raise RuntimeError("bad orchestrator")

    run = Run(bad)
    run.start()
    out = run.step(done(0, None))
    assert out.status is Status.Failed and out.failure is not None
    assert (out.failure.error_type, out.failure.message) == ("RuntimeError", "bad orchestrator")
    assert json.loads(out.output or "").startswith("Orchestrator function 'bad' failed")


def test_plain_function_orchestrators_return_or_raise() -> None:
    def plain(context):
        return context.get_input() * 2

    assert Run(plain, input="21").start().output == "42"

    def broken(context):
        raise KeyError("nope")

    out = Run(broken).start()
    assert out.status is Status.Failed and out.failure is not None
    assert out.failure.error_type == "KeyError"


def test_a_non_serializable_output_fails_the_instance() -> None:
    def odd(context):
        return {1, 2}
        yield  # pragma: no cover - makes it a generator

    out = Run(odd).start()
    assert out.status is Status.Failed


def test_system_exit_from_user_code_fails_only_the_instance() -> None:
    def leaves(context):
        raise SystemExit(3)

    assert Run(leaves).start().status is Status.Failed


@pytest.mark.parametrize(("stored", "expected"), [
    (None, None),
    ('"Tokyo"', "Tokyo"),                 # a plain string (curl, perdure start)
    (json.dumps('{"a": 1}'), {"a": 1}),   # double-encoded (the SDK client, a parent)
    ("5", 5),
    ("[1, 2]", [1, 2]),
    ('{"a": 1}', {"a": 1}),
    ('"not json {"', "not json {"),
])
def test_every_input_encoding_reaches_get_input(stored: str | None, expected: Any) -> None:
    def echo(context):
        return context.get_input()

    out = Run(echo, input=stored).start()
    assert out.status is Status.Completed, out.failure
    assert json.loads(out.output or "null") == expected


# --- lifecycle through perdure's engine ---------------------------------------------


def test_terminate_and_suspend_apply_unchanged() -> None:
    run = Run(chain)
    run.start()
    assert run.step(ExecutionSuspended(reason="wait")).status is Status.Suspended
    held = run.step(done(0, "T"))
    assert (held.status, held.actions) == (Status.Suspended, [])
    resumed = run.step(ExecutionResumed(reason="go"))
    assert resumed.actions == [ScheduleActivity(1, "hello", '"Seattle"')]
    out = run.step(ExecutionTerminated(reason="stop"))
    assert (out.status, out.output) == (Status.Terminated, '"stop"')


def test_replay_gives_the_same_step_as_the_cached_executor() -> None:
    run = Run(chain)
    run.start()
    run.step(done(0, "T"))
    handle = sdk_orchestrator(chain)
    past = run.history
    result = replay(handle, past, [OrchestratorStarted(timestamp=T0), done(1, "S")], "inst")
    assert result.status is Status.Completed and json.loads(result.output or "") == ["T", "S"]


# --- nondeterminism ---------------------------------------------------------------


def _changed(run: Run, fn: Any, *events: Any) -> str:
    executor = run.replay(sdk_orchestrator(fn))
    result = executor.step([OrchestratorStarted(timestamp=run.now), *events])
    assert result.status is Status.Failed and result.failure is not None
    assert result.failure.error_type == "NonDeterminismError"
    return result.failure.message


def test_nondeterminism_changed_name() -> None:
    def renamed(context):
        yield context.call_activity("goodbye", "Tokyo")

    run = Run(chain)
    run.start()
    message = _changed(run, renamed, done(0, "x"))
    assert "at position 0" in message and "'hello'" in message and "'goodbye'" in message


def test_nondeterminism_changed_kind() -> None:
    def timer_instead(context):
        yield context.create_timer(context.current_utc_datetime)

    run = Run(chain)
    run.start()
    assert "create timer" in _changed(run, timer_instead, done(0, "x"))


def test_nondeterminism_fewer_steps() -> None:
    def shorter(context):
        return "early"
        yield  # pragma: no cover

    run = Run(chain)
    run.start()
    assert "returned before scheduling it" in _changed(run, shorter, done(0, "x"))


def test_nondeterminism_more_steps() -> None:
    def longer(context):
        yield context.call_activity("extra")
        yield context.call_activity("hello", "Tokyo")

    run = Run(chain)
    run.start()
    assert "'extra'" in _changed(run, longer, done(0, "x"))


def test_entity_signals_and_calls_become_entity_requests() -> None:
    def signals(context):
        context.signal_entity(df.EntityId("Counter", "k"), "add", 1)
        yield context.call_entity(df.EntityId("counter", "k"), "get")

    out = Run(signals).start()
    assert out.status is Status.Running
    signal, call = out.actions
    assert isinstance(signal, SendEvent) and isinstance(call, SendEvent)
    assert signal.instance_id == call.instance_id == "@counter@k"
    first, second = EntityRequest.decode(signal.input), EntityRequest.decode(call.input)
    assert first is not None and second is not None
    assert (first.operation, first.signal, first.input) == ("add", True, "1")
    assert (second.operation, second.signal) == ("get", False)
    assert first.id != second.id


def test_the_execution_started_event_is_honoured() -> None:
    # The parent id reaches the SDK's context.
    def who(context):
        return context.parent_instance_id

    run = Run(who, parent_instance_id="dad")
    assert run.start().output == '"dad"'
    assert isinstance(run.history[1], ExecutionStarted)


def test_call_http_is_the_built_in_http_activity() -> None:
    def fetch(context):
        response = yield context.call_http("GET", "http://example.test/x")
        return response["statusCode"]

    run = Run(fetch)
    [action] = run.start().actions
    assert action.name == "BuiltIn::HttpActivity"
    assert json.loads(action.input or "") == {
        "method": "GET", "uri": "http://example.test/x", "content": None,
        "headers": None}  # as the SDK sends it
    out = run.step(done(0, {"statusCode": 200, "headers": {}, "content": ""}))
    assert out.output == "200"


def test_sub_orchestrations_with_retry() -> None:
    def parent(context):
        return (yield context.call_sub_orchestrator_with_retry("child", RETRY, "x"))

    run = Run(parent, instance_id="p")
    assert run.start().actions == [ScheduleSubOrchestration(0, "child", "p:0", json.dumps('"x"'))]
    [timer] = run.step(SubOrchestrationInstanceFailed(task_id=0, failure=BOOM)).actions
    assert isinstance(timer, CreateTimer) and timer.task_id == 1
    # A new attempt with a default id is a new child instance.
    assert run.step(TimerFired(task_id=1, fire_at=T0)).actions == [
        ScheduleSubOrchestration(2, "child", "p:2", json.dumps('"x"'))]
    assert run.step(SubOrchestrationInstanceCompleted(task_id=2, result='"ok"')).output == '"ok"'


def test_is_replaying_on_a_live_session_and_on_a_replay() -> None:
    seen: list[tuple[str, bool]] = []

    def orch(context):
        seen.append(("start", context.is_replaying))
        yield context.call_activity("a")
        seen.append(("after a", context.is_replaying))
        yield context.call_activity("b")
        seen.append(("after b", context.is_replaying))

    live = Run(orch)
    live.start()
    live.step(done(0, 1))
    live.step(done(1, 1))
    assert seen == [("start", False), ("after a", False), ("after b", False)]
    seen.clear()
    fresh = Run(orch, fresh=True)
    fresh.start()
    fresh.step(done(0, 1))
    fresh.step(done(1, 1))
    assert seen == [("start", False), ("start", True), ("after a", False), ("start", True),
                    ("after a", True), ("after b", False)]


def test_custom_status_survives_suspend_and_terminate_on_a_rebuilt_executor() -> None:
    def status(context):
        context.set_custom_status("waiting")
        yield context.wait_for_external_event("never")

    for fresh in (False, True):
        run = Run(status, fresh=fresh)
        assert run.start().custom_status == '"waiting"'
        assert run.step(ExecutionSuspended(reason="x")).custom_status == '"waiting"'
        out = run.step(ExecutionTerminated(reason="y"))
        assert (out.status, out.custom_status) == (Status.Terminated, '"waiting"')
