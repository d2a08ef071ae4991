"""Input limits over HTTP: depth and size at every door, byte-budgeted list pages."""

from __future__ import annotations

from http_apps import BASE

from perdure.core.serialization import MIB


def nested_json(depth: int) -> bytes:
    return b"[" * depth + b"1" + b"]" * depth


def assert_error(response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert fragment in body["ExceptionMessage"], body


async def test_json_nested_past_the_limit_is_refused_before_anything_is_stored(api):
    headers = {"content-type": "application/json"}
    response = await api.http.post(f"{BASE}/orchestrators/echo/deep", content=nested_json(300),
                                   headers=headers)
    assert_error(response, 400, "input is nested more than 256 levels deep")
    for depth in (964, 100_000):  # past the parser's own limit: named the same way
        response = await api.http.post(f"{BASE}/orchestrators/echo/deeper",
                                       content=nested_json(depth), headers=headers)
        assert_error(response, 400, "nested more than 256 levels deep")
    assert await api.client.get_status("deep") is None
    assert (await api.start("approval", "waits")).status_code == 202
    await api.until("waits", "Running")
    response = await api.http.post(f"{BASE}/instances/waits/raiseEvent/Approval",
                                   content=nested_json(300), headers=headers)
    assert_error(response, 400, "event data is nested more than 256 levels deep")
    # Every read still answers: nothing unreadable was stored.
    assert (await api.status("waits", showHistory="true")).status_code == 202
    assert (await api.http.get(f"{BASE}/instances")).status_code == 200


async def test_values_over_the_size_limit_are_413(api):
    big = b'"' + b"x" * (4 * MIB) + b'"'  # within the body limit, over the value limit
    response = await api.http.post(f"{BASE}/orchestrators/echo/big", content=big)
    assert_error(response, 413, "input is 4194306 bytes encoded as JSON; the limit is")
    assert response.json()["ExceptionType"] == "ValueTooLargeError"
    assert await api.client.get_status("big") is None


async def test_a_list_page_is_cut_by_its_byte_budget_and_carries_on(api):
    ids = [f"big-{i}" for i in range(4)]
    for iid in ids:
        assert (await api.start("echo", iid, "y" * (3 * MIB))).status_code == 202
    for iid in ids:
        await api.until(iid, "Completed")
    seen: list[str] = []
    pages = 0
    token = ""
    while True:
        headers = {"x-ms-continuation-token": token} if token else {}
        response = await api.http.get(f"{BASE}/instances", params={"top": "100"},
                                      headers=headers)
        assert response.status_code == 200
        page = [item["instanceId"] for item in response.json()]
        assert 1 <= len(page) <= 2  # input and output are 3 MiB each: 8 MiB holds two
        seen += page
        pages += 1
        token = response.headers["x-ms-continuation-token"]
        if not token:
            break
    assert sorted(seen) == ids and pages >= 2
    small = await api.http.get(f"{BASE}/instances", params={"showInput": "false", "top": "1"})
    assert len(small.json()) == 1 and small.headers["x-ms-continuation-token"]


async def test_control_characters_in_ids_names_prefixes_and_tokens_are_400(api):
    assert (await api.start("approval", "waits")).status_code == 202
    await api.until("waits", "Running")
    headers = {"content-type": "application/json"}
    response = await api.http.post(f"{BASE}/instances/waits/raiseEvent/Appro%00val",
                                   content=b"1", headers=headers)
    assert_error(response, 400, "control character")
    response = await api.http.post(f"{BASE}/instances/waits/raiseEvent/Approval%0A",
                                   content=b"1", headers=headers)
    assert_error(response, 400, "control character")
    for query in ("instanceIdPrefix=a%00", "instanceIdPrefix=%1b"):
        assert_error(await api.http.get(f"{BASE}/instances?{query}"), 400, "control characters")
    import base64
    token = base64.urlsafe_b64encode(b'[1,"a\\u0000"]').decode().rstrip("=")
    response = await api.http.get(f"{BASE}/instances",
                                  headers={"x-ms-continuation-token": token})
    assert_error(response, 400, "malformed continuation token")
    for path in ("a%00b", "x%0Ay"):
        assert_error(await api.status(path), 400, "control character")
    assert (await api.status("waits")).status_code == 202
