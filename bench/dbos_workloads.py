"""W1-W3 as DBOS 3.4 workflows and steps; ``python bench/dbos_workloads.py W1`` prints one line.

Activities are ``@DBOS.step()`` functions and orchestrations ``@DBOS.workflow()`` functions, run
in this process by DBOS's own executor. The system database is SQLite in a fresh temporary
directory (``system_database_url="sqlite:///<tmp>/dbos.sqlite"``, DBOS's defaults otherwise: it
sets busy_timeout and IMMEDIATE transactions, and leaves journal_mode and synchronous at SQLite's
defaults, DELETE and FULL; ``--synchronous`` does not apply to DBOS), or with ``--pg URL`` a
PostgreSQL database created for the run and dropped after it.

- W1: ``DBOS.start_workflow`` 500 hello sequences back to back, then ``get_result`` on each.
- W2: one workflow fans out 1,000 ``double`` calls and sums them; timed from start to result.
  ``--fanout queue`` (default) is the fan-out of DBOS's "Queues & Concurrency" tutorial: the
  workflow enqueues one child workflow per task (each runs the ``double`` step) on a queue
  registered with ``DBOS.register_queue`` (defaults: no concurrency limit, 1 s polling), then
  ``get_result`` on each handle. ``--fanout gather`` is the other documented form: an async
  workflow that creates a task per async step in a fixed order and ``asyncio.gather``-s them.
- W3: 200 times, ``DBOS.start_workflow`` of a one-step workflow (``say_hello``) then
  ``get_result``.

Each run first completes one warm-up workflow (not timed). Timings use ``time.perf_counter``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from _common import (
    CITIES,
    W1_INSTANCES,
    W2_FANOUT,
    W3_ITERATIONS,
    Stopwatch,
    emit,
    parse_args,
    scratch_database,
    w1_figures,
    w3_figures,
)
from dbos import DBOS, DBOSConfig

FANOUT_QUEUE = "bench_fanout"


@DBOS.step()
def say_hello(city: str) -> str:
    return f"Hello {city}!"


@DBOS.workflow()
def hello_sequence() -> list[str]:
    return [say_hello(city) for city in CITIES]


@DBOS.workflow()
def hello_once() -> str:
    return say_hello(CITIES[0])


@DBOS.step()
def double(i: int) -> int:
    return i * 2


@DBOS.workflow()
def double_task(i: int) -> int:
    """A queue entry of the fan-out: DBOS 3.4 queues take workflows, so each wraps one step."""
    return double(i)


@DBOS.workflow()
def fan_out_queue(n: int) -> int:
    handles = [DBOS.enqueue_workflow(FANOUT_QUEUE, double_task, i) for i in range(n)]
    return sum(h.get_result() for h in handles)


@DBOS.step()
async def double_async(i: int) -> int:
    return i * 2


@DBOS.workflow()
async def fan_out_gather(n: int) -> int:
    tasks = [asyncio.create_task(double_async(i)) for i in range(n)]  # started in a fixed order
    return sum(await asyncio.gather(*tasks))


def w1() -> dict[str, float]:
    with Stopwatch() as sw:
        handles = [DBOS.start_workflow(hello_sequence) for _ in range(W1_INSTANCES)]
        results = [h.get_result() for h in handles]
    assert all(r == [f"Hello {c}!" for c in CITIES] for r in results)
    return w1_figures(sw.elapsed)


def w2(fanout: str) -> dict[str, float | str]:
    workflow = fan_out_queue if fanout == "queue" else fan_out_gather
    with Stopwatch() as sw:
        total = DBOS.start_workflow(workflow, W2_FANOUT).get_result()
    assert total == sum(i * 2 for i in range(W2_FANOUT)), total
    return {"activities": W2_FANOUT, "fanout": fanout, "seconds": round(sw.elapsed, 3)}


def w3() -> dict[str, float]:
    latencies = []
    for _ in range(W3_ITERATIONS):
        t0 = time.perf_counter()
        result = DBOS.start_workflow(hello_once).get_result()
        latencies.append(time.perf_counter() - t0)
        assert result == f"Hello {CITIES[0]}!"
    return w3_figures(latencies)


def main() -> None:
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--fanout", choices=("queue", "gather"), default="queue",
                       help="W2's fan-out: child workflows on a queue, or asyncio.gather of steps")
    args = parse_args("dbos", extra)
    with scratch_database(args.pg) as where:
        url = args.pg or f"sqlite:///{os.path.join(where, 'dbos.sqlite')}"
        config: DBOSConfig = {"name": "perdure-bench", "system_database_url": url,
                              "log_level": "WARNING"}
        DBOS(config=config)
        DBOS.launch()
        try:
            DBOS.register_queue(FANOUT_QUEUE)
            DBOS.start_workflow(hello_sequence).get_result()  # warm-up
            if args.workload == "W1":
                figures = w1()
            elif args.workload == "W2":
                figures = w2(args.fanout)
            else:
                figures = w3()
        finally:
            DBOS.destroy()
    emit("dbos", args.workload, "postgres" if args.pg else "sqlite", figures)


if __name__ == "__main__":
    main()
