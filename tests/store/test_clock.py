"""The clock a task hub runs by: the wall clock, moved forward only by tests."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from perdure.core.errors import InvalidArgumentError
from perdure.store.base import Store
from perdure.store.clock import SYSTEM_CLOCK, Clock


def test_a_clock_reads_the_wall_clock_plus_its_advances() -> None:
    clock = Clock()
    before = datetime.now(UTC)
    assert before - timedelta(seconds=1) < clock.now() < before + timedelta(seconds=1)
    clock.advance(3600)
    clock.advance(timedelta(minutes=30))
    assert clock.offset_us == 5400 * 1_000_000
    moved = clock.now() - datetime.now(UTC)
    assert timedelta(seconds=5399) < moved < timedelta(seconds=5401)
    assert abs(clock.now_us() // 1_000_000 - int(clock.now().timestamp())) <= 1


def test_clocks_only_move_forward_and_the_system_clock_never() -> None:
    with pytest.raises(InvalidArgumentError, match="only moves forward"):
        Clock().advance(-1)
    with pytest.raises(InvalidArgumentError, match="system clock"):
        SYSTEM_CLOCK.advance(1)
    assert SYSTEM_CLOCK.offset_us == 0


def test_listeners_hear_every_advance_until_removed() -> None:
    clock, heard = Clock(), []
    remove = clock.on_advance(lambda: heard.append(clock.offset_us))
    clock.advance(1)
    clock.advance(0)
    remove()
    remove()  # twice is harmless
    clock.advance(1)
    assert heard == [1_000_000, 1_000_000]


async def test_an_advance_wakes_a_worker_waiting_for_work(store: Store, clock: Clock) -> None:
    waiting = asyncio.create_task(store.wait_for_work("orchestration", 30))
    await asyncio.sleep(0.05)  # let the waiter block first
    assert not waiting.done()
    clock.advance(1)
    await asyncio.wait_for(waiting, 5)


async def test_a_closed_store_stops_listening_to_its_clock(store: Store, clock: Clock) -> None:
    await store.close()
    clock.advance(1)  # nothing left to wake; nothing raises
