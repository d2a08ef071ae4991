"""The Durable Functions entity API: signal, read, list, on both task hubs."""

from __future__ import annotations

import asyncio

import pytest
from http_apps import BASE

import perdure

app = perdure.App()


@app.entity
def counter(ctx: perdure.EntityContext) -> None:
    if ctx.operation_name == "add":
        ctx.set_state(ctx.get_state(0) + ctx.get_input())
    elif ctx.operation_name == "set":
        ctx.set_state(ctx.get_input())
    elif ctx.operation_name == "delete":
        ctx.delete_state()


@pytest.fixture
async def entity_api(api_factory):
    return await api_factory(app)


async def until_state(api, path: str, expected, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await api.http.get(path)
        if (expected is None and response.status_code == 404) or (
                response.status_code == 200 and response.json() == expected):
            return
        assert asyncio.get_running_loop().time() < deadline, response.text
        await asyncio.sleep(0.01)


async def test_signal_then_read_state(entity_api):
    http = entity_api.http
    assert (await http.get(f"{BASE}/entities/counter/c1")).status_code == 404
    response = await http.post(f"{BASE}/entities/Counter/c1", params={"op": "add"}, json=5)
    assert response.status_code == 202 and response.content == b""
    await http.post(f"{BASE}/entities/counter/c1", params={"op": "add"}, json=2)
    await until_state(entity_api, f"{BASE}/entities/counter/c1", 7)
    # A body that is not JSON is passed as a string.
    await http.post(f"{BASE}/entities/counter/s", params={"op": "set"}, content=b"plain",
                    headers={"content-type": "text/plain"})
    await until_state(entity_api, f"{BASE}/entities/counter/s", "plain")
    assert (await http.delete(f"{BASE}/entities/counter/s")).status_code == 202
    await until_state(entity_api, f"{BASE}/entities/counter/s", None)


async def test_bad_signals_are_refused(entity_api):
    http = entity_api.http
    assert (await http.post(f"{BASE}/entities/nosuch/k", params={"op": "x"})).status_code == 400
    missing_op = await http.post(f"{BASE}/entities/counter/k")
    assert missing_op.status_code == 400 and "op" in missing_op.json()["ExceptionMessage"]
    bad_json = await http.post(f"{BASE}/entities/counter/k", params={"op": "add"},
                               content=b"{nope", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400
    assert (await http.post(f"{BASE}/entities/counter/a%23b", params={"op": "add"},
                            json=1)).status_code == 400


async def test_list_entities_with_state_and_paging(entity_api):
    http = entity_api.http
    for key in ("a", "b", "c"):
        await http.post(f"{BASE}/entities/counter/{key}", params={"op": "add"}, json=1)
    for key in ("a", "b", "c"):
        await until_state(entity_api, f"{BASE}/entities/counter/{key}", 1)
    listed = await http.get(f"{BASE}/entities/counter", params={"fetchState": "true"})
    assert listed.status_code == 200
    body = listed.json()
    assert [(e["entityId"], e["state"]) for e in body] == [
        ({"name": "counter", "key": k}, 1) for k in ("a", "b", "c")]
    assert all(e["lastOperationTime"].endswith("Z") for e in body)
    assert listed.headers["x-ms-continuation-token"] == ""
    assert "state" not in (await http.get(f"{BASE}/entities")).json()[0]
    keys, token = [], None
    while True:
        headers = {"x-ms-continuation-token": token} if token else {}
        page = await http.get(f"{BASE}/entities/", params={"top": 2}, headers=headers)
        keys += [e["entityId"]["key"] for e in page.json()]
        token = page.headers["x-ms-continuation-token"]
        if not token:
            break
    assert keys == ["a", "b", "c"]
    future = await http.get(f"{BASE}/entities", params={
        "lastOperationTimeFrom": "2999-01-01T00:00:00Z"})
    assert future.json() == []
