"""Keys: the system key, function keys, auth levels, and instance tokens scoped to one
operation of one generation of one instance."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import http_apps
import pytest
from http_apps import BASE

import perdure
import perdure.client.client as client_module
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


PAYLOAD_OPERATIONS = {
    "statusQueryGetUri": "read", "sendEventPostUri": "raiseEvent",
    "terminatePostUri": "terminate", "rewindPostUri": "rewind",
    "purgeHistoryDeleteUri": "purge", "restartPostUri": "restart",
    "suspendPostUri": "suspend", "resumePostUri": "resume",
}


async def created_at(api, instance_id: str):
    return (await api.client.store.get_instance(instance_id)).created_at


def assert_403(response, opens: str) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["Message"] == "Forbidden"
    assert f"opens only '{opens}'" in response.json()["ExceptionMessage"]


async def test_payload_urls_carry_a_token_scoped_to_their_instance(keyed):
    first = (await keyed.http.post(f"{BASE}/orchestrators/approval/one?code={KEY}")).json()
    second = (await keyed.http.post(f"{BASE}/orchestrators/approval/two?code={KEY}")).json()
    token = code_of(first["statusQueryGetUri"])
    assert token != KEY and token.startswith("i2.")
    assert code_of(second["statusQueryGetUri"]) != token
    # The URLs work as handed out...
    assert (await keyed.http.get(first["statusQueryGetUri"])).status_code in (200, 202)
    raised = await keyed.http.post(first["sendEventPostUri"].replace("{eventName}", "Approval"),
                                   json="yes")
    assert raised.status_code == 202
    # ...and no token of one instance opens anything else.
    for field in PAYLOAD_OPERATIONS:
        other = code_of(first[field])
        assert_401(await keyed.http.get(f"{BASE}/instances/two?code={other}"))
        assert_401(await keyed.http.post(f"{BASE}/instances/two/terminate?code={other}"))
        assert_401(await keyed.http.get(f"{BASE}/instances?code={other}"))
        assert_401(await keyed.http.post(f"{BASE}/orchestrators/echo/one?code={other}"))
        assert_401(await keyed.http.post(f"{BASE}/orchestrators/echo?code={other}"))
        assert_401(await keyed.http.get(f"/api/levels/function?code={other}"))
    await keyed.client.wait_for_completion("one", 5)
    status = await keyed.http.get(f"{BASE}/instances/one", headers={"x-functions-key": token})
    assert status.status_code == 200 and status.json()["output"] == "yes"
    assert (await keyed.client.get_status("two")).runtime_status.value == "Running"


async def test_the_status_token_only_reads(keyed):
    payload = (await keyed.http.post(f"{BASE}/orchestrators/approval/ro?code={KEY}")).json()
    read = code_of(payload["statusQueryGetUri"])
    await until_status(keyed, "ro", "Running")
    assert (await keyed.http.get(payload["statusQueryGetUri"] + "&showHistory=true")
            ).status_code == 202
    assert (await keyed.http.head(payload["statusQueryGetUri"])).status_code == 202
    prefix = f"{BASE}/instances/ro"
    for method, url in [("POST", f"{prefix}/raiseEvent/Approval"), ("POST", f"{prefix}/terminate"),
                        ("POST", f"{prefix}/suspend"), ("POST", f"{prefix}/resume"),
                        ("POST", f"{prefix}/rewind"), ("POST", f"{prefix}/restart"),
                        ("POST", f"{prefix}/restart?restartWithNewInstanceId=false"),
                        ("DELETE", prefix)]:
        assert_403(await keyed.http.request(method, url, json="x",
                                            headers={"x-functions-key": read}), "read")
        assert_403(await keyed.http.request(method, url + ("&" if "?" in url else "?")
                                            + f"code={read}", json="x"), "read")
    status = await keyed.client.get_status("ro", show_history=True)
    assert status.runtime_status.value == "Running"
    assert [e for e in status.history if e["EventType"] == "EventRaised"] == []
    assert len(await keyed.client.get_status_all()) == 1


async def test_each_action_url_opens_its_own_operation_only(keyed):
    payload = (await keyed.http.post(f"{BASE}/orchestrators/approval/act?code={KEY}")).json()
    tokens = {PAYLOAD_OPERATIONS[field]: code_of(payload[field]) for field in PAYLOAD_OPERATIONS}
    await until_status(keyed, "act", "Running")
    assert len(set(tokens.values())) == len(PAYLOAD_OPERATIONS)
    generation = await created_at(keyed, "act")
    for operation, token in tokens.items():
        assert token == KeyAuth(KEY).instance_token("act", operation, generation)
    # A token used on a route of another operation opens nothing there.
    assert_403(await keyed.http.get(f"{BASE}/instances/act?code={tokens['terminate']}"),
               "terminate")
    assert_403(await keyed.http.post(f"{BASE}/instances/act/terminate?code={tokens['suspend']}"),
               "suspend")
    assert_403(await keyed.http.post(f"{BASE}/instances/act/raiseEvent/Approval"
                                     f"?code={tokens['resume']}", json=1), "resume")
    assert_403(await keyed.http.delete(f"{BASE}/instances/act?code={tokens['read']}"), "read")
    assert_403(await keyed.http.post(f"{BASE}/instances/act/nonsense?code={tokens['rewind']}"),
               "rewind")
    assert (await keyed.client.get_status("act")).runtime_status.value == "Running"
    # Each URL works as handed out.
    assert (await keyed.http.post(payload["suspendPostUri"].replace("{text}", "pause"))
            ).status_code == 202
    await until_status(keyed, "act", "Suspended")
    assert (await keyed.http.post(payload["resumePostUri"].replace("{text}", "go"))
            ).status_code == 202
    await until_status(keyed, "act", "Running")
    assert (await keyed.http.post(payload["terminatePostUri"].replace("{text}", "stop"))
            ).status_code == 202
    await until_status(keyed, "act", "Terminated")
    assert (await keyed.http.get(payload["statusQueryGetUri"])).json()["output"] == "stop"
    assert (await keyed.http.delete(payload["purgeHistoryDeleteUri"])).json() == \
        {"instancesDeleted": 1}


async def until_status(api, instance_id: str, wanted: str) -> None:
    for _ in range(500):
        if (await api.client.get_status(instance_id)).runtime_status.value == wanted:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{instance_id} never became {wanted}")


async def test_tokens_die_with_their_instance_and_a_re_created_one_gets_new_ones(keyed):
    old = (await keyed.http.post(f"{BASE}/orchestrators/echo/gen?code={KEY}", json=1)).json()
    await keyed.client.wait_for_completion("gen", 5)
    assert (await keyed.http.get(old["statusQueryGetUri"])).status_code == 200
    # Replaced by a new start of the same id: the old URLs are dead.
    new = (await keyed.http.post(f"{BASE}/orchestrators/echo/gen?code={KEY}", json=2)).json()
    await keyed.client.wait_for_completion("gen", 5)
    assert code_of(new["statusQueryGetUri"]) != code_of(old["statusQueryGetUri"])
    assert_401(await keyed.http.get(old["statusQueryGetUri"]))
    assert_401(await keyed.http.delete(old["purgeHistoryDeleteUri"]))
    assert (await keyed.http.get(new["statusQueryGetUri"])).json()["output"] == 2
    # Purged: a token does not reveal that nothing is there (401, not 404)...
    assert (await keyed.http.delete(new["purgeHistoryDeleteUri"])).status_code == 200
    assert_401(await keyed.http.get(new["statusQueryGetUri"]))
    stale = code_of(new["statusQueryGetUri"])
    assert_401(await keyed.http.get(f"{BASE}/instances/never?code={stale}"))
    assert (await keyed.http.get(f"{BASE}/instances/gen?code={KEY}")).status_code == 404
    # ...and re-created under the same id, the purged instance's tokens stay dead.
    await keyed.client.start_new("echo", "gen", 3)
    await keyed.client.wait_for_completion("gen", 5)
    for url in (new["statusQueryGetUri"], old["statusQueryGetUri"]):
        assert_401(await keyed.http.get(url))
    fresh = await keyed.client.http_management_payload("gen")
    assert (await keyed.http.get(fresh["statusQueryGetUri"])).json()["output"] == 3


async def test_restart_with_a_new_id_needs_the_system_key(keyed):
    payload = (await keyed.http.post(f"{BASE}/orchestrators/echo/rs?code={KEY}", json=7)).json()
    await keyed.client.wait_for_completion("rs", 5)
    restart = code_of(payload["restartPostUri"])
    for query in ("", "&restartWithNewInstanceId=true", "&restartWithNewInstanceId=TRUE"):
        refused = await keyed.http.post(f"{BASE}/instances/rs/restart?code={restart}{query}")
        assert refused.status_code == 403, refused.text
        assert "needs the system key" in refused.json()["ExceptionMessage"]
    assert [s.instance_id for s in await keyed.client.get_status_all()] == ["rs"]
    # The URL as handed out restarts in place, and answers with the new generation's URLs.
    assert "restartWithNewInstanceId=false" in payload["restartPostUri"]
    restarted = await keyed.http.post(payload["restartPostUri"])
    assert restarted.status_code == 202, restarted.text
    again = restarted.json()
    assert again["id"] == "rs" and again["statusQueryGetUri"] != payload["statusQueryGetUri"]
    await keyed.client.wait_for_completion("rs", 5)
    assert (await keyed.http.get(again["statusQueryGetUri"])).json()["output"] == 7
    assert_401(await keyed.http.get(payload["statusQueryGetUri"]))
    assert_401(await keyed.http.post(payload["restartPostUri"]))
    # The system key may still restart under a new id.
    started = await keyed.http.post(f"{BASE}/instances/rs/restart?code={KEY}")
    assert started.status_code == 202 and started.json()["id"] != "rs"


eternal = perdure.App()


@eternal.orchestrator
def ticker(ctx: perdure.OrchestrationContext):
    """Counts ``Tick`` events, one execution per tick (continue-as-new)."""
    count = ctx.get_input() or 0
    if count >= 2:
        return count
    yield ctx.wait_for_external_event("Tick")
    ctx.continue_as_new(count + 1)


@eternal.activity
def plain_payload(ctx: perdure.ActivityContext) -> dict[str, str]:
    return ctx.create_http_management_payload()


@eternal.activity
async def async_payload(ctx: perdure.ActivityContext) -> dict[str, str]:
    return await ctx.http_management_payload()


@eternal.orchestrator
def publishes(ctx: perdure.OrchestrationContext):
    plain = yield ctx.call_activity("plain_payload")
    awaited = yield ctx.call_activity("async_payload")
    return [plain, awaited]


async def test_continue_as_new_keeps_the_urls_of_an_eternal_orchestration(api_factory):
    keyed = await api_factory(eternal, auth=KeyAuth(KEY))
    payload = (await keyed.http.post(f"{BASE}/orchestrators/ticker/tick?code={KEY}")).json()
    send = payload["sendEventPostUri"].replace("{eventName}", "Tick")
    executions = [(await keyed.client.store.get_instance("tick")).execution_id]
    for _ in range(2):
        assert (await keyed.http.post(send, json=1)).status_code == 202
        for _ in range(500):
            current = (await keyed.client.store.get_instance("tick")).execution_id
            if current != executions[-1]:
                break
            await asyncio.sleep(0.01)
        executions.append(current)
        assert (await keyed.http.get(payload["statusQueryGetUri"])).status_code in (200, 202)
    assert (await keyed.client.wait_for_completion("tick", 5)).output == 2
    assert len(set(executions)) == 3
    assert (await keyed.http.get(payload["statusQueryGetUri"])).json()["output"] == 2


async def test_activities_hand_out_working_urls(api_factory):
    keyed = await api_factory(eternal, auth=KeyAuth(KEY))
    await keyed.http.post(f"{BASE}/orchestrators/publishes/pub?code={KEY}")
    # The plain activity reads the generation blocking (from its thread), the
    # async one awaits the read.
    plain, awaited = (await keyed.client.wait_for_completion("pub", 10)).output
    assert plain == awaited
    response = await keyed.http.get(plain["statusQueryGetUri"])
    assert response.status_code == 200 and response.json()["name"] == "publishes"


async def test_client_payloads_carry_the_tokens_too(keyed):
    await keyed.client.start_new("approval", "p1")
    payload = keyed.client.create_http_management_payload("p1")
    generation = await created_at(keyed, "p1")
    assert code_of(payload["terminatePostUri"]) == \
        KeyAuth(KEY).instance_token("p1", "terminate", generation)
    assert payload == await keyed.client.http_management_payload("p1")


async def test_the_sync_payload_of_an_unseen_instance_says_to_use_the_async_form(keyed):
    await keyed.client.start_new("approval", "unseen")
    reader = perdure.Client(keyed.client.store, app=http_apps.app,
                            url_query=KeyAuth(KEY).url_query)
    with pytest.raises(perdure.InvalidArgumentError, match="http_management_payload"):
        reader.create_http_management_payload("unseen")
    payload = await reader.http_management_payload("unseen")
    assert (await keyed.http.get(payload["statusQueryGetUri"])).status_code == 202
    assert reader.create_http_management_payload("unseen") == payload  # learned now
    with pytest.raises(perdure.InstanceNotFoundError):
        await reader.http_management_payload("nobody")
    # Keys off: no token, nothing to read, any id.
    plain = perdure.Client(keyed.client.store, app=http_apps.app)
    assert plain.create_http_management_payload("nobody")["restartPostUri"] == \
        "http://localhost:7071/runtime/webhooks/durabletask/instances/nobody/restart"
    assert await plain.http_management_payload("nobody") == \
        plain.create_http_management_payload("nobody")


async def test_the_client_remembers_a_bounded_number_of_generations(keyed, monkeypatch):
    monkeypatch.setattr(client_module, "GENERATION_CACHE_SIZE", 3)
    for i in range(5):
        await keyed.client.start_new("echo", f"lru{i}", i)
    assert list(keyed.client._generations) == ["lru2", "lru3", "lru4"]
    await keyed.client.get_status("lru2")  # a read refreshes it
    await keyed.client.start_new("echo", "lru5")
    assert list(keyed.client._generations) == ["lru4", "lru2", "lru5"]


async def test_tokens_depend_on_key_instance_operation_and_generation():
    a, b = KeyAuth("k"), KeyAuth("k")
    now = datetime.now(UTC)
    later = now + timedelta(microseconds=1)
    assert a.instance_token("x", "read", now) == b.instance_token("x", "read", now)
    assert a.instance_token("x", "read", now) == \
        a.instance_token("x", "read", now.astimezone(timezone(timedelta(hours=2))))
    others = {a.instance_token("y", "read", now), a.instance_token("x", "purge", now),
              a.instance_token("x", "read", later),
              KeyAuth("other").instance_token("x", "read", now)}
    assert a.instance_token("x", "read", now) not in others and len(others) == 4
    assert a.token_operation(a.instance_token("x", "rewind", now), "x", now) == "rewind"
    assert a.token_operation(a.instance_token("x", "rewind", now), "x", later) is None
    assert a.token_operation("k", "x", now) is None
    assert KeyAuth().url_query("x", "read", now) == ""
    assert a.url_query("x", "read", None) is None
    with pytest.raises(perdure.InvalidArgumentError):
        a.instance_token("x", "delete", now)
    with pytest.raises(perdure.InvalidArgumentError):
        KeyAuth("has space")


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
