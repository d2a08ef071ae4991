"""commit_steps: one all-or-nothing transaction per batch, guarded by each step's lease."""

from __future__ import annotations

from perdure.core.history import (
    EventRaised,
    ExecutionCompleted,
    ExecutionStarted,
    FailureDetails,
    OrchestratorStarted,
    SubOrchestrationInstanceFailed,
    TaskScheduled,
    TimerFired,
)
from perdure.core.status import OrchestrationRuntimeStatus as Status
from perdure.store.base import ActivityTask, Message, StepCommit, Store
from perdure.store.clock import Clock

from .helpers import LONG, SHORT, claim_all, claim_one, event_message, new, soon, start, step


async def test_step_updates_instance_and_history(store: Store) -> None:
    await store.create_instance(new("a"))
    item = await claim_one(store, "a")
    first = [OrchestratorStarted(), *(m.event for m in item.messages)]
    assert await store.commit_steps([step(item, history=first, custom_status='"cs"')]) == [True]
    rec = await store.get_instance("a")
    assert rec is not None
    assert (rec.runtime_status, rec.custom_status, rec.history_len) == (
        Status.Running, '"cs"', 2)
    assert rec.updated_at >= rec.created_at

    await store.send_message(event_message("a"), operation="x", allowed=set(Status))
    item = await claim_one(store, "a")
    assert item.instance.history_len == 2
    failure = FailureDetails("ValueError", "boom", "trace")
    second = [OrchestratorStarted(), item.messages[0].event,
              ExecutionCompleted(status="Failed", failure=failure)]
    await store.commit_steps([step(item, Status.Failed, history=second, failure=failure,
                                   output='"out"')])
    rec = await store.get_instance("a")
    assert rec is not None
    assert (rec.runtime_status, rec.output, rec.failure, rec.history_len) == (
        Status.Failed, '"out"', failure, 5)
    assert await store.get_history("a") == first + second
    assert await store.claim_orchestrations("w", 10, LONG) == []  # consumed


async def test_histories_of_several_instances_in_one_read(store: Store) -> None:
    histories = {}
    for instance_id, steps in (("a", 2), ("b", 1), ("c", 0)):
        await store.create_instance(new(instance_id))
        histories[instance_id] = []
        for _ in range(steps):
            if histories[instance_id]:
                await store.send_message(event_message(instance_id), operation="x",
                                         allowed=set(Status))
            item = await claim_one(store, instance_id)
            events = [OrchestratorStarted(), *(m.event for m in item.messages)]
            await store.commit_steps([step(item, history=events)])
            histories[instance_id] += events
    assert len(histories["a"]) == 4 and len(histories["b"]) == 2
    assert await store.get_histories(["c", "a", "b", "unknown"]) == {
        "a": histories["a"], "b": histories["b"], "c": [], "unknown": []}
    assert await store.get_histories([]) == {}


async def test_lost_lease_changes_nothing(store: Store, clock: Clock) -> None:
    await store.create_instance(new("a"))
    await store.create_instance(new("b"))
    items = await claim_all(store, lease=SHORT)
    stale = items["a"]
    await store.release_orchestration("b", items["b"].lock_token)
    clock.advance(SHORT + 1)
    fresh = await claim_all(store)
    assert set(fresh) == {"a", "b"}
    commit = step(stale, Status.Completed, output='"x"',
                  activities=[ActivityTask("a", "e", 1, "act")],
                  messages=[event_message("b")], start_instances=[new("c")])
    assert await store.commit_steps([commit]) == [False]
    rec = await store.get_instance("a")
    assert rec is not None
    assert (rec.runtime_status, rec.output, rec.history_len) == (Status.Pending, None, 0)
    assert await store.get_history("a") == []
    assert await store.claim_activities("w", 10, LONG) == []
    assert await store.get_instance("c") is None
    # The consumed ids were not deleted: the live lease still commits them.
    assert await store.commit_steps([step(fresh["a"]), step(fresh["b"])]) == [True, True]
    assert len(await store.get_history("b")) == 2  # no message from the stale step


async def test_mixed_batch(store: Store) -> None:
    for name in ("a", "b", "c"):
        await store.create_instance(new(name))
    items = await claim_all(store)
    bad = StepCommit("b", "wrong-token", Status.Completed)
    missing = StepCommit("zzz", "t", Status.Completed)
    result = await store.commit_steps([step(items["a"]), bad, missing, step(items["c"])])
    assert result == [True, False, False, True]
    assert await store.commit_steps([]) == []
    rec = await store.get_instance("b")
    assert rec is not None and rec.runtime_status is Status.Pending


async def test_same_lease_twice_in_a_batch_applies_once(store: Store) -> None:
    await store.create_instance(new("a"))
    item = await claim_one(store, "a")
    result = await store.commit_steps([step(item), step(item, Status.Completed)])
    assert result == [True, False]
    rec = await store.get_instance("a")
    assert rec is not None and rec.runtime_status is Status.Running and rec.history_len == 2


async def test_new_execution_replaces_history(store: Store) -> None:
    await start(store, "a")
    await store.send_message(event_message("a"), operation="x", allowed=set(Status))
    item = await claim_one(store, "a")
    fresh = [OrchestratorStarted(), ExecutionStarted(name="orch", input='"again"')]
    await store.commit_steps([step(item, Status.Running, history=fresh,
                                   new_execution_id="exec-2", input='"again"')])
    rec = await store.get_instance("a")
    assert rec is not None
    assert (rec.execution_id, rec.input, rec.history_len) == ("exec-2", '"again"', 2)
    assert await store.get_history("a") == fresh
    # History keeps growing from there.
    await store.send_message(event_message("a"), operation="x", allowed=set(Status))
    item = await claim_one(store, "a")
    assert item.instance.execution_id == "exec-2"
    await store.commit_steps([step(item)])
    history = await store.get_history("a")
    assert history[:2] == fresh and len(history) == 4


async def test_new_execution_without_input_keeps_none(store: Store) -> None:
    await store.create_instance(new("a", input='"first"'))
    item = await claim_one(store, "a")
    await store.commit_steps([step(item, Status.ContinuedAsNew, history=[],
                                   new_execution_id="e2", input=None)])
    rec = await store.get_instance("a")
    assert rec is not None
    assert (rec.execution_id, rec.input, rec.runtime_status) == (
        "e2", None, Status.ContinuedAsNew)


async def test_partial_consumption(store: Store) -> None:
    await start(store, "a")
    for name in ("x", "y"):
        await store.send_message(event_message("a", name), operation="x", allowed=set(Status))
    item = await claim_one(store, "a")
    keep = item.messages[1]
    commit = StepCommit("a", item.lock_token, Status.Running, consumed=[item.messages[0].id],
                        history=[item.messages[0].event])
    assert await store.commit_steps([commit]) == [True]
    item = await claim_one(store, "a")
    assert [m.id for m in item.messages] == [keep.id]


async def test_activities_and_messages_are_created(store: Store) -> None:
    await start(store, "target")
    await store.create_instance(new("a"))
    item = await claim_one(store, "a")
    fire_at = soon(60)
    commit = step(item, history=[OrchestratorStarted(), TaskScheduled(task_id=0, name="act")],
                  activities=[ActivityTask("a", item.instance.execution_id, 0, "act", '"in"')],
                  messages=[Message("target", EventRaised(name="hi"), execution_id="t-exec"),
                            Message("a", TimerFired(task_id=1, fire_at=fire_at),
                                    visible_at=fire_at),
                            Message("ghost", EventRaised(name="lost"))])
    assert await store.commit_steps([commit]) == [True]
    tasks = await store.claim_activities("w", 10, LONG)
    assert [(t.task.instance_id, t.task.execution_id, t.task.task_id, t.task.name,
             t.task.input) for t in tasks] == [("a", item.instance.execution_id, 0, "act",
                                                '"in"')]
    got = await claim_one(store, "target")
    assert [(m.event, m.execution_id) for m in got.messages] == [
        (commit.messages[0].event, "t-exec")]
    assert await store.next_wakeup() == fire_at
    assert await store.get_instance("ghost") is None  # dropped, not created


async def test_start_instances(store: Store) -> None:
    await store.create_instance(new("parent"))
    item = await claim_one(store, "parent")
    child = new("child", "sub", input='"c"', parent_instance_id="parent",
                parent_execution_id=item.instance.execution_id, parent_task_id=0)
    assert await store.commit_steps([step(item, start_instances=[child])]) == [True]
    rec = await store.get_instance("child")
    assert rec is not None
    assert (rec.name, rec.runtime_status, rec.parent_instance_id, rec.input) == (
        "sub", Status.Pending, "parent", '"c"')
    got = await claim_one(store, "child")
    started = got.messages[0].event
    assert isinstance(started, ExecutionStarted)
    assert (started.parent_instance_id, started.parent_task_id) == ("parent", 0)


async def test_start_instance_conflict_enqueues_message(store: Store) -> None:
    await start(store, "child")  # active
    await store.create_instance(new("parent"))
    item = await claim_one(store, "parent")
    failure = FailureDetails("InstanceAlreadyExistsError", "exists")
    conflict = Message("parent", SubOrchestrationInstanceFailed(task_id=0, failure=failure),
                       execution_id=item.instance.execution_id)
    child = new("child", "sub", on_conflict=conflict)
    assert await store.commit_steps([step(item, start_instances=[child])]) == [True]
    rec = await store.get_instance("child")
    assert rec is not None and rec.runtime_status is Status.Running and rec.name == "orch"
    got = await claim_one(store, "parent")
    assert [m.event for m in got.messages] == [conflict.event]


async def test_start_instance_replaces_finished(store: Store) -> None:
    await start(store, "child", Status.Completed)
    await store.create_instance(new("parent"))
    item = await claim_one(store, "parent")
    conflict = Message("parent", EventRaised(name="never"))
    child = new("child", "sub", on_conflict=conflict)
    await store.commit_steps([step(item, start_instances=[child])])
    rec = await store.get_instance("child")
    assert rec is not None and (rec.runtime_status, rec.name) == (Status.Pending, "sub")
    assert await store.get_history("child") == []
    assert list(await claim_all(store)) == ["child"]
