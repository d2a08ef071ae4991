"""Unmodified Durable Functions apps under a real ``perdure serve`` process."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import httpx
import pytest
from azure.durable_functions.models.utils import http_utils

sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))
from http_server import serve  # noqa: E402

pytestmark = pytest.mark.processes

APPS = Path(__file__).parent / "apps"


def _poll(url: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status: dict[str, Any] = httpx.get(url, timeout=10).json()
        if status["runtimeStatus"] not in ("Pending", "Running") \
                or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


@pytest.fixture
def chaining(db_url: str) -> Iterator[str]:
    """``perdure serve`` on the function-chaining app, on SQLite and on PostgreSQL."""
    with serve(APPS / "chaining" / "function_app.py", db_url) as url:
        yield url


def test_function_chaining_started_over_http_completes(chaining: str) -> None:
    response = httpx.post(f"{chaining}/api/orchestrators/chain", timeout=10)
    assert response.status_code == 202, response.text
    payload = response.json()
    assert response.headers["location"] == payload["statusQueryGetUri"]
    # The check-status URLs are the server's own (the SDK puts the request's origin in).
    assert payload["statusQueryGetUri"] == \
        f"{chaining}/runtime/webhooks/durabletask/instances/{payload['id']}"
    status = _poll(payload["statusQueryGetUri"])
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == ["Hello Tokyo", "Hello Seattle", "Hello London"]


def test_blueprint_app_from_its_folder(db_url: str) -> None:
    with serve(APPS / "blueprint", db_url) as url:
        hello = httpx.get(f"{url}/v1/hello", params={"name": "perdure"}, timeout=10)
        assert hello.status_code == 200
        assert hello.text == "Hello, perdure."
        assert hello.headers["content-type"] == "text/plain; charset=utf-8"
        assert httpx.post(f"{url}/v1/hello", timeout=10).status_code == 405
        started = httpx.post(f"{url}/v1/start/shout", json=["durable", "python"], timeout=10)
        assert started.status_code == 202, started.text
        status = _poll(started.json()["statusQueryGetUri"])
        assert status["runtimeStatus"] == "Completed", status
        assert status["output"] == "DURABLE PYTHON"


def test_a_v1_app_with_an_http_output_binding(db_url: str) -> None:
    with serve(APPS / "v1", db_url) as url:
        started = httpx.post(f"{url}/api/orchestrators/HelloSequence", timeout=10)
        assert started.status_code == 202, started.text  # what main set on `message`
        status = _poll(started.json()["statusQueryGetUri"])
        assert status["runtimeStatus"] == "Completed", status
        assert status["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
        assert status["customStatus"] == "3 of 3"
        # A sub-orchestration, and a custom class through an activity (shared code).
        started = httpx.post(f"{url}/api/orchestrators/Parent", timeout=10)
        status = _poll(started.json()["statusQueryGetUri"])
        assert status["output"] == {
            "greetings": ["Hello Tokyo!", "Hello Seattle!", "Hello London!"], "area": 9}


def test_call_http_runs_the_built_in_http_activity(db_url: str) -> None:
    with serve(APPS / "features", db_url) as url:
        target = f"{url}/api/echo/7/x"
        started = httpx.post(f"{url}/api/orchestrators/fetch", json=target, timeout=10)
        assert started.status_code == 202, started.text
        status = _poll(started.json()["statusQueryGetUri"])
        assert status["runtimeStatus"] == "Completed", status
        code, echoed = status["output"]
        assert code == 201
        assert echoed["method"] == "PUT" and echoed["body"] == '{"a": 1}'
        assert echoed["header"] == "from-call-http"


async def test_the_unmodified_sdk_client_drives_a_df_app_over_http(chaining: str) -> None:
    binding = json.dumps({"taskHubName": "TestHubName", "creationUrls": {},
                          "managementUrls": {"id": "INSTANCEID"},
                          "rpcBaseUrl": f"{chaining}/durabletask/"})
    client = df.DurableOrchestrationClient(binding)
    try:
        iid = await client.start_new("chain", "from-the-sdk")
        for _ in range(400):
            status = await client.get_status(iid)
            if status.runtime_status and status.runtime_status.value == "Completed":
                break
            await asyncio.sleep(0.05)
        assert status.output == ["Hello Tokyo", "Hello Seattle", "Hello London"]
        assert iid == "from-the-sdk"
    finally:
        if http_utils._client_session is not None:
            await http_utils._client_session.close()
            http_utils._client_session = None
