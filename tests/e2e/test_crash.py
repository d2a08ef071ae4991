"""Crash tests with real processes: SIGKILL the worker mid-run, restart, verify everything."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from crash_app import STEPS, app
from workers import kill, start_worker, stop

import perdure
from perdure import OrchestrationRuntimeStatus as S

INSTANCES = 50


async def count_finished(client: perdure.Client) -> int:
    page = await client.get_status_by(runtime_status=[S.Completed], page_size=1000)
    return len(page.instances)


async def test_sigkill_twice_mid_run_every_instance_completes_once(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    log = tmp_path / "activities.log"
    env = {"CRASH_APP_LOG": str(log), "CRASH_APP_SLEEP": "0.2"}
    client = perdure.Client(url, app=app)
    ids = [await client.start_new("multi_step", f"crash-{i:02d}") for i in range(INSTANCES)]

    worker = start_worker(url, env)
    try:
        for _ in range(2):
            # Let it make progress, then kill it in the middle of the run.
            await _wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= 20)
            await asyncio.sleep(0.3)
            assert await count_finished(client) < INSTANCES, "killed too late: all done"
            kill(worker)
            before = len(log.read_text().splitlines())
            worker = start_worker(url, env)
            await _wait_for(lambda before=before: len(log.read_text().splitlines()) > before)
        for iid in ids:
            done = await client.wait_for_completion(iid, timeout=60)
            assert done.runtime_status is S.Completed, done.output
            assert done.output == [f"{iid}:{step}" for step in range(STEPS)]
    finally:
        stop(worker)

    for iid in ids:
        history = await client.store.get_history(iid)
        kinds = Counter(type(e).__name__ for e in history)
        # Each step committed exactly once: one schedule and one completion per activity.
        assert kinds["TaskScheduled"] == STEPS and kinds["TaskCompleted"] == STEPS, kinds
        assert kinds["ExecutionStarted"] == 1 and kinds["ExecutionCompleted"] == 1
        scheduled = [e.task_id for e in history if type(e).__name__ == "TaskScheduled"]
        assert scheduled == list(range(STEPS))
    runs = Counter(tuple(line.split()[:2]) for line in log.read_text().splitlines())
    # Activities ran at least once each; a killed worker's in-flight ones ran again.
    assert set(runs) == {(iid, str(step)) for iid in ids for step in range(STEPS)}
    await client.close()


async def _wait_for(predicate, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "no progress"
        await asyncio.sleep(0.02)


async def test_two_worker_processes_share_one_sqlite_file(tmp_path: Path):
    """Two workers cooperate on one file; one is SIGKILLed and the other finishes its work."""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    log = tmp_path / "activities.log"
    env = {"CRASH_APP_LOG": str(log), "CRASH_APP_SLEEP": "0.05"}
    client = perdure.Client(url, app=app)
    ids = [await client.start_new("multi_step", f"pair-{i:02d}") for i in range(INSTANCES)]
    first, second = start_worker(url, env), start_worker(url, env)
    try:
        await _wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= 30)
        kill(first)
        for iid in ids:
            done = await client.wait_for_completion(iid, timeout=60)
            assert done.output == [f"{iid}:{step}" for step in range(STEPS)]
    finally:
        stop(first)
        stop(second)
    for iid in ids:
        kinds = Counter(type(e).__name__ for e in await client.store.get_history(iid))
        assert kinds["TaskScheduled"] == STEPS and kinds["TaskCompleted"] == STEPS, kinds
    await client.close()


async def test_sigterm_lets_running_activities_finish(tmp_path: Path):
    """A polite stop delivers the results of activities already running: none runs twice."""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    log = tmp_path / "activities.log"
    env = {"CRASH_APP_LOG": str(log), "CRASH_APP_SLEEP": "0.5"}
    client = perdure.Client(url, app=app)
    ids = [await client.start_new("multi_step", f"term-{i}") for i in range(5)]
    worker = start_worker(url, env, lease=30.0)  # a long lease: a rerun would be too slow
    try:
        # Once every instance's first activity has returned, the worker is up (its
        # signal handlers too) and the second ones are running.
        await _wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= 5)
        await asyncio.sleep(0.2)  # mid-activity for every instance
        worker.terminate()
        assert worker.wait(10) == 0
        worker = start_worker(url, env, lease=30.0)
        for iid in ids:
            done = await client.wait_for_completion(iid, timeout=30)
            assert done.output == [f"{iid}:{step}" for step in range(STEPS)]
    finally:
        stop(worker)
    runs = Counter(tuple(line.split()[:2]) for line in log.read_text().splitlines())
    assert set(runs.values()) == {1}, runs
    await client.close()
