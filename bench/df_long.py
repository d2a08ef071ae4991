"""Per-step rate of long sequential Durable Functions orchestrations on perdure.

    python bench/df_long.py [--steps 100,2000] [--runs 3]

The SDK's own handler re-runs the whole history at every step, so an n-step
sequential orchestration costs O(n²) on Azure. perdure keeps a live SDK
session per cached instance and feeds it only new events; this measures one
orchestration of each length on a real worker and SQLite hub (NORMAL) and
prints one JSON line: steps per second for each length, and their ratio
(the target is ≥ 1/3 for 2,000 against 100).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))

import perdure  # noqa: E402
from perdure.cli.apps import load_any_app  # noqa: E402


async def steps_per_second(steps: int, where: str) -> float:
    app = load_any_app(os.path.join(HERE, "df_app"))
    store = perdure.create_store(f"sqlite:///{where}/hub-{steps}.db")
    try:
        async with perdure.Worker(app, store):
            client = perdure.Client(store, app=app)
            began = time.perf_counter()
            iid = await client.start_new("sequential", input=steps)
            status = await client.wait_for_completion(iid, timeout=3600)
            elapsed = time.perf_counter() - began
            assert status.output == sum(i * 2 for i in range(steps)), status
            return steps / elapsed
    finally:
        await store.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", default="100,2000")
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    lengths = [int(n) for n in args.steps.split(",")]
    rates: dict[int, list[float]] = {n: [] for n in lengths}
    for _ in range(args.runs):
        for n in lengths:
            with tempfile.TemporaryDirectory() as where:
                rates[n].append(asyncio.run(steps_per_second(n, where)))
    medians = {n: round(statistics.median(r), 1) for n, r in rates.items()}
    print(json.dumps({"steps_per_s": medians,
                      "ratio_longest_to_shortest": round(medians[lengths[-1]]
                                                         / medians[lengths[0]], 3)}))


if __name__ == "__main__":
    main()
