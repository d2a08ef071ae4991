"""The management API, route by route and status code by status code."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from http_apps import BASE, ORIGIN

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
STATUS_KEYS = ["name", "instanceId", "runtimeStatus", "input", "customStatus", "output",
               "createdTime", "lastUpdatedTime"]
PAYLOAD_KEYS = ["id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri",
                "rewindPostUri", "purgeHistoryDeleteUri", "restartPostUri", "suspendPostUri",
                "resumePostUri"]
GREETINGS = ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


def assert_error(response, status: int, *fragments: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert set(body) >= {"Message", "ExceptionMessage", "ExceptionType"}
    for fragment in fragments:
        assert fragment in body["ExceptionMessage"] or fragment in body["Message"], body


async def instance_ids(api) -> list[str]:
    return sorted(s.instance_id for s in await api.client.get_status_all())


# --- start ---------------------------------------------------------------------


async def test_start_returns_202_with_the_check_status_payload(api):
    response = await api.start("hello_sequence", data={"x": 1})
    assert response.status_code == 202
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    payload = response.json()
    assert list(payload) == PAYLOAD_KEYS
    iid = payload["id"]
    assert re.fullmatch(r"[0-9a-f]{32}", iid)
    prefix = f"{ORIGIN}{BASE}/instances/{iid}"
    assert payload["statusQueryGetUri"] == prefix
    assert payload["sendEventPostUri"] == f"{prefix}/raiseEvent/{{eventName}}"
    assert payload["terminatePostUri"] == f"{prefix}/terminate?reason={{text}}"
    assert payload["restartPostUri"] == f"{prefix}/restart"
    assert response.headers["location"] == payload["statusQueryGetUri"]
    assert response.headers["retry-after"] == "10"
    status = await api.until(iid, "Completed")
    assert status["input"] == {"x": 1} and status["output"] == GREETINGS


async def test_payload_urls_use_the_request_scheme_and_host(api):
    response = await api.http.post(f"https://example.test:8443{BASE}/orchestrators/echo/e1")
    assert response.json()["statusQueryGetUri"] == \
        f"https://example.test:8443{BASE}/instances/e1"


async def test_start_with_an_instance_id_and_any_json_input(api):
    for iid, data in (("s-str", "text"), ("s-num", 4.5), ("s-list", [1, None, {"a": True}])):
        response = await api.start("echo", iid, data)
        assert response.status_code == 202 and response.json()["id"] == iid
        assert (await api.until(iid, "Completed"))["output"] == data


async def test_start_without_a_body_has_null_input(api):
    response = await api.http.post(f"{BASE}/orchestrators/echo/nobody", content=b"")
    assert response.status_code == 202
    assert (await api.until("nobody", "Completed"))["input"] is None


@pytest.mark.parametrize("bad", ["x" * 257, "a%23b", "%40entity", "a%5Cb", "a%3Fb", "a%0Ab"])
async def test_start_with_a_bad_id_is_400_and_creates_nothing(api, bad):
    response = await api.http.post(f"{BASE}/orchestrators/echo/{bad}")
    assert_error(response, 400, "instance id")
    assert await instance_ids(api) == []


async def test_start_of_an_unknown_orchestrator_is_400_naming_it(api):
    response = await api.start("no_such_thing")
    assert_error(response, 400, "no_such_thing", "hello_sequence")
    assert await instance_ids(api) == []


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2", b"NaN", b"\xff\xfe", b"'single'",
                                  b"[" * 5000 + b"]" * 5000])
async def test_start_with_invalid_json_is_400_and_creates_nothing(api, body):
    response = await api.http.post(f"{BASE}/orchestrators/echo/bad-json", content=body,
                                   headers={"content-type": "application/json"})
    assert_error(response, 400)
    assert response.json()["Message"] == "Invalid JSON content"
    assert await instance_ids(api) == []


async def test_a_lone_surrogate_is_400_not_500(api):
    """JSON may escape a lone surrogate; no store can keep one."""
    response = await api.http.post(f"{BASE}/orchestrators/echo/sur", content=b'"\\ud800"')
    assert_error(response, 400, "surrogate")
    await api.start("approval", "sur2")
    response = await api.http.post(f"{BASE}/instances/sur2/raiseEvent/Approval",
                                   content=b'{"a": "\\udfff"}',
                                   headers={"content-type": "application/json"})
    assert_error(response, 400, "surrogate")
    assert await instance_ids(api) == ["sur2"]


async def test_starting_a_running_id_is_409_and_a_finished_one_is_replaced(api):
    assert (await api.start("sleeper", "dup", 30)).status_code == 202
    await api.until("dup", "Running")
    assert_error(await api.start("sleeper", "dup", 1), 409, "dup")
    await api.client.terminate("dup", "done")
    await api.until("dup", "Terminated")
    assert (await api.start("echo", "dup", "again")).status_code == 202
    assert (await api.until("dup", "Completed"))["output"] == "again"


async def test_start_and_wait_returns_the_output_when_it_completes_in_time(api):
    response = await api.start("hello_sequence", "w1", timeout=5, pollingInterval=1)
    assert response.status_code == 200
    assert response.json() == GREETINGS


async def test_start_and_wait_returns_202_when_it_does_not(api):
    response = await api.start("sleeper", "w2", 30, timeout=0.2, pollingInterval=0.1)
    assert response.status_code == 202
    assert response.json()["id"] == "w2"


async def test_start_and_wait_returns_the_status_of_a_failed_instance(api):
    response = await api.start("broken", "w3", timeout=5, pollingInterval=1)
    assert response.status_code == 200
    assert response.json()["runtimeStatus"] == "Failed"


@pytest.mark.parametrize("params", [{"timeout": "soon"}, {"timeout": -1},
                                    {"timeout": 1, "pollingInterval": "often"},
                                    {"timeout": "inf"}, {"timeout": 10**9}])
async def test_bad_wait_parameters_are_400_and_start_nothing(api, params):
    assert_error(await api.start("echo", "w4", **params), 400)
    assert await instance_ids(api) == []


# --- status ----------------------------------------------------------------------


async def test_status_of_an_unknown_instance_is_404_with_no_body(api):
    response = await api.status("nobody-here")
    assert response.status_code == 404
    assert response.content == b"" and "content-type" not in response.headers


async def test_status_of_a_running_instance_is_202_with_location(api):
    await api.start("approval", "run1")
    await api.until("run1", "Running")
    response = await api.status("run1", showInput="false")
    assert response.status_code == 202
    assert response.headers["location"] == f"{ORIGIN}{BASE}/instances/run1?showInput=false"
    assert response.headers["retry-after"] == "5"
    body = response.json()
    assert list(body) == STATUS_KEYS
    assert body["runtimeStatus"] == "Running"
    assert body["customStatus"] == {"waiting": "Approval"}
    assert TIME.match(body["createdTime"]) and TIME.match(body["lastUpdatedTime"])


async def test_status_of_finished_instances_is_200_and_failed_can_be_500(api):
    await api.start("hello_sequence", "ok1")
    await api.start("broken", "bad1")
    await api.until("ok1", "Completed")
    await api.until("bad1", "Failed")
    assert (await api.status("ok1")).status_code == 200
    failed = await api.status("bad1")
    assert failed.status_code == 200 and "boom" in failed.json()["output"]
    response = await api.status("bad1", returnInternalServerErrorOnFailure="true")
    assert response.status_code == 500 and response.json()["runtimeStatus"] == "Failed"
    assert (await api.status("ok1", returnInternalServerErrorOnFailure="true")).status_code == 200


async def test_history_format_and_output_flag(api):
    await api.start("hello_sequence", "h1", data="in")
    await api.until("h1", "Completed")
    plain = (await api.status("h1")).json()
    assert "historyEvents" not in plain and plain["input"] == "in"
    events = (await api.status("h1", showHistory="true")).json()["historyEvents"]
    assert [e["EventType"] for e in events] == ["ExecutionStarted", "TaskCompleted",
                                                "TaskCompleted", "TaskCompleted",
                                                "ExecutionCompleted"]
    assert events[0]["FunctionName"] == "hello_sequence"
    assert events[1]["FunctionName"] == "say_hello" and "ScheduledTime" in events[1]
    assert all("Result" not in e for e in events)
    assert events[-1]["OrchestrationStatus"] == "Completed"
    with_output = (await api.status("h1", showHistory="True",
                                    showHistoryOutput="True")).json()["historyEvents"]
    assert with_output[1]["Result"] == "Hello Tokyo!"
    assert with_output[-1]["Result"] == GREETINGS
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", with_output[1]["Timestamp"])


async def test_query_parameter_names_are_case_insensitive(api):
    await api.start("echo", "ci", "value")
    await api.until("ci", "Completed")
    response = await api.http.get(f"{BASE}/instances/ci?SHOWHISTORY=TRUE&showinput=False")
    body = response.json()
    assert "historyEvents" in body and body["input"] is None


@pytest.mark.parametrize("param", ["showHistory", "showInput", "showHistoryOutput",
                                   "returnInternalServerErrorOnFailure"])
async def test_a_bad_boolean_is_400(api, param):
    await api.start("echo", "b1")
    assert_error(await api.status("b1", **{param: "maybe"}), 400, param)


async def test_status_with_a_bad_id_is_400(api):
    assert_error(await api.status("x" * 300), 400, "256")


# --- list ------------------------------------------------------------------------


async def start_all(api, spec: dict[str, str]) -> None:
    for iid, name in spec.items():
        await api.start(name, iid, 1)
    for iid, name in spec.items():
        await api.until(iid, "Running" if name in ("approval", "sleeper") else "Completed")


async def test_list_filters(api):
    await start_all(api, {"a-1": "echo", "a-2": "approval", "b-1": "echo", "b-2": "sleeper"})

    async def ids(query: str = "") -> list[str]:
        response = await api.http.get(f"{BASE}/instances{query}")
        assert response.status_code == 200, response.text
        return sorted(item["instanceId"] for item in response.json())

    assert await ids() == ["a-1", "a-2", "b-1", "b-2"]
    assert await ids("/") == ["a-1", "a-2", "b-1", "b-2"]
    assert await ids("?runtimeStatus=Running") == ["a-2", "b-2"]
    assert await ids("?runtimeStatus=Completed,Running") == ["a-1", "a-2", "b-1", "b-2"]
    assert await ids("?runtimeStatus=Completed&runtimeStatus=Pending") == ["a-1", "b-1"]
    assert await ids("?RUNTIMESTATUS=completed") == ["a-1", "b-1"]
    assert await ids("?runtimeStatus=1") == ["a-1", "b-1"]  # Durable Task's number
    assert await ids("?runtimeStatus=Canceled") == []
    assert await ids("?instanceIdPrefix=a-") == ["a-1", "a-2"]
    assert await ids("?instanceIdPrefix=a-&runtimeStatus=Running") == ["a-2"]
    now = datetime.now(UTC)
    future = (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    past = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")  # 7 digits, .NET
    assert await ids(f"?createdTimeFrom={future}") == []
    assert await ids(f"?createdTimeFrom={past}&createdTimeTo={future}") == \
        ["a-1", "a-2", "b-1", "b-2"]
    assert await ids(f"?createdTimeTo={past}") == []
    offset = now.strftime("%Y-%m-%dT%H:%M:%S") + "+01:00"  # an hour ago
    assert await ids(f"?createdTimeFrom={offset}") == ["a-1", "a-2", "b-1", "b-2"]
    items = (await api.http.get(f"{BASE}/instances?showInput=false")).json()
    assert all(item["input"] is None for item in items)
    assert all(list(item) == STATUS_KEYS for item in items)


async def test_list_pages_with_the_continuation_header(api):
    for i in range(7):
        await api.start("echo", f"p-{i}")
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        headers = {"x-ms-continuation-token": token} if token else {}
        response = await api.http.get(f"{BASE}/instances", params={"top": 3}, headers=headers)
        assert response.status_code == 200
        assert "x-ms-continuation-token" in response.headers
        batch = [item["instanceId"] for item in response.json()]
        assert len(batch) <= 3
        seen.extend(batch)
        pages += 1
        token = response.headers["x-ms-continuation-token"]
        if not token:
            break
    assert pages == 3 and sorted(seen) == [f"p-{i}" for i in range(7)]


@pytest.mark.parametrize("query", ["createdTimeFrom=yesterday", "createdTimeTo=2024-13-01",
                                   "runtimeStatus=Sleeping", "top=0", "top=many",
                                   "showInput=perhaps"])
async def test_list_with_a_bad_parameter_is_400(api, query):
    assert_error(await api.http.get(f"{BASE}/instances?{query}"), 400,
                 query.split("=")[0])


async def test_list_with_a_bad_continuation_token_is_400(api):
    response = await api.http.get(f"{BASE}/instances",
                                  headers={"x-ms-continuation-token": "garbage!"})
    assert_error(response, 400, "continuation")


# --- purge -----------------------------------------------------------------------


async def test_purge_one(api):
    await api.start("echo", "gone")
    await api.until("gone", "Completed")
    response = await api.http.delete(f"{BASE}/instances/gone")
    assert response.status_code == 200 and response.json() == {"instancesDeleted": 1}
    assert (await api.status("gone")).status_code == 404
    assert (await api.http.delete(f"{BASE}/instances/gone")).status_code == 404


async def test_purging_a_running_instance_is_409_and_keeps_it(api):
    await api.start("approval", "alive")
    await api.until("alive", "Running")
    assert_error(await api.http.delete(f"{BASE}/instances/alive"), 409)
    assert (await api.status("alive")).status_code == 202


async def test_purge_by_filter(api):
    await start_all(api, {"f-1": "echo", "f-2": "echo", "f-3": "approval"})
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    missing = await api.http.delete(f"{BASE}/instances")
    assert_error(missing, 400, "createdTimeFrom")
    assert_error(await api.http.delete(f"{BASE}/instances",
                                       params={"createdTimeFrom": since,
                                               "runtimeStatus": "Running"}), 400)
    assert len(await instance_ids(api)) == 3
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    none = await api.http.delete(f"{BASE}/instances", params={"createdTimeFrom": future})
    assert none.status_code == 404 and none.content == b""
    response = await api.http.delete(f"{BASE}/instances/", params={
        "createdTimeFrom": since, "runtimeStatus": "Completed,Failed,Terminated"})
    assert response.status_code == 200 and response.json() == {"instancesDeleted": 2}
    assert await instance_ids(api) == ["f-3"]


# --- events and operations ---------------------------------------------------------


async def raise_event(api, iid: str, name: str = "Approval", **kwargs):
    return await api.http.post(f"{BASE}/instances/{iid}/raiseEvent/{name}", **kwargs)


async def test_raise_event_delivers_the_json_payload(api):
    await api.start("approval", "ev1")
    response = await raise_event(api, "ev1", json={"ok": True})
    assert response.status_code == 202 and response.content == b""
    assert (await api.until("ev1", "Completed"))["output"] == {"ok": True}


async def test_malformed_events_are_400_and_deliver_nothing(api):
    await api.start("approval", "ev2")
    await api.until("ev2", "Running")
    wrong_type = await raise_event(api, "ev2", content=b'{"ok": 1}',
                                   headers={"content-type": "text/plain"})
    assert_error(wrong_type, 400)
    assert wrong_type.json()["Message"] == "Only application/json request content is supported"
    for body in (b"", b"{oops"):
        response = await raise_event(api, "ev2", content=body,
                                     headers={"content-type": "application/json"})
        assert_error(response, 400)
        assert response.json()["Message"] == "Invalid JSON content"
    assert (await api.status("ev2")).json()["runtimeStatus"] == "Running"
    await raise_event(api, "ev2", json="the real one")
    assert (await api.until("ev2", "Completed"))["output"] == "the real one"


async def test_raise_event_to_unknown_is_404_and_to_finished_is_410(api):
    assert (await raise_event(api, "nobody", json=1)).status_code == 404
    await api.start("echo", "done1")
    await api.until("done1", "Completed")
    response = await raise_event(api, "done1", json=1)
    assert response.status_code == 410 and response.content == b""


async def test_terminate(api):
    await api.start("approval", "t1")
    await api.until("t1", "Running")
    response = await api.http.post(f"{BASE}/instances/t1/terminate", params={"reason": "no more"})
    assert response.status_code == 202 and response.content == b""
    assert (await api.until("t1", "Terminated"))["output"] == "no more"
    assert (await api.http.post(f"{BASE}/instances/t1/terminate")).status_code == 410
    assert (await api.http.post(f"{BASE}/instances/zz/terminate")).status_code == 404


async def test_suspend_and_resume(api):
    await api.start("approval", "sr")
    await api.until("sr", "Running")
    assert (await api.http.post(f"{BASE}/instances/sr/suspend?reason=wait")).status_code == 202
    suspended = await api.until("sr", "Suspended")
    assert suspended["runtimeStatus"] == "Suspended"
    assert (await api.status("sr")).status_code == 202
    assert_error(await api.http.post(f"{BASE}/instances/sr/suspend"), 409)
    assert (await api.http.post(f"{BASE}/instances/sr/resume?reason=go")).status_code == 202
    await api.until("sr", "Running")
    assert_error(await api.http.post(f"{BASE}/instances/sr/resume"), 409)
    await raise_event(api, "sr", json=7)
    await api.until("sr", "Completed")
    for op in ("suspend", "resume"):
        assert (await api.http.post(f"{BASE}/instances/sr/{op}")).status_code == 410
        assert (await api.http.post(f"{BASE}/instances/nope/{op}")).status_code == 404


async def test_rewind(api):
    await api.start("flaky", "rw")
    assert "first attempt" in (await api.until("rw", "Failed"))["output"]
    response = await api.http.post(f"{BASE}/instances/rw/rewind?reason=retry")
    assert response.status_code == 202
    assert (await api.until("rw", "Completed"))["output"] == "rw ok"
    assert (await api.http.post(f"{BASE}/instances/rw/rewind")).status_code == 410
    assert (await api.http.post(f"{BASE}/instances/nope/rewind")).status_code == 404
    await api.start("approval", "rw2")
    await api.until("rw2", "Running")
    assert_error(await api.http.post(f"{BASE}/instances/rw2/rewind"), 409)


async def test_restart(api):
    await api.start("echo", "rs", "original")
    await api.until("rs", "Completed")
    response = await api.http.post(f"{BASE}/instances/rs/restart")
    assert response.status_code == 202
    new_id = response.json()["id"]
    assert new_id != "rs" and response.headers["location"].endswith(f"/instances/{new_id}")
    assert (await api.until(new_id, "Completed"))["output"] == "original"
    same = await api.http.post(f"{BASE}/instances/rs/restart",
                               params={"restartWithNewInstanceId": "false", "timeout": 5})
    assert same.status_code == 200 and same.json() == "original"
    assert (await api.http.post(f"{BASE}/instances/nope/restart")).status_code == 404
    await api.start("approval", "rs-run")
    await api.until("rs-run", "Running")
    conflict = await api.http.post(f"{BASE}/instances/rs-run/restart",
                                   params={"restartWithNewInstanceId": "false"})
    assert_error(conflict, 409)


# --- bases, routing ----------------------------------------------------------------


@pytest.mark.parametrize("base", ["/admin/extensions/DurableTaskExtension", "/durabletask"])
async def test_the_same_routes_under_the_legacy_and_rpc_bases(api, base):
    response = await api.http.post(f"{base}/orchestrators/echo/alias", json="x")
    assert response.status_code == 202
    # Payload URLs always use the public webhook path, as the host's do.
    assert response.json()["statusQueryGetUri"] == f"{ORIGIN}{BASE}/instances/alias"
    await api.until("alias", "Completed")
    assert (await api.http.get(f"{base}/instances/alias")).json()["output"] == "x"
    assert (await api.http.get(f"{base}/instances/")).status_code == 200


async def test_unknown_routes_are_404_and_wrong_methods_405_without_text_bodies(api):
    for path in (f"{BASE}/nothing", f"{BASE}/instances/x/explode", f"{BASE}/entities/e/k",
                 "/nowhere"):
        method = "POST" if "explode" in path else "GET"
        response = await api.http.request(method, path)
        assert response.status_code == 404, path
        assert response.content == b""
    response = await api.http.patch(f"{BASE}/instances/x")
    assert response.status_code == 405 and response.content == b""
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "DELETE"}


async def test_openapi_document_is_served(api):
    response = await api.http.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert f"{BASE}/instances/{{instanceId}}" in document["paths"]


async def test_a_body_over_the_limit_is_413_and_starts_nothing(api):
    from perdure.http.body import max_body_bytes

    big = b'"' + b"x" * max_body_bytes() + b'"'
    response = await api.http.post(f"{BASE}/orchestrators/echo/big", content=big)
    assert_error(response, 413)

    async def chunks():  # no Content-Length: the limit holds while streaming too
        for _ in range(max_body_bytes() // (1024 * 1024) + 1):
            yield b" " * (1024 * 1024)

    response = await api.http.post(f"{BASE}/orchestrators/echo/big", content=chunks())
    assert_error(response, 413)
    assert await instance_ids(api) == []


# --- versions ------------------------------------------------------------------


async def test_start_takes_the_version_the_durable_client_sends(api):
    response = await api.start("hello_sequence", "v1", version="2.1")
    assert response.status_code == 202
    status = await api.until("v1", "Completed")
    assert status["version"] == "2.1"
    assert (await api.client.get_status("v1")).version == "2.1"
    # Unversioned instances keep Durable Functions' payload, field for field.
    await api.start("hello_sequence", "plain")
    plain = await api.until("plain", "Completed")
    assert list(plain) == STATUS_KEYS
    bad = await api.start("hello_sequence", "bad", version="a\tb")
    assert_error(bad, 400, "control character")
    assert_error(await api.start("hello_sequence", "long", version="9" * 101), 400, "at most")


async def test_list_filters_by_version(api):
    for iid, version in (("a", "1.0"), ("b", "2.0"), ("c", "1.0")):
        assert (await api.start("hello_sequence", iid, version=version)).status_code == 202
    for iid in "abc":
        await api.until(iid, "Completed")
    response = await api.http.get(f"{BASE}/instances", params={"version": "1.0"})
    assert response.status_code == 200
    assert [s["instanceId"] for s in response.json()] == ["a", "c"]
    drained = await api.http.get(f"{BASE}/instances",
                                 params={"version": "1.0", "runtimeStatus": "Running,Pending"})
    assert drained.json() == []
