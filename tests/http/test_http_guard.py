"""The request guard: raw-path checks (hardening #7) and, with keys off, Host/Origin (#9)."""

from __future__ import annotations

import http_apps
import httpx
import pytest
from http_apps import BASE

from perdure.http import KeyAuth, create_asgi_app
from perdure.http.guard import is_loopback_host, split_host

# The guard answers before the task hub is reached: one backend is enough.
pytestmark = pytest.mark.sqlite_only


def _assert_json_error(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"Message", "ExceptionMessage", "ExceptionType"}
    for word in words:
        assert word in body["ExceptionMessage"], body


# --- #7: encoded slashes and invalid escapes ---------------------------------


@pytest.mark.parametrize("path", [
    f"{BASE}/instances/a%2Fb",
    f"{BASE}/instances/a%2fb/terminate",
    f"{BASE}/instances/a%5Cb",
    "/admin/extensions/DurableTaskExtension/instances/a%2Fb",
    "/durabletask/instances/a%2Fb",
])
async def test_an_encoded_slash_in_a_management_id_is_a_400(api, path):
    method = "POST" if path.endswith("terminate") else "GET"
    response = await api.http.request(method, path)
    _assert_json_error(response, 400, "%2F")


async def test_an_encoded_slash_in_a_start_id_is_a_400_and_starts_nothing(api):
    response = await api.http.post(f"{BASE}/orchestrators/echo/x%2Fy", json=1)
    _assert_json_error(response, 400, "%2F")
    assert await api.client.get_status_all() == []


@pytest.mark.parametrize("raw", ["a%ZZb", "a%2", "a%", "a%C3%28", "a%C4%28", "a%FF"])
async def test_an_invalid_escape_or_utf8_in_an_id_is_a_400(api, raw):
    response = await api.http.post(f"{BASE}/orchestrators/echo/{raw}", json=1)
    _assert_json_error(response, 400)
    assert "percent-escape" in response.json()["ExceptionMessage"] \
        or "UTF-8" in response.json()["ExceptionMessage"]
    assert await api.client.get_status_all() == []


async def test_invalid_escapes_are_a_400_on_user_routes_too(api):
    _assert_json_error(await api.http.get("/api/returns/%ZZ"), 400, "%ZZ")
    _assert_json_error(await api.http.get("/api/returns/%C3%28"), 400, "UTF-8")


async def test_valid_escapes_still_work(api):
    response = await api.http.post(f"{BASE}/orchestrators/echo/caf%C3%A9%20x", json=1)
    assert response.status_code == 202
    assert response.json()["id"] == "café x"
    # An encoded slash outside the management bases is the user route's business.
    assert (await api.http.get("/api/returns/a%2Fb")).status_code != 400


# --- #9: Host and Origin with keys off ---------------------------------------


async def test_a_cross_origin_post_is_refused_with_keys_off(api):
    response = await api.http.post(f"{BASE}/orchestrators/echo/csrf", content=b"1",
                                   headers={"Origin": "http://evil.example",
                                            "Content-Type": "text/plain"})
    _assert_json_error(response, 403, "evil.example")
    response = await api.http.post(f"{BASE}/instances/csrf/terminate",
                                   headers={"Origin": "null"})
    _assert_json_error(response, 403)
    # Another port of localhost is another origin too.
    response = await api.http.post(f"{BASE}/orchestrators/echo/csrf",
                                   headers={"Origin": "http://localhost:3000"})
    _assert_json_error(response, 403)
    assert await api.client.get_status_all() == []


async def test_same_origin_and_no_origin_are_served(api):
    # What `curl -d` sends: no Origin at all.
    response = await api.http.post(f"{BASE}/orchestrators/echo/plain", json=1)
    assert response.status_code == 202
    response = await api.http.post(f"{BASE}/orchestrators/echo/same", json=1,
                                   headers={"Origin": "http://localhost:7071"})
    assert response.status_code == 202


@pytest.mark.parametrize("host", ["evil.example", "evil.example:7071", "localhost.evil.example",
                                  "127.0.0.1.nip.io:7071", "10.0.0.1:7071"])
async def test_a_foreign_host_is_refused_with_keys_off(api, host):
    response = await api.http.post(f"{BASE}/orchestrators/echo/rebind", json=1,
                                   headers={"Host": host})
    _assert_json_error(response, 403, "--allowed-host")
    assert await api.client.get_status_all() == []


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:7071", "app.localhost:7071",
                                  "127.0.0.1:7071", "127.1.2.3", "[::1]:7071", "[::1]"])
async def test_loopback_hosts_are_served(api, host):
    response = await api.http.get(f"{BASE}/instances", headers={"Host": host})
    assert response.status_code == 200, response.text


async def test_payload_urls_never_carry_a_refused_host(api):
    response = await api.http.post(f"{BASE}/orchestrators/echo/rb", json=1,
                                   headers={"Host": "attacker.example:7071"})
    assert response.status_code == 403 and "statusQueryGetUri" not in response.text


async def test_allowed_hosts_are_served_and_their_origin_too(hub_factory):
    hub = await hub_factory(http_apps.app)
    asgi = create_asgi_app(http_apps.app, hub.client,
                           allowed_hosts=["testserver", "*.example.com", "pinned.example:8080"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi),
                                 base_url="http://testserver") as http:
        response = await http.post(f"{BASE}/orchestrators/echo/t1", json=1,
                                   headers={"Origin": "http://testserver"})
        assert response.status_code == 202
        assert response.json()["statusQueryGetUri"].startswith("http://testserver/")
        assert (await http.get(f"{BASE}/instances", headers={"Host": "a.example.com"})
                ).status_code == 200
        # Behind a TLS-terminating proxy the Origin is https, the Host the same name.
        assert (await http.get(f"{BASE}/instances", headers={"Host": "a.example.com",
                                                             "Origin": "https://a.example.com"})
                ).status_code == 200
        assert (await http.get(f"{BASE}/instances", headers={"Host": "pinned.example:8080"})
                ).status_code == 200
        assert (await http.get(f"{BASE}/instances", headers={"Host": "pinned.example:9090"})
                ).status_code == 403
        assert (await http.get(f"{BASE}/instances", headers={"Host": "example.com"})
                ).status_code == 403


async def test_with_keys_on_host_and_origin_are_left_to_the_keys(api_factory):
    api = await api_factory(auth=KeyAuth("sys"))
    response = await api.http.post(f"{BASE}/orchestrators/echo/k?code=sys", json=1,
                                   headers={"Host": "public.example",
                                            "Origin": "https://other.example"})
    assert response.status_code == 202
    response = await api.http.post(f"{BASE}/orchestrators/echo/k2", json=1,
                                   headers={"Origin": "https://other.example"})
    assert response.status_code == 401
    # The path checks still apply.
    assert (await api.http.get(f"{BASE}/instances/a%2Fb?code=sys")).status_code == 400


def test_host_helpers():
    assert split_host("[::1]:7071") == ("::1", "7071")
    assert split_host("Example.COM") == ("example.com", None)
    assert split_host("::1") == ("::1", None)
    assert is_loopback_host("127.9.9.9") and is_loopback_host("x.localhost.")
    assert not is_loopback_host("localhost.example") and not is_loopback_host("0.0.0.0")
