"""send_message: status checks and what lands in the inbox."""

from __future__ import annotations

from datetime import timedelta

import pytest

from perdure.core.errors import (
    InstanceFinishedError,
    InstanceNotFoundError,
    InvalidInstanceStateError,
)
from perdure.core.history import EventRaised, ExecutionTerminated
from perdure.core.status import OrchestrationRuntimeStatus as Status
from perdure.store.base import Message, Store
from perdure.store.clock import Clock

from .helpers import claim_one, event_message, new, start

RUNNING_ONLY = {Status.Pending, Status.Running}


async def test_unknown_instance(store: Store) -> None:
    with pytest.raises(InstanceNotFoundError) as err:
        await store.send_message(event_message("nope"), operation="raise event",
                                 allowed=set(Status))
    assert err.value.instance_id == "nope"


async def test_allowed_status_enqueues_in_order(store: Store) -> None:
    await store.create_instance(new("a"))
    for name in ("one", "two", "three"):
        await store.send_message(event_message("a", name), operation="raise event",
                                 allowed=RUNNING_ONLY)
    item = await claim_one(store, "a")
    ids = [m.id for m in item.messages]
    assert ids == sorted(ids) and len(set(ids)) == 4
    names = [m.event.name for m in item.messages[1:] if isinstance(m.event, EventRaised)]
    assert names == ["one", "two", "three"]


async def test_execution_id_is_kept(store: Store) -> None:
    await store.create_instance(new("a"))
    await store.send_message(Message("a", ExecutionTerminated(reason="r"), execution_id="e9"),
                             operation="terminate", allowed=RUNNING_ONLY)
    item = await claim_one(store, "a")
    assert item.messages[-1].execution_id == "e9"
    assert item.messages[-1].event == ExecutionTerminated(
        timestamp=item.messages[-1].event.timestamp, reason="r")


@pytest.mark.parametrize("status", [Status.Completed, Status.Failed, Status.Terminated])
async def test_finished_not_allowed(store: Store, status: Status) -> None:
    await start(store, "a", status)
    with pytest.raises(InstanceFinishedError) as err:
        await store.send_message(event_message("a"), operation="raise event",
                                 allowed=RUNNING_ONLY)
    assert (err.value.instance_id, err.value.status, err.value.operation) == (
        "a", status.value, "raise event")
    assert await store.claim_orchestrations("w", 10, 30) == []


async def test_finished_allowed(store: Store) -> None:
    await start(store, "a", Status.Completed)
    await store.send_message(event_message("a"), operation="x",
                             allowed={Status.Completed})
    item = await claim_one(store, "a")
    assert len(item.messages) == 1


@pytest.mark.parametrize("status", [Status.Running, Status.Suspended, Status.Pending])
async def test_active_not_allowed(store: Store, status: Status) -> None:
    if status is Status.Pending:
        await store.create_instance(new("a"))
    else:
        await start(store, "a", status)
    with pytest.raises(InvalidInstanceStateError) as err:
        await store.send_message(event_message("a"), operation="resume",
                                 allowed={Status.Failed})
    assert (err.value.status, err.value.operation) == (status.value, "resume")


async def test_future_message_waits_until_visible(store: Store, clock: Clock) -> None:
    await start(store, "a")
    visible_at = clock.now() + timedelta(seconds=60)
    await store.send_message(event_message("a", visible_at=visible_at), operation="timer",
                             allowed=set(Status))
    assert await store.claim_orchestrations("w", 10, 30) == []
    assert await store.next_wakeup() == visible_at
    clock.advance(59)
    assert await store.claim_orchestrations("w", 10, 30) == []  # not yet
    clock.advance(2)
    item = await claim_one(store, "a")
    assert len(item.messages) == 1
