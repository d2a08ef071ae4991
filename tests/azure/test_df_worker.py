"""A Durable Functions app on perdure's real worker and HTTP app, in-process, on SQLite and
PostgreSQL: HTTP functions, activities (custom classes, async), retries, sub-orchestrations,
an event raced against a timer, a monitor loop with continue-as-new, and the unmodified
``DurableOrchestrationClient`` from HTTP functions and activities."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from df_in_process import df_session, until_done

from perdure.cli.apps import load_any_app

APP = load_any_app(str(Path(__file__).parent / "apps" / "features"))
WEBHOOK = "/runtime/webhooks/durabletask"


@pytest.fixture
async def http(hub_factory: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with df_session(hub_factory, APP) as session:
        yield session


def origin(http: httpx.AsyncClient) -> str:
    """The server's origin as its clients see it (``http://host:port``)."""
    return str(http.base_url).rstrip("/")


async def until_status(http: httpx.AsyncClient, url: str, *statuses: str,
                       timeout: float = 15) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status: dict[str, Any] = (await http.get(url)).json()
        if status["runtimeStatus"] in statuses:
            return status
        assert asyncio.get_running_loop().time() < deadline, status
        await asyncio.sleep(0.02)


async def start(http: httpx.AsyncClient, name: str, body: Any = None,
                instance_id: str | None = None) -> dict[str, Any]:
    path = f"/api/orchestrators/{name}" + (f"/{instance_id}" if instance_id else "")
    response = await http.post(path, json=body)
    assert response.status_code == 202, response.text
    assert response.headers["retry-after"] == "10"
    payload: dict[str, Any] = response.json()
    assert response.headers["location"] == payload["statusQueryGetUri"]
    return payload


async def run(http: httpx.AsyncClient, name: str, body: Any = None,
              instance_id: str | None = None) -> dict[str, Any]:
    return await until_done(http, (await start(http, name, body, instance_id))
                            ["statusQueryGetUri"])


async def test_custom_classes_through_sync_and_async_activities(
        http: httpx.AsyncClient) -> None:
    status = await run(http, "points")
    assert (status["runtimeStatus"], status["output"]) == ("Completed", [22, 24])


async def test_a_custom_class_as_the_client_input(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/point")
    assert response.status_code == 202, response.text
    status = await until_done(http, response.json()["statusQueryGetUri"])
    assert status["output"] == [3, 4, "Point"], status


async def test_an_activity_gets_a_function_context(http: httpx.AsyncClient) -> None:
    assert (await run(http, "who"))["output"] == ["me", "whoami", True]


async def test_retries_until_success_and_until_exhaustion(http: httpx.AsyncClient) -> None:
    status = await run(http, "retrying")
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == "ok after 3"
    assert status["customStatus"] == "retried"
    failed = await run(http, "exhausted")
    assert failed["runtimeStatus"] == "Failed"
    assert "Activity function 'always_fails' failed: ValueError: never works" \
        in failed["output"]


async def test_sub_orchestrations(http: httpx.AsyncClient) -> None:
    status = await run(http, "parent", instance_id="par")
    assert status["output"] == ["ONE!", "TWO!"]
    child = (await http.get(f"{WEBHOOK}/instances/par-b")).json()
    assert child["runtimeStatus"] == "Completed"
    assert (await http.get(f"{WEBHOOK}/instances/par:0")).json()["output"] == "ONE!"


async def test_context_version_from_the_unmodified_client(http: httpx.AsyncClient) -> None:
    """The SDK client sends ``?version=``; ``context.version`` reads it, and a
    sub-orchestration inherits it unless the call names another."""
    started = await http.post("/api/versioned/versions", params={"version": "2.1"})
    assert started.status_code == 202, started.text
    status = await until_done(http, started.json()["statusQueryGetUri"])
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == ["2.1", "2.1", "0.9"] and status["version"] == "2.1"
    plain = await http.post("/api/versioned/which_version")
    status = await until_done(http, plain.json()["statusQueryGetUri"])
    assert status["output"] == "" and "version" not in status


async def test_an_event_raced_against_a_timer(http: httpx.AsyncClient) -> None:
    payload = await start(http, "approval", 60, instance_id="approve-me")
    for _ in range(200):  # until the orchestrator waits
        if (await http.get(payload["statusQueryGetUri"])).json()["runtimeStatus"] == "Running":
            break
        await asyncio.sleep(0.01)
    answer = await http.post("/api/approve/approve-me")
    assert answer.status_code == 200
    assert answer.text in ("Running", "Completed")
    assert (await until_done(http, payload["statusQueryGetUri"]))["output"] == "approved"
    late = await run(http, "approval", 0.05)
    assert late["output"] == "timed out"


async def test_a_monitor_loop_with_continue_as_new(http: httpx.AsyncClient) -> None:
    status = await run(http, "monitor", 0)
    assert (status["runtimeStatus"], status["output"]) == ("Completed", 3)
    assert status["customStatus"] == {"round": 3}


async def test_wait_for_completion_or_create_check_status_response(
        http: httpx.AsyncClient) -> None:
    response = await http.post("/api/wait/child", json="waited")
    assert response.status_code == 200, response.text
    assert response.text == "WAITED!"  # the SDK sends a str output as the body, raw


async def test_a_durable_client_in_an_activity(http: httpx.AsyncClient) -> None:
    status = await run(http, "management", instance_id="mgmt")
    # No request to take an origin from: the server's public URL (loopback: localhost).
    public = origin(http).replace("//127.0.0.1:", "//localhost:")
    assert status["output"] == f"Running {public}{WEBHOOK}/instances/mgmt"


async def test_http_request_and_response_objects(http: httpx.AsyncClient) -> None:
    response = await http.put("/api/echo/42/a/b?x=1", content=b"payload",
                              headers={"x-test": "yes"})
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-function"] == "echo"
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert response.json() == {
        "method": "PUT", "url": f"{origin(http)}/api/echo/42/a/b?x=1", "params": {"x": "1"},
        "route": {"id": "42", "rest": "a/b"}, "body": "payload", "header": "yes",
        "invocation": True}
    assert (await http.post("/api/echo/42/a")).status_code == 405
    assert (await http.get("/api/echo/x/a")).status_code == 404  # {id:int}
    nothing = await http.get("/api/nothing")
    assert (nothing.status_code, nothing.content) == (204, b"")
    text = await http.get("/api/text")
    assert (text.status_code, text.text) == (200, "plain words")
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    broken = await http.get("/api/broken")
    assert broken.status_code == 500
    assert "the function's own bug" not in broken.text


async def test_a_duplicate_start_of_an_active_id_is_refused(http: httpx.AsyncClient) -> None:
    await start(http, "approval", 60, instance_id="dup")
    again = await http.post("/api/orchestrators/approval/dup", json=60)
    assert again.status_code == 500  # the SDK raises on perdure's 409; the function fails


async def test_rewind_of_an_exhausted_retry_reruns_its_last_attempt(
        http: httpx.AsyncClient) -> None:
    failed = await run(http, "retry_twice")  # flaky succeeds on its third call
    assert failed["runtimeStatus"] == "Failed", failed
    iid = failed["instanceId"]
    assert (await http.post(f"{WEBHOOK}/instances/{iid}/rewind")).status_code == 202
    status = await until_status(http, f"{WEBHOOK}/instances/{iid}", "Completed")
    assert status["output"] == "ok after 3"


async def test_rewind_terminate_suspend_resume_purge_over_the_management_api(
        http: httpx.AsyncClient) -> None:
    failed = await run(http, "fragile")
    assert failed["runtimeStatus"] == "Failed"
    iid = failed["instanceId"]
    rewound = await http.post(f"{WEBHOOK}/instances/{iid}/rewind", params={"reason": "retry"})
    assert rewound.status_code == 202, rewound.text
    status = await until_status(http, f"{WEBHOOK}/instances/{iid}", "Completed")
    assert status["output"] == "second time"
    assert (await http.delete(f"{WEBHOOK}/instances/{iid}")).status_code == 200

    waiting = await start(http, "approval", 60)
    url = waiting["statusQueryGetUri"]
    await until_status(http, url, "Running")
    suspend = waiting["suspendPostUri"].replace("{text}", "hold")
    assert (await http.post(suspend)).status_code == 202
    await until_status(http, url, "Suspended")
    assert (await http.post(waiting["resumePostUri"].replace("{text}", "go"))).status_code == 202
    await until_status(http, url, "Running")
    terminate = waiting["terminatePostUri"].replace("{text}", "enough")
    assert (await http.post(terminate)).status_code == 202
    status = await until_status(http, url, "Terminated")
    assert status["output"] == "enough"
