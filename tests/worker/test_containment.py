"""User code that misbehaves fails its own instance or task, never the worker.

Each test runs the misbehaving code next to a well-behaved instance, which
must still complete: the worker (and its event loop) kept serving.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from datetime import timedelta

import perdure
from perdure import OrchestrationRuntimeStatus as S

bad = perdure.App()


async def until(predicate, timeout: float = 10.0) -> None:
    """Poll a plain predicate until it is true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


class Boom(BaseException):
    """A BaseException that is neither SystemExit nor KeyboardInterrupt."""


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken")

    def __repr__(self) -> str:
        raise RuntimeError("__repr__ is broken")


RAISED = {"exit": SystemExit(3), "interrupt": KeyboardInterrupt(), "boom": Boom("boom"),
          "cancelled": asyncio.CancelledError(), "unprintable": Unprintable()}


@bad.activity
def echo(x: str) -> str:
    return x


@bad.orchestrator
def healthy(ctx: perdure.OrchestrationContext):
    return (yield ctx.call_activity("echo", "fine"))


@bad.orchestrator
def raises(ctx: perdure.OrchestrationContext):
    yield ctx.call_activity("echo", "first")
    raise RAISED[ctx.get_input()]


@bad.orchestrator
def raises_at_once(ctx: perdure.OrchestrationContext):
    raise RAISED[ctx.get_input()]


@bad.orchestrator
async def raises_async(ctx: perdure.OrchestrationContext):
    await ctx.call_activity("echo", "first")
    raise RAISED[ctx.get_input()]


@bad.activity
async def async_raises(kind: str) -> str:
    await asyncio.sleep(0)
    raise RAISED[kind]


@bad.activity
def plain_raises(kind: str) -> str:
    raise RAISED[kind]


@bad.orchestrator
def calls(ctx: perdure.OrchestrationContext):
    name, kind = ctx.get_input()
    try:
        yield ctx.call_activity(name, kind)
    except perdure.TaskFailedError as exc:
        return [exc.details.error_type, str(exc)]
    return "not failed"


@bad.orchestrator
def spins(ctx: perdure.OrchestrationContext):
    yield ctx.call_activity("echo", "first")
    while True:
        pass


@bad.orchestrator
def spins_catching_exceptions(ctx: perdure.OrchestrationContext):
    while True:
        try:
            while True:
                pass
        except Exception:  # the step timeout is not an Exception: it gets through
            pass


@bad.orchestrator
def yields_non_tasks(ctx: perdure.OrchestrationContext):
    while True:
        try:
            yield 5
        except TypeError:
            pass


async def test_base_exceptions_in_orchestrators_fail_their_instance_only(hub_factory):
    hub = await hub_factory(bad)
    started = {}
    for name in ("raises", "raises_at_once", "raises_async"):
        for kind in ("exit", "interrupt", "boom", "cancelled"):
            started[await hub.client.start_new(name, input=kind)] = (name, kind)
    ok = await hub.client.start_new("healthy")
    for iid, (name, kind) in started.items():
        done = await hub.client.wait_for_completion(iid, 10)
        assert done.runtime_status is S.Failed, (name, kind, done.output)
        expected = type(RAISED[kind]).__name__
        assert done.failure_details.error_type == expected
        assert f"Orchestrator function '{name}' failed: {expected}" in done.output
    assert (await hub.client.wait_for_completion(ok, 10)).output == "fine"


async def test_base_exceptions_in_activities_fail_their_task_only(hub_factory):
    hub = await hub_factory(bad)
    started = {}
    for activity in ("async_raises", "plain_raises"):
        for kind in ("exit", "interrupt", "boom", "cancelled"):
            started[await hub.client.start_new("calls", input=[activity, kind])] = kind
    ok = await hub.client.start_new("healthy")
    for iid, kind in started.items():
        done = await hub.client.wait_for_completion(iid, 10)
        assert done.runtime_status is S.Completed, done.output
        assert done.output[0] == type(RAISED[kind]).__name__
    assert (await hub.client.wait_for_completion(ok, 10)).output == "fine"
    assert not hub.worker._running and not hub.worker._overdue


async def test_an_exception_with_a_broken_str_still_fails_cleanly(hub_factory):
    hub = await hub_factory(bad)
    in_activity = await hub.client.start_new("calls", input=["plain_raises", "unprintable"])
    in_async = await hub.client.start_new("calls", input=["async_raises", "unprintable"])
    in_orchestrator = await hub.client.start_new("raises", input="unprintable")
    for iid in (in_activity, in_async):
        done = await hub.client.wait_for_completion(iid, 10)
        assert done.runtime_status is S.Completed
        assert done.output[0] == "Unprintable"
    failed = await hub.client.wait_for_completion(in_orchestrator, 10)
    assert failed.runtime_status is S.Failed
    assert failed.failure_details.error_type == "Unprintable"
    assert "Orchestrator function 'raises' failed: Unprintable" in failed.output
    assert not hub.worker._running  # the slot and its lease renewal were freed


def test_failure_details_never_raise():
    try:
        raise Unprintable()
    except Unprintable as exc:
        details = perdure.FailureDetails.from_exception(exc)
    assert details.error_type == "Unprintable"
    assert "str() failed" in details.message
    assert details.stack_trace is not None and "test_failure_details_never_raise" in \
        details.stack_trace


async def test_an_orchestrator_that_never_yields_fails_after_its_step_budget(hub_factory):
    hub = await hub_factory(bad, step_timeout=0.25)
    spinning = [await hub.client.start_new(name) for name in ("spins",
                                                               "spins_catching_exceptions")]
    began = time.monotonic()
    ok = await hub.client.start_new("healthy")
    for iid, name in zip(spinning, ("spins", "spins_catching_exceptions"), strict=True):
        done = await hub.client.wait_for_completion(iid, 10)
        assert done.runtime_status is S.Failed
        assert done.failure_details.error_type == "StepTimeout"
        assert f"Orchestrator function '{name}' failed" in done.output
        assert "did not yield within the step time budget of 0.25s" in done.output
    assert (await hub.client.wait_for_completion(ok, 10)).output == "fine"
    assert time.monotonic() - began < 5
    # The loop keeps serving once the bad instances are failed.
    again = await hub.client.start_new("healthy")
    assert (await hub.client.wait_for_completion(again, 5)).output == "fine"


async def test_swallowing_the_error_of_a_non_task_yield_fails_at_once(hub_factory):
    hub = await hub_factory(bad, step_timeout=None)  # no budget needed: it fails by itself
    iid = await hub.client.start_new("yields_non_tasks")
    done = await hub.client.wait_for_completion(iid, 5)
    assert done.runtime_status is S.Failed
    assert done.failure_details.error_type == "TypeError"
    assert "awaited 5, which is not a perdure task" in done.output


def test_the_watchdog_never_interrupts_code_after_a_step():
    """A timeout sent just as a step ends is withdrawn, never raised later."""
    from perdure.worker.watchdog import StepTimeout, StepWatchdog

    watchdog = StepWatchdog(0.05)
    watchdog.start()
    try:
        interrupted: list[float] = []
        # Around the budget, racing the watchdog; and well past it (a loaded machine
        # may run the watchdog thread late, but not a quarter of a second late).
        for length in [0.045, 0.05, 0.055] * 5 + [0.3] * 3:
            watchdog.begin()
            try:
                end = time.monotonic() + length
                while time.monotonic() < end:
                    pass
                watchdog.settle()
            except StepTimeout:
                watchdog.settle()
                interrupted.append(length)
        # Outside steps nothing lands, however long this code runs.
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            pass
    finally:
        watchdog.stop()
    assert interrupted.count(0.3) == 3


# --- activity slots and timeouts ---------------------------------------------

slots = perdure.App()
_release = threading.Event()
_running = threading.Semaphore(0)
_started_count = 0
_count_lock = threading.Lock()


@slots.activity
def blocking(i: int) -> int:
    global _started_count
    with _count_lock:
        _started_count += 1
    _release.wait(20)
    return i


@slots.orchestrator
def fan_out(ctx: perdure.OrchestrationContext):
    return sum((yield ctx.task_all([ctx.call_activity("blocking", i)
                                    for i in range(ctx.get_input())])))


async def test_every_claimed_activity_runs_at_once(hub_factory):
    """A worker claims no more activities than it can start (it used to claim 200 for 32
    threads, so the others waited in its queue while an idle worker had none)."""
    global _started_count
    _release.clear()
    _started_count = 0
    hub = await hub_factory(slots)
    iid = await hub.client.start_new("fan_out", input=40)
    await until(lambda: len(hub.worker._running) == 40)
    await until(lambda: _started_count == 40)
    _release.set()
    assert (await hub.client.wait_for_completion(iid, 10)).output == sum(range(40))


async def test_a_busy_worker_leaves_the_rest_to_an_idle_one(hub_factory, db_url):
    global _started_count
    _release.clear()
    _started_count = 0
    first = await hub_factory(slots, max_concurrent_activities=3)
    iid = await first.client.start_new("fan_out", input=5)
    await until(lambda: _started_count == 3)
    await asyncio.sleep(0.2)
    assert len(first.worker._running) == 3 and _started_count == 3
    second = await hub_factory(slots, max_concurrent_activities=3)
    await until(lambda: _started_count == 5)
    assert len(second.worker._running) == 2
    _release.set()
    assert (await first.client.wait_for_completion(iid, 10)).output == sum(range(5))


timeouts = perdure.App()
_slow_release = threading.Event()
_slow_returned = threading.Event()


@timeouts.activity(timeout=0.3)
def slow(x: int) -> int:
    _slow_release.wait(10)
    _slow_returned.set()
    return x


@timeouts.activity(timeout=timedelta(milliseconds=300))
async def slow_async(x: int) -> int:
    await asyncio.sleep(10)
    return x


_attempts: list[int] = []


@timeouts.activity
def slow_first_time(x: int) -> int:
    _attempts.append(x)
    if len(_attempts) == 1:
        time.sleep(1.0)
    return x


@timeouts.orchestrator
def call_it(ctx: perdure.OrchestrationContext):
    name, retry = ctx.get_input()
    try:
        if retry:
            return (yield ctx.call_activity_with_retry(
                name, perdure.RetryOptions(0.1, 2), 7))
        return (yield ctx.call_activity(name, 7))
    except perdure.TaskFailedError as exc:
        return [exc.details.error_type, str(exc)]


async def test_an_activity_past_its_timeout_fails_its_attempt(hub_factory):
    _slow_release.clear()
    _slow_returned.clear()
    hub = await hub_factory(timeouts, max_concurrent_activities=2)
    plain = await hub.client.start_new("call_it", input=["slow", False])
    in_async = await hub.client.start_new("call_it", input=["slow_async", False])
    for iid, name in ((plain, "slow"), (in_async, "slow_async")):
        done = await hub.client.wait_for_completion(iid, 5)
        assert done.output[0] == "ActivityTimeoutError", done.output
        assert f"activity {name!r} did not finish within its timeout of 0.3s" in done.output[1]
    # The plain one's thread still runs: it keeps its slot until it returns.
    assert hub.worker._overdue == 1 and hub.worker._free_slots() == 1
    _slow_release.set()
    await until(lambda: hub.worker._overdue == 0)
    assert hub.worker._free_slots() == 2
    status = await hub.client.get_status(plain, show_history=True)
    assert [e["EventType"] for e in status.history].count("TaskFailed") == 1  # result discarded


async def test_the_worker_default_timeout_and_retry_policies(hub_factory):
    _attempts.clear()
    hub = await hub_factory(timeouts, activity_timeout=0.3)
    iid = await hub.client.start_new("call_it", input=["slow_first_time", True])
    done = await hub.client.wait_for_completion(iid, 10)
    assert done.output == 7 and len(_attempts) == 2  # the timed-out attempt was retried


def test_activity_timeouts_are_validated():
    app = perdure.App()
    for wrong in (0, -1, float("inf"), True, "5"):
        try:
            app.activity(timeout=wrong)(lambda x: x)
        except (perdure.InvalidArgumentError, TypeError):
            continue
        raise AssertionError(f"timeout={wrong!r} was accepted")


assert sys.version_info >= (3, 11)


bad.activity(name="uninspectable")(dict)  # inspect.signature(dict) raises ValueError


async def test_an_activity_whose_signature_cannot_be_read_fails_its_task(hub_factory):
    hub = await hub_factory(bad)
    iid = await hub.client.start_new("calls", input=["uninspectable", "x"])
    done = await hub.client.wait_for_completion(iid, 10)
    assert done.output[0] == "ValueError"
    assert not hub.worker._running
