"""``async def`` orchestrators written by hand: ``await`` directly, no adapter.

The scenario tests run every generator orchestrator as an ``async def`` too
(see ``asyncified``); these check the idioms a user writes with ``await``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from perdure.core import CreateTimer, RetryOptions
from perdure.core.errors import EventTimeoutError, TaskFailedError
from perdure.core.status import OrchestrationRuntimeStatus as Status

from .histories import (
    T0,
    Driver,
    activity,
    completed,
    failed,
    raised,
    sub_completed,
    sub_orchestration,
    terminated,
)


async def greet_all(ctx: Any) -> Any:
    out = []
    for city in ctx.get_input():
        out.append(await ctx.call_activity("say_hello", city))
    return out


def test_await_activities_in_sequence() -> None:
    d = Driver(greet_all)
    assert d.start(["Tokyo", "Lima"]).actions == [activity(0, "say_hello", "Tokyo")]
    assert d.step(completed(0, "Hi Tokyo")).actions == [activity(1, "say_hello", "Lima")]
    d.step(completed(1, "Hi Lima"))
    assert d.output == ["Hi Tokyo", "Hi Lima"]


def test_try_except_around_await_catches_task_failures() -> None:
    async def orch(ctx: Any) -> Any:
        try:
            await ctx.call_activity("flaky")
        except TaskFailedError as exc:
            return await ctx.call_activity("recover", [exc.error_type, exc.details.message])

    d = Driver(orch)
    d.start()
    assert d.step(failed(0, "OSError", "disk full")).actions == [
        activity(1, "recover", ["OSError", "disk full"])]
    d.step(completed(1, "recovered"))
    assert d.output == "recovered"


async def checked(ctx: Any, item: str) -> str:
    """A helper coroutine: orchestrators may await their own async functions."""
    result = await ctx.call_activity("check", item)
    return f"{item}:{result}"


def test_helper_coroutines_compose() -> None:
    async def orch(ctx: Any) -> Any:
        return [await checked(ctx, "a"), await checked(ctx, "b")]

    d = Driver(orch)
    d.start()
    d.step(completed(0, "ok"))
    d.step(completed(1, "bad"))
    assert d.output == ["a:ok", "b:bad"]


def test_await_retry_timer_and_sub_orchestrator() -> None:
    async def orch(ctx: Any) -> Any:
        value = await ctx.call_activity_with_retry("flaky", RetryOptions(60, 2))
        await ctx.create_timer(timedelta(minutes=5))
        return await ctx.call_sub_orchestrator("child", value)

    d = Driver(orch, instance_id="a")
    d.start()
    assert d.step(failed(0)).actions == [CreateTimer(1, d.now + timedelta(seconds=60))]
    d.fire(1)
    assert d.step(completed(2, 7)).actions == [CreateTimer(3, d.now + timedelta(minutes=5))]
    assert d.fire(3).actions == [sub_orchestration(4, "child", "a:4", 7)]
    d.step(sub_completed(4, "child done"))
    assert d.output == "child done"


def test_await_events_with_timeout() -> None:
    async def orch(ctx: Any) -> Any:
        try:
            return await ctx.wait_for_external_event("go", timeout=timedelta(seconds=30))
        except EventTimeoutError:
            return await ctx.wait_for_external_event("go")

    d = Driver(orch)
    assert d.start().actions == [CreateTimer(0, T0 + timedelta(seconds=30))]
    d.fire(0)
    d.step(raised("go", "after the timeout"))
    assert d.output == "after the timeout"


def test_await_task_all_and_task_any() -> None:
    async def orch(ctx: Any) -> Any:
        results = await ctx.task_all([ctx.call_activity("w", i) for i in range(3)])
        winner = await ctx.task_any([ctx.wait_for_external_event("stop"),
                                     ctx.create_timer(timedelta(hours=1))])
        return [results, winner.result]

    d = Driver(orch)
    d.start()
    d.step(completed(1, 1), completed(2, 4))
    d.step(completed(0, 0))
    assert d.status is Status.Running
    d.step(raised("stop", "now"))
    assert d.output == [[0, 1, 4], "now"]


def test_async_continue_as_new_and_terminate() -> None:
    async def orch(ctx: Any) -> Any:
        await ctx.call_activity("a")
        ctx.continue_as_new(ctx.get_input() + 1)

    d = Driver(orch)
    d.start(1)
    r = d.step(completed(0))
    assert r.status is Status.ContinuedAsNew and r.output == "2"

    d = Driver(orch)
    d.start(1)
    assert d.step(terminated("enough")).status is Status.Terminated
    assert d.output == "enough"


def test_async_plain_return_without_awaiting() -> None:
    async def orch(ctx: Any) -> Any:
        return {"input": ctx.get_input()}

    d = Driver(orch)
    assert d.start([1]).status is Status.Completed
    assert d.output == {"input": [1]}
