"""Faults on the PostgreSQL task hub, with real processes.

(a) four workers, two of them SIGKILLed at random moments and restarted;
(b) the PostgreSQL server restarted under a running ``perdure serve`` and worker;
(c) a worker paused (SIGSTOP) inside a step past its lease, then resumed.

Every test uses its own schema in the ``test`` database, dropped at the end.
Test (b) restarts the shared server for a second or two: it is marked
``pg_restart`` (``-m "not pg_restart"`` leaves it out, as does
``PERDURE_SKIP_PG_RESTART=1``), serializes with other runs of itself through a
lock file, and waits for the server to accept connections again before ending.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import random
import shutil
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from crash_app import STEPS
from http_server import serve
from psycopg import sql
from store.pg import DATABASE_URL as DATABASE
from store.pg import postgres
from workers import HERE, kill, start_worker, stop

import perdure
from perdure import OrchestrationRuntimeStatus as S

APP = "crash_app.py"
WEBHOOK = "/runtime/webhooks/durabletask"

pytestmark = postgres


@asynccontextmanager
async def hub() -> AsyncIterator[str]:
    """A task hub URL in a fresh schema; the schema is dropped afterwards."""
    schema = f"fault_{uuid.uuid4().hex[:10]}"
    try:
        yield f"{DATABASE}?schema={schema}"
    finally:
        async with await psycopg.AsyncConnection.connect(DATABASE, autocommit=True) as conn:
            await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(schema)))


def lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


async def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def check_exactly_once(client: perdure.Client, instance_ids: list[str]) -> None:
    """Each instance completed with the right output; each step was committed once."""
    for iid in instance_ids:
        done = await client.wait_for_completion(iid, timeout=60)
        assert done.runtime_status is S.Completed, (iid, done.output)
        assert done.output == [f"{iid}:{step}" for step in range(STEPS)]
        history = await client.store.get_history(iid)
        kinds = Counter(type(e).__name__ for e in history)
        assert kinds["TaskScheduled"] == STEPS and kinds["TaskCompleted"] == STEPS, kinds
        assert kinds["ExecutionStarted"] == 1 and kinds["ExecutionCompleted"] == 1, kinds
        assert [e.task_id for e in history if type(e).__name__ == "TaskScheduled"] == list(
            range(STEPS))


async def test_a_sigkill_two_of_four_workers_at_random_moments(tmp_path: Path) -> None:
    rng = random.Random(20240611)
    log = tmp_path / "activities.log"
    env = {"CRASH_APP_LOG": str(log), "CRASH_APP_SLEEP": "0.02"}
    count = 200
    async with hub() as url:
        client = perdure.Client(url, orchestrators=["multi_step"])
        ids = [f"a-{i:03d}" for i in range(count)]
        for iid in ids:
            await client.start_new("multi_step", iid)
        workers = [start_worker(url, env, lease=1.0, app=APP) for _ in range(4)]
        killed: list[int] = []
        try:
            total = count * STEPS
            for low, high in ((0.1, 0.3), (0.4, 0.6)):
                threshold = int(total * rng.uniform(low, high))
                await wait_until(lambda threshold=threshold: len(lines(log)) >= threshold)
                await asyncio.sleep(rng.uniform(0, 0.2))  # a random moment, not a log line
                assert len(lines(log)) < total, "killed too late: everything ran"
                # A worker that is doing work (the first to start may have taken it all).
                busy = {int(pid) for _, _, pid in lines(log)[-50:]}
                victim = rng.choice([i for i, w in enumerate(workers) if w.pid in busy])
                killed.append(workers[victim].pid)
                kill(workers[victim])
                workers[victim] = start_worker(url, env, lease=1.0, app=APP)
            await check_exactly_once(client, ids)
        finally:
            for worker in workers:
                stop(worker)
            await client.close()
    runs = Counter((iid, step) for iid, step, _ in lines(log))
    assert set(runs) == {(iid, str(step)) for iid in ids for step in range(STEPS)}
    # The killed workers really were doing work when they died.
    pids = {int(pid) for _, _, pid in lines(log)}
    assert set(killed) <= pids


def _pg_ctl_restart() -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
                   check=True, capture_output=True, timeout=60)


def _wait_for_server(timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(DATABASE, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _restart_allowed() -> str | None:
    if os.environ.get("PERDURE_SKIP_PG_RESTART"):
        return "PERDURE_SKIP_PG_RESTART is set"
    if shutil.which("pg_ctlcluster") is None or not os.path.isdir("/etc/postgresql"):
        return "pg_ctlcluster is not available here"
    if os.geteuid() != 0:
        return "restarting the server needs root"
    return None


@pytest.mark.pg_restart
@pytest.mark.skipif(_restart_allowed() is not None, reason=str(_restart_allowed()))
async def test_b_postgresql_restart_mid_run(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """RESTARTS THE SHARED POSTGRESQL SERVER (a second or two), under load.

    ``perdure serve`` (HTTP API + worker) and one more ``perdure worker`` run
    on the hub; a client keeps starting instances through the HTTP API while
    the server restarts. Every start the API acknowledged (202) completes with
    the right output, and the API serves again without being restarted.
    """
    log = tmp_path / "activities.log"
    env = {"CRASH_APP_LOG": str(log), "CRASH_APP_SLEEP": "0.02"}
    for name, value in env.items():  # for the serve process, which inherits them
        monkeypatch.setenv(name, value)
    lock = open(Path("/tmp") / "perdure-pg-restart.lock", "w")  # noqa: SIM115
    async with hub() as url:
        client = perdure.Client(url, orchestrators=["multi_step"])
        await client.get_status("-")  # creates the schema before the processes race to
        worker = start_worker(url, env, lease=1.0, app=APP)
        acknowledged: list[str] = []
        refused = 0
        try:
            with serve(HERE / APP, url, "--no-auth", "--lease", "1") as base:
                async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                    async def start(iid: str) -> None:
                        nonlocal refused
                        try:
                            response = await http.post(
                                f"{WEBHOOK}/orchestrators/multi_step/{iid}")
                        except httpx.HTTPError:
                            refused += 1
                            return
                        if response.status_code == 202:
                            acknowledged.append(iid)
                        else:
                            refused += 1

                    for i in range(40):
                        await start(f"b-before-{i:02d}")
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    try:
                        restart = asyncio.get_running_loop().run_in_executor(
                            None, _pg_ctl_restart)
                        i = 0
                        while not restart.done():  # starts keep coming during the restart
                            await start(f"b-during-{i:03d}")
                            i += 1
                        await restart
                        await asyncio.get_running_loop().run_in_executor(None, _wait_for_server)
                        during = i
                        print(f"restart: {during} starts attempted during it, "
                              f"{sum(iid.startswith('b-during') for iid in acknowledged)} "
                              f"acknowledged, {refused} refused")
                    finally:
                        fcntl.flock(lock, fcntl.LOCK_UN)
                    assert during > 0, "the restart was over before any start was attempted"
                    for i in range(40):  # the API serves again by itself
                        await start(f"b-after-{i:02d}")
                    assert all(f"b-after-{i:02d}" in acknowledged for i in range(40)), refused
                    for iid in acknowledged:
                        response = await _wait_done(http, iid)
                        assert response["runtimeStatus"] == "Completed", response
                        assert response["output"] == [f"{iid}:{s}" for s in range(STEPS)]
            await check_exactly_once(client, acknowledged)
        finally:
            stop(worker)
            await client.close()
            lock.close()


async def _wait_done(http: httpx.AsyncClient, iid: str) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while True:
        response = await http.get(f"{WEBHOOK}/instances/{iid}")
        if response.status_code == 200:
            payload: dict[str, object] = response.json()
            if payload["runtimeStatus"] not in ("Pending", "Running"):
                return payload
        assert time.monotonic() < deadline, response.text
        await asyncio.sleep(0.05)


async def test_c_a_paused_worker_cannot_commit_over_its_successor(tmp_path: Path) -> None:
    log, mark = tmp_path / "activities.log", tmp_path / "steps.mark"
    env = {"CRASH_APP_LOG": str(log), "CRASH_APP_MARK": str(mark),
           "CRASH_APP_STEP_SLEEP": "1.0"}
    async with hub() as url:
        client = perdure.Client(url, orchestrators=["paused_step", "multi_step"])
        await client.get_status("-")
        workers = {p.pid: p for p in (start_worker(url, env, lease=1.0, app=APP)
                                      for _ in range(2))}
        try:
            iid = await client.start_new("paused_step", "c-1")
            await wait_until(lambda: bool(lines(mark)))
            paused = int(lines(mark)[0][0])
            workers[paused].send_signal(signal.SIGSTOP)  # inside the step, holding the lease
            try:
                done = await client.wait_for_completion(iid, timeout=30)
            finally:
                workers[paused].send_signal(signal.SIGCONT)
            [successor] = set(workers) - {paused}
            assert done.runtime_status is S.Completed
            assert done.output == [f"{iid}:0", successor]
            # The resumed worker finishes its step and tries to commit it: refused.
            await asyncio.sleep(1.0)
            after = await client.get_status(iid)
            assert after is not None and after.output == [f"{iid}:0", successor]
            history = await client.store.get_history(iid)
            kinds = Counter(type(e).__name__ for e in history)
            assert kinds["ExecutionCompleted"] == 1 and kinds["TaskScheduled"] == 1, kinds
            assert [int(pid) for (pid,) in lines(mark)] == [paused, successor]
            # The resumed worker carries on serving.
            assert workers[paused].poll() is None
            ids = [await client.start_new("multi_step", f"c-after-{i}") for i in range(20)]
            await check_exactly_once(client, ids)
        finally:
            for worker in workers.values():
                stop(worker)
            await client.close()
