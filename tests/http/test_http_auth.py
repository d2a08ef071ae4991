"""Keys: the system key, function keys, auth levels, and instance-scoped tokens."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from http_apps import BASE

import perdure
from perdure.http import KeyAuth

KEY = "system-key-for-tests"
FUNCTION_KEY = "function-key-for-tests"


@pytest.fixture
async def keyed(api_factory):
    return await api_factory(auth=KeyAuth(KEY, [FUNCTION_KEY]))


def code_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["code"][0]


def assert_401(response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["Message"] == "Unauthorized"


async def test_auth_is_off_by_default(api):
    assert (await api.http.get(f"{BASE}/instances")).status_code == 200
    assert (await api.http.get("/api/levels/admin")).status_code == 200


@pytest.mark.parametrize("base", [BASE, "/admin/extensions/DurableTaskExtension",
                                  "/durabletask"])
async def test_every_management_route_needs_the_key_and_a_refusal_changes_nothing(keyed, base):
    attempts = [
        ("POST", f"{base}/orchestrators/echo/x1"), ("GET", f"{base}/instances"),
        ("DELETE", f"{base}/instances?createdTimeFrom=2000-01-01T00:00:00Z"),
        ("GET", f"{base}/instances/x1"), ("DELETE", f"{base}/instances/x1"),
        ("POST", f"{base}/instances/x1/raiseEvent/Approval"),
        ("POST", f"{base}/instances/x1/terminate"), ("POST", f"{base}/instances/x1/suspend"),
        ("POST", f"{base}/instances/x1/resume"), ("POST", f"{base}/instances/x1/rewind"),
        ("POST", f"{base}/instances/x1/restart"),
    ]
    for method, url in attempts:
        assert_401(await keyed.http.request(method, url, json=1))
        assert_401(await keyed.http.request(method, url, json=1,
                                            headers={"x-functions-key": "wrong"}))
        assert_401(await keyed.http.request(method, url + ("&" if "?" in url else "?")
                                            + "code=wrong", json=1))
    assert await keyed.client.get_status_all() == []


async def test_the_system_key_opens_management_routes_by_header_or_code(keyed):
    response = await keyed.http.post(f"{BASE}/orchestrators/echo/k1?code={KEY}", json=5)
    assert response.status_code == 202
    response = await keyed.http.get(f"{BASE}/instances", headers={"x-functions-key": KEY})
    assert response.status_code == 200
    assert (await keyed.http.get(f"{BASE}/instances?CODE={KEY}")).status_code == 200


async def test_payload_urls_carry_a_token_scoped_to_their_instance(keyed):
    first = (await keyed.http.post(f"{BASE}/orchestrators/approval/one?code={KEY}")).json()
    second = (await keyed.http.post(f"{BASE}/orchestrators/approval/two?code={KEY}")).json()
    token = code_of(first["statusQueryGetUri"])
    assert token != KEY and token.startswith("i1.")
    assert all(code_of(first[k]) == token for k in first if k != "id")
    assert code_of(second["statusQueryGetUri"]) != token
    # The URLs work as handed out...
    assert (await keyed.http.get(first["statusQueryGetUri"])).status_code in (200, 202)
    raised = await keyed.http.post(first["sendEventPostUri"].replace("{eventName}", "Approval"),
                                   json="yes")
    assert raised.status_code == 202
    # ...and the token opens nothing else.
    assert_401(await keyed.http.get(f"{BASE}/instances/two?code={token}"))
    assert_401(await keyed.http.post(f"{BASE}/instances/two/terminate?code={token}"))
    assert_401(await keyed.http.get(f"{BASE}/instances?code={token}"))
    assert_401(await keyed.http.post(f"{BASE}/orchestrators/echo/one?code={token}"))
    assert_401(await keyed.http.post(f"{BASE}/orchestrators/echo?code={token}"))
    assert_401(await keyed.http.get(f"/api/levels/function?code={token}"))
    await keyed.client.wait_for_completion("one", 5)
    status = await keyed.http.get(f"{BASE}/instances/one", headers={"x-functions-key": token})
    assert status.status_code == 200 and status.json()["output"] == "yes"
    assert (await keyed.client.get_status("two")).runtime_status.value == "Running"


async def test_tokens_depend_on_key_and_instance_only():
    a, b = KeyAuth("k"), KeyAuth("k")
    assert a.instance_token("x") == b.instance_token("x")
    assert a.instance_token("x") != a.instance_token("y")
    assert KeyAuth("other").instance_token("x") != a.instance_token("x")
    assert KeyAuth().url_query("x") == ""
    with pytest.raises(perdure.InvalidArgumentError):
        KeyAuth("has space")


async def test_client_payloads_carry_the_token_too(keyed):
    payload = keyed.client.create_http_management_payload("p1")
    assert code_of(payload["terminatePostUri"]) == KeyAuth(KEY).instance_token("p1")


async def test_user_route_levels(keyed):
    assert (await keyed.http.post("/api/start/echo")).status_code == 202  # anonymous
    assert_401(await keyed.http.get("/api/levels/function"))
    assert (await keyed.http.get(f"/api/levels/function?code={FUNCTION_KEY}")).text == \
        "function ok"
    assert (await keyed.http.get(f"/api/levels/function?code={KEY}")).status_code == 200
    assert_401(await keyed.http.get(f"/api/levels/admin?code={FUNCTION_KEY}"))
    assert (await keyed.http.get("/api/levels/admin",
                                 headers={"x-functions-key": KEY})).text == "admin ok"
    # A function key is not a system key.
    assert_401(await keyed.http.get(f"{BASE}/instances?code={FUNCTION_KEY}"))


async def test_openapi_is_public(keyed):
    assert (await keyed.http.get("/openapi.json")).status_code == 200
