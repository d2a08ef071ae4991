"""create_instance, get_instance, get_history and purge_instance."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from perdure.core.errors import InstanceAlreadyExistsError, InvalidInstanceStateError
from perdure.core.history import ExecutionStarted, OrchestratorStarted, TaskCompleted, utcnow
from perdure.core.status import OrchestrationRuntimeStatus as Status
from perdure.store.base import ActivityResult, ActivityTask, Message, Store

from .helpers import ACTIVE, FINISHED, advance, claim_all, claim_one, new, start, step


async def test_concurrent_reads_each_get_their_own_instance(store: Store) -> None:
    """Reads made at the same time may share one statement; each still gets its own row."""
    for instance_id in ("a", "b", "c"):
        await store.create_instance(new(instance_id, f"orch_{instance_id}"))
    asked = ["a", "unknown", "b", "a", "c", "b", "gone"] * 20
    records = await asyncio.gather(*(store.get_instance(i) for i in asked))
    for instance_id, record in zip(asked, records, strict=True):
        if instance_id in ("unknown", "gone"):
            assert record is None
        else:
            assert record is not None
            assert (record.instance_id, record.name) == (instance_id, f"orch_{instance_id}")


async def test_create_then_get(store: Store) -> None:
    before = utcnow()
    await store.create_instance(new("a", "hello", input='{"x":1}',
                                    parent_instance_id="p"))
    rec = await store.get_instance("a")
    assert rec is not None
    assert (rec.instance_id, rec.name, rec.runtime_status) == ("a", "hello", Status.Pending)
    assert rec.input == '{"x":1}' and rec.parent_instance_id == "p"
    assert rec.output is None and rec.custom_status is None and rec.failure is None
    assert rec.history_len == 0
    assert rec.created_at.tzinfo is not None and rec.updated_at.tzinfo is not None
    assert before - timedelta(seconds=1) <= rec.created_at <= utcnow() + timedelta(seconds=1)


async def test_create_keeps_given_created_at_to_the_microsecond(store: Store) -> None:
    when = datetime(2024, 2, 29, 12, 34, 56, 789012, tzinfo=UTC)
    await store.create_instance(new("a", created_at=when))
    rec = await store.get_instance("a")
    assert rec is not None and rec.created_at == when


async def test_unknown_instance(store: Store) -> None:
    assert await store.get_instance("nope") is None
    assert await store.get_history("nope") == []


async def test_create_enqueues_execution_started(store: Store) -> None:
    nw = new("a", "hello", input='"in"', parent_instance_id="p", parent_execution_id="pe",
             parent_task_id=3)
    await store.create_instance(nw)
    item = await claim_one(store, "a")
    assert len(item.messages) == 1
    msg = item.messages[0]
    assert msg.execution_id == nw.execution_id
    assert isinstance(msg.event, ExecutionStarted)
    assert (msg.event.name, msg.event.input) == ("hello", '"in"')
    assert (msg.event.parent_instance_id, msg.event.parent_execution_id,
            msg.event.parent_task_id) == ("p", "pe", 3)
    assert item.instance.execution_id == nw.execution_id


async def test_duplicate_pending_is_refused(store: Store) -> None:
    await store.create_instance(new("a"))
    with pytest.raises(InstanceAlreadyExistsError) as err:
        await store.create_instance(new("a", "other"))
    assert err.value.instance_id == "a" and err.value.status == "Pending"
    rec = await store.get_instance("a")
    assert rec is not None and rec.name == "orch"


@pytest.mark.parametrize("status", [s for s in ACTIVE if s is not Status.Pending])
async def test_duplicate_active_is_refused(store: Store, status: Status) -> None:
    await start(store, "a", status)
    with pytest.raises(InstanceAlreadyExistsError) as err:
        await store.create_instance(new("a"))
    assert err.value.status == status.value


@pytest.mark.parametrize("status", FINISHED)
async def test_finished_instance_is_replaced(store: Store, status: Status) -> None:
    await start(store, "a", Status.Running,
                activities=[ActivityTask("a", "old", 0, "act")])
    tasks = await store.claim_activities("w", 10, 30)
    await advance(store, "a", status, output='"done"')
    # A leftover message for the finished instance: replacing must drop it.
    await store.send_message(Message("a", TaskCompleted(task_id=9)), operation="x",
                             allowed=set(Status))

    replacement = new("a", "second", input='"2"')
    await store.create_instance(replacement)
    rec = await store.get_instance("a")
    assert rec is not None
    assert (rec.name, rec.runtime_status, rec.input, rec.output, rec.history_len) == (
        "second", Status.Pending, '"2"', None, 0)
    assert rec.execution_id == replacement.execution_id
    assert await store.get_history("a") == []
    item = await claim_one(store, "a")
    assert [type(m.event) for m in item.messages] == [ExecutionStarted]
    # The old execution's activity task went with it.
    result = ActivityResult(tasks[0].id, tasks[0].lock_token,
                            Message("a", TaskCompleted(task_id=0)))
    assert await store.complete_activities([result]) == [False]
    assert await store.claim_activities("w", 10, 30) == []


async def test_replacing_a_leased_finished_instance_voids_the_lease(store: Store) -> None:
    await start(store, "a", Status.Completed)
    await store.send_message(Message("a", TaskCompleted(task_id=1)), operation="x",
                             allowed=set(Status))
    stale = await claim_one(store, "a")
    await store.create_instance(new("a"))
    assert await store.commit_steps([step(stale, Status.Completed)]) == [False]
    rec = await store.get_instance("a")
    assert rec is not None and rec.runtime_status is Status.Pending


async def test_history_is_returned_in_order(store: Store) -> None:
    await store.create_instance(new("a"))
    item = await claim_one(store, "a")
    events = [OrchestratorStarted(), *(m.event for m in item.messages)]
    await store.commit_steps([step(item, history=events)])
    assert await store.get_history("a") == events


async def test_purge_instance(store: Store) -> None:
    assert await store.purge_instance("nope") is False
    await store.create_instance(new("a"))
    with pytest.raises(InvalidInstanceStateError) as err:
        await store.purge_instance("a")
    assert err.value.status == "Pending" and err.value.operation == "purge"
    item = await claim_one(store, "a")
    await store.commit_steps([step(item, Status.Completed,
                                   activities=[ActivityTask("a", "e", 0, "act")])])
    assert await store.purge_instance("a") is True
    assert await store.get_instance("a") is None
    assert await store.get_history("a") == []
    assert await store.claim_activities("w", 10, 30) == []
    assert await store.purge_instance("a") is False


@pytest.mark.parametrize("status", [s for s in ACTIVE if s is not Status.Pending])
async def test_purge_refuses_active(store: Store, status: Status) -> None:
    await start(store, "a", status)
    with pytest.raises(InvalidInstanceStateError):
        await store.purge_instance("a")
    assert await store.get_instance("a") is not None


async def test_open_is_idempotent(store: Store) -> None:
    await store.open()
    await store.create_instance(new("a"))
    assert await claim_all(store)
