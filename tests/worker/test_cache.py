"""The executor cache: bounded by estimated memory, finished instances evicted at once."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import scenarios
from scenarios import app, eventually

import perdure
from perdure import OrchestrationRuntimeStatus as S
from perdure.core.executor import OrchestrationExecutor
from perdure.core.history import ExecutionStarted, OrchestratorStarted, TaskCompleted
from perdure.store.base import OrchestrationWorkItem, VersionFilter
from perdure.worker.cache import (
    EVENT_BYTES,
    EXECUTOR_BYTES,
    PAYLOAD_FACTOR,
    STEPPING,
    ExecutorCache,
    payload_bytes,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def executor(instance_id: str) -> OrchestrationExecutor:
    return OrchestrationExecutor(scenarios.hello_sequence, instance_id)


def result(text: str) -> TaskCompleted:
    return TaskCompleted(timestamp=NOW, task_id=0, result=json.dumps(text))


def step(cache: ExecutorCache, instance_id: str, *events: TaskCompleted) -> None:
    entry = cache.get(instance_id)
    cache.begin_step(instance_id, entry.executor if entry else executor(instance_id), "e")
    cache.committed(instance_id, 5, [OrchestratorStarted(timestamp=NOW), *events])


def test_payload_bytes_counts_values_and_events() -> None:
    text = json.dumps("x" * 100)
    assert payload_bytes([]) == 0
    assert payload_bytes([OrchestratorStarted(timestamp=NOW)]) == EVENT_BYTES
    assert payload_bytes([result("x" * 100)]) == EVENT_BYTES + PAYLOAD_FACTOR * len(text)
    started = ExecutionStarted(timestamp=NOW, name="n", input=text)
    assert payload_bytes([started]) == EVENT_BYTES + PAYLOAD_FACTOR * len(text)


def test_the_budget_bounds_the_estimated_size_not_the_count() -> None:
    one = EXECUTOR_BYTES + EVENT_BYTES
    cache = ExecutorCache(budget_bytes=10 * one)
    for i in range(25):
        step(cache, f"i{i}")
        assert cache.size <= cache.budget_bytes
    assert len(cache) == 10
    # The least recently stepped went first.
    assert [f"i{i}" in cache for i in range(25)] == [False] * 15 + [True] * 10
    # One heavy executor takes the room of several light ones.
    step(cache, "heavy", result("x" * (4 * one // PAYLOAD_FACTOR)))
    heavy = cache.get("heavy")
    assert heavy is not None and heavy.size > 4 * one
    assert len(cache) - 1 == (cache.budget_bytes - heavy.size) // one < 6
    assert cache.size == heavy.size + (len(cache) - 1) * one <= cache.budget_bytes


def test_a_step_moves_an_entry_to_the_end_and_adds_its_events() -> None:
    cache = ExecutorCache(budget_bytes=3 * (EXECUTOR_BYTES + 2 * EVENT_BYTES))
    for name in ("a", "b", "c"):
        step(cache, name)
    step(cache, "a")  # a: two steps' events now, and the most recent
    entry = cache.get("a")
    assert entry is not None and entry.size == EXECUTOR_BYTES + 2 * EVENT_BYTES
    step(cache, "d")
    assert ["a" in cache, "b" in cache, "c" in cache, "d" in cache] == [True, False, True, True]


def test_a_rebuilt_executor_weighs_its_replayed_history() -> None:
    cache = ExecutorCache(budget_bytes=10**9)
    history = [result("y" * 1000) for _ in range(10)]
    cache.begin_step("a", executor("a"), "e", history)
    entry = cache.get("a")
    assert entry is not None and entry.history_len == STEPPING
    assert entry.size == EXECUTOR_BYTES + payload_bytes(history)
    cache.pop("a")
    assert cache.size == 0 and len(cache) == 0


def test_zero_budget_keeps_nothing() -> None:
    cache = ExecutorCache(budget_bytes=0)
    step(cache, "a")
    assert len(cache) == 0 and cache.size == 0


async def test_finished_instances_leave_the_cache_at_once(hub_factory) -> None:
    hub = await hub_factory(app)
    ids = [await hub.client.start_new("hello_sequence") for _ in range(20)]
    waiting = await hub.client.start_new("wait_event")
    for iid in ids:
        assert (await hub.client.wait_for_completion(iid, 20)).runtime_status is S.Completed

    async def only_the_waiting_one() -> bool:
        return list(hub.worker._cache._entries) == [waiting]

    await eventually(only_the_waiting_one)
    await hub.client.raise_event(waiting, "go", 1)
    await hub.client.raise_event(waiting, "go", 2)
    assert (await hub.client.wait_for_completion(waiting, 20)).output == [1, 2]
    assert len(hub.worker._cache) == 0 and hub.worker._cache.size == 0


async def test_a_small_budget_replays_and_gives_the_same_results(hub_factory) -> None:
    # Room for about two executors: the rest are rebuilt by replay, results unchanged.
    hub = await hub_factory(app, cache_mb=2.5 * EXECUTOR_BYTES / 2**20)
    ids = [await hub.client.start_new("hello_sequence") for _ in range(10)]
    for iid in ids:
        done = await hub.client.wait_for_completion(iid, 20)
        assert done.output == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    assert hub.worker._cache.size <= hub.worker._cache.budget_bytes


class CountingClaims:
    """A store whose orchestration claims record (backlog bound, new instances taken)."""

    def __init__(self, store: perdure.Store) -> None:
        self._store = store
        self.claims: list[tuple[int | None, int]] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def claim_orchestrations(self, worker_id: str, limit: int, lease_seconds: float,
                                   backlog: int | None = None,
                                   versions: VersionFilter | None = None,
                                   ) -> list[OrchestrationWorkItem]:
        items = await self._store.claim_orchestrations(worker_id, limit, lease_seconds, backlog,
                                                       versions)
        opened = sum(1 for i in items if i.instance.history_len == 0)
        if items:
            self.claims.append((backlog, opened))
        return items


async def test_the_backlog_opens_only_as_fast_as_activity_slots_free(hub_factory) -> None:
    # 12 instances queued before the worker runs, 2 activity slots: no claim opens
    # more new instances than the slots free at that moment, and all complete.
    hub = await hub_factory(app)
    await hub.worker.stop()
    ids = [await hub.client.start_new("hello_sequence") for _ in range(12)]
    counting = CountingClaims(hub.store)
    hub.worker = perdure.Worker(app, counting, client=hub.client,  # type: ignore[arg-type]
                                options=perdure.WorkerOptions(max_concurrent_activities=2))
    await hub.worker.start()
    for iid in ids:
        done = await hub.client.wait_for_completion(iid, 30)
        assert done.output == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    assert sum(opened for _, opened in counting.claims) == len(ids)
    assert all(bound is not None and opened <= bound <= 2 for bound, opened in counting.claims)


def driven(instance_id: str) -> OrchestrationExecutor:
    """An executor whose orchestration waits for its first activity."""
    ex = executor(instance_id)
    ex.process([OrchestratorStarted(timestamp=NOW),
                ExecutionStarted(timestamp=NOW, name="hello_sequence")], replaying=False)
    assert [a.name for a in ex.take_actions()] == ["say_hello"]
    return ex


def keep(cache: ExecutorCache, instance_id: str, ex: OrchestrationExecutor) -> None:
    cache.begin_step(instance_id, ex, "e")
    cache.committed(instance_id, 3, [OrchestratorStarted(timestamp=NOW)])


def test_evicted_and_finished_executors_are_freed_at_once_with_the_collector_off() -> None:
    """An executor is a web of cycles, which only the cycle collector frees: the cache
    takes apart what it drops, so reference counting frees it."""
    import gc
    import weakref

    cache = ExecutorCache(3 * EXECUTOR_BYTES)
    gc.disable()
    try:
        gc.collect()
        first, done = driven("first"), driven("done")
        freed = weakref.ref(first), weakref.ref(done)
        keep(cache, "first", first)
        keep(cache, "done", done)
        del first, done
        cache.pop("done")  # finished
        assert freed[1]() is None
        for i in range(5):
            keep(cache, f"i{i}", driven(f"i{i}"))
        assert "first" not in cache and freed[0]() is None
        assert gc.collect() == 0  # nothing was left for the collector
    finally:
        gc.enable()


def test_an_executor_evicted_while_it_steps_is_left_whole() -> None:
    cache = ExecutorCache(EXECUTOR_BYTES + 2 * EVENT_BYTES)
    stepping = driven("a")
    cache.begin_step("a", stepping, "e")  # a batch in flight drives it
    keep(cache, "b", driven("b"))  # evicts "a" to stay in budget
    assert "a" not in cache
    outcome = stepping.step([OrchestratorStarted(timestamp=NOW), result("Hello Tokyo!")])
    assert [a.name for a in outcome.actions] == ["say_hello"]


def test_taking_an_executor_apart_runs_its_finally_blocks_as_collecting_it_would() -> None:
    ran: list[str] = []

    def orchestrator(ctx: perdure.OrchestrationContext):  # type: ignore[no-untyped-def]
        try:
            yield ctx.call_activity("say_hello", "x")
        finally:
            ran.append("finally")
            raise RuntimeError("ignored, as when collected")

    ex = OrchestrationExecutor(orchestrator, "f")
    ex.process([OrchestratorStarted(timestamp=NOW), ExecutionStarted(timestamp=NOW, name="o")],
               replaying=False)
    ex.discard()
    assert ran == ["finally"]
    ex.discard()  # twice is harmless
