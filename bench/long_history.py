"""A long sequential orchestration costs the same per step at its end as at its start.

    python bench/long_history.py [--steps 10000] [--store sqlite|postgres] [--runs 1]
                                 [--pg-server postgresql://postgres@127.0.0.1:5432]

One orchestration calls a trivial activity ``--steps`` times in sequence, on one worker in this
process. Each activity records when it ran, so the step rate over any stretch is measured where
it happens: the first thousand steps, the last thousand, and the thousand right after a worker
restart in the middle (the worker is stopped at half way and a new one, with an empty executor
cache, carries on: one replay of the history, then incremental steps again). A ratio
``last_vs_first`` near 1.0 means a step does not get dearer as the history grows. Prints one
JSON line per run, then the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))
sys.path.insert(0, HERE)

from _common import scratch_database  # noqa: E402

import perdure  # noqa: E402

WINDOW = 1000
ticks: list[float] = []
app = perdure.App()


@app.activity
def tick(i: int) -> int:
    ticks.append(time.perf_counter())
    return i


@app.orchestrator
def long_sequence(ctx: perdure.OrchestrationContext):  # type: ignore[no-untyped-def]
    total = 0
    for i in range(ctx.get_input()):
        total += yield ctx.call_activity("tick", i)
    return total


def rate(start: int) -> float:
    """Steps per second over the WINDOW steps from ``start``."""
    return round(WINDOW / (ticks[start + WINDOW - 1] - ticks[start]), 1)


async def until(predicate: Any, timeout: float = 1800.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        await asyncio.sleep(0.01)


async def one_run(url: str, steps: int) -> dict[str, Any]:
    ticks.clear()
    store = perdure.create_store(url)
    client = perdure.Client(store, app=app)
    worker = perdure.Worker(app, store, client=client)
    await worker.start()
    iid = await client.start_new("long_sequence", input=steps)
    await until(lambda: len(ticks) >= steps // 2)
    await worker.stop()  # the restart: a new worker, an empty cache
    restart_at = len(ticks)
    worker = perdure.Worker(app, store, client=client)
    await worker.start()
    status = await client.wait_for_completion(iid, timeout=1800)
    replays = getattr(getattr(worker, "metrics", None), "replays", None)
    await worker.stop()
    await store.close()
    if status.output != steps * (steps - 1) // 2:
        raise RuntimeError(f"wrong result {status.output!r}")
    first, last = rate(0), rate(steps - WINDOW)
    return {"steps": steps, "first_1000_per_s": first, "last_1000_per_s": last,
            "after_restart_1000_per_s": rate(restart_at),
            "last_vs_first": round(last / first, 3),
            "replays_after_restart": replays}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--pg-server", default="postgresql://postgres@127.0.0.1:5432")
    args = p.parse_args()
    if args.steps < 4 * WINDOW:
        p.error(f"--steps must be at least {4 * WINDOW}")
    results = []
    for _ in range(args.runs):
        pg = f"{args.pg_server.rstrip('/')}/long_history_{os.getpid()}" \
            if args.store == "postgres" else None
        with scratch_database(pg) as where:
            url = pg or f"sqlite:///{where}/hub.db?synchronous=NORMAL"
            result = asyncio.run(one_run(url, args.steps))
        print(json.dumps(result), flush=True)
        results.append(result)
    keys = [k for k in results[0] if k.endswith("_per_s") or k == "last_vs_first"]
    print(json.dumps({"median": {k: statistics.median(r[k] for r in results) for k in keys},
                      "load": os.getloadavg()[0]}), flush=True)


if __name__ == "__main__":
    main()
