"""Trace context kept by the task hub: an instance's in ExecutionStarted, a task's in its row."""

from __future__ import annotations

from perdure.core.history import ExecutionStarted
from perdure.store.base import ActivityTask, Store

from .helpers import LONG, claim_one, new, step

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def test_the_callers_context_reaches_execution_started(store: Store) -> None:
    await store.create_instance(new("a", trace_parent=PARENT, trace_state="k=v"))
    item = await claim_one(store, "a")
    (started,) = [m.event for m in item.messages]
    assert isinstance(started, ExecutionStarted)
    assert (started.trace_parent, started.trace_state) == (PARENT, "k=v")
    await store.create_instance(new("b"))
    (plain,) = [m.event for m in (await claim_one(store, "b")).messages]
    assert isinstance(plain, ExecutionStarted) and plain.trace_parent is None


async def test_a_tasks_trace_parent_survives_both_claims(store: Store) -> None:
    await store.create_instance(new("x"))
    x = await claim_one(store, "x")
    _, leased = await store.commit_steps_and_claim([step(x, activities=[
        ActivityTask("x", x.instance.execution_id, 1, "act", None, PARENT),
        ActivityTask("x", x.instance.execution_id, 2, "act")])], "w1", 10, LONG)
    await store.create_instance(new("y"))
    y = await claim_one(store, "y")
    assert await store.commit_steps([step(y, activities=[
        ActivityTask("y", y.instance.execution_id, 1, "act", None, PARENT)])]) == [True]
    claimed = leased + await store.claim_activities("w1", 10, LONG)
    by_task = {(i.task.instance_id, i.task.task_id): i.task.trace_parent for i in claimed}
    assert by_task == {("x", 1): PARENT, ("x", 2): None, ("y", 1): PARENT}
