"""Batches whose steps touch each other, and the code-point order of instance ids."""

from __future__ import annotations

from datetime import UTC, datetime

from perdure.core.history import EventRaised, ExecutionStarted, OrchestratorStarted, TimerFired
from perdure.core.status import OrchestrationRuntimeStatus as Status
from perdure.store.base import ActivityTask, InstanceQuery, Message, Store

from .helpers import claim_all, new, soon, step


async def test_steps_of_one_batch_message_each_other_and_themselves(store: Store) -> None:
    for name in ("a", "b", "c"):
        await store.create_instance(new(name))
    items = await claim_all(store)
    fire_at = soon(60)
    steps = [
        step(items["a"], messages=[Message("b", EventRaised(name="from-a")),
                                   Message("a", TimerFired(task_id=1, fire_at=fire_at),
                                           visible_at=fire_at)]),
        step(items["b"], messages=[Message("a", EventRaised(name="from-b")),
                                   Message("b", EventRaised(name="to-self"))],
             activities=[ActivityTask("b", "e", 0, "act")]),
        step(items["c"], Status.Completed, messages=[Message("ghost", EventRaised(name="x"))]),
    ]
    assert await store.commit_steps(steps) == [True, True, True]
    got = await claim_all(store)
    assert sorted(got) == ["a", "b"]
    assert [m.event.name for m in got["a"].messages if isinstance(m.event, EventRaised)] == [
        "from-b"]
    assert [m.event.name for m in got["b"].messages if isinstance(m.event, EventRaised)] == [
        "from-a", "to-self"]
    assert await store.next_wakeup() == fire_at
    assert len(await store.claim_activities("w", 10, 30)) == 1
    assert await store.get_instance("ghost") is None


async def test_lost_lease_in_a_batch_drops_only_that_steps_messages(store: Store) -> None:
    for name in ("a", "b"):
        await store.create_instance(new(name))
    items = await claim_all(store)
    await store.release_orchestration("b", items["b"].lock_token)
    stale_b = items["b"]
    fresh = await claim_all(store, worker="w2")
    assert list(fresh) == ["b"]
    steps = [step(items["a"], messages=[Message("b", EventRaised(name="from-a"))]),
             step(stale_b, messages=[Message("a", EventRaised(name="from-stale-b"))])]
    assert await store.commit_steps(steps) == [True, False]
    assert await store.commit_steps([step(fresh["b"])]) == [True]
    got = await claim_all(store, worker="w2")  # the worker that ran b's last step
    assert list(got) == ["b"]  # a got nothing from the stale step
    assert [m.event.name for m in got["b"].messages if isinstance(m.event, EventRaised)] == [
        "from-a"]


async def test_batch_with_a_new_execution_and_a_sub_orchestration(store: Store) -> None:
    for name in ("a", "b"):
        await store.create_instance(new(name))
    items = await claim_all(store)
    restarted = [OrchestratorStarted(), ExecutionStarted(name="orch", input='"2"')]
    steps = [step(items["a"], Status.ContinuedAsNew, history=restarted,
                  new_execution_id="a-2", input='"2"'),
             step(items["b"], start_instances=[new("b-child", "sub", parent_instance_id="b")])]
    assert await store.commit_steps(steps) == [True, True]
    a = await store.get_instance("a")
    assert a is not None and (a.execution_id, a.input, a.history_len) == ("a-2", '"2"', 2)
    assert await store.get_history("a") == restarted
    b = await store.get_instance("b")  # its own execution, stepped in the same batch
    assert b is not None and (b.execution_id, b.runtime_status, b.history_len) == (
        items["b"].instance.execution_id, Status.Running, 2)
    child = await store.get_instance("b-child")
    assert child is not None and child.parent_instance_id == "b"
    assert list(await claim_all(store)) == ["b-child"]


async def test_instance_ids_order_by_code_point(store: Store) -> None:
    when = datetime(2025, 1, 1, tzinfo=UTC)
    ids = ["a", "B", "\u00e9", "Z", "~", "\U0001f600", "\uffef", "aa", "A"]
    for instance_id in ids:
        await store.create_instance(new(instance_id, created_at=when))
    seen: list[str] = []
    query = InstanceQuery(page_size=2)
    while True:
        page = await store.query_instances(query)
        seen += [r.instance_id for r in page.instances]
        if page.continuation_token is None:
            break
        query.continuation_token = page.continuation_token
    assert seen == sorted(ids)  # Python orders str by code point
    page = await store.query_instances(InstanceQuery(instance_id_prefix="\u00e9"))
    assert [r.instance_id for r in page.instances] == ["\u00e9"]
