"""Activities: results, failures, and retries with durable-timer backoff."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from perdure.core import CreateTimer, RetryOptions, ScheduleActivity
from perdure.core.errors import InvalidArgumentError, TaskFailedError
from perdure.core.history import TaskScheduled
from perdure.core.status import OrchestrationRuntimeStatus as Status

from .histories import T0, Driver, activity, completed, failed


def hello_sequence(ctx: Any) -> Any:
    out = []
    for city in ctx.get_input():
        out.append((yield ctx.call_activity("say_hello", city)))
    return out


def test_activity_results_flow_back_in_order(flavor: Any) -> None:
    d = Driver(flavor(hello_sequence))

    r = d.start(["Tokyo", "Seattle"])
    assert r.actions == [activity(0, "say_hello", "Tokyo")]
    assert r.status is Status.Running and r.output is None

    r = d.step(completed(0, "Hello Tokyo!"))
    assert r.actions == [activity(1, "say_hello", "Seattle")]

    r = d.step(completed(1, "Hello Seattle!"))
    assert r.actions == []
    assert d.status is Status.Completed
    assert d.output == ["Hello Tokyo!", "Hello Seattle!"]


def test_activity_results_may_be_any_json_value(flavor: Any) -> None:
    def orch(ctx: Any) -> Any:
        a = yield ctx.call_activity("a", {"nested": [1, 2.5, None, True]})
        b = yield ctx.call_activity("b")
        return [a, b]

    d = Driver(flavor(orch))
    assert d.start().actions == [activity(0, "a", {"nested": [1, 2.5, None, True]})]
    assert d.history[-1] == TaskScheduled(timestamp=T0, task_id=0, name="a",
                                          input='{"nested":[1,2.5,null,true]}')
    d.step(completed(0, {"k": ["v"]}))
    assert d.last.actions == [ScheduleActivity(1, "b", None)]
    d.step(completed(1))  # an activity returning None
    assert d.output == [{"k": ["v"]}, None]


def catch_and_continue(ctx: Any) -> Any:
    try:
        yield ctx.call_activity("flaky", "x")
    except TaskFailedError as exc:
        caught = {"type": exc.error_type, "message": exc.details.message,
                  "trace": exc.details.stack_trace, "str": str(exc)}
    fallback = yield ctx.call_activity("fallback")
    return [caught, fallback]


def test_activity_failure_is_raised_with_details_and_can_be_caught(flavor: Any) -> None:
    d = Driver(flavor(catch_and_continue))
    d.start()
    r = d.step(failed(0, "KeyError", "'missing'", "Traceback...\nKeyError: 'missing'"))
    assert r.status is Status.Running
    assert r.actions == [activity(1, "fallback")]

    d.step(completed(1, "plan B"))
    assert d.status is Status.Completed
    caught, fallback = d.output
    assert caught == {"type": "KeyError", "message": "'missing'",
                      "trace": "Traceback...\nKeyError: 'missing'",
                      "str": "activity task 0 failed: KeyError: 'missing'"}
    assert fallback == "plan B"


def test_uncaught_activity_failure_fails_the_orchestration(flavor: Any) -> None:
    d = Driver(flavor(hello_sequence))
    d.start(["Tokyo", "Seattle"])
    r = d.step(failed(0, "ConnectionError", "host down"))
    assert r.status is Status.Failed
    assert r.actions == []
    assert r.failure is not None
    assert r.failure.error_type == "TaskFailedError"
    assert r.failure.message == "activity task 0 failed: ConnectionError: host down"
    assert r.failure.stack_trace and "TaskFailedError" in r.failure.stack_trace
    assert d.output == ("Orchestrator function 'orch' failed: TaskFailedError: "
                        "activity task 0 failed: ConnectionError: host down")


# --- retries ---------------------------------------------------------------


def retrying(options: RetryOptions) -> Any:
    def orch(ctx: Any) -> Any:
        try:
            result = yield ctx.call_activity_with_retry("flaky", options, ctx.get_input())
        except TaskFailedError as exc:
            return f"gave up: {exc.details.message}"
        return f"got {result}"
    return orch


def test_retry_backs_off_with_durable_timers_and_succeeds_later(flavor: Any) -> None:
    d = Driver(flavor(retrying(RetryOptions(timedelta(seconds=5), 4, backoff_coefficient=2))))
    assert d.start("in").actions == [activity(0, "flaky", "in")]

    # Attempt 1 fails at T0+10s: wait 5 s on a durable timer.
    r = d.step(failed(0, message="one"))
    assert r.actions == [CreateTimer(1, T0 + timedelta(seconds=15))]
    assert r.status is Status.Running
    assert d.fire(1).actions == [activity(2, "flaky", "in")]

    # Attempt 2 fails: the delay doubles.
    assert d.step(failed(2, message="two")).actions == [
        CreateTimer(3, d.now + timedelta(seconds=10))]
    assert d.fire(3).actions == [activity(4, "flaky", "in")]

    d.step(completed(4, 42))
    assert d.status is Status.Completed
    assert d.output == "got 42"


def test_retry_gives_up_after_max_attempts_with_the_last_failure(flavor: Any) -> None:
    d = Driver(flavor(retrying(RetryOptions(1, max_number_of_attempts=3))))
    d.start()
    d.step(failed(0, message="one"))
    d.fire(1)
    d.step(failed(2, message="two"))
    d.fire(3)
    r = d.step(failed(4, message="three"))
    assert r.actions == []
    assert d.output == "gave up: three"
    kinds = [type(a).__name__ for a in d.all_actions()]
    assert kinds == ["ScheduleActivity", "CreateTimer"] * 2 + ["ScheduleActivity"]


def test_retry_with_one_attempt_does_not_retry(flavor: Any) -> None:
    d = Driver(flavor(retrying(RetryOptions(1, max_number_of_attempts=1))))
    d.start()
    assert d.step(failed(0)).actions == []
    assert d.output == "gave up: boom"


def test_retry_timeout_stops_retrying_once_the_next_delay_would_exceed_it(flavor: Any) -> None:
    options = RetryOptions(timedelta(seconds=10), 10, retry_timeout=timedelta(seconds=25))
    d = Driver(flavor(retrying(options)))
    d.start()                      # attempt 1 at T0
    d.step(failed(0))              # T0+10: elapsed 10 + delay 10 <= 25 -> retry
    assert d.last.actions == [CreateTimer(1, T0 + timedelta(seconds=20))]
    d.fire(1)                      # T0+20: attempt 2
    r = d.step(failed(2, message="late"))  # T0+30: elapsed 30 + 10 > 25 -> give up
    assert r.actions == []
    assert d.output == "gave up: late"


def test_retry_interval_is_capped_by_max_retry_interval(flavor: Any) -> None:
    options = RetryOptions(4, 5, backoff_coefficient=3, max_retry_interval=timedelta(seconds=10))
    d = Driver(flavor(retrying(options)))
    d.start()
    delays = []
    task_id = 0
    for _ in range(3):
        d.step(failed(task_id))
        timer = d.timer(task_id + 1)
        delays.append((timer.fire_at - d.now).total_seconds())
        d.fire(task_id + 1)
        task_id += 2
    assert delays == [4, 10, 10]


def test_retry_options_validate_and_compute_delays() -> None:
    with pytest.raises(InvalidArgumentError):
        RetryOptions(0, 3)
    with pytest.raises(InvalidArgumentError):
        RetryOptions(1, 0)
    with pytest.raises(InvalidArgumentError):
        RetryOptions(1, 3, backoff_coefficient=0.5)
    opts = RetryOptions(timedelta(seconds=2), 4, backoff_coefficient=2)
    assert [opts.next_delay(n, 0) for n in (1, 2, 3, 4)] == [2, 4, 8, None]
