"""Regenerate the golden histories: run by hand, never by the test suite.

    PYTHONPATH=src .venv/bin/python tests/core/golden/make_golden.py [scenario ...]

Each scenario runs orchestrators of ``tests/core/golden_app.py`` through a real
worker on a fresh SQLite task hub, driven by a client, and writes
``<scenario>.json``: per instance, its final status and its history exactly as
the hub stores it (one row text per event, from the store's row codec).

Only add scenarios (or new files): an existing fixture stands for instances
users already have stored, so rewriting it would hide the break it guards
against. Regenerate one only when its orchestrator deliberately changed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # golden_app

import golden_app  # noqa: E402

import perdure  # noqa: E402
from perdure.core.history import ExecutionStarted, HistoryEvent  # noqa: E402
from perdure.store.codec import encode_event  # noqa: E402 - the row codec of both hubs

Scenario = Callable[["Run"], Awaitable[None]]


class Run:
    """One scenario on its own task hub: a worker, a client, and the snapshots taken."""

    def __init__(self, client: perdure.Client, store: perdure.Store) -> None:
        self.client, self.store = client, store
        self.instances: list[dict[str, Any]] = []

    async def history(self, instance_id: str) -> list[HistoryEvent]:
        return await self.store.get_history(instance_id)

    async def until(self, instance_id: str, done: Callable[[list[HistoryEvent]], bool]) -> None:
        """Wait until the stored history of ``instance_id`` satisfies ``done``."""
        deadline = time.monotonic() + 30
        while not done(await self.history(instance_id)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{instance_id}: condition not reached")
            await asyncio.sleep(0.01)

    async def finish(self, instance_id: str) -> None:
        await self.client.wait_for_completion(instance_id, timeout=30)

    async def snapshot(self, instance_id: str, label: str | None = None) -> None:
        """Record the instance's status and stored history as they are now."""
        status = await self.client.get_status(instance_id)
        assert status is not None, instance_id
        self.instances.append({
            "instance_id": instance_id,
            **({"label": label} if label else {}),
            "runtime_status": status.runtime_status.value,
            "output": status.output,
            "custom_status": status.custom_status,
            "history": [encode_event(e) for e in await self.history(instance_id)],
        })


def kinds(history: list[HistoryEvent]) -> list[str]:
    return [type(e).__name__ for e in history]


async def activities(run: Run) -> None:
    await run.client.start_new("activities", "golden-activities")
    await run.finish("golden-activities")
    await run.snapshot("golden-activities")


async def retries(run: Run) -> None:
    await run.client.start_new("retries", "golden-retries")
    await run.finish("golden-retries")
    await run.snapshot("golden-retries")


async def activity_failure(run: Run) -> None:
    await run.client.start_new("activity_failure", "golden-failure")
    await run.finish("golden-failure")
    await run.snapshot("golden-failure")


async def timers_and_events(run: Run) -> None:
    await run.client.start_new("listener", "golden-listener")
    await run.client.start_new("timers_and_events", "golden-events", "golden-listener")
    # Both timers (the plain one and the wait's timeout) fired: now the event is awaited.
    await run.until("golden-events", lambda h: kinds(h).count("TimerFired") == 2)
    await run.client.raise_event("golden-events", "approve", "yes")
    await run.finish("golden-events")
    await run.finish("golden-listener")
    await run.snapshot("golden-events")
    await run.snapshot("golden-listener")


async def sub_orchestrations(run: Run) -> None:
    await run.client.start_new("sub_orchestrations", "golden-sub")
    await run.finish("golden-sub")
    for instance_id in ("golden-sub", "golden-sub:0", "golden-sub-bad"):
        await run.snapshot(instance_id)


async def continue_as_new(run: Run) -> None:
    await run.client.start_new("counter", "golden-counter", 0)
    await run.until("golden-counter", lambda h: any(
        isinstance(e, ExecutionStarted) and e.input == "2" for e in h))
    await run.snapshot("golden-counter", "the third execution, waiting")
    await run.client.raise_event("golden-counter", "bonus", 40)
    await run.finish("golden-counter")
    await run.snapshot("golden-counter", "completed")


def _waiting(history: list[HistoryEvent]) -> bool:
    return "ExecutionStarted" in kinds(history)


async def suspend_resume(run: Run) -> None:
    client = run.client
    await client.start_new("approval", "golden-suspend")
    await run.until("golden-suspend", _waiting)
    await client.suspend("golden-suspend", "for review")
    await run.until("golden-suspend", lambda h: "ExecutionSuspended" in kinds(h))
    await client.raise_event("golden-suspend", "answer", "held while suspended")
    await run.until("golden-suspend", lambda h: "EventRaised" in kinds(h))
    await run.snapshot("golden-suspend", "suspended, holding an event")
    await client.resume("golden-suspend", "review done")
    await run.finish("golden-suspend")
    await run.snapshot("golden-suspend", "resumed and completed")


async def terminate(run: Run) -> None:
    await run.client.start_new("approval", "golden-terminate")
    await run.until("golden-terminate", _waiting)
    await run.snapshot("golden-terminate", "waiting")
    await run.client.terminate("golden-terminate", "nobody answered")
    await run.finish("golden-terminate")
    await run.snapshot("golden-terminate", "terminated")


async def rewind(run: Run) -> None:
    await run.client.start_new("rewound", "golden-rewind")
    await run.finish("golden-rewind")
    await run.snapshot("golden-rewind", "failed")
    await run.client.rewind("golden-rewind", "the service is back")
    await run.until("golden-rewind", lambda h: "ExecutionRewound" in kinds(h))
    await run.finish("golden-rewind")
    await run.snapshot("golden-rewind", "rewound and completed")


SCENARIOS: dict[str, Scenario] = {f.__name__: f for f in (
    activities, retries, activity_failure, timers_and_events, sub_orchestrations,
    continue_as_new, suspend_resume, terminate, rewind)}


async def generate(name: str, scenario: Scenario) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = perdure.create_store(f"sqlite:///{tmp}/hub.db")
        client = perdure.Client(store, app=golden_app.app)
        worker = perdure.Worker(golden_app.app, store, client=client)
        await worker.start()
        try:
            run = Run(client, store)
            await scenario(run)
        finally:
            await worker.stop()
            await store.close()
    document = {
        "scenario": name,
        "generated_by": "tests/core/golden/make_golden.py",
        "perdure": perdure.__version__,
        "instances": run.instances,
    }
    path = HERE / f"{name}.json"
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {path.relative_to(HERE.parents[2])}: "
          f"{sum(len(i['history']) for i in run.instances)} events")


async def main(names: list[str]) -> None:
    for name in names or list(SCENARIOS):
        await generate(name, SCENARIOS[name])


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
