"""Durable entities, side by side with W1: ``python bench/entities.py [--runs 3] [--pg URL]``.

- W1: 500 hello sequences (instances/s), the reference workload of ``bench/run.py``.
- E1: 100 counter entities receive 10,000 signals in total (round robin) from a client,
  while a worker applies them: operations/s from the first signal until every counter
  holds its total.
- E2: one hot entity receives 5,000 signals: operations/s, batched as the worker does
  (every queued operation of a claim in one step and one transaction), and with one
  operation per step (claims cut to one message: what a step per operation would cost).

Each figure is measured in a fresh database (SQLite ``synchronous=NORMAL`` in a temporary
directory, or a PostgreSQL database created for it); the medians of ``--runs`` runs are
printed as one JSON line, with the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from _common import scratch_database  # noqa: E402
from perdure_workloads import app, run_one, w1  # noqa: E402

import perdure  # noqa: E402
from perdure.store.postgres import transitions as pg_transitions  # noqa: E402
from perdure.store.sqlite import transitions as sqlite_transitions  # noqa: E402

ENTITIES, SIGNALS, HOT_SIGNALS = 100, 10_000, 5_000


@app.entity
def counter(ctx: perdure.EntityContext) -> None:
    ctx.set_state(ctx.get_state(0) + ctx.get_input())


async def until_totals(client: perdure.Client, totals: dict[str, int]) -> None:
    waiting = dict(totals)
    while waiting:
        for key, total in list(waiting.items()):
            if (await client.read_entity_state(("counter", key)))[1] == total:
                del waiting[key]
        if waiting:
            await asyncio.sleep(0.01)


async def e1(client: perdure.Client) -> float:
    t0 = time.perf_counter()
    for i in range(SIGNALS):
        await client.signal_entity(("counter", f"c{i % ENTITIES}"), "add", 1)
    await until_totals(client, {f"c{k}": SIGNALS // ENTITIES for k in range(ENTITIES)})
    return SIGNALS / (time.perf_counter() - t0)


async def e2(client: perdure.Client) -> float:
    t0 = time.perf_counter()
    for _ in range(HOT_SIGNALS):
        await client.signal_entity(("counter", "hot"), "add", 1)
    await until_totals(client, {"hot": HOT_SIGNALS})
    return HOT_SIGNALS / (time.perf_counter() - t0)


async def w1_rate(client: perdure.Client) -> float:
    return float((await w1(client))["instances_per_s"])


def one_message_per_claim(enabled: bool) -> None:
    limit = 1 if enabled else 1000
    sqlite_transitions.MAX_MESSAGES_PER_CLAIM = limit  # type: ignore[attr-defined]
    pg_transitions.MAX_MESSAGES_PER_CLAIM = limit  # type: ignore[attr-defined]


async def measure(url: str, workload: Callable[[perdure.Client], Awaitable[float]]) -> float:
    store = perdure.create_store(url)
    try:
        async with perdure.Worker(app, store):
            client = perdure.Client(store, app=app)
            await run_one(client, "hello_sequence")  # warm-up
            return await workload(client)
    finally:
        await store.close()


def fresh(pg: str | None, workload: Callable[[perdure.Client], Awaitable[float]]) -> float:
    with scratch_database(pg) as where:
        url = pg or f"sqlite:///{os.path.join(where, 'perdure.db')}?synchronous=NORMAL"
        return asyncio.run(measure(url, workload))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pg", metavar="URL", help="PostgreSQL URL (database made per run)")
    args = parser.parse_args()
    runs: dict[str, list[float]] = {"W1_instances_per_s": [], "E1_ops_per_s": [],
                                    "E2_batched_ops_per_s": [], "E2_one_per_step_ops_per_s": []}
    for _ in range(args.runs):  # interleaved, so that drift hits every figure alike
        runs["W1_instances_per_s"].append(fresh(args.pg, w1_rate))
        runs["E1_ops_per_s"].append(fresh(args.pg, e1))
        runs["E2_batched_ops_per_s"].append(fresh(args.pg, e2))
        one_message_per_claim(True)
        try:
            runs["E2_one_per_step_ops_per_s"].append(fresh(args.pg, e2))
        finally:
            one_message_per_claim(False)
    medians: dict[str, Any] = {k: round(statistics.median(v), 1) for k, v in runs.items()}
    medians["E1_ops_per_W1_instance"] = round(
        medians["E1_ops_per_s"] / medians["W1_instances_per_s"], 2)
    medians["E2_batching_speedup"] = round(
        medians["E2_batched_ops_per_s"] / medians["E2_one_per_step_ops_per_s"], 1)
    medians["store"] = "postgres" if args.pg else "sqlite-normal"
    medians["runs"] = args.runs
    medians["all"] = {k: [round(x, 1) for x in v] for k, v in runs.items()}
    print(json.dumps(medians), flush=True)


if __name__ == "__main__":
    main()
