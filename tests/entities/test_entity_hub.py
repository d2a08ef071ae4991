"""Entities on a running worker, on both task hubs: ordering, batching, rollback,
locks, creation by signal, deletion and O(1) storage."""

from __future__ import annotations

import pytest
from entity_app import app
from scenarios import eventually

import perdure
from perdure import EntityId
from perdure import OrchestrationRuntimeStatus as S
from perdure.core.entities import EntityRequest
from perdure.store.entities import entity_delivery


async def _state(hub, entity):
    return await hub.client.read_entity_state(entity)


async def test_signal_creates_the_entity_and_operations_apply_in_order(hub_factory):
    hub = await hub_factory(app)
    log = EntityId("Log", "k")
    assert await _state(hub, log) == (False, None)
    for i in range(60):
        await hub.client.signal_entity(log, "append", i)

    async def done():
        return (await _state(hub, log))[1] == list(range(60))
    await eventually(done)
    # The name is case-insensitive: the same entity, under any spelling.
    assert await _state(hub, ("LOG", "k")) == (True, list(range(60)))
    assert str(log) == "@log@k"


async def test_queued_operations_run_as_one_batch_with_no_history(hub_factory):
    hub = await hub_factory(app)
    await hub.worker.stop()
    entity = EntityId("counter", "batched")
    for _ in range(300):
        await hub.client.signal_entity(entity, "add", 1)
    commits: list[int] = []
    commit = hub.store.commit_steps_and_claim

    async def counting(steps, *args):
        commits.extend(1 for s in steps if s.instance_id == str(entity))
        return await commit(steps, *args)
    hub.store.commit_steps_and_claim = counting  # type: ignore[method-assign]
    await hub.restart_worker()

    async def done():
        return await _state(hub, entity) == (True, 300)
    await eventually(done)
    assert len(commits) == 1  # 300 operations, one step, one transaction
    assert await hub.store.get_history(str(entity)) == []
    record = await hub.store.get_instance(str(entity))
    assert record is not None and record.history_len == 0


async def test_history_stays_empty_and_state_constant_size(hub_factory):
    hub = await hub_factory(app)
    entity = EntityId("counter", "o1")
    sizes = []
    for round_ in range(5):
        for _ in range(40):
            await hub.client.signal_entity(entity, "add", 1)

        async def applied(expected=40 * (round_ + 1)):
            return await _state(hub, entity) == (True, expected)
        await eventually(applied)
        record = await hub.store.get_instance(str(entity))
        assert record is not None and record.history_len == 0
        sizes.append(len(record.custom_status or ""))
    assert await hub.store.get_history(str(entity)) == []
    assert max(sizes) - min(sizes) <= 2  # digits of the counter only


async def test_call_entity_results_and_a_failed_operation_rolls_back(hub_factory):
    hub = await hub_factory(app)
    iid = await hub.client.start_new("call_counter", input="c1")
    done = await hub.client.wait_for_completion(iid, 20)
    assert done.runtime_status is S.Completed, done.output
    assert done.output == [5, "fail at 5", 5]
    # The failed operation's signal was rolled back with its state change.
    assert await _state(hub, EntityId("counter", "c1")) == (True, 5)


async def test_a_failed_signal_does_not_stop_the_next_operation(hub_factory):
    hub = await hub_factory(app)
    entity = EntityId("counter", "f")
    for op, value in (("add", 1), ("fail", None), ("nonsense", None), ("add", 2)):
        await hub.client.signal_entity(entity, op, value)

    async def done():
        return await _state(hub, entity) == (True, 3)
    await eventually(done)


async def test_an_operation_that_never_returns_fails_alone(hub_factory):
    hub = await hub_factory(app, step_timeout=0.5)
    await hub.client.signal_entity(EntityId("counter", "spin"), "add", 1)
    iid = await hub.client.start_new("call_spin")
    await hub.client.signal_entity(EntityId("counter", "spin"), "add", 2)
    assert (await hub.client.wait_for_completion(iid, 20)).output == "StepTimeout"

    async def applied():
        return await _state(hub, EntityId("counter", "spin")) == (True, 3)
    await eventually(applied)


async def test_orchestration_signals_arrive_in_order_before_its_call(hub_factory):
    hub = await hub_factory(app)
    iid = await hub.client.start_new("signal_many", input=30)
    done = await hub.client.wait_for_completion(iid, 20)
    assert done.output == list(range(30))


async def test_class_entity(hub_factory):
    hub = await hub_factory(app)
    iid = await hub.client.start_new("account_ops", input="acc")
    done = await hub.client.wait_for_completion(iid, 20)
    assert done.output == [30, "insufficient funds", 20], done.output
    assert await _state(hub, EntityId("account", "acc")) == (True, {"balance": 20})
    await hub.client.signal_entity(EntityId("account", "acc"), "delete")

    async def deleted():
        return await _state(hub, EntityId("account", "acc")) == (False, None)
    await eventually(deleted)


async def test_entities_signal_entities_and_start_orchestrations(hub_factory):
    hub = await hub_factory(app)
    await hub.client.signal_entity(EntityId("counter", "src"), "forward", ["dst", 7])

    async def done():
        return await _state(hub, EntityId("counter", "dst")) == (True, 7)
    await eventually(done)
    started = await hub.client.wait_for_completion("started-by-src", 20)
    assert started.output == "ok"


async def test_deletion_listing_and_cleaning(hub_factory):
    hub = await hub_factory(app)
    for key in ("a", "b", "c"):
        await hub.client.signal_entity(EntityId("counter", key), "add", 1)
    await hub.client.signal_entity(EntityId("Log", "a"), "append", "x")
    await hub.client.signal_entity(EntityId("counter", "b"), "delete")

    async def settled():
        page = await hub.client.list_entities("counter", fetch_state=True)
        return [(m.entity_id.key, m.state) for m in page.entities] == [("a", 1), ("c", 1)]
    await eventually(settled)
    everything = await hub.client.list_entities()
    assert sorted(str(m.entity_id) for m in everything.entities) == [
        "@counter@a", "@counter@c", "@log@a"]
    deleted = await hub.client.list_entities("counter", include_deleted=True)
    assert len(deleted.entities) == 3
    prefixed = await hub.client.list_entities("counter", prefix="c")
    assert [str(m.entity_id) for m in prefixed.entities] == ["@counter@c"]
    paged, token, pages = [], None, 0
    while True:
        page = await hub.client.list_entities(page_size=1, continuation_token=token)
        paged += [str(m.entity_id) for m in page.entities]
        pages += 1
        token = page.continuation_token
        if token is None:
            break
    assert sorted(paged) == ["@counter@a", "@counter@c", "@log@a"] and pages >= 3
    result = await hub.client.clean_entity_storage()
    assert result.empty_entities_removed == 1
    assert await hub.store.get_instance("@counter@b") is None
    # A removed entity is created afresh by its next signal.
    await hub.client.signal_entity(EntityId("counter", "b"), "add", 4)

    async def recreated():
        return await _state(hub, EntityId("counter", "b")) == (True, 4)
    await eventually(recreated)


async def test_two_orchestrations_contending_for_locks_lose_no_update(hub_factory):
    hub = await hub_factory(app)
    ids = [await hub.client.start_new("transfer") for _ in range(6)]
    outputs = []
    for iid in ids:
        done = await hub.client.wait_for_completion(iid, 30)
        assert done.runtime_status is S.Completed, done.output
        outputs.append(done.output)
    # Each critical section saw the totals of all sections before it: no interleaving.
    assert sorted(va for va, _ in outputs) == list(range(6))
    assert await _state(hub, EntityId("counter", "a")) == (True, 6)
    assert await _state(hub, EntityId("counter", "b")) == (True, 6)


async def test_a_held_lock_makes_others_wait_and_ends_with_the_orchestration(hub_factory):
    hub = await hub_factory(app)
    holder = await hub.client.start_new("lock_and_wait", input="l")

    async def locked():
        page = await hub.client.list_entities("counter", include_deleted=True)
        return any(m.locked_by == holder for m in page.entities)
    await eventually(locked)
    waiter = await hub.client.start_new("lock_then_add", input="l")
    await hub.client.signal_entity(EntityId("counter", "l"), "add", 100)

    async def queued():
        page = await hub.client.list_entities("counter", include_deleted=True)
        return any(m.backlog == 2 for m in page.entities)
    await eventually(queued)  # the waiter's lock request and the signal wait
    assert await _state(hub, EntityId("counter", "l")) == (False, None)
    await hub.client.raise_event(holder, "go", "boom")  # fails inside the section
    failed = await hub.client.wait_for_completion(holder, 20)
    assert failed.runtime_status is S.Failed
    assert (await hub.client.wait_for_completion(waiter, 20)).output == "done"

    async def applied():
        return await _state(hub, EntityId("counter", "l")) == (True, 110)
    await eventually(applied)


async def test_terminating_a_lock_holder_releases_its_locks(hub_factory):
    hub = await hub_factory(app)
    holder = await hub.client.start_new("lock_and_wait", input="t")

    async def locked():
        page = await hub.client.list_entities("counter", include_deleted=True)
        return any(m.locked_by == holder for m in page.entities)
    await eventually(locked)
    waiter = await hub.client.start_new("lock_then_add", input="t")
    await hub.client.terminate(holder, "stop")
    assert (await hub.client.wait_for_completion(waiter, 20)).output == "done"


async def test_a_worker_crash_while_holding_a_lock_keeps_it_until_the_end(hub_factory):
    hub = await hub_factory(app)
    holder = await hub.client.start_new("lock_and_wait", input="w")

    async def locked():
        page = await hub.client.list_entities("counter", include_deleted=True)
        return any(m.locked_by == holder for m in page.entities)
    await eventually(locked)
    await hub.restart_worker(cache_mb=0)  # the orchestration is replayed from history
    waiter = await hub.client.start_new("lock_then_add", input="w")
    await hub.client.raise_event(holder, "go", "fine")
    assert (await hub.client.wait_for_completion(holder, 20)).output == "released"
    assert (await hub.client.wait_for_completion(waiter, 20)).output == "done"
    assert await _state(hub, EntityId("counter", "w")) == (True, 11)


async def test_calling_an_unlocked_entity_inside_a_critical_section_fails(hub_factory):
    hub = await hub_factory(app)
    iid = await hub.client.start_new("bad_call_in_lock")
    done = await hub.client.wait_for_completion(iid, 20)
    assert done.runtime_status is S.Failed
    assert "LockingRulesError" in done.output
    # The failed orchestration released its lock: the entity takes new work.
    await hub.client.signal_entity(EntityId("counter", "x"), "add", 2)

    async def applied():
        return await _state(hub, EntityId("counter", "x")) == (True, 2)
    await eventually(applied)


async def test_orphaned_lock_is_released_by_clean_entity_storage(hub_factory):
    hub = await hub_factory(app)
    # A lock granted to an orchestration that no longer exists (its release was lost).
    await hub.store.create_instance(entity_delivery("@counter@o", EntityRequest(
        "lock", "r1", parent="ghost", lock_set=("@counter@o",))))
    await hub.client.signal_entity(EntityId("counter", "o"), "add", 3)

    async def queued():
        page = await hub.client.list_entities("counter", include_deleted=True)
        return [(m.locked_by, m.backlog) for m in page.entities] == [("ghost", 1)]
    await eventually(queued)
    result = await hub.client.clean_entity_storage()
    assert result == perdure.CleanEntityStorageResult(0, 1)

    async def applied():
        return await _state(hub, EntityId("counter", "o")) == (True, 3)
    await eventually(applied)
    assert (await hub.client.clean_entity_storage()).orphaned_locks_released == 0


@pytest.mark.parametrize("bad", [("", "k"), ("a@b", "k"), ("n", ""), ("n", "a\x00")])
async def test_bad_entity_ids_are_refused(hub_factory, bad):
    hub = await hub_factory(app)
    with pytest.raises(perdure.InvalidArgumentError):
        await hub.client.signal_entity(bad, "add", 1)
