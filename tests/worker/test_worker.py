"""Worker behaviour: replay path, durable timers across restarts, nondeterminism, poison work."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest
import scenarios
from scenarios import app, eventually

import perdure
from perdure import OrchestrationRuntimeStatus as S
from perdure.core.history import TimerCreated
from perdure.store.base import ActivityTask, Message, OrchestrationWorkItem, StepCommit


async def test_replay_path_without_cache_gives_the_same_results(hub_factory):
    """cache_mb=0 rebuilds every executor from history at every step."""
    hub = await hub_factory(app, cache_mb=0)
    ids = {
        await hub.client.start_new("hello_sequence"): ["Hello Tokyo!", "Hello Seattle!",
                                                       "Hello London!"],
        await hub.client.start_new("fan_out", input=50): sum(2 * i for i in range(50)),
        await hub.client.start_new("counter", input=0): 3,
        await hub.client.start_new("parent", input="hello_sequence"): None,
    }
    for iid, expected in ids.items():
        done = await hub.client.wait_for_completion(iid, 20)
        assert done.runtime_status is S.Completed, done.output
        if expected is not None:
            assert done.output == expected
    await hub.client.start_new("wait_event", "ev")
    await hub.client.raise_event("ev", "go", 1)
    await hub.client.raise_event("ev", "go", 2)
    assert (await hub.client.wait_for_completion("ev", 10)).output == [1, 2]


async def test_durable_timer_fires_after_restart(hub_factory):
    hub = await hub_factory(app)
    iid = await hub.client.start_new("wait_timer", input=3600)

    async def running() -> bool:
        status = await hub.client.get_status(iid)
        return status is not None and status.runtime_status is S.Running
    await eventually(running)
    await hub.worker.stop()
    [timer] = [e for e in await hub.store.get_history(iid) if isinstance(e, TimerCreated)]
    # The timer comes due while nothing runs.
    hub.clock.advance(timer.fire_at - hub.clock.now() + timedelta(seconds=1))
    assert (await hub.client.get_status(iid)).runtime_status is S.Running
    await hub.restart_worker()
    assert (await hub.client.wait_for_completion(iid, 5)).output == "fired"


async def test_advancing_the_clock_fires_a_timer_without_waiting_for_a_poll(hub_factory):
    hub = await hub_factory(app, poll_interval=60)
    iid = await hub.client.start_new("wait_timer", input=3600)

    async def waiting() -> bool:
        history = await hub.store.get_history(iid)
        return any(isinstance(e, TimerCreated) for e in history)
    await eventually(waiting)
    hub.clock.advance(3599)
    with pytest.raises(perdure.OrchestrationTimeoutError):  # not yet
        await hub.client.wait_for_completion(iid, 0.3)
    hub.clock.advance(2)
    assert (await hub.client.wait_for_completion(iid, 5)).output == "fired"


class SlowClaims:
    """A store whose orchestration claims return late: the database has leased the
    work before the caller hears of it, as when a claim is in flight."""

    def __init__(self, store: perdure.Store) -> None:
        self._store = store
        self.claiming = asyncio.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    # Starts reach the worker by its claims, the path these tests slow down.
    def take_starts(self, taker: object) -> None:
        pass

    def stop_taking_starts(self, taker: object) -> None:
        pass

    async def claim_orchestrations(self, *args: object, **kwargs: object,
                                   ) -> list[OrchestrationWorkItem]:
        items = await self._store.claim_orchestrations(*args, **kwargs)  # type: ignore[arg-type]
        if items:
            self.claiming.set()
            await asyncio.sleep(0.3)
        return items


async def stop_while_leasing(hub, slow: SlowClaims) -> None:
    """Stop the hub's worker (now on ``slow``) while ``slow`` is leasing an instance to it;
    a restarted worker must finish the instance at once, not after a stranded lease."""
    await hub.worker.stop()
    hub.worker = perdure.Worker(app, slow, client=hub.client)  # type: ignore[arg-type]
    await hub.worker.start()
    iid = await hub.client.start_new("hello_sequence")
    await asyncio.wait_for(slow.claiming.wait(), 5)
    await hub.worker.stop()  # what is in flight finishes; its step commits or is released
    await hub.restart_worker()  # leases are 30 s: a stranded one would outlast the wait
    assert (await hub.client.wait_for_completion(iid, 5)).runtime_status is S.Completed


async def test_stopping_during_a_claim_leaves_nothing_leased_to_the_stopped_worker(hub_factory):
    hub = await hub_factory(app)
    await stop_while_leasing(hub, SlowClaims(hub.store))


class SlowHandOver(SlowClaims):
    """A store whose hand-over of activity results returns late (SQLite's leases the
    instances before the caller hears of it)."""

    commits_unclaimed_steps = False  # every result is handed over by a claim

    async def claim_orchestrations(self, *args: object, **kwargs: object,
                                   ) -> list[OrchestrationWorkItem]:
        return await self._store.claim_orchestrations(*args, **kwargs)  # type: ignore[arg-type]

    async def complete_activities_and_claim(self, *args: object, **kwargs: object) -> object:
        applied, items = await self._store.complete_activities_and_claim(  # type: ignore[attr-defined]
            *args, **kwargs)
        if items:
            self.claiming.set()
            await asyncio.sleep(0.3)
        return applied, items


async def test_stopping_during_a_hand_over_leaves_nothing_leased_to_the_stopped_worker(
        hub_factory):
    hub = await hub_factory(app)
    if not hub.store.url.startswith("sqlite"):
        pytest.skip("only SQLite hands results over")
    await stop_while_leasing(hub, SlowHandOver(hub.store))


v1 = perdure.App()
v2 = perdure.App()


@v1.activity
@v2.activity
def step(x: str) -> str:
    return x


@v2.activity
def other(x: str) -> str:
    return x


@v1.orchestrator(name="evolving")
def evolving_v1(ctx: perdure.OrchestrationContext):
    yield ctx.call_activity("step", "a")
    yield ctx.wait_for_external_event("go")
    return "v1"


@v2.orchestrator(name="evolving")
def evolving_v2(ctx: perdure.OrchestrationContext):
    yield ctx.call_activity("other", "a")  # changed: a different activity at position 0
    yield ctx.wait_for_external_event("go")
    return "v2"


async def test_changed_code_fails_with_nondeterminism_error(hub_factory):
    hub = await hub_factory(v1, cache_mb=0)
    await hub.client.start_new("evolving", "nd")

    async def waiting() -> bool:
        history = (await hub.client.get_status("nd", show_history=True)).history
        return any(e["EventType"] == "TaskCompleted" for e in history)
    await eventually(waiting)
    await hub.restart_worker(v2)
    await hub.client.raise_event("nd", "go")
    failed = await hub.client.wait_for_completion("nd", 10)
    assert failed.runtime_status is S.Failed
    assert failed.failure_details.error_type == "NonDeterminismError"
    message = failed.failure_details.message
    assert "position 0" in message and "'step'" in message and "'other'" in message


async def test_poison_activity_fails_the_instance(hub_factory, db_url):
    """An activity claimed past the attempt limit (its workers kept dying) fails clearly."""
    hub = await hub_factory(app, max_attempts=2)
    await hub.worker.stop()
    iid = await hub.client.start_new("catches_failure")
    store = hub.store
    # Play the first step by hand, then claim the activity repeatedly as crashed workers would.
    [item] = await store.claim_orchestrations("test", 1, 5)
    executor = perdure.core.OrchestrationExecutor(app.get_orchestrator("catches_failure"), iid)
    from perdure.core.history import utcnow
    from perdure.worker.step import build_step, current_events
    outcome = build_step(item, executor, current_events(item), utcnow(), lambda _n: True)
    assert await store.commit_steps([outcome.commit]) == [True]
    for _ in range(3):
        assert len(await store.claim_activities("crashed", 1, 5)) == 1
        hub.clock.advance(6)
    await hub.restart_worker(max_attempts=2)
    done = await hub.client.wait_for_completion(iid, 10)
    assert done.output["type"] == "PoisonMessageError"


async def test_poison_orchestration_fails_the_instance(hub_factory):
    hub = await hub_factory(app, max_attempts=2)
    await hub.worker.stop()
    iid = await hub.client.start_new("hello_sequence")
    for _ in range(3):  # three workers claimed it and died before committing
        [item] = await hub.store.claim_orchestrations("crashed", 1, 5)
        hub.clock.advance(6)
    await hub.restart_worker(max_attempts=2)
    failed = await hub.client.wait_for_completion(iid, 10)
    assert failed.runtime_status is S.Failed
    assert failed.failure_details.error_type == "PoisonMessageError"


async def test_stale_lease_cannot_commit(hub_factory):
    hub = await hub_factory(app)
    await hub.worker.stop()
    iid = await hub.client.start_new("hello_sequence")
    [stale] = await hub.store.claim_orchestrations("paused", 1, 5)
    assert await hub.store.claim_orchestrations("other", 1, 5) == []
    # Once the stale lease expired (and, on PostgreSQL, the instance's affinity to
    # "paused" ran out), another worker claims it.
    hub.clock.advance(6)
    [fresh] = await hub.store.claim_orchestrations("other", 1, 5)
    commit = StepCommit(iid, stale.lock_token, S.Completed, [m.id for m in stale.messages],
                        activities=[ActivityTask(iid, stale.instance.execution_id, 0, "x")],
                        messages=[Message(iid, perdure.core.history.EventRaised(name="x"))])
    assert await hub.store.commit_steps([commit]) == [False]
    assert (await hub.client.get_status(iid)).runtime_status is S.Pending
    assert await hub.store.claim_activities("any", 10, 5) == []
    await hub.store.release_orchestration(iid, fresh.lock_token)
    await hub.restart_worker()
    assert (await hub.client.wait_for_completion(iid, 10)).runtime_status is S.Completed


async def test_worker_stop_keeps_unfinished_work(hub_factory):
    hub = await hub_factory(app)
    scenarios.release.clear()
    iid = await hub.client.start_new("wait_activity")

    async def activity_running() -> bool:
        history = (await hub.client.get_status(iid, show_history=True)).history
        return any(e["EventType"] == "TaskScheduled" for e in history)
    await eventually(activity_running)
    await asyncio.sleep(0.05)
    scenarios.release.set()
    await hub.restart_worker()
    hub.clock.advance(31)  # the stopped worker's lease on the task expires
    assert (await hub.client.wait_for_completion(iid, 10)).output == "released"
    _ = timedelta


graceful = perdure.App()
_release = threading.Event()
_started = threading.Event()


@graceful.activity
def slow_echo(x: str) -> str:
    _started.set()
    _release.wait(10)
    return x


async def started() -> bool:
    return _started.is_set()


@graceful.orchestrator
def one_slow(ctx: perdure.OrchestrationContext):
    return (yield ctx.call_activity("slow_echo", ctx.get_input()))


async def test_stop_delivers_an_activity_that_finishes_within_the_grace(hub_factory):
    _release.clear()
    _started.clear()
    hub = await hub_factory(graceful, shutdown_grace=5.0)
    iid = await hub.client.start_new("one_slow", input="kept")
    await eventually(started)
    threading.Timer(0.3, _release.set).start()
    await hub.worker.stop()  # waits for the activity, delivers its result
    await hub.restart_worker()
    assert (await hub.client.wait_for_completion(iid, 60)).output == "kept"


async def test_an_activity_outlasting_the_grace_runs_again_elsewhere(hub_factory):
    _release.clear()
    _started.clear()
    hub = await hub_factory(graceful, shutdown_grace=0.2)
    iid = await hub.client.start_new("one_slow", input="rerun")
    await eventually(started)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await hub.worker.stop()  # gives up after the grace: the result is not delivered
    assert loop.time() - began < 2.0
    _release.set()  # the abandoned call returns now, to a stopped worker
    await asyncio.sleep(0.1)
    status = await hub.client.get_status(iid)
    assert status.runtime_status is S.Running
    _started.clear()
    await hub.restart_worker()
    hub.clock.advance(31)  # the abandoned task's lease expires: the new worker takes it
    assert (await hub.client.wait_for_completion(iid, 10)).output == "rerun"
    assert _started.is_set()


async def test_a_commit_that_fails_does_not_leave_an_advanced_executor_behind(hub_factory):
    """A step runs on the executor kept in memory, which the step advances; if the commit
    then fails (a database outage), that executor is ahead of the history and must not
    be reused: the retried step must schedule the activity again."""
    hub = await hub_factory(app)
    store = hub.store
    failures = []

    def failing_once(real):  # the step that schedules the second activity fails
        async def fail_once(steps, *args):
            commits = [getattr(step, "commit", step) for step in steps]
            if not failures and any(task.task_id == 1 for c in commits for task in c.activities):
                failures.append(steps)
                raise OSError("the database went away")
            return await real(steps, *args)
        return fail_once

    # The step runs on the activity's result without a claim where the store can.
    store.commit_steps_and_claim = failing_once(store.commit_steps_and_claim)  # type: ignore[method-assign]
    store.commit_unclaimed_steps = failing_once(store.commit_unclaimed_steps)  # type: ignore[method-assign]
    iid = await hub.client.start_new("hello_sequence")

    async def injected() -> bool:
        return bool(failures)
    await eventually(injected)
    hub.clock.advance(31)  # the failed step's lease expires: it is claimed again
    done = await hub.client.wait_for_completion(iid, 20)
    assert done.runtime_status is S.Completed
    assert done.output == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    history = await store.get_history(iid)
    scheduled = [e.task_id for e in history if type(e).__name__ == "TaskScheduled"]
    assert scheduled == [0, 1, 2]


async def test_a_handed_over_result_whose_step_does_not_commit_goes_to_the_inbox(hub_factory):
    """A finished activity's result goes straight to its instance's next step when the
    store can lease the instance to this worker; if that step does not commit (its lease
    was lost), the result is delivered to the inbox instead, not dropped."""
    hub = await hub_factory(app)
    store = hub.store
    store.commits_unclaimed_steps = False  # type: ignore[misc] - results go by claims
    real = store.commit_steps_and_claim
    dropped: list[StepCommit] = []

    async def lose_the_first_handed_over(steps, *args):
        if not dropped:
            handed = [s for s in steps if any(msg_id < 0 for msg_id in s.consumed)]
            if handed:
                dropped.extend(handed)
                applied, tasks = await real([s for s in steps if s not in handed], *args)
                flags = iter(applied)
                return [False if s in handed else next(flags) for s in steps], tasks
        return await real(steps, *args)

    store.commit_steps_and_claim = lose_the_first_handed_over  # type: ignore[method-assign]
    iid = await hub.client.start_new("hello_sequence")
    if store.url.startswith("sqlite"):  # PostgreSQL hands nothing over
        async def injected() -> bool:
            return bool(dropped)
        await eventually(injected)
        hub.clock.advance(31)  # the lease the uncommitted step held expires
    done = await hub.client.wait_for_completion(iid, 20)
    assert done.output == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    history = await store.get_history(iid)
    completed = [e.task_id for e in history if type(e).__name__ == "TaskCompleted"]
    assert completed == [0, 1, 2]


exiting = perdure.App()


@exiting.activity
def calls_exit(_: object) -> None:
    raise SystemExit(3)


@exiting.orchestrator
def exit_in_activity(ctx: perdure.OrchestrationContext):
    try:
        yield ctx.call_activity("calls_exit", None)
    except perdure.TaskFailedError as exc:
        return str(exc)
    return "not failed"


async def test_an_activity_raising_system_exit_fails_its_task_only(hub_factory):
    hub = await hub_factory(exiting)
    iid = await hub.client.start_new("exit_in_activity")
    done = await hub.client.wait_for_completion(iid, 10)
    assert done.runtime_status is S.Completed
    assert "SystemExit" in done.output
    assert not hub.worker._running  # its slot (and its lease renewal) are freed


class CountingClaims:
    """A store that counts the instances the worker's claims return."""

    def __init__(self, store: perdure.Store) -> None:
        self._store = store
        self.claimed: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def claim_orchestrations(self, *args: object, **kwargs: object,
                                   ) -> list[OrchestrationWorkItem]:
        items = await self._store.claim_orchestrations(*args, **kwargs)  # type: ignore[arg-type]
        self.claimed += [item.instance.instance_id for item in items]
        return items


async def until_idle(worker: perdure.Worker) -> None:
    """Until the worker's orchestration loop waits for work (and would take a start)."""
    async def idle() -> bool:
        return worker._claims_idle
    await eventually(idle)


async def idle_worker(hub, store: perdure.Store | None = None) -> perdure.Worker:
    """The hub's worker, restarted on ``store``, once its orchestration loop waits."""
    await hub.worker.stop()
    hub.worker = perdure.Worker(hub.app, store or hub.store, client=hub.client)
    await hub.worker.start()
    await until_idle(hub.worker)
    return hub.worker


@pytest.mark.sqlite_only
async def test_an_idle_worker_runs_a_start_of_its_process_without_claiming_it(hub_factory):
    hub = await hub_factory(app)
    counting = CountingClaims(hub.store)
    worker = await idle_worker(hub, counting)  # type: ignore[arg-type]
    for _ in range(3):  # each start finds the worker idle again
        iid = await hub.client.start_new("hello_sequence")
        done = await hub.client.wait_for_completion(iid, 10)
        assert done.output == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
        await until_idle(worker)
    # Its results were handed over too: no claim took any of them.
    assert counting.claimed == []


@pytest.mark.sqlite_only
async def test_a_burst_of_starts_hands_over_one_and_claims_the_rest_in_order(hub_factory):
    hub = await hub_factory(app)
    counting = CountingClaims(hub.store)
    await idle_worker(hub, counting)  # type: ignore[arg-type]
    ids = [await hub.client.start_new("hello_sequence") for _ in range(20)]
    for iid in ids:
        assert (await hub.client.wait_for_completion(iid, 20)).runtime_status is S.Completed
    assert counting.claimed == ids[1:]


@pytest.mark.sqlite_only
async def test_stopping_with_a_start_handed_over_leaves_it_claimable_at_once(hub_factory):
    hub = await hub_factory(app)
    worker = await idle_worker(hub)
    iid = await hub.client.start_new("hello_sequence")
    assert [item.instance.instance_id for item in worker._started] == [iid]
    await worker.stop()  # before its loop ran the start
    await hub.restart_worker()  # leases are 30 s: a stranded one would outlast the wait
    assert (await hub.client.wait_for_completion(iid, 5)).runtime_status is S.Completed


class CountingHandOvers:
    """A store that counts the results handed over by claims and the steps applied
    without one."""

    def __init__(self, store: perdure.Store) -> None:
        self._store = store
        self.by_claim = 0
        self.unclaimed = 0
        self.declined = 0
        self.claims_paused = False  # claim_orchestrations finds nothing meanwhile

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def claim_orchestrations(self, *args: object, **kwargs: object,
                                   ) -> list[OrchestrationWorkItem]:
        if self.claims_paused:
            return []
        return await self._store.claim_orchestrations(*args, **kwargs)  # type: ignore[arg-type]

    async def complete_activities_and_claim(self, *args: object, **kwargs: object) -> object:
        applied, items = await self._store.complete_activities_and_claim(  # type: ignore[attr-defined]
            *args, **kwargs)
        self.by_claim += sum(1 for item in items for m in item.messages if m.id < 0)
        return applied, items

    async def commit_unclaimed_steps(self, *args: object, **kwargs: object) -> object:
        applied, tasks = await self._store.commit_unclaimed_steps(  # type: ignore[attr-defined]
            *args, **kwargs)
        self.unclaimed += sum(applied)
        self.declined += len(applied) - sum(applied)
        return applied, tasks


async def counting_worker(hub, app_: perdure.App) -> CountingHandOvers:
    await hub.worker.stop()
    counting = CountingHandOvers(hub.store)
    hub.worker = perdure.Worker(app_, counting, client=hub.client)  # type: ignore[arg-type]
    await hub.worker.start()
    return counting


async def test_an_activity_result_steps_its_instance_without_a_claim(hub_factory):
    """The result of an activity this worker ran goes to its instance's next step on the
    executor the worker kept, committed without claiming the instance first."""
    hub = await hub_factory(app)
    counting = await counting_worker(hub, app)
    iid = await hub.client.start_new("hello_sequence")
    done = await hub.client.wait_for_completion(iid, 10)
    assert done.output == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    if hub.store.commits_unclaimed_steps:
        assert (counting.unclaimed, counting.by_claim) == (3, 0)
    else:
        assert counting.unclaimed == 0


@graceful.orchestrator
def slow_then_event(ctx: perdure.OrchestrationContext):
    first = yield ctx.call_activity("slow_echo", "through")
    second = yield ctx.wait_for_external_event("go")
    return [first, second]


async def test_a_message_that_arrived_during_the_activity_makes_its_result_go_by_a_claim(
        hub_factory):
    """A step without a claim would leave the instance's inbox for later: it does not
    apply, and the result goes by a claim that takes the message too, in one step."""
    _release.clear()
    _started.clear()
    hub = await hub_factory(graceful)
    counting = await counting_worker(hub, graceful)
    iid = await hub.client.start_new("slow_then_event")
    await eventually(started)
    counting.claims_paused = True  # the event waits in the inbox for the result
    await hub.client.raise_event(iid, "go", "event")
    _release.set()

    async def declined() -> bool:
        return counting.declined > 0
    await eventually(declined)
    counting.claims_paused = False  # a store that hands nothing over delivers, then claims
    done = await hub.client.wait_for_completion(iid, 10)
    assert done.output == ["through", "event"]
    assert counting.unclaimed == 0
    history = await hub.store.get_history(iid)
    kinds = [type(e).__name__ for e in history]
    if hub.store.url.startswith("sqlite"):  # the result is handed over with the event:
        # one step takes both (the event first: the claim reads the inbox, then the result)
        assert kinds == ["OrchestratorStarted", "ExecutionStarted", "TaskScheduled",
                         "OrchestratorStarted", "EventRaised", "TaskCompleted",
                         "ExecutionCompleted"]
    else:  # the result went to the inbox too, whence claims take both
        assert kinds.count("EventRaised") == kinds.count("TaskCompleted") == 1
