"""Small builders shared by the store conformance tests."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from perdure.core.history import EventRaised, HistoryEvent, OrchestratorStarted, utcnow
from perdure.core.status import OrchestrationRuntimeStatus as Status
from perdure.store.base import (
    Message,
    NewInstance,
    OrchestrationWorkItem,
    StepCommit,
    Store,
)

ACTIVE = (Status.Pending, Status.Running, Status.Suspended, Status.ContinuedAsNew)
FINISHED = (Status.Completed, Status.Failed, Status.Terminated)
LONG = 30.0  # a lease that never expires during a test
SHORT = 10.0  # a lease a test expires by advancing the store's clock past it

_exec_ids = itertools.count(1)


def new(instance_id: str, name: str = "orch", *, input: str | None = None,
        created_at: datetime | None = None, **kwargs: Any) -> NewInstance:
    """A NewInstance with a fresh execution id."""
    return NewInstance(instance_id, name, f"exec-{next(_exec_ids)}", input=input,
                       created_at=created_at, **kwargs)


def raised(name: str = "evt", payload: str | None = '"x"') -> EventRaised:
    """An external event."""
    return EventRaised(name=name, input=payload)


def event_message(instance_id: str, name: str = "evt", *,
                  visible_at: datetime | None = None) -> Message:
    """An EventRaised message for ``instance_id``."""
    return Message(instance_id, raised(name), visible_at=visible_at)


async def claim_all(store: Store, lease: float = LONG,
                    worker: str = "w1") -> dict[str, OrchestrationWorkItem]:
    """Claim every claimable instance, keyed by id."""
    items = await store.claim_orchestrations(worker, 1000, lease)
    return {item.instance.instance_id: item for item in items}


async def claim_one(store: Store, instance_id: str,
                    lease: float = LONG) -> OrchestrationWorkItem:
    """Claim, expecting exactly ``instance_id`` to be claimable."""
    items = await claim_all(store, lease)
    assert list(items) == [instance_id]
    return items[instance_id]


def step(item: OrchestrationWorkItem, status: Status = Status.Running, *,
         history: list[HistoryEvent] | None = None, **kwargs: Any) -> StepCommit:
    """A step that consumes every claimed message and records them after OrchestratorStarted."""
    if history is None:
        history = [OrchestratorStarted(), *(m.event for m in item.messages)]
    return StepCommit(item.instance.instance_id, item.lock_token, status,
                      consumed=[m.id for m in item.messages], history=history, **kwargs)


async def start(store: Store, instance_id: str, status: Status = Status.Running,
                **kwargs: Any) -> None:
    """Create ``instance_id`` and commit one step leaving it in ``status``."""
    await store.create_instance(new(instance_id))
    item = await claim_one(store, instance_id)
    assert await store.commit_steps([step(item, status, **kwargs)]) == [True]


async def advance(store: Store, instance_id: str, status: Status, **kwargs: Any) -> None:
    """Move an existing instance to ``status`` through a step (an event makes it claimable)."""
    await store.send_message(event_message(instance_id), operation="raise event",
                             allowed=set(Status))
    item = await claim_one(store, instance_id)
    assert await store.commit_steps([step(item, status, **kwargs)]) == [True]


def soon(seconds: float) -> datetime:
    """Now plus ``seconds``."""
    return utcnow() + timedelta(seconds=seconds)
