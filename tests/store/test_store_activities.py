"""Activity tasks: claims, leases, completion and renewal."""

from __future__ import annotations

from datetime import timedelta

from perdure.core.history import FailureDetails, OrchestratorStarted, TaskCompleted, TaskFailed
from perdure.core.status import OrchestrationRuntimeStatus as Status
from perdure.store.base import (
    ActivityResult,
    ActivityTask,
    ActivityWorkItem,
    Message,
    StepCommit,
    Store,
    UnclaimedStep,
)
from perdure.store.clock import Clock

from .helpers import LONG, SHORT, claim_all, claim_one, event_message, new, start, step


async def schedule(store: Store, count: int, instance_id: str = "a") -> str:
    """Start ``instance_id`` with ``count`` activity tasks; returns its execution id."""
    await store.create_instance(new(instance_id))
    item = await claim_one(store, instance_id)
    exec_id = item.instance.execution_id
    tasks = [ActivityTask(instance_id, exec_id, i, f"act{i}", f'"{i}"') for i in range(count)]
    assert await store.commit_steps([step(item, activities=tasks)]) == [True]
    return exec_id


def result(work: ActivityWorkItem, value: str = '"ok"') -> ActivityResult:
    task = work.task
    return ActivityResult(work.id, work.lock_token,
                          Message(task.instance_id,
                                  TaskCompleted(task_id=task.task_id, result=value),
                                  execution_id=task.execution_id))


async def test_a_commit_can_lease_its_tasks_to_the_committing_worker(
        store: Store, clock: Clock) -> None:
    await store.create_instance(new("a"))
    item = await claim_one(store, "a")
    exec_id = item.instance.execution_id
    tasks = [ActivityTask("a", exec_id, i, f"act{i}", f'"{i}"') for i in range(3)]
    applied, leased = await store.commit_steps_and_claim(
        [step(item, activities=tasks)], "w1", 2, LONG)
    assert applied == [True]
    assert [(w.task, w.attempts) for w in leased] == [(tasks[0], 1), (tasks[1], 1)]
    assert len({w.lock_token for w in leased}) == 2
    # The third is left for any worker; the leased two are not claimable.
    rest = await store.claim_activities("w2", 10, LONG)
    assert [w.task for w in rest] == [tasks[2]]
    assert await store.claim_activities("w3", 10, LONG) == []
    # A leased task completes with its token like a claimed one.
    assert await store.complete_activities([result(leased[0])]) == [True]
    assert await store.complete_activities([result(leased[0])]) == [False]
    # Its lease expires like a claim's: another worker then takes it (a second attempt).
    await store.renew_activity_leases([(leased[1].id, leased[1].lock_token)], SHORT)
    clock.advance(SHORT - 1)
    assert await store.claim_activities("w4", 10, LONG) == []  # not yet
    clock.advance(2)
    again = await store.claim_activities("w4", 10, LONG)
    assert [(w.task, w.attempts) for w in again] == [(tasks[1], 2)]


async def test_a_commit_leases_nothing_without_room_or_without_its_lease(
        store: Store, clock: Clock) -> None:
    await store.create_instance(new("a"))
    item = await claim_one(store, "a")
    task = ActivityTask("a", item.instance.execution_id, 0, "act", None)
    assert await store.commit_steps_and_claim([step(item, activities=[task])], "w1", 0,
                                              LONG) == ([True], [])
    assert [w.task for w in await store.claim_activities("w2", 10, LONG)] == [task]
    await store.create_instance(new("b"))
    stale = await claim_one(store, "b", lease=SHORT)
    clock.advance(SHORT + 1)
    await claim_one(store, "b")  # taken over: the stale step cannot commit
    other = ActivityTask("b", stale.instance.execution_id, 0, "act", None)
    assert await store.commit_steps_and_claim([step(stale, activities=[other])], "w1", 10,
                                              LONG) == ([False], [])
    assert await store.claim_activities("w2", 10, LONG) == []


async def test_claims_are_exclusive_and_limited(store: Store) -> None:
    exec_id = await schedule(store, 3)
    first = await store.claim_activities("w1", 2, LONG)
    second = await store.claim_activities("w2", 2, LONG)
    assert [len(first), len(second)] == [2, 1]
    assert await store.claim_activities("w3", 2, LONG) == []
    everything = first + second
    assert sorted(w.task.task_id for w in everything) == [0, 1, 2]
    assert len({w.id for w in everything}) == 3
    assert all(w.attempts == 1 and w.lock_token for w in everything)
    assert [w.task.task_id for w in first] == [0, 1]  # oldest first
    work = first[0]
    assert (work.task.instance_id, work.task.execution_id, work.task.name, work.task.input) == (
        "a", exec_id, "act0", '"0"')
    assert await store.claim_activities("w", 0, LONG) == []


async def test_activity_and_orchestration_queues_are_separate(store: Store) -> None:
    await schedule(store, 1)
    assert await store.claim_orchestrations("w", 10, LONG) == []
    assert len(await store.claim_activities("w", 10, LONG)) == 1


async def test_completion_delivers_the_message(store: Store) -> None:
    exec_id = await schedule(store, 2)
    works = await store.claim_activities("w", 10, LONG)
    failure = FailureDetails("KeyError", "k")
    failed = ActivityResult(works[1].id, works[1].lock_token,
                            Message("a", TaskFailed(task_id=1, failure=failure), exec_id))
    done = result(works[0])
    assert await store.complete_activities([done, failed]) == [True, True]
    assert await store.complete_activities([]) == []
    item = await claim_one(store, "a")
    assert [m.event for m in item.messages] == [done.message.event, failed.message.event]
    assert all(m.execution_id == exec_id for m in item.messages)
    assert await store.claim_activities("w", 10, LONG) == []  # deleted


async def test_expired_lease_reclaimed_and_stale_completion_refused(
        store: Store, clock: Clock) -> None:
    await schedule(store, 1)
    [stale] = await store.claim_activities("w1", 10, SHORT)
    clock.advance(SHORT + 1)
    [fresh] = await store.claim_activities("w2", 10, LONG)
    assert fresh.id == stale.id and fresh.attempts == 2 and fresh.lock_token != stale.lock_token
    assert await store.complete_activities([result(stale, '"stale"')]) == [False]
    assert await store.claim_orchestrations("w", 10, LONG) == []  # nothing delivered
    assert await store.complete_activities([result(fresh, '"fresh"')]) == [True]
    item = await claim_one(store, "a")
    [msg] = item.messages
    assert isinstance(msg.event, TaskCompleted) and msg.event.result == '"fresh"'


async def test_duplicate_completion_in_a_batch_applies_once(store: Store) -> None:
    await schedule(store, 1)
    [work] = await store.claim_activities("w", 10, LONG)
    assert await store.complete_activities([result(work), result(work)]) == [True, False]
    assert await store.complete_activities([result(work)]) == [False]
    item = await claim_one(store, "a")
    assert len(item.messages) == 1


async def test_completion_for_a_purged_instance(store: Store) -> None:
    await schedule(store, 1)
    [work] = await store.claim_activities("w", 10, LONG)
    # The instance finishes (e.g. terminated) and is purged with its tasks.
    await store.send_message(Message("a", TaskCompleted(task_id=7)), operation="x",
                             allowed=set(Status))
    item = await claim_one(store, "a")
    await store.commit_steps([step(item, Status.Terminated)])
    assert await store.purge_instance("a")
    assert await store.complete_activities([result(work)]) == [False]
    assert await store.get_instance("a") is None


async def test_completion_message_to_a_missing_instance_is_dropped(store: Store) -> None:
    await schedule(store, 1)
    [work] = await store.claim_activities("w", 10, LONG)
    orphan = ActivityResult(work.id, work.lock_token, Message("ghost", TaskCompleted(task_id=0)))
    assert await store.complete_activities([orphan]) == [True]
    assert await store.get_instance("ghost") is None
    assert await store.claim_activities("w", 10, LONG) == []


async def test_renewal_keeps_the_lease(store: Store, clock: Clock) -> None:
    await schedule(store, 2)
    kept, lost = await store.claim_activities("w1", 10, SHORT)
    await store.renew_activity_leases([(kept.id, kept.lock_token), (lost.id, "wrong")], LONG)
    await store.renew_activity_leases([], LONG)
    clock.advance(SHORT + 1)
    reclaimed = await store.claim_activities("w2", 10, LONG)
    assert [w.id for w in reclaimed] == [lost.id]
    assert await store.complete_activities([result(kept)]) == [True]


async def test_running_instance_with_tasks_is_not_claimable(store: Store) -> None:
    await start(store, "a", activities=[ActivityTask("a", "e", 0, "act")])
    assert await store.claim_orchestrations("w", 10, LONG) == []


async def test_results_are_handed_over_with_a_lease_or_delivered_to_the_inbox(
        store: Store, clock: Clock) -> None:
    """complete_activities_and_claim: a leasable instance comes back with its result
    (the task kept until the consuming step commits); a leased one gets it in its inbox."""
    await schedule(store, 1, "a")
    await schedule(store, 1, "b")
    works = {w.task.instance_id: w for w in await store.claim_activities("w1", 10, LONG)}
    await store.send_message(event_message("a"), operation="raise event", allowed=set(Status))
    held = await claim_one(store, "a")  # "a" is leased elsewhere: its result goes to the inbox
    res_a, res_b = result(works["a"]), result(works["b"])
    stale = ActivityResult(works["b"].id, "not-the-token", res_b.message)
    applied, items = await store.complete_activities_and_claim([res_a, res_b, stale], "w1", LONG)
    assert applied == [True, True, False]
    if not items:  # a store may hand over nothing: then both results are in inboxes
        assert await store.commit_steps([step(held)]) == [True]
        got = await claim_all(store)
        assert sorted(got) == ["a", "b"]
        return
    assert [item.instance.instance_id for item in items] == ["b"]
    (handed,) = items[0].messages
    assert handed.id == -works["b"].id
    assert handed.event == res_b.message.event
    # The handed-over task stays under the activity's lease until its step commits.
    assert await store.claim_activities("w2", 10, LONG) == []
    assert await store.commit_steps([step(items[0])]) == [True]
    assert await store.complete_activities([res_b]) == [False]  # task gone
    history = await store.get_history("b")
    assert history[-1] == res_b.message.event
    # "a" got its result as an inbox message once its own step released it.
    assert await store.commit_steps([step(held)]) == [True]
    (again,) = (await claim_all(store)).values()
    assert [m.event for m in again.messages] == [res_a.message.event]
    assert all(m.id > 0 for m in again.messages)


async def test_a_handed_over_result_whose_step_never_commits_runs_again(
        store: Store, clock: Clock) -> None:
    await schedule(store, 1, "a")
    (work,) = await store.claim_activities("w1", 10, SHORT)
    _, items = await store.complete_activities_and_claim([result(work)], "w1", SHORT)
    if not items:
        return  # delivered to the inbox: nothing is held in anyone's memory
    # The worker dies before its step commits: both leases expire, and the
    # activity (whose task is still there) runs again; its result is delivered.
    clock.advance(SHORT + 1)
    (rerun,) = await store.claim_activities("w2", 10, LONG)
    assert (rerun.id, rerun.attempts) == (work.id, 2)
    done = result(rerun)
    assert await store.complete_activities([done]) == [True]
    (item,) = (await claim_all(store, worker="w2")).values()
    assert [m.event for m in item.messages] == [done.message.event]


def unclaimed(store_result: ActivityResult, execution_id: str, history_len: int,
              **kwargs: object) -> UnclaimedStep:
    """The next step of an instance, run without a claim on ``store_result``."""
    commit = StepCommit(store_result.message.instance_id, "", Status.Running,
                        consumed=[-store_result.id],
                        history=[OrchestratorStarted(), store_result.message.event],
                        **kwargs)  # type: ignore[arg-type]
    return UnclaimedStep(commit, execution_id, history_len, [store_result])


async def test_a_step_run_without_a_claim_applies_only_where_a_claim_would_have_let_it(
        store: Store, clock: Clock) -> None:
    """commit_unclaimed_steps: the step applies only on the instance as it ran on it
    (unleased, its execution and history length, nothing visible in its inbox) and
    with its results' tasks still under their leases; otherwise nothing changes."""
    ids = ("fits", "late", "other_run", "stale", "busy", "held")
    executions = {iid: await schedule(store, 1, iid) for iid in ids}
    works = {w.task.instance_id: w for w in await store.claim_activities("w1", 10, LONG)}
    lengths = {iid: (await store.get_instance(iid)).history_len for iid in ids}
    await store.send_message(event_message("held"), operation="raise event",
                             allowed=set(Status))
    held = await claim_one(store, "held")
    await store.send_message(event_message("busy"), operation="raise event",
                             allowed=set(Status))
    later = clock.now() + timedelta(seconds=60)  # a timer not due yet blocks nothing
    await store.send_message(event_message("fits", visible_at=later), operation="timer",
                             allowed=set(Status))
    results = {iid: result(works[iid]) for iid in ids}
    steps = {iid: unclaimed(results[iid], executions[iid], lengths[iid]) for iid in ids}
    steps["late"].history_len += 1
    steps["other_run"].execution_id = "another"
    stale = ActivityResult(works["stale"].id, "not-the-token", results["stale"].message)
    steps["stale"] = unclaimed(stale, executions["stale"], lengths["stale"])
    task = ActivityTask("fits", executions["fits"], 1, "act1", '"1"')
    steps["fits"].commit.activities.append(task)
    applied, leased = await store.commit_unclaimed_steps(
        [steps[iid] for iid in ids], "w1", 5, LONG)
    if not store.commits_unclaimed_steps:
        assert (applied, leased) == ([False] * len(ids), [])
    else:
        assert applied == [True, False, False, False, False, False]
        assert [(w.task, w.attempts) for w in leased] == [(task, 1)]
        history = await store.get_history("fits")
        assert history[-1] == results["fits"].message.event
        fits = await store.get_instance("fits")
        assert fits.history_len == lengths["fits"] + 2
        assert await store.complete_activities([results["fits"]]) == [False]  # done
    for iid in ids[1:]:  # those that did not apply changed nothing
        assert (await store.get_instance(iid)).history_len == lengths[iid]
    assert await store.complete_activities([results[iid] for iid in ids[1:]]) == \
        [True] * (len(ids) - 1)
    assert await store.commit_steps([step(held)]) == [True]  # its lease held throughout
