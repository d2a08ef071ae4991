"""hub_stats: the task hub's gauges for /metrics, on both stores."""

from __future__ import annotations

from datetime import timedelta

from perdure.core.history import TaskCompleted
from perdure.core.status import OrchestrationRuntimeStatus as Status
from perdure.store import Clock
from perdure.store.base import ActivityResult, ActivityTask, Message, Store

from .helpers import LONG, event_message, new, soon, start, step


async def test_an_empty_hub(store: Store) -> None:
    stats = await store.hub_stats()
    assert stats.instances == {}
    assert (stats.ready_instances, stats.ready_tasks) == (0, 0)
    assert stats.oldest_message_age is None and stats.oldest_task_age is None


async def test_instances_by_status(store: Store) -> None:
    await start(store, "r1")
    await start(store, "r2")
    await start(store, "done", Status.Completed)
    await start(store, "bad", Status.Failed)
    await store.create_instance(new("p1"))
    await store.create_instance(new("p2", version="1.2"))
    await store.create_instance(new("p3", version="1.2"))
    stats = await store.hub_stats()
    assert stats.instances == {(Status.Running, ""): 2, (Status.Completed, ""): 1,
                               (Status.Failed, ""): 1, (Status.Pending, ""): 1,
                               (Status.Pending, "1.2"): 2}


async def test_counts_stop_at_the_cap(store: Store) -> None:
    for i in range(5):
        await store.create_instance(new(f"p{i}"))
    stats = await store.hub_stats(cap=3)
    assert stats.instances == {(Status.Pending, ""): 3}
    assert stats.ready_instances == 3
    assert stats.cap == 3


async def test_backlog_and_ages(store: Store, clock: Clock) -> None:
    await store.create_instance(new("a"))
    await store.create_instance(new("b"))
    # A timer in the future is not ready.
    await store.send_message(event_message("a", visible_at=soon(3600)), operation="timer",
                             allowed=set(Status))
    clock.advance(timedelta(seconds=30))
    stats = await store.hub_stats()
    assert stats.ready_instances == 2  # each counted once, whatever its messages
    assert stats.oldest_message_age is not None and 30 <= stats.oldest_message_age < 300
    assert stats.ready_tasks == 0 and stats.oldest_task_age is None

    items = await store.claim_orchestrations("w1", 10, LONG)
    commits = [step(i, activities=[ActivityTask(i.instance.instance_id,
                                                i.instance.execution_id, 1, "act")])
               for i in items]
    assert await store.commit_steps(commits) == [True, True]
    clock.advance(timedelta(seconds=10))
    stats = await store.hub_stats()
    assert stats.ready_instances == 0 and stats.oldest_message_age is None
    assert stats.ready_tasks == 2
    assert stats.oldest_task_age is not None and 10 <= stats.oldest_task_age < 300

    claimed = await store.claim_activities("w1", 1, LONG)  # a leased task is not ready
    assert len(claimed) == 1
    stats = await store.hub_stats()
    assert stats.ready_tasks == 1
    done = claimed[0]
    await store.complete_activities([ActivityResult(done.id, done.lock_token, Message(
        done.task.instance_id, TaskCompleted(task_id=1, result="1"), done.task.execution_id))])
    stats = await store.hub_stats()
    assert (stats.ready_instances, stats.ready_tasks) == (1, 1)
