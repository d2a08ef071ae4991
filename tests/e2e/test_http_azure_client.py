"""The unmodified ``azure-functions-durable`` client (from PyPI) against ``perdure serve``.

The client is built, as in a Functions app, from the binding JSON the host
would hand it; its ``rpcBaseUrl`` points at perdure's ``/durabletask/`` base.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

azure_functions = pytest.importorskip("azure.functions")
df = pytest.importorskip("azure.durable_functions")
http_utils = pytest.importorskip("azure.durable_functions.models.utils.http_utils")
from azure.durable_functions.models.OrchestrationRuntimeStatus import (  # noqa: E402
    OrchestrationRuntimeStatus as RS,
)
from http_server import HERE, serve  # noqa: E402

WEBHOOK = "/runtime/webhooks/durabletask"


def binding(url: str) -> str:
    base = f"{url}{WEBHOOK}"
    return json.dumps({
        "taskHubName": "TestHub",
        "creationUrls": {},
        "managementUrls": {
            "id": "INSTANCEID",
            "statusQueryGetUri": f"{base}/instances/INSTANCEID",
            "sendEventPostUri": f"{base}/instances/INSTANCEID/raiseEvent/{{eventName}}",
            "terminatePostUri": f"{base}/instances/INSTANCEID/terminate?reason={{text}}",
            "rewindPostUri": f"{base}/instances/INSTANCEID/rewind?reason={{text}}",
            "purgeHistoryDeleteUri": f"{base}/instances/INSTANCEID",
            "restartPostUri": f"{base}/instances/INSTANCEID/restart",
            "suspendPostUri": f"{base}/instances/INSTANCEID/suspend?reason={{text}}",
            "resumePostUri": f"{base}/instances/INSTANCEID/resume?reason={{text}}",
        },
        "rpcBaseUrl": f"{url}/durabletask/",
    })


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    hub = tmp_path_factory.mktemp("azure") / "hub.db"
    with serve(HERE / "http_app.py", f"sqlite:///{hub}") as url:
        yield url


@pytest.fixture
async def client(server: str) -> AsyncIterator[df.DurableOrchestrationClient]:
    yield df.DurableOrchestrationClient(binding(server))
    # The SDK keeps one aiohttp session per process; each test has its own loop.
    if http_utils._client_session is not None:
        await http_utils._client_session.close()
    http_utils._client_session = None
    http_utils._session_lock = asyncio.Lock()


async def until(client, instance_id: str, *statuses: RS, timeout: float = 10):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = await client.get_status(instance_id)
        if status and status.runtime_status in statuses:
            return status
        assert asyncio.get_running_loop().time() < deadline, status.to_json()
        await asyncio.sleep(0.05)


async def test_start_status_history_and_check_status(client, server):
    iid = await client.start_new("hello_sequence", "az-hello")
    assert iid == "az-hello"
    done = await until(client, iid, RS.Completed)
    assert done.output == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    assert done.name == "hello_sequence" and done.created_time is not None
    full = await client.get_status(iid, show_history=True, show_history_output=True)
    events = full.historyEvents  # the host's key lands here (not in .history) in the SDK
    assert [e["EventType"] for e in events][0] == "ExecutionStarted"
    assert events[1]["FunctionName"] == "say_hello" and events[1]["Result"] == "Hello Tokyo!"
    missing = await client.get_status("az-nobody")
    assert not missing
    random_id = await client.start_new("echo", None, {"a": 1})
    # The SDK sends input JSON-encoded twice, as to the real host: it arrives as JSON text.
    assert json.loads((await until(client, random_id, RS.Completed)).output) == {"a": 1}
    request = azure_functions.HttpRequest(method="POST", url=f"{server}/api/x", body=b"")
    response = client.create_check_status_response(request, iid)
    assert response.status_code == 202
    assert json.loads(response.get_body())["statusQueryGetUri"] == \
        f"{server}{WEBHOOK}/instances/{iid}"
    waited = await client.wait_for_completion_or_create_check_status_response(
        request, iid, timeout_in_milliseconds=5000, retry_interval_in_milliseconds=100)
    assert waited.status_code == 200
    with pytest.raises(Exception, match="doesn't exist|unknown orchestrator"):
        await client.start_new("no_such_orchestrator")


async def test_list_and_query(client):
    for i in range(3):
        await client.start_new("echo", f"az-q-{i}", i)
    await client.start_new("approval", "az-q-wait")
    for i in range(3):
        await until(client, f"az-q-{i}", RS.Completed)
    await until(client, "az-q-wait", RS.Running)
    everything = {s.instance_id for s in await client.get_status_all()}
    assert {"az-q-0", "az-q-1", "az-q-2", "az-q-wait"} <= everything
    now = datetime.now(UTC).replace(tzinfo=None)
    found = await client.get_status_by(now - timedelta(minutes=5), now + timedelta(minutes=5),
                                       [RS.Running], "az-q-")
    assert [s.instance_id for s in found] == ["az-q-wait"]
    found = await client.get_status_by(runtime_status=[RS.Completed, RS.Failed],
                                       instance_id_prefix="az-q-")
    assert sorted(s.instance_id for s in found) == ["az-q-0", "az-q-1", "az-q-2"]
    await client.terminate("az-q-wait", "cleanup")


async def test_events_terminate_suspend_resume(client):
    await client.start_new("approval", "az-ev")
    await until(client, "az-ev", RS.Running)
    await client.suspend("az-ev", "hold on")
    await until(client, "az-ev", RS.Suspended)
    await client.resume("az-ev", "go on")
    await until(client, "az-ev", RS.Running)
    await client.raise_event("az-ev", "Approval", {"ok": True})
    done = await until(client, "az-ev", RS.Completed)
    assert json.loads(done.output) == {"ok": True}  # double-encoded by the SDK, as upstream
    with pytest.raises(Exception, match="is gone"):  # 410
        await client.raise_event("az-ev", "Approval", 1)
    with pytest.raises(Exception, match="No instance with ID"):  # 404
        await client.raise_event("az-ev-missing", "Approval", 1)

    await client.start_new("approval", "az-term")
    await until(client, "az-term", RS.Running)
    await client.terminate("az-term", "enough now")
    terminated = await until(client, "az-term", RS.Terminated)
    assert terminated.output == "enough now"
    await client.terminate("az-term", "again")  # 410 is accepted by the SDK
    with pytest.raises(Exception, match="No instance with ID"):
        await client.terminate("az-term-missing", "x")
    with pytest.raises(Exception, match="No instance with ID"):
        await client.suspend("az-term-missing", "x")


async def test_rewind_restart_and_purge(client):
    await client.start_new("flaky", "az-rw")
    await until(client, "az-rw", RS.Failed)
    await client.rewind("az-rw", "try again")
    assert (await until(client, "az-rw", RS.Completed)).output == "az-rw ok"

    await client.start_new("echo", "az-rs", "again")
    await until(client, "az-rs", RS.Completed)
    restarted = await client.restart("az-rs")
    # The host answers with the check-status payload; the SDK hands back that dict.
    new_id = restarted["id"] if isinstance(restarted, dict) else restarted
    assert new_id != "az-rs"
    assert json.loads((await until(client, new_id, RS.Completed)).output) == "again"
    same = await client.restart("az-rs", restart_with_new_instance_id=False)
    assert (same["id"] if isinstance(same, dict) else same) == "az-rs"
    with pytest.raises(Exception, match="No instance with ID"):
        await client.restart("az-rs-missing")
    with pytest.raises(Exception, match="No instance with ID"):
        await client.rewind("az-rs-missing", "x")

    result = await client.purge_instance_history(new_id)
    assert result.instances_deleted == 1
    assert (await client.purge_instance_history(new_id)).instances_deleted == 0
    await client.start_new("echo", "az-purge-1", 1)
    await until(client, "az-purge-1", RS.Completed)
    await until(client, "az-rs", RS.Completed)
    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=5)
    purged = await client.purge_instance_history_by(since, None, [RS.Completed])
    assert purged.instances_deleted >= 2
    assert not await client.get_status("az-purge-1")


def test_the_server_is_still_healthy(server):
    import httpx

    assert httpx.get(f"{server}/openapi.json").status_code == 200
    assert Path(HERE / "http_app.py").exists()


async def test_signal_entity_and_read_entity_state(client):
    entity = df.EntityId("Counter", "az-c")
    missing = await client.read_entity_state(entity)
    assert not missing.entity_exists and missing.entity_state is None
    await client.signal_entity(entity, "add", 5)
    await client.signal_entity(entity, "add", 2)
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        state = await client.read_entity_state(entity)
        if state.entity_exists and state.entity_state == 7:
            break
        assert asyncio.get_running_loop().time() < deadline, state.entity_state
        await asyncio.sleep(0.05)
