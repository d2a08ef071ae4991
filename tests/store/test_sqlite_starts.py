"""Starts handed over (perdure.store.starts): SQLite leases a start to a taker of its
process in the start's own commit, and the lease behaves as a claim's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from perdure.core.errors import InstanceAlreadyExistsError
from perdure.core.history import ExecutionStarted
from perdure.core.status import OrchestrationRuntimeStatus as Status
from perdure.store import Clock, Store, create_store
from perdure.store.base import NewInstance, OrchestrationWorkItem

from .helpers import LONG, SHORT, claim_all, claim_one, new, step


class Taker:
    """A worker's stand-in: takes starts while ``lease`` is set, keeps what it gets."""

    def __init__(self, worker_id: str = "taker", lease: float | None = SHORT) -> None:
        self.worker_id = worker_id
        self.lease = lease
        self.asked: list[str] = []
        self.taken: list[OrchestrationWorkItem] = []
        self.accepts = True  # False: it began to stop

    def lease_for(self, new: NewInstance) -> float | None:
        self.asked.append(new.instance_id)
        return self.lease

    def take(self, item: OrchestrationWorkItem) -> bool:
        self.taken.append(item)
        return self.accepts


@pytest.fixture
async def store(tmp_path: Path, clock: Clock) -> AsyncIterator[Store]:
    opened = create_store(f"sqlite:///{tmp_path / 'hub.db'}", clock=clock)
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def test_a_taken_start_is_leased_by_its_commit_and_runs_like_a_claimed_one(
        store: Store) -> None:
    taker = Taker()
    store.take_starts(taker)
    await store.create_instance(new("a", input='"in"', version="1.0"))
    [item] = taker.taken
    assert item.instance.instance_id == "a"
    assert item.instance.runtime_status is Status.Pending
    assert (item.instance.input, item.instance.version, item.attempts) == ('"in"', "1.0", 1)
    [message] = item.messages
    assert isinstance(message.event, ExecutionStarted) and message.event.input == '"in"'
    assert message.execution_id == item.instance.execution_id
    # Leased: no claim takes it, and its step commits with the handed-over token.
    assert await claim_all(store, worker="w2") == {}
    assert await store.commit_steps([step(item, Status.Completed, output='"out"')]) == [True]
    assert await claim_all(store) == {}  # its start message was consumed
    done = await store.get_instance("a")
    assert done is not None and (done.runtime_status, done.output) == (Status.Completed, '"out"')


async def test_a_start_whose_taker_never_runs_it_is_claimed_when_the_lease_expires(
        store: Store, clock: Clock) -> None:
    """A worker that dies between the start's commit and its first step."""
    taker = Taker(lease=SHORT)
    store.take_starts(taker)
    await store.create_instance(new("a"))
    [taken] = taker.taken
    assert await claim_all(store, worker="w2") == {}
    clock.advance(SHORT + 1)
    item = await claim_one(store, "a")
    assert item.lock_token != taken.lock_token and item.attempts == 2
    assert [type(m.event) for m in item.messages] == [ExecutionStarted]
    # The dead worker's token no longer commits.
    assert await store.commit_steps([step(taken, Status.Completed)]) == [False]


async def test_starts_no_taker_takes_go_to_the_backlog(store: Store) -> None:
    busy, gone = Taker("busy", lease=None), Taker("gone")
    store.take_starts(busy)
    store.take_starts(gone)
    store.stop_taking_starts(gone)
    await store.create_instance(new("a"))
    assert busy.asked == ["a"] and busy.taken == [] and gone.asked == []
    await claim_one(store, "a", lease=LONG)


async def test_the_first_taker_with_a_lease_gets_the_start(store: Store) -> None:
    first, second = Taker("first", lease=None), Taker("second")
    store.take_starts(first)
    store.take_starts(second)
    store.take_starts(second)  # once is enough
    await store.create_instance(new("a"))
    assert [i.instance.instance_id for i in second.taken] == ["a"] and second.asked == ["a"]


async def test_a_refused_start_hands_nothing_over(store: Store) -> None:
    await store.create_instance(new("a"))
    taker = Taker()
    store.take_starts(taker)
    with pytest.raises(InstanceAlreadyExistsError):
        await store.create_instance(new("a"))
    assert taker.taken == []
    await claim_one(store, "a")  # the first start is still claimable, not leased


async def test_a_start_replacing_a_finished_instance_is_handed_over(store: Store) -> None:
    await store.create_instance(new("a"))
    item = await claim_one(store, "a")
    assert await store.commit_steps([step(item, Status.Completed)]) == [True]
    taker = Taker()
    store.take_starts(taker)
    await store.create_instance(new("a"))
    [again] = taker.taken
    assert again.instance.history_len == 0
    assert await store.commit_steps([step(again, Status.Completed)]) == [True]


async def test_a_start_its_taker_can_no_longer_run_is_released(store: Store) -> None:
    """The taker began to stop while the start's commit waited for the file."""
    taker = Taker()
    taker.accepts = False
    store.take_starts(taker)
    await store.create_instance(new("a"))
    assert len(taker.taken) == 1
    await claim_one(store, "a")  # at once, not after the lease
