"""The durable-client binding JSON and the in-process transport's response mapping."""

from __future__ import annotations

import json
from typing import Any

import azure.durable_functions as df

import perdure
from perdure.azure import binding_json
from perdure.azure.client import RPC_BASE_URL, InProcessTransport


def test_the_binding_json_builds_an_sdk_client(tmp_path: Any) -> None:
    client = perdure.Client(f"sqlite:///{tmp_path / 'hub.db'}",
                            base_url="https://example.test:8443")
    data = json.loads(binding_json(client, "MyHub"))
    assert data["taskHubName"] == "MyHub"
    assert data["rpcBaseUrl"] == RPC_BASE_URL
    assert data["managementUrls"]["statusQueryGetUri"] == (
        "https://example.test:8443/runtime/webhooks/durabletask/instances/INSTANCEID")
    sdk = df.DurableOrchestrationClient(json.dumps(data))
    links = sdk.create_http_management_payload("abc")
    assert links["id"] == "abc"
    assert links["terminatePostUri"].endswith("/instances/abc/terminate?reason={text}")


async def test_responses_are_mapped_as_the_sdk_expects() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        empty = scope["path"].endswith("/empty")
        await send({"type": "http.response.start", "status": 404 if empty else 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"" if empty else b'{"a": 1}'})

    async def never(*args: Any) -> list[Any]:
        raise AssertionError("an internal URL left the process")

    transport = InProcessTransport(app, {"post": never, "get": never, "delete": never})
    try:
        assert await transport.get(f"{RPC_BASE_URL}instances/x") == [200, {"a": 1}]
        assert await transport.get(f"{RPC_BASE_URL}empty") == [404, ""]  # GET: "" as aiohttp
        assert await transport.delete(f"{RPC_BASE_URL}empty") == [404, None]
        assert await transport.post(f"{RPC_BASE_URL}x", {"b": 2}) == [200, {"a": 1}]
    finally:
        await transport.aclose()
