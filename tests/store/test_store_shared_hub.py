"""Two store objects on one task hub, as two processes would share it."""

from __future__ import annotations

import asyncio
import time

from perdure.core.status import OrchestrationRuntimeStatus as Status
from perdure.store.base import ActivityTask, Store
from perdure.store.clock import Clock

from .helpers import LONG, SHORT, claim_one, new, step


async def test_claims_are_exclusive_across_stores(store: Store, other_store: Store) -> None:
    for i in range(10):
        await store.create_instance(new(f"i{i}"))
    a, b = await asyncio.gather(store.claim_orchestrations("w1", 6, LONG),
                                other_store.claim_orchestrations("w2", 6, LONG))
    ids_a = {item.instance.instance_id for item in a}
    ids_b = {item.instance.instance_id for item in b}
    assert not ids_a & ids_b
    assert len(ids_a | ids_b) == 10
    assert await store.claim_orchestrations("w1", 10, LONG) == []
    assert await other_store.claim_orchestrations("w2", 10, LONG) == []


async def test_expired_lease_moves_to_the_other_store(store: Store, other_store: Store,
                                                     clock: Clock) -> None:
    await store.create_instance(new("a"))
    stale = await claim_one(store, "a", lease=SHORT)
    assert await other_store.claim_orchestrations("w2", 10, LONG) == []
    clock.advance(SHORT + 1)
    fresh = await claim_one(other_store, "a")
    assert fresh.attempts == 2
    assert await store.commit_steps([step(stale, Status.Completed)]) == [False]
    assert await other_store.commit_steps([step(fresh)]) == [True]
    rec = await store.get_instance("a")
    assert rec is not None and rec.runtime_status is Status.Running


async def test_activity_claims_across_stores(store: Store, other_store: Store) -> None:
    await store.create_instance(new("a"))
    item = await claim_one(store, "a")
    tasks = [ActivityTask("a", "e", i, "act") for i in range(8)]
    await store.commit_steps([step(item, activities=tasks)])
    a, b = await asyncio.gather(store.claim_activities("w1", 5, LONG),
                                other_store.claim_activities("w2", 5, LONG))
    assert len(a) + len(b) == 8
    assert not {w.id for w in a} & {w.id for w in b}


async def test_other_store_waiters_are_woken(store: Store, other_store: Store) -> None:
    # Each store only notifies its own process; the other learns by polling or NOTIFY.
    await other_store.wait_for_work("orchestration", 0)
    waiter = asyncio.ensure_future(other_store.wait_for_work("orchestration", 10))
    await asyncio.sleep(0.05)
    await store.create_instance(new("a"))
    await asyncio.wait_for(waiter, 5)

    item = await claim_one(store, "a")
    await asyncio.sleep(0.3)  # let the claim's own wake-up pass
    instance_waiter = asyncio.ensure_future(other_store.wait_for_instance("a", 10))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await store.commit_steps([step(item, Status.Completed)])
    await asyncio.wait_for(instance_waiter, 5)
    assert time.monotonic() - started < 5


async def test_other_store_change_during_a_read_is_not_missed(
        store: Store, other_store: Store) -> None:
    await other_store.wait_for_instance("never", 0.01)  # the other process listens
    await store.create_instance(new("a"))
    item = await claim_one(store, "a")
    await asyncio.sleep(0.3)
    since = time.monotonic()
    await other_store.get_instance("a")
    await store.commit_steps([step(item, Status.Completed)])
    await asyncio.sleep(1.0)  # the news arrives before the other process waits
    started = time.monotonic()
    await other_store.wait_for_instance("a", 10, since)
    assert time.monotonic() - started < 1.0


async def test_concurrent_writers_lose_nothing(store: Store, other_store: Store) -> None:
    async def create(target: Store, prefix: str) -> None:
        for i in range(30):
            await target.create_instance(new(f"{prefix}{i}"))

    await asyncio.gather(create(store, "x"), create(other_store, "y"))
    seen: set[str] = set()
    for target in (store, other_store, store):
        seen |= {item.instance.instance_id
                 for item in await target.claim_orchestrations("w", 25, LONG)}
    assert len(seen) == 60
