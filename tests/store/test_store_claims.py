"""claim_orchestrations and release_orchestration: leases, attempts, visibility."""

from __future__ import annotations

import pytest

from perdure.core.history import EventRaised, ExecutionStarted
from perdure.core.status import OrchestrationRuntimeStatus as Status
from perdure.store.base import Message, Store
from perdure.store.clock import Clock

from .helpers import LONG, SHORT, claim_all, claim_one, event_message, new, soon, start, step


async def test_nothing_to_claim(store: Store) -> None:
    assert await store.claim_orchestrations("w", 10, LONG) == []
    await start(store, "a")  # running, inbox empty
    assert await store.claim_orchestrations("w", 10, LONG) == []


async def test_claim_is_exclusive_while_leased(store: Store) -> None:
    await store.create_instance(new("a"))
    first = await claim_one(store, "a")
    assert await store.claim_orchestrations("w2", 10, LONG) == []
    # A new message does not make a leased instance claimable either.
    await store.send_message(event_message("a"), operation="x", allowed=set(Status))
    assert await store.claim_orchestrations("w2", 10, LONG) == []
    assert first.lock_token


async def test_limit(store: Store) -> None:
    for i in range(5):
        await store.create_instance(new(f"i{i}"))
    sizes = [len(await store.claim_orchestrations("w", 2, LONG)) for _ in range(4)]
    assert sizes == [2, 2, 1, 0]
    assert await store.claim_orchestrations("w", 0, LONG) == []


async def test_oldest_work_first(store: Store) -> None:
    for name in ("c", "a", "b"):
        await store.create_instance(new(name))
    claimed = [item.instance.instance_id
               for _ in range(3) for item in await store.claim_orchestrations("w", 1, LONG)]
    assert claimed == ["c", "a", "b"]


async def test_expired_lease_is_reclaimed_with_fresh_token(store: Store, clock: Clock) -> None:
    await store.create_instance(new("a"))
    first = await claim_one(store, "a", lease=SHORT)
    assert first.attempts == 1
    assert await store.claim_orchestrations("w2", 10, LONG) == []
    clock.advance(SHORT - 1)
    assert await store.claim_orchestrations("w2", 10, LONG) == []  # not yet
    clock.advance(2)
    second = await claim_one(store, "a")
    assert second.attempts == 2
    assert second.lock_token != first.lock_token
    assert [m.id for m in second.messages] == [m.id for m in first.messages]
    # The first worker lost its lease: its commit changes nothing.
    assert await store.commit_steps([step(first, Status.Completed)]) == [False]
    rec = await store.get_instance("a")
    assert rec is not None and rec.runtime_status is Status.Pending
    assert await store.commit_steps([step(second)]) == [True]


async def test_commit_resets_attempts(store: Store, clock: Clock) -> None:
    await store.create_instance(new("a"))
    await claim_one(store, "a", lease=SHORT)
    clock.advance(SHORT + 1)
    item = await claim_one(store, "a")
    assert item.attempts == 2
    await store.commit_steps([step(item)])
    await store.send_message(event_message("a"), operation="x", allowed=set(Status))
    assert (await claim_one(store, "a")).attempts == 1


async def test_release_keeps_messages_and_attempts(store: Store) -> None:
    await store.create_instance(new("a"))
    item = await claim_one(store, "a")
    await store.release_orchestration("a", "not-the-token")
    assert await store.claim_orchestrations("w", 10, LONG) == []  # still leased
    await store.release_orchestration("a", item.lock_token)
    again = await claim_one(store, "a")
    assert again.attempts == 2
    assert [m.id for m in again.messages] == [m.id for m in item.messages]
    assert await store.commit_steps([step(item)]) == [False]


async def test_claim_returns_record_and_all_visible_messages(store: Store) -> None:
    await start(store, "a")
    for name in ("x", "y"):
        await store.send_message(event_message("a", name), operation="x", allowed=set(Status))
    await store.send_message(event_message("a", "later", visible_at=soon(60)),
                             operation="x", allowed=set(Status))
    item = await claim_one(store, "a")
    assert item.instance.runtime_status is Status.Running
    assert item.instance.history_len == 2  # OrchestratorStarted + ExecutionStarted
    names = [m.event.name for m in item.messages if isinstance(m.event, EventRaised)]
    assert names == ["x", "y"]


async def test_message_arriving_during_a_step_is_left_for_the_next(store: Store) -> None:
    await store.create_instance(new("a"))
    item = await claim_one(store, "a")
    await store.send_message(event_message("a", "late"), operation="x", allowed=set(Status))
    assert await store.commit_steps([step(item)]) == [True]
    nxt = await claim_one(store, "a")
    assert [type(m.event) for m in nxt.messages] == [EventRaised]


async def test_messages_per_claim_are_bounded(store: Store) -> None:
    await store.create_instance(new("target"))
    await store.create_instance(new("sender"))
    items = await claim_all(store)
    flood = [Message("target", EventRaised(name=f"e{i}")) for i in range(1001)]
    await store.commit_steps([step(items["sender"], messages=flood)])
    await store.release_orchestration("target", items["target"].lock_token)
    first = await claim_one(store, "target")
    assert len(first.messages) == 1000
    assert isinstance(first.messages[0].event, ExecutionStarted)
    await store.commit_steps([step(first)])
    second = await claim_one(store, "target")
    assert [m.event.name for m in second.messages if isinstance(m.event, EventRaised)] == [
        "e999", "e1000"]


async def test_finished_instance_with_a_late_message_is_claimable(store: Store) -> None:
    await start(store, "a", Status.Completed)
    await store.send_message(event_message("a"), operation="x", allowed=set(Status))
    item = await claim_one(store, "a")
    assert item.instance.runtime_status is Status.Completed


async def test_started_instances_before_the_backlog(store: Store) -> None:
    # A started instance's new work is claimed before older starts a client queued:
    # it runs to its end before the backlog is opened further. (w1 ran its step:
    # on PostgreSQL, other workers leave it to w1 for a while.)
    await start(store, "a")
    for i in range(3):
        await store.create_instance(new(f"b{i}"))
    await store.send_message(event_message("a"), operation="x", allowed=set(Status))
    first = await store.claim_orchestrations("w1", 1, LONG)
    assert [item.instance.instance_id for item in first] == ["a"]
    rest = [item.instance.instance_id for item in await store.claim_orchestrations("w1", 10, LONG)]
    assert rest == ["b0", "b1", "b2"]


async def test_backlog_fills_the_room_left(store: Store) -> None:
    await start(store, "a")
    for i in range(3):
        await store.create_instance(new(f"b{i}"))
    await store.send_message(event_message("a"), operation="x", allowed=set(Status))
    claimed = await store.claim_orchestrations("w1", 2, LONG)
    assert {item.instance.instance_id for item in claimed} == {"a", "b0"}


async def test_sub_orchestration_starts_before_the_backlog(store: Store) -> None:
    # A child belongs to started work: its parent waits for it.
    await store.create_instance(new("parent"))
    item = await claim_one(store, "parent")
    await store.create_instance(new("b0"))
    child = new("child", parent_instance_id="parent", parent_execution_id="x",
                parent_task_id=0)
    assert await store.commit_steps([step(item, start_instances=[child])]) == [True]
    first = await store.claim_orchestrations("w1", 1, LONG)
    assert [i.instance.instance_id for i in first] == ["child"]


async def test_event_to_a_queued_instance_claims_it_with_its_start(store: Store) -> None:
    for i in range(2):
        await store.create_instance(new(f"b{i}"))
    await store.send_message(event_message("b1"), operation="x", allowed=set(Status))
    first = await store.claim_orchestrations("w1", 1, LONG)
    assert [i.instance.instance_id for i in first] == ["b1"]
    assert [type(m.event) for m in first[0].messages] == [ExecutionStarted, EventRaised]


async def test_a_claim_reads_each_instances_first_messages_up_to_the_cap(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from perdure.store.postgres import transitions as pg_ops
    from perdure.store.sqlite import transitions as sqlite_ops

    for module in (pg_ops, sqlite_ops):
        monkeypatch.setattr(module, "MAX_MESSAGES_PER_CLAIM", 3)
    await start(store, "a")
    await start(store, "b")
    for i in range(5):  # interleaved: a0 b0 a1 b1 ...
        for instance_id in ("a", "b"):
            await store.send_message(event_message(instance_id, f"{instance_id}{i}"),
                                     operation="x", allowed=set(Status))
    await store.send_message(event_message("a", "later", visible_at=soon(60)), operation="x",
                             allowed=set(Status))
    items = await claim_all(store)
    for instance_id in ("a", "b"):
        messages = items[instance_id].messages
        assert [m.event.name for m in messages] == [  # type: ignore[attr-defined]
            f"{instance_id}{i}" for i in range(3)]
        assert [m.id for m in messages] == sorted(m.id for m in messages)
        assert await store.commit_steps([step(items[instance_id])]) == [True]
    items = await claim_all(store)  # the rest, and not the message due later
    assert {i: [m.event.name for m in item.messages]  # type: ignore[attr-defined]
            for i, item in items.items()} == {"a": ["a3", "a4"], "b": ["b3", "b4"]}


async def test_a_claim_after_an_empty_one_finds_what_another_connection_queued(
        store: Store, other_store: Store) -> None:
    await start(store, "a")  # running, its inbox empty: nothing is visible anywhere
    assert await store.claim_orchestrations("w", 10, LONG) == []
    await other_store.send_message(event_message("a"), operation="x", allowed=set(Status))
    assert [m.event.name for m in (await claim_one(store, "a")).messages] == ["evt"]


async def test_a_message_left_under_a_lease_is_claimable_once_the_step_commits(
        store: Store) -> None:
    """A message that arrived during a step, which did not consume it: the empty claims
    in between saw it (leased), and the commit that releases the lease queues nothing."""
    await start(store, "a")
    assert await store.claim_orchestrations("w", 10, LONG) == []
    await store.send_message(event_message("a", "first"), operation="x", allowed=set(Status))
    item = await claim_one(store, "a")
    await store.send_message(event_message("a", "second"), operation="x", allowed=set(Status))
    assert await store.claim_orchestrations("w", 10, LONG) == []  # leased
    assert await store.claim_orchestrations("w", 10, LONG) == []
    assert await store.commit_steps([step(item)]) == [True]  # consumes "first" only
    again = await claim_one(store, "a")
    assert [m.event.name for m in again.messages if isinstance(m.event, EventRaised)] == [
        "second"]


async def test_a_claim_after_an_empty_one_finds_a_timer_fallen_due(
        store: Store, clock: Clock) -> None:
    await start(store, "a")
    await store.send_message(Message("a", EventRaised(name="late"), visible_at=soon(60)),
                             operation="x", allowed=set(Status))
    assert await store.claim_orchestrations("w", 10, LONG) == []
    clock.advance(61)
    assert [m.event.name for m in (await claim_one(store, "a")).messages] == ["late"]
