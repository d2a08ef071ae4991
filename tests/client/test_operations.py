"""End-to-end tests of every client operation, with an in-process worker on SQLite."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import scenarios
from scenarios import app, eventually

import perdure
from perdure import OrchestrationRuntimeStatus as S


@pytest.fixture
async def hub(hub_factory):
    scenarios.calls.clear()
    scenarios.release.clear()
    yield await hub_factory(app, lease_seconds=5.0)
    scenarios.release.set()


async def status_is(client: perdure.Client, instance_id: str, *wanted: S):
    async def check() -> bool:
        status = await client.get_status(instance_id)
        return status is not None and status.runtime_status in wanted
    await eventually(check)


# --- start ---------------------------------------------------------------


def test_default_instance_ids_are_uuid7_and_grow_with_time() -> None:
    import time
    import uuid

    from perdure.client.ids import new_instance_id

    first = new_instance_id()
    time.sleep(0.002)
    ids = [new_instance_id() for _ in range(100)]
    assert all(len(i) == 32 and uuid.UUID(i).version == 7 for i in [first, *ids])
    assert all(first < i for i in ids)  # a later millisecond sorts after
    assert len(set(ids)) == 100
    millis = int(first[:12], 16)
    assert abs(millis - time.time() * 1000) < 5000


async def test_hello_sequence_generator_and_async(hub):
    iid = await hub.client.start_new("hello_sequence")
    assert len(iid) == 32 and int(iid, 16) >= 0
    done = await hub.client.wait_for_completion(iid, timeout=10)
    assert done.runtime_status is S.Completed
    assert done.output == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    iid = await hub.client.start_new("hello_async", "a1", ["X", "Y"])
    assert iid == "a1"
    assert (await hub.client.wait_for_completion(iid, 10)).output == ["Hello X!", "Hello Y!"]


async def test_fan_out_fan_in(hub):
    iid = await hub.client.start_new("fan_out", input=200)
    assert (await hub.client.wait_for_completion(iid, 20)).output == sum(2 * i for i in range(200))


@pytest.mark.parametrize("bad", ["", "a/b", "a\\b", "a#b", "a?b", "a\nb", "@entity", "x" * 257])
async def test_invalid_instance_ids_are_refused(hub, bad):
    with pytest.raises(perdure.InvalidArgumentError):
        await hub.client.start_new("hello_sequence", bad)
    assert (await hub.client.get_status_all()) == []


async def test_unknown_orchestrator_and_unserializable_input(hub):
    with pytest.raises(perdure.UnknownFunctionError, match="nope"):
        await hub.client.start_new("nope")
    with pytest.raises(perdure.SerializationError, match="JSON-serializable"):
        await hub.client.start_new("hello_sequence", input={1, 2})
    assert (await hub.client.get_status_all()) == []


async def test_start_before_any_worker_registered(db_url, hub_factory, caplog):
    """Work may be queued before any worker runs: with no app and an empty registry the
    name is accepted unchecked (a warning is logged); a client given its app (as a
    `perdure serve --no-worker` frontend's is) checks against the app, registry or not."""
    unchecked = perdure.Client(db_url)
    frontend = perdure.Client(db_url, app=app)
    try:
        with caplog.at_level("WARNING", logger="perdure.client"):
            await unchecked.start_new("hello_sequence", "early")
            await unchecked.start_new("ghost", "haunted")
        assert [r.getMessage() for r in caplog.records] == [
            f"orchestrator {name!r} was not checked: no app was given and no worker has "
            "registered functions in this task hub yet" for name in ("hello_sequence", "ghost")]
        caplog.clear()
        await frontend.start_new("hello_async", "front", ["F"])
        with pytest.raises(perdure.UnknownFunctionError, match="nope"):
            await frontend.start_new("nope")
        assert caplog.records == []
        hub = await hub_factory(app)  # the first worker registers its names, then runs them
        assert (await hub.client.wait_for_completion("early", 10)).runtime_status is S.Completed
        assert (await hub.client.wait_for_completion("front", 10)).output == ["Hello F!"]
        # A worker that does not know the name fails the instance, clearly.
        haunted = await hub.client.wait_for_completion("haunted", 10)
        assert haunted.runtime_status is S.Failed
        assert "unknown orchestrator 'ghost'" in haunted.failure_details.message
        with pytest.raises(perdure.UnknownFunctionError, match="known orchestrators"):
            await unchecked.start_new("ghost")  # registered names are checked again
    finally:
        await unchecked.close()
        await frontend.close()


async def test_duplicate_start_refused_while_active_and_replaces_finished(hub):
    await hub.client.start_new("wait_event", "dup")
    with pytest.raises(perdure.InstanceAlreadyExistsError):
        await hub.client.start_new("wait_event", "dup")
    await hub.client.terminate("dup", "enough")
    await hub.client.wait_for_completion("dup", 10)
    await hub.client.start_new("hello_sequence", "dup")
    done = await hub.client.wait_for_completion("dup", 10)
    assert done.name == "hello_sequence" and done.runtime_status is S.Completed
    history = (await hub.client.get_status("dup", show_history=True)).history
    assert [e["EventType"] for e in history][0] == "ExecutionStarted"
    assert not any(e["EventType"] == "ExecutionTerminated" for e in history)


async def test_start_from_output_binding_payload(hub):
    iid = await hub.client.start_new_from(
        {"FunctionName": "hello_async", "Input": ["Q"], "InstanceId": "bound"})
    assert iid == "bound"
    assert (await hub.client.wait_for_completion(iid, 10)).output == ["Hello Q!"]
    with pytest.raises(perdure.InvalidArgumentError, match="FunctionName"):
        await hub.client.start_new_from({"Input": 1})
    with pytest.raises(perdure.UnknownFunctionError):
        await hub.client.start_new_from({"FunctionName": "missing"})


# --- status and queries --------------------------------------------------


async def test_get_status_fields_and_history(hub):
    assert await hub.client.get_status("unknown") is None
    iid = await hub.client.start_new("hello_sequence", input={"k": 1})
    await hub.client.wait_for_completion(iid, 10)
    status = await hub.client.get_status(iid)
    assert status.name == "hello_sequence" and status.instance_id == iid
    assert status.input == {"k": 1} and status.custom_status is None
    assert status.created_time <= status.last_updated_time and status.history is None
    assert (await hub.client.get_status(iid, show_input=False)).input is None
    plain = (await hub.client.get_status(iid, show_history=True)).history
    assert [e["EventType"] for e in plain] == [
        "ExecutionStarted", "TaskCompleted", "TaskCompleted", "TaskCompleted",
        "ExecutionCompleted"]
    assert all("Result" not in e for e in plain)
    full = (await hub.client.get_status(iid, show_history=True, show_history_output=True)).history
    assert full[1]["FunctionName"] == "say_hello" and full[1]["Result"] == "Hello Tokyo!"
    assert "ScheduledTime" in full[1]
    assert full[-1]["Result"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


async def test_custom_status(hub):
    await hub.client.start_new("status_then_event", "cs")
    await eventually(lambda: _custom(hub, "cs", "waiting"))
    await hub.client.raise_event("cs", "go", 1)
    assert (await hub.client.wait_for_completion("cs", 10)).custom_status == "done"


async def _custom(hub, iid, value):
    status = await hub.client.get_status(iid)
    return status is not None and status.custom_status == value


async def test_query_filters_and_paging(hub):
    for i in range(7):
        await hub.client.start_new("hello_sequence", f"done-{i}")
    for i in range(5):
        await hub.client.start_new("wait_event", f"wait-{i}")
    for i in range(7):
        await hub.client.wait_for_completion(f"done-{i}", 10)
    await status_is(hub.client, "wait-4", S.Running)
    everything = await hub.client.get_status_all()
    assert len(everything) == 12
    running = await hub.client.get_status_by(runtime_status=[S.Running])
    assert sorted(s.instance_id for s in running.instances) == [f"wait-{i}" for i in range(5)]
    assert (await hub.client.get_status_by(instance_id_prefix="done-")).instances[0].instance_id \
        .startswith("done-")
    seen, token = [], None
    while True:
        page = await hub.client.get_status_by(page_size=5, continuation_token=token)
        seen += [s.instance_id for s in page.instances]
        token = page.continuation_token
        if token is None:
            break
    assert sorted(seen) == sorted(s.instance_id for s in everything) and len(seen) == 12
    future = datetime.now(UTC) + timedelta(hours=1)
    assert (await hub.client.get_status_by(created_time_from=future)).instances == []
    with pytest.raises(perdure.InvalidArgumentError):
        await hub.client.get_status_by(runtime_status="Sleeping")
    with pytest.raises(perdure.InvalidArgumentError):
        await hub.client.get_status_by(page_size=0)


async def test_wait_for_completion_timeout_and_unknown(hub):
    await hub.client.start_new("wait_event", "slow")
    with pytest.raises(perdure.OrchestrationTimeoutError):
        await hub.client.wait_for_completion("slow", timeout=0.2)
    with pytest.raises(perdure.InstanceNotFoundError):
        await hub.client.wait_for_completion("ghost", timeout=0.2)


# --- events --------------------------------------------------------------


async def test_events_before_the_wait_are_buffered_in_order(hub):
    await hub.client.start_new("wait_event", "ev")
    await hub.client.raise_event("ev", "go", "first")
    await hub.client.raise_event("ev", "go", "second")
    assert (await hub.client.wait_for_completion("ev", 10)).output == ["first", "second"]


async def test_raise_event_to_unknown_and_finished_instances(hub):
    with pytest.raises(perdure.InstanceNotFoundError):
        await hub.client.raise_event("ghost", "go", 1)
    iid = await hub.client.start_new("hello_sequence")
    await hub.client.wait_for_completion(iid, 10)
    with pytest.raises(perdure.InstanceFinishedError):
        await hub.client.raise_event(iid, "go", 1)
    with pytest.raises(perdure.SerializationError):
        await hub.client.raise_event(iid, "go", object())


async def test_timed_out_wait_consumes_nothing(hub):
    await hub.client.start_new("wait_event_timeout", "to", input=0.05)
    assert (await hub.client.wait_for_completion("to", 10)).output == "timed out"
    await hub.client.start_new("wait_event_timeout", "in-time", input=30)
    await hub.client.raise_event("in-time", "go", "here")
    assert (await hub.client.wait_for_completion("in-time", 10)).output == "here"


# --- terminate -----------------------------------------------------------


@pytest.mark.parametrize("name,arg", [("wait_event", None), ("wait_timer", 3600),
                                      ("wait_activity", None)])
async def test_terminate_while_waiting(hub, name, arg):
    iid = await hub.client.start_new(name, input=arg)
    await status_is(hub.client, iid, S.Running)
    await asyncio.sleep(0.05)
    await hub.client.terminate(iid, "It was time to be done.")
    done = await hub.client.wait_for_completion(iid, 10)
    assert done.runtime_status is S.Terminated and done.output == "It was time to be done."
    scenarios.release.set()  # a late activity result must be ignored
    await asyncio.sleep(0.2)
    after = await hub.client.get_status(iid, show_history=True)
    assert after.runtime_status is S.Terminated
    assert not any(e["EventType"] == "TaskCompleted" for e in after.history)
    with pytest.raises(perdure.InstanceFinishedError):
        await hub.client.terminate(iid, "again")


async def test_terminate_propagates_to_sub_orchestration(hub):
    await hub.client.start_new("parent", "p", input="wait_event")
    await status_is(hub.client, "p-child", S.Running)
    await hub.client.terminate("p", "stop all")
    assert (await hub.client.wait_for_completion("p", 10)).runtime_status is S.Terminated
    child = await hub.client.wait_for_completion("p-child", 10)
    assert child.runtime_status is S.Terminated and "stop all" in child.output


async def test_terminate_unknown(hub):
    with pytest.raises(perdure.InstanceNotFoundError):
        await hub.client.terminate("ghost", "x")


# --- sub-orchestrations and failures --------------------------------------


async def test_sub_orchestration_result_and_failure(hub):
    await hub.client.start_new("parent", "ok", input="hello_sequence")
    assert (await hub.client.wait_for_completion("ok", 10)).output[0] == "Hello Tokyo!"
    await hub.client.start_new("parent", "bad", input="fails")
    failed = await hub.client.wait_for_completion("bad", 10)
    assert failed.runtime_status is S.Failed and "boom" in failed.output
    await hub.client.start_new("parent", "missing", input="no_such_orchestrator")
    missing = await hub.client.wait_for_completion("missing", 10)
    assert missing.runtime_status is S.Failed and "no_such_orchestrator" in missing.output


async def test_failed_activity_reaches_the_orchestrator(hub):
    iid = await hub.client.start_new("catches_failure")
    done = await hub.client.wait_for_completion(iid, 10)
    assert done.output == {"type": "RuntimeError", "message": "boom"}
    iid = await hub.client.start_new("fails")
    failed = await hub.client.wait_for_completion(iid, 10)
    assert failed.runtime_status is S.Failed
    assert failed.failure_details.error_type == "TaskFailedError"
    assert "RuntimeError: boom" in failed.output


async def test_retry_policy(hub):
    iid = await hub.client.start_new("with_retry")
    assert (await hub.client.wait_for_completion(iid, 10)).output == f"{iid} ok"
    assert scenarios.calls[f"fail_once:{iid}"] == 2


# --- suspend, resume, rewind ------------------------------------------------


async def test_suspend_and_resume_with_events_arriving_while_suspended(hub):
    await hub.client.start_new("wait_event", "sus")
    await status_is(hub.client, "sus", S.Running)
    await hub.client.suspend("sus", "hold on")
    await status_is(hub.client, "sus", S.Suspended)
    with pytest.raises(perdure.InvalidInstanceStateError):
        await hub.client.suspend("sus", "twice")
    await hub.client.raise_event("sus", "go", 1)
    await hub.client.raise_event("sus", "go", 2)
    await asyncio.sleep(0.2)
    assert (await hub.client.get_status("sus")).runtime_status is S.Suspended
    await hub.client.resume("sus", "carry on")
    done = await hub.client.wait_for_completion("sus", 10)
    assert done.output == [1, 2]
    with pytest.raises(perdure.InstanceFinishedError):
        await hub.client.resume("sus")
    kinds = [e["EventType"] for e in (await hub.client.get_status("sus", True)).history]
    assert "ExecutionSuspended" in kinds and "ExecutionResumed" in kinds


async def test_resume_requires_suspended(hub):
    await hub.client.start_new("wait_event", "r")
    await status_is(hub.client, "r", S.Running)
    with pytest.raises(perdure.InvalidInstanceStateError):
        await hub.client.resume("r")


async def test_rewind_reruns_the_failed_activity(hub):
    iid = await hub.client.start_new("rewindable")
    failed = await hub.client.wait_for_completion(iid, 10)
    assert failed.runtime_status is S.Failed
    await hub.client.rewind(iid, "try again")
    await status_is(hub.client, iid, S.Running, S.Completed)
    done = await hub.client.wait_for_completion(iid, 10)
    assert done.runtime_status is S.Completed and done.output == ["Hello A!", f"{iid} ok"]
    assert scenarios.calls["say_hello"] == 1  # the activity that succeeded is not re-run
    with pytest.raises(perdure.InstanceFinishedError):
        await hub.client.rewind(iid)


async def test_rewind_requires_failed(hub):
    await hub.client.start_new("wait_event", "rw")
    await status_is(hub.client, "rw", S.Running)
    with pytest.raises(perdure.InvalidInstanceStateError):
        await hub.client.rewind("rw")


# --- continue-as-new, purge, restart ----------------------------------------


async def test_continue_as_new(hub):
    iid = await hub.client.start_new("counter", input=0)
    done = await hub.client.wait_for_completion(iid, 10)
    assert done.output == 3 and done.custom_status == {"n": 3} and done.input == 3
    history = (await hub.client.get_status(iid, show_history=True)).history
    assert sum(e["EventType"] == "ExecutionStarted" for e in history) == 1


async def test_purge_one_and_by_filter(hub):
    for i in range(5):
        await hub.client.start_new("hello_sequence", f"p{i}")
    await hub.client.start_new("wait_event", "active")
    for i in range(5):
        await hub.client.wait_for_completion(f"p{i}", 10)
    assert await hub.client.purge_instance_history("p0") == 1
    assert await hub.client.get_status("p0") is None
    assert await hub.client.purge_instance_history("p0") == 0
    with pytest.raises(perdure.InvalidInstanceStateError):
        await hub.client.purge_instance_history("active")
    start = datetime.now(UTC) - timedelta(hours=1)
    assert await hub.client.purge_instance_history_by(start, None, [S.Failed]) == 0
    assert await hub.client.purge_instance_history_by(start, None, [S.Completed]) == 4
    assert [s.instance_id for s in await hub.client.get_status_all()] == ["active"]
    with pytest.raises(perdure.InvalidArgumentError):
        await hub.client.purge_instance_history_by(start, None, [S.Running])


async def test_restart(hub):
    await hub.client.start_new("hello_async", "orig", ["R"])
    await hub.client.wait_for_completion("orig", 10)
    new_id = await hub.client.restart("orig")
    assert new_id != "orig"
    assert (await hub.client.wait_for_completion(new_id, 10)).output == ["Hello R!"]
    assert await hub.client.restart("orig", restart_with_new_instance_id=False) == "orig"
    with pytest.raises(perdure.InstanceNotFoundError):
        await hub.client.restart("ghost")


# --- activities reaching the client -------------------------------------------


async def test_activity_builds_management_payload(hub):
    iid = await hub.client.start_new("publish", "pub")
    payload = (await hub.client.wait_for_completion(iid, 10)).output
    assert payload["id"] == "pub"
    assert payload["statusQueryGetUri"] == \
        "http://localhost:7071/runtime/webhooks/durabletask/instances/pub"
    assert set(payload) == {"id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri",
                            "purgeHistoryDeleteUri", "rewindPostUri", "suspendPostUri",
                            "resumePostUri", "restartPostUri"}


async def test_plain_activity_uses_sync_client(hub):
    await hub.client.start_new("starts_another", "outer")
    started = (await hub.client.wait_for_completion("outer", 10)).output
    assert started == "outer-started"
    assert (await hub.client.wait_for_completion(started, 10)).runtime_status is S.Completed


def test_sync_client_mirrors_the_async_client(db_url):
    import inspect

    async_methods = {n for n, m in inspect.getmembers(perdure.Client,
                                                      inspect.iscoroutinefunction)
                     if not n.startswith("_")}
    for name in async_methods - {"close"}:
        assert callable(getattr(perdure.SyncClient, name)), name
    with perdure.SyncClient(db_url, app=app) as client:
        iid = client.start_new("hello_sequence")
        assert client.get_status(iid).runtime_status is S.Pending


async def test_listing_by_name_newest_first_counts_and_generations(hub):
    from perdure.core.errors import InvalidArgumentError

    for i in range(3):
        await hub.client.start_new("hello_sequence", f"ls-h{i}")
    await hub.client.start_new("counter", "ls-c", 0)
    await hub.client.wait_for_completion("ls-c", timeout=30)
    for i in range(3):
        await hub.client.wait_for_completion(f"ls-h{i}", timeout=30)
    page = await hub.client.get_status_by(orchestrator_name="hello_sequence", newest_first=True,
                                          page_size=2)
    assert [s.instance_id for s in page.instances] == ["ls-h2", "ls-h1"]
    rest = await hub.client.get_status_by(orchestrator_name="hello_sequence", newest_first=True,
                                          continuation_token=page.continuation_token)
    assert [s.instance_id for s in rest.instances] == ["ls-h0"]
    counts = {c.status: (c.count, c.exact) for c in await hub.client.count_by_status(
        instance_id_prefix="ls-")}
    assert counts[S.Completed] == (4, True) and counts[S.Running] == (0, True)
    bounded = await hub.client.count_by_status(orchestrator_name="hello_sequence", bound=2)
    assert [(c.count, c.exact) for c in bounded if c.status is S.Completed] == [(2, False)]
    generations = await hub.client.get_generations("ls-c")
    assert [g.generation for g in generations] == [1, 2, 3]  # 0 -> 1 -> 2 -> 3
    assert [g.input_preview for g in generations] == ["0", "1", "2"]
    for bad in ({"orchestrator_name": ""}, {"orchestrator_name": 3}):
        with pytest.raises(InvalidArgumentError):
            await hub.client.get_status_by(**bad)
    with pytest.raises(InvalidArgumentError):
        await hub.client.count_by_status(bound=0)
