"""SIGKILL a worker in the middle of an entity's batch: no operation is lost or applied twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

from entity_crash_app import app
from workers import kill, start_worker, stop

import perdure
from perdure import EntityId

OPERATIONS = 300


async def _wait_for(predicate, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def _lines(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


async def test_sigkill_mid_batch_applies_every_operation_exactly_once(db_url: str,
                                                                      tmp_path: Path):
    log = tmp_path / "applied.log"
    env = {"ENTITY_APP_LOG": str(log), "ENTITY_APP_SLEEP": "0.01"}
    client = perdure.Client(db_url, app=app)
    entity = EntityId("tally", "t")
    for n in range(OPERATIONS):  # queued before any worker: one batch takes them all
        await client.signal_entity(entity, "add", n)

    worker = start_worker(db_url, env, app="entity_crash_app.py")
    try:
        await _wait_for(lambda: len(_lines(log)) >= 50)
        kill(worker)
        killed = str(worker.pid)
        ran_in_killed = sum(1 for _, pid in _lines(log) if pid == killed)
        exists, committed = await client.read_entity_state(entity)
        # Killed mid-batch: operations ran whose batch never committed.
        assert ran_in_killed > len(committed or [])
        worker = start_worker(db_url, env, app="entity_crash_app.py")

        async def all_applied() -> bool:
            return (await client.read_entity_state(entity))[1] == list(range(OPERATIONS))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while not await all_applied():
            assert loop.time() < deadline, await client.read_entity_state(entity)
            await asyncio.sleep(0.05)
        # An orchestration's call reaches the entity and gets one answer.
        iid = await client.start_new("read_tally", input="t")
        done = await client.wait_for_completion(iid, 30)
        assert done.output == list(range(OPERATIONS))
    finally:
        stop(worker)
    record = await client.store.get_instance(str(entity))
    assert record is not None and record.history_len == 0
    assert await client.store.get_history(str(entity)) == []
    await client.close()
