"""A live SDK session takes only new events: each step of a 2,000-step sequential
orchestration hands the SDK as little as a step of a 100-step one (the SDK's own handler
re-runs the whole history every step, O(n²)). Counted, not timed: the rates are
``bench/df_long.py``'s."""

from __future__ import annotations

from typing import Any

import pytest
from df_harness import Run

from perdure.azure.sdk_session import SdkSession
from perdure.core.history import TaskCompleted
from perdure.core.status import OrchestrationRuntimeStatus as Status


def sequential(context):
    n = context.get_input()
    total = 0
    for i in range(n):
        total += yield context.call_activity("step", i)
    return total


def sdk_events_per_step(n: int, monkeypatch: pytest.MonkeyPatch) -> tuple[int, list[int]]:
    """(events the SDK replayed from scratch, events fed to the live session per step)."""
    started: list[int] = []
    fed: list[int] = []
    start, feed = SdkSession.start, SdkSession.feed

    def counting_start(self: SdkSession, history: Any) -> None:
        started.append(len(history))
        start(self, history)

    def counting_feed(self: SdkSession, events: Any, *args: Any, **kwargs: Any) -> None:
        fed.append(len(events))
        feed(self, events, *args, **kwargs)

    monkeypatch.setattr(SdkSession, "start", counting_start)
    monkeypatch.setattr(SdkSession, "feed", counting_feed)
    run = Run(sequential, input=str(n))
    run.start()
    for i in range(n):
        run.step(TaskCompleted(task_id=i, result="1"))
    assert run.results[-1].status is Status.Completed
    assert run.results[-1].output == str(n)
    monkeypatch.undo()
    return sum(started), fed


def test_long_sequential_orchestrations_are_not_quadratic(
        monkeypatch: pytest.MonkeyPatch) -> None:
    short_replayed, short_fed = sdk_events_per_step(100, monkeypatch)
    long_replayed, long_fed = sdk_events_per_step(2000, monkeypatch)
    assert long_replayed == short_replayed  # one pass over the first events, at the start
    assert sum(long_fed) <= 4 * 2000  # O(n) in all
    assert max(long_fed) == max(short_fed) <= 4  # a step's own events, whatever came before
