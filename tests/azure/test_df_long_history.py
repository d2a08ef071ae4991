"""A live SDK session takes only new events: a 2,000-step sequential orchestration runs at
about the per-step rate of a 100-step one (the SDK's own handler would be O(n²))."""

from __future__ import annotations

import time

from df_harness import Run

from perdure.core.history import TaskCompleted
from perdure.core.status import OrchestrationRuntimeStatus as Status


def sequential(context):
    n = context.get_input()
    total = 0
    for i in range(n):
        total += yield context.call_activity("step", i)
    return total


def steps_per_second(n: int) -> float:
    run = Run(sequential, input=str(n))
    began = time.perf_counter()
    run.start()
    for i in range(n):
        run.step(TaskCompleted(task_id=i, result="1"))
    elapsed = time.perf_counter() - began
    assert run.results[-1].status is Status.Completed
    assert run.results[-1].output == str(n)
    return n / elapsed


def test_long_sequential_orchestrations_are_not_quadratic() -> None:
    short = max(steps_per_second(100) for _ in range(3))
    long = steps_per_second(2000)
    assert long >= short / 3, (short, long)
