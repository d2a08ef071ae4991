"""The harness itself: its equivalence checks catch what they are meant to catch."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from perdure.core import replay
from perdure.core.history import OrchestratorStarted

from .histories import T0, Driver, activity, asyncified, completed


def test_driver_records_the_batch_then_the_steps_actions() -> None:
    def orch(ctx: Any) -> Any:
        yield ctx.call_activity("a")

    d = Driver(orch)
    d.start()
    kinds = [type(e).__name__ for e in d.history]
    assert kinds == ["OrchestratorStarted", "ExecutionStarted", "TaskScheduled"]
    d.step(completed(0))
    assert [type(e).__name__ for e in d.history[3:]] == ["OrchestratorStarted", "TaskCompleted"]
    assert d.history[3].timestamp == d.now == T0 + d.tick


def test_replay_is_a_pure_function_of_its_inputs() -> None:
    def orch(ctx: Any) -> Any:
        ctx.set_custom_status(ctx.new_uuid())
        yield ctx.call_activity("a", ctx.new_uuid())

    d = Driver(orch)
    d.start()
    batch = [OrchestratorStarted(timestamp=d.now), completed(0)]
    assert replay(orch, d.history, batch, "i") == replay(orch, d.history, batch, "i")


def test_a_nondeterministic_orchestrator_trips_the_live_versus_replay_check() -> None:
    calls = itertools.count()

    def orch(ctx: Any) -> Any:
        # Reads state outside the history: each run sees a different value.
        yield ctx.call_activity("a", next(calls))

    with pytest.raises(AssertionError, match="live executor and full replay disagree"):
        Driver(orch).start()


def test_an_orchestrator_with_hidden_state_trips_the_quiet_replay_check() -> None:
    state = {"runs": 0}

    def orch(ctx: Any) -> Any:
        state["runs"] += 1
        if state["runs"] > 2:  # the live run and the first replay agree; later replays differ
            yield ctx.call_activity("extra")
        yield ctx.call_activity("a")

    with pytest.raises(AssertionError):
        Driver(orch).start()


def test_asyncified_orchestrator_is_a_coroutine_function() -> None:
    import inspect

    def orch(ctx: Any) -> Any:
        return (yield ctx.call_activity("a"))

    wrapped = asyncified(orch)
    assert inspect.iscoroutinefunction(wrapped)
    d = Driver(wrapped)
    assert d.start().actions == [activity(0, "a")]
    d.step(completed(0, 1))
    assert d.output == 1
