"""Entities in the task hub: a request creates its entity or joins its inbox, in order;
an entity step commits state and dequeue at once; an idle empty entity is deleted safely."""

from __future__ import annotations

from perdure.core.entities import REQUEST_EVENT, EntityRequest, EntityState
from perdure.core.history import EventRaised, ExecutionStarted
from perdure.core.status import OrchestrationRuntimeStatus as Status
from perdure.store.base import StepCommit, Store
from perdure.store.entities import entity_delivery

from .helpers import claim_all

ENTITY = "@counter@k"


def request(n: int) -> EntityRequest:
    return EntityRequest("op", f"r{n}", operation="add", input=str(n))


def requests_in(item) -> list[int]:
    out = []
    for message in item.messages:
        event = message.event
        assert isinstance(event, ExecutionStarted | EventRaised)
        if isinstance(event, EventRaised):
            assert event.name == REQUEST_EVENT
        decoded = EntityRequest.decode(event.input)
        assert decoded is not None
        out.append(int(decoded.input or 0))
    return out


async def test_requests_create_the_entity_then_queue_in_order(store: Store) -> None:
    for n in range(5):
        await store.create_instance(entity_delivery(ENTITY, request(n)))
    items = await claim_all(store)
    record = await store.get_instance(ENTITY)
    assert record is not None and record.name == "counter"
    assert requests_in(items[ENTITY]) == [0, 1, 2, 3, 4]


async def test_requests_sent_by_a_step_keep_their_order(store: Store) -> None:
    await store.create_instance(entity_delivery("@sender@s", request(0)))
    sender = (await claim_all(store))["@sender@s"]
    commit = StepCommit("@sender@s", sender.lock_token, Status.Running,
                        [m.id for m in sender.messages],
                        start_instances=[entity_delivery(ENTITY, request(n)) for n in range(4)])
    assert await store.commit_steps([commit]) == [True]
    assert requests_in((await claim_all(store))[ENTITY]) == [0, 1, 2, 3]


async def test_an_entity_step_stores_state_without_history(store: Store) -> None:
    await store.create_instance(entity_delivery(ENTITY, request(1)))
    item = (await claim_all(store))[ENTITY]
    state = EntityState(True, "1").encode()
    commit = StepCommit(ENTITY, item.lock_token, Status.Running, [m.id for m in item.messages],
                        custom_status=state)
    assert await store.commit_steps([commit]) == [True]
    record = await store.get_instance(ENTITY)
    assert record is not None and record.custom_status == state and record.history_len == 0
    assert await store.get_history(ENTITY) == []
    assert await claim_all(store) == {}  # dequeued with the state change


async def test_an_idle_empty_entity_is_deleted_only_as_read(store: Store) -> None:
    await store.create_instance(entity_delivery(ENTITY, request(1)))
    empty = EntityState().encode()
    assert not await store.delete_idle_entity(ENTITY, None)  # its request is queued
    item = (await claim_all(store))[ENTITY]
    assert not await store.delete_idle_entity(ENTITY, None)  # claimed, not committed
    await store.commit_steps([StepCommit(ENTITY, item.lock_token, Status.Running,
                                         [m.id for m in item.messages], custom_status=empty)])
    assert not await store.delete_idle_entity(ENTITY, EntityState(True, "1").encode())
    await store.create_instance(entity_delivery(ENTITY, request(2)))
    assert not await store.delete_idle_entity(ENTITY, empty)  # a request arrived meanwhile
    item = (await claim_all(store))[ENTITY]
    await store.commit_steps([StepCommit(ENTITY, item.lock_token, Status.Running,
                                         [m.id for m in item.messages], custom_status=empty)])
    assert await store.delete_idle_entity(ENTITY, empty)
    assert await store.get_instance(ENTITY) is None
    assert not await store.delete_idle_entity(ENTITY, empty)
    await store.create_instance(entity_delivery(ENTITY, request(3)))  # created afresh
    assert requests_in((await claim_all(store))[ENTITY]) == [3]
