"""HTTP-triggered functions, the check-status helpers, and the seed's HttpSyncStart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from http_apps import BASE, ORIGIN
from starlette.requests import Request

import perdure
from perdure.http import HttpClient
from perdure.http.user_routes import translate_template

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GREETINGS = ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


@pytest.fixture
async def seed(api_factory):
    """The seed article's HttpSyncStart app (``route_prefix=""``)."""
    return await api_factory(perdure.load_app(str(EXAMPLES / "http_sync_start.py")))


# --- the seed, verbatim ------------------------------------------------------------


async def test_seed_http_sync_start_completes_in_time(seed):
    response = await seed.http.post(
        "http://localhost:7071/orchestrators/hello_sequence/wait?timeout=2&retryInterval=0.5")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


async def test_seed_http_sync_start_times_out_with_the_check_status_payload(seed):
    started = time.perf_counter()
    response = await seed.http.post(
        "http://localhost:7071/orchestrators/slow_hello/wait?timeout=1&retryInterval=0.25")
    assert 0.95 < time.perf_counter() - started < 2
    assert response.status_code == 202
    assert response.headers["retry-after"] == "10"
    payload = response.json()
    iid = payload["id"]
    prefix = f"http://localhost:7071/runtime/webhooks/durabletask/instances/{iid}"
    assert response.headers["location"] == payload["statusQueryGetUri"] == prefix
    assert payload["sendEventPostUri"] == f"{prefix}/raiseEvent/{{eventName}}"
    assert payload["terminatePostUri"] == f"{prefix}/terminate?reason={{text}}"
    assert payload["purgeHistoryDeleteUri"] == prefix
    # The payload's URLs work: follow the status URL.
    status = await seed.http.get(payload["statusQueryGetUri"])
    assert status.status_code == 202 and status.json()["runtimeStatus"] == "Running"
    assert (await seed.http.post(payload["terminatePostUri"].replace("{text}", "bye"))
            ).status_code == 202


async def test_seed_bad_input_to_the_example_is_400(seed):
    response = await seed.http.post("/orchestrators/hello_sequence/wait?timeout=soon")
    assert response.status_code == 400
    response = await seed.http.post("/orchestrators/nope/wait")
    assert response.status_code == 400 and "nope" in response.json()["ExceptionMessage"]


# --- the client helpers --------------------------------------------------------------


def make_request(url: str = "https://example.test:8443/api/x") -> Request:
    scheme, rest = url.split("://")
    host, _, path = rest.partition("/")
    return Request({"type": "http", "method": "POST", "scheme": scheme, "path": "/" + path,
                    "query_string": b"", "root_path": "", "server": None,
                    "headers": [(b"host", host.encode())]})


async def test_create_check_status_response(api):
    response = api.client.create_check_status_response(make_request(), "abc")
    assert response.status_code == 202
    assert response.headers["retry-after"] == "10"
    assert response.headers["location"] == f"https://example.test:8443{BASE}/instances/abc"
    assert response.headers["content-type"] == "application/json; charset=utf-8"


async def test_wait_returns_as_soon_as_the_instance_completes(api):
    iid = await api.client.start_new("sleeper", None, 0.3)
    started = time.perf_counter()
    response = await api.client.wait_for_completion_or_create_check_status_response(
        make_request(), iid, timeout=60, retry_interval=30)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200 and response.body == b'"woke"'
    # Far below the retry interval (generous for a loaded machine): not a retry tick.
    assert elapsed < 10, f"waited for a retry tick: {elapsed:.2f}s"


async def test_wait_defaults_and_outcomes(api):
    params = list(HttpClient.wait_for_completion_or_create_check_status_response
                  .__code__.co_varnames)
    assert params[:5] == ["self", "request", "instance_id", "timeout", "retry_interval"]
    client = api.client
    failed = await client.start_new("broken")
    response = await client.wait_for_completion_or_create_check_status_response(
        make_request(), failed, timeout=5)
    assert response.status_code == 200 and b'"runtimeStatus":"Failed"' in response.body
    response = await client.wait_for_completion_or_create_check_status_response(
        make_request(), failed, timeout=5, return_internal_server_error_on_failure=True)
    assert response.status_code == 500
    waiting = await client.start_new("approval")
    response = await client.wait_for_completion_or_create_check_status_response(
        make_request(), waiting, timeout=0.1, retry_interval=0.05)
    assert response.status_code == 202
    await client.terminate(waiting, "stop")
    response = await client.wait_for_completion_or_create_check_status_response(
        make_request(), waiting, timeout=5)
    assert response.status_code == 200 and b'"runtimeStatus":"Terminated"' in response.body
    with pytest.raises(perdure.InvalidArgumentError, match="retry_interval"):
        await client.wait_for_completion_or_create_check_status_response(
            make_request(), waiting, timeout=1, retry_interval=2)
    with pytest.raises(perdure.InstanceNotFoundError):
        await client.wait_for_completion_or_create_check_status_response(
            make_request(), "nobody", timeout=1)


# --- user routes ------------------------------------------------------------------------


async def test_user_route_under_the_default_prefix_gets_request_client_and_path(api):
    response = await api.http.post("/api/start/echo", content=b"hi")
    assert response.status_code == 202
    iid = response.json()["id"]
    assert response.json()["statusQueryGetUri"] == f"{ORIGIN}{BASE}/instances/{iid}"
    assert (await api.until(iid, "Completed"))["output"] == "hi"
    assert (await api.http.post("/start/echo")).status_code == 404


async def test_a_plain_def_route_gets_a_blocking_client(api):
    response = await api.http.post("/api/sync/echo")
    assert response.status_code == 200
    assert response.json()["status"] == "sync"


async def test_path_parameters_constraints_and_optional_segments(api):
    assert (await api.http.get("/api/items/42")).json() == \
        {"item_id": 42, "detail": None, "params": {"item_id": 42}}
    assert (await api.http.get("/api/items/42/more")).json()["detail"] == "more"
    assert (await api.http.get("/api/items/abc")).status_code == 404


@pytest.mark.parametrize(("kind", "status", "body"), [
    ("none", 204, b""), ("text", 200, b"plain"), ("bytes", 200, b"\x00\x01"),
    ("json", 200, b'{"a":[1,2]}'), ("response", 418, b"raw")])
async def test_return_values_become_responses(api, kind, status, body):
    response = await api.http.get(f"/api/returns/{kind}")
    assert response.status_code == status and response.content == body


async def test_errors_in_user_functions(api):
    response = await api.http.get("/api/boom/perdure")
    assert response.status_code == 400 and "you asked" in response.json()["ExceptionMessage"]
    response = await api.http.get("/api/boom/other")
    assert response.status_code == 500 and "user bug" not in response.text
    assert response.json()["Message"]


async def test_route_prefix_is_configurable(api_factory):
    app = perdure.App(route_prefix="v2/fn")

    @app.route("hello/{who}")
    async def hello(who: str) -> str:
        return f"hi {who}"

    @app.orchestrator
    def noop(ctx):
        return None

    api = await api_factory(app)
    assert (await api.http.get("/v2/fn/hello/bob")).text == "hi bob"
    assert (await api.http.get("/api/hello/bob")).status_code == 404


def test_route_template_translation():
    assert translate_template("orchestrators/{function_name}/wait") == \
        ["/orchestrators/{function_name}/wait"]
    assert translate_template("files/{*rest}") == ["/files/{rest:path}"]
    assert translate_template("a/{x:int}/{y?}") == ["/a/{x:int}", "/a/{x:int}/{y}"]
    assert translate_template("") == ["/"]
    for bad in ("a/{x?}/b", "{*rest}/b", "a/{x:regex}"):
        with pytest.raises(perdure.InvalidArgumentError):
            translate_template(bad)


async def test_waits_share_the_loop_with_the_worker(api):
    """Many concurrent waits over HTTP, each answered at completion."""
    responses = await asyncio.gather(*(
        api.start("hello_sequence", f"many-{i}", timeout=10) for i in range(20)))
    assert all(r.status_code == 200 and r.json() == GREETINGS for r in responses)
