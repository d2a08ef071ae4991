"""Durable Functions apps in real processes: ``perdure worker`` SIGKILLed mid-run, and
``perdure serve`` with keys on (check-status URLs carry per-instance tokens)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

import perdure
from perdure import OrchestrationRuntimeStatus as S
from perdure.cli.apps import load_any_app

sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))
import workers  # noqa: E402
from http_server import serve  # noqa: E402
from workers import kill, stop  # noqa: E402

pytestmark = pytest.mark.processes

APPS = Path(__file__).parent / "apps"
INSTANCES = 20
STEPS = 5


def start_worker(store_url: str, env: dict[str, str], app: str = "crash",
                 ) -> subprocess.Popen[bytes]:
    """``perdure worker`` on one of the DF test apps (see ``tests/e2e/workers.py``)."""
    return workers.start_worker(store_url, env, app=str(APPS / app), max_activities=4)


async def wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_sigkill_of_a_df_worker_mid_run(db_url: str, tmp_path: Path) -> None:
    url = db_url
    log = tmp_path / "activities.log"
    env = {"CRASH_APP_LOG": str(log), "CRASH_APP_SLEEP": "0.1"}
    client = perdure.Client(url, app=load_any_app(str(APPS / "crash")))
    ids = [await client.start_new("multi_step", f"df-crash-{i:02d}") for i in range(INSTANCES)]
    worker = start_worker(url, env)
    try:
        await wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= 15)
        assert len(log.read_text().splitlines()) < INSTANCES * STEPS, "killed too late"
        kill(worker)
        worker = start_worker(url, env)
        for iid in ids:
            done = await client.wait_for_completion(iid, timeout=60)
            assert done.runtime_status is S.Completed, done.output
            assert done.output == [f"{iid}:{step}" for step in range(STEPS)]
    finally:
        stop(worker)
    for iid in ids:
        kinds = Counter(type(e).__name__ for e in await client.store.get_history(iid))
        assert kinds["TaskScheduled"] == STEPS and kinds["TaskCompleted"] == STEPS, kinds
    await client.close()


def test_keys_on_check_status_urls_carry_instance_tokens(db_url: str) -> None:
    with serve(APPS / "chaining", db_url, "--key",
               "system-secret") as url:
        # The starter is anonymous; the management API needs a key...
        response = httpx.post(f"{url}/api/orchestrators/chain", timeout=10)
        assert response.status_code == 202, response.text
        status_url = response.json()["statusQueryGetUri"]
        bare = status_url.split("?")[0]
        assert httpx.get(bare, timeout=10).status_code == 401
        # ...which the check-status URL carries as its own token (not the system key).
        assert "system-secret" not in status_url and "?" in status_url
        deadline = time.monotonic() + 20
        while True:
            status = httpx.get(status_url, timeout=10)
            assert status.status_code in (200, 202), status.text  # 202 while it runs
            if status.json()["runtimeStatus"] == "Completed" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert status.json()["output"] == ["Hello Tokyo", "Hello Seattle", "Hello London"]


async def test_a_durable_client_in_a_perdure_worker_without_http(db_url: str) -> None:
    url = db_url
    client = perdure.Client(url, app=load_any_app(str(APPS / "features")))
    worker = start_worker(url, {}, app="features")
    try:
        iid = await client.start_new("management", "worker-mgmt")
        done = await client.wait_for_completion(iid, timeout=30)
        assert done.runtime_status is S.Completed, done.output
        # The activity's client read the status in-process; its URLs are the default
        # public base's (the worker serves no HTTP).
        assert done.output == ("Running http://localhost:7071/runtime/webhooks/durabletask"
                               "/instances/worker-mgmt")
    finally:
        stop(worker)
        await client.close()


def test_function_level_routes_need_a_key(tmp_path: Path) -> None:
    with serve(APPS / "blueprint", f"sqlite:///{tmp_path / 'hub.db'}", "--key",
               "system-secret", "--function-key", "fn-key") as url:
        assert httpx.post(f"{url}/v1/start/shout", json=["a"], timeout=10).status_code == 401
        started = httpx.post(f"{url}/v1/start/shout", json=["a"], timeout=10,
                             headers={"x-functions-key": "fn-key"})
        assert started.status_code == 202, started.text
        assert httpx.get(f"{url}/v1/hello", timeout=10).status_code == 200  # anonymous


async def test_two_df_workers_share_a_hub(db_url: str, tmp_path: Path) -> None:
    """Instances move between workers: each step may run on a fresh executor (replay)."""
    log = tmp_path / "activities.log"
    env = {"CRASH_APP_LOG": str(log), "CRASH_APP_SLEEP": "0.01"}
    client = perdure.Client(db_url, app=load_any_app(str(APPS / "crash")))
    workers = [start_worker(db_url, env), start_worker(db_url, env)]
    try:
        ids = [await client.start_new("multi_step", f"shared-{i:02d}") for i in range(INSTANCES)]
        for iid in ids:
            done = await client.wait_for_completion(iid, timeout=60)
            assert done.runtime_status is S.Completed, done.output
            assert done.output == [f"{iid}:{step}" for step in range(STEPS)]
    finally:
        for worker in workers:
            stop(worker)
        await client.close()


async def test_a_v1_app_under_a_perdure_worker(db_url: str) -> None:
    """The v1 folder (``*/function.json``) in a worker that serves no HTTP: chaining with
    custom status, a sub-orchestration and a custom class through shared code."""
    client = perdure.Client(db_url, app=load_any_app(str(APPS / "v1")))
    worker = start_worker(db_url, {}, app="v1")
    try:
        chained = await client.wait_for_completion(
            await client.start_new("HelloSequence", "v1-chain"), timeout=30)
        assert chained.runtime_status is S.Completed, chained.output
        assert chained.output == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
        assert chained.custom_status == "3 of 3"
        parent = await client.wait_for_completion(
            await client.start_new("Parent", "v1-parent"), timeout=30)
        assert parent.output == {
            "greetings": ["Hello Tokyo!", "Hello Seattle!", "Hello London!"], "area": 9}
    finally:
        stop(worker)
        await client.close()
