"""next_wakeup, wait_for_work, wait_for_instance and the function registry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable

import pytest

from perdure import Clock, create_store
from perdure.core.history import TaskCompleted
from perdure.core.status import OrchestrationRuntimeStatus as Status
from perdure.store.base import ActivityResult, ActivityTask, Message, Store

from .helpers import claim_all, claim_one, event_message, new, soon, start, step

# A waiter that is not woken takes WAIT; PostgreSQL's lost-NOTIFY check is set longer
# than that, so a return within PROMPT (far below both, yet generous for a loaded
# machine) is explained only by a wake-up.
WAIT = 30.0
PROMPT = 10.0


@pytest.fixture
async def store(hub_url: str, clock: Clock) -> AsyncIterator[Store]:
    """An open store whose waiters learn of changes by wake-ups alone."""
    if hub_url.startswith("postgres"):
        hub_url += ("&" if "?" in hub_url else "?") + f"poll_interval={2 * WAIT}"
    opened = create_store(hub_url, clock=clock)
    await opened.open()
    yield opened
    await opened.close()


async def woken_within(waiter: Awaitable[None], trigger: Awaitable[object]) -> float:
    """Start ``waiter``, run ``trigger``, and return how long the waiter took to return."""
    task = asyncio.ensure_future(waiter)
    await asyncio.sleep(0.02)  # let the waiter block first
    assert not task.done()
    started = time.monotonic()
    await trigger
    await asyncio.wait_for(task, WAIT)
    return time.monotonic() - started


async def test_next_wakeup(store: Store) -> None:
    assert await store.next_wakeup() is None
    await start(store, "a")
    await store.create_instance(new("visible-now"))
    assert await store.next_wakeup() is None  # visible messages are not wake-ups
    late, early = soon(120), soon(60)
    for when in (late, early):
        await store.send_message(event_message("a", visible_at=when), operation="timer",
                                 allowed=set(Status))
    assert await store.next_wakeup() == early


async def test_wait_for_work_times_out(store: Store) -> None:
    started = time.monotonic()
    await store.wait_for_work("activity", 0.05)
    assert 0.04 <= time.monotonic() - started < WAIT


async def test_commit_wakes_activity_waiter(store: Store) -> None:
    await store.create_instance(new("a"))
    item = await claim_one(store, "a")
    await store.wait_for_work("activity", 0)  # consume anything pending
    commit = step(item, activities=[ActivityTask("a", "e", 0, "act")])
    took = await woken_within(store.wait_for_work("activity", WAIT), store.commit_steps([commit]))
    assert took < PROMPT


async def test_create_wakes_orchestration_waiter(store: Store) -> None:
    await store.wait_for_work("orchestration", 0)
    took = await woken_within(store.wait_for_work("orchestration", WAIT),
                              store.create_instance(new("a")))
    assert took < PROMPT


async def test_activity_completion_wakes_orchestration_waiter(store: Store) -> None:
    await store.create_instance(new("a"))
    item = await claim_one(store, "a")
    await store.commit_steps([step(item, activities=[ActivityTask("a", "e", 0, "act")])])
    [work] = await store.claim_activities("w", 1, 30)
    await store.wait_for_work("orchestration", 0)
    done = ActivityResult(work.id, work.lock_token, Message("a", TaskCompleted(task_id=0)))
    took = await woken_within(store.wait_for_work("orchestration", WAIT),
                              store.complete_activities([done]))
    assert took < PROMPT


async def test_a_step_wakes_orchestration_waiters_for_messages_that_came_meanwhile(
        store: Store) -> None:
    await start(store, "a")
    await store.send_message(event_message("a"), operation="raise event", allowed=set(Status))
    item = await claim_one(store, "a")
    await store.send_message(event_message("a"), operation="raise event", allowed=set(Status))
    await store.wait_for_work("orchestration", 0)  # the raise's own wake-up
    took = await woken_within(store.wait_for_work("orchestration", WAIT),
                              store.commit_steps([step(item)]))
    assert took < PROMPT
    again = await claim_all(store)
    assert list(again) == ["a"] and len(again["a"].messages) == 1


async def test_notification_before_wait_is_not_lost(store: Store) -> None:
    await store.wait_for_work("orchestration", 0)
    await store.create_instance(new("a"))
    started = time.monotonic()
    await store.wait_for_work("orchestration", WAIT)
    assert time.monotonic() - started < PROMPT


async def test_status_change_wakes_instance_waiter(store: Store) -> None:
    await store.create_instance(new("a"))
    item = await claim_one(store, "a")
    took = await woken_within(store.wait_for_instance("a", WAIT),
                              store.commit_steps([step(item, Status.Completed)]))
    assert took < PROMPT


async def test_instance_waiters_are_woken_when_it_finishes_not_at_every_step(
        store: Store) -> None:
    """Waiters wait for an instance to finish: a step that leaves it running does not
    wake them (thousands of waiters would each re-read for nothing)."""
    await store.create_instance(new("a"))
    item = await claim_one(store, "a")
    waiter = asyncio.ensure_future(store.wait_for_instance("a", WAIT))
    await asyncio.sleep(0.05)
    await store.commit_steps([step(item, Status.Running)])  # Pending -> Running
    await asyncio.sleep(0.3)
    assert not waiter.done()
    await store.send_message(event_message("a"), operation="x", allowed=set(Status))
    item = await claim_one(store, "a")
    started = time.monotonic()
    await store.commit_steps([step(item, Status.Failed)])
    await asyncio.wait_for(waiter, WAIT)
    assert time.monotonic() - started < PROMPT


async def test_change_made_while_the_caller_read_is_not_missed(store: Store) -> None:
    """A waiter passes the time it began reading: a change since then ends its wait
    at once, even though it was made before the wait began."""
    await store.create_instance(new("a"))
    item = await claim_one(store, "a")
    since = time.monotonic()
    await store.get_instance("a")  # the caller's read, still Pending...
    await store.commit_steps([step(item, Status.Completed)])  # ...changed meanwhile
    started = time.monotonic()
    await store.wait_for_instance("a", WAIT, since)
    assert time.monotonic() - started < PROMPT
    # A change before the read began is no reason to return early.
    started = time.monotonic()
    await store.wait_for_instance("a", 0.2, time.monotonic())
    assert time.monotonic() - started >= 0.15


async def test_instance_waiter_times_out(store: Store) -> None:
    await start(store, "a")
    started = time.monotonic()
    await store.wait_for_instance("a", 0.05)
    assert time.monotonic() - started < WAIT
    assert await claim_all(store) == {}


async def test_register_functions(store: Store) -> None:
    assert await store.known_orchestrators() == set()
    await store.register_functions(["o1", "o2"], ["a1"])
    await store.register_functions(["o2", "o3"], [])
    await store.register_functions([], ["a2"])
    assert await store.known_orchestrators() == {"o1", "o2", "o3"}
