"""The activity thread runner: every job runs, callbacks run on the loop, no job waits
behind a long one while a thread is free to start."""

from __future__ import annotations

import asyncio
import threading

import pytest

from perdure.worker.threads import ThreadRunner


async def test_runs_jobs_and_calls_back_on_the_loop() -> None:
    loop = asyncio.get_running_loop()
    runner = ThreadRunner(4, loop)
    loop_thread = threading.get_ident()
    results: dict[int, int] = {}
    callback_threads: set[int] = set()
    done = asyncio.Event()

    def finished(pair: tuple[int, int]) -> None:
        callback_threads.add(threading.get_ident())
        results[pair[0]] = pair[1]
        if len(results) == 500:
            done.set()

    for i in range(500):
        runner.submit(lambda i=i: (i, i * i), finished)
    await asyncio.wait_for(done.wait(), 10)
    assert results == {i: i * i for i in range(500)}
    assert callback_threads == {loop_thread}
    runner.close()


async def test_a_long_job_does_not_hold_up_the_next() -> None:
    runner = ThreadRunner(2, asyncio.get_running_loop())
    release = threading.Event()
    second = asyncio.Event()
    runner.submit(lambda: release.wait(10), lambda _: None)
    runner.submit(lambda: None, lambda _: second.set())
    try:
        await asyncio.wait_for(second.wait(), 5)
    finally:
        release.set()
        runner.close()


async def test_a_raising_job_is_logged_and_the_thread_survives(
        caplog: pytest.LogCaptureFixture) -> None:
    runner = ThreadRunner(1, asyncio.get_running_loop())
    after = asyncio.Event()

    def boom() -> None:
        raise ValueError("boom")

    runner.submit(boom, lambda _: pytest.fail("no callback for a raising job"))
    runner.submit(lambda: 1, lambda _: after.set())
    await asyncio.wait_for(after.wait(), 5)
    assert "activity job raised" in caplog.text
    runner.close()


async def test_closed_runner_refuses_jobs() -> None:
    runner = ThreadRunner(1, asyncio.get_running_loop())
    runner.close()
    with pytest.raises(RuntimeError):
        runner.submit(lambda: None, lambda _: None)


def test_needs_a_thread() -> None:
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError):
            ThreadRunner(0, loop)
    finally:
        loop.close()
