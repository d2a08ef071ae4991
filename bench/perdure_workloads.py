"""W1-W3 on perdure; ``python bench/perdure_workloads.py W1`` prints one JSON line.

Activities are ``@app.activity`` functions and orchestrations ``@app.orchestrator`` generators.
One ``perdure.Worker`` runs in this process for the whole run, and a ``perdure.Client`` on the
same store starts instances and waits for them, as an application would. The store is SQLite in
a fresh temporary directory (``sqlite:///<tmp>/perdure.db?synchronous=NORMAL|FULL``, from
``--synchronous``), or with ``--pg URL`` a PostgreSQL database created for the run and dropped
after it. The perdure imported is this checkout's (``src/`` comes first on ``sys.path``).

- W1: ``client.start_new`` 500 hello sequences back to back, then ``wait_for_completion`` each.
- W2: one ``fan_out`` orchestration calls ``double`` 1,000 times and ``task_all``-s them; timed
  from ``start_new`` to its completed status.
- W3: 200 times, ``start_new`` of a one-activity orchestration then ``wait_for_completion``.

Each run first completes one warm-up instance (not timed). Timings use ``time.perf_counter``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from _common import (  # noqa: E402
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

import perdure  # noqa: E402

WAIT_TIMEOUT = 600.0  # seconds; generous, a run is bounded by run.py's own timeout anyway

app = perdure.App()


@app.activity
def say_hello(city: str) -> str:
    return f"Hello {city}!"


@app.activity
def double(i: int) -> int:
    return i * 2


@app.orchestrator
def hello_sequence(ctx: perdure.OrchestrationContext):  # type: ignore[no-untyped-def]
    out = []
    for city in CITIES:
        out.append((yield ctx.call_activity("say_hello", city)))
    return out


@app.orchestrator
def hello_once(ctx: perdure.OrchestrationContext):  # type: ignore[no-untyped-def]
    return (yield ctx.call_activity("say_hello", CITIES[0]))


@app.orchestrator
def fan_out(ctx: perdure.OrchestrationContext):  # type: ignore[no-untyped-def]
    tasks = [ctx.call_activity("double", i) for i in range(ctx.get_input())]
    return sum((yield ctx.task_all(tasks)))


async def run_one(client: perdure.Client, name: str, input: object = None) -> object:
    iid = await client.start_new(name, input=input)
    return await finished(client, iid)


async def finished(client: perdure.Client, iid: str) -> object:
    status = await client.wait_for_completion(iid, timeout=WAIT_TIMEOUT)
    if status.runtime_status != "Completed":  # a str enum
        raise RuntimeError(f"instance {iid} ended {status.runtime_status}: {status!r}")
    return status.output


async def w1(client: perdure.Client) -> dict[str, float]:
    with Stopwatch() as sw:
        iids = [await client.start_new("hello_sequence", input=None) for _ in range(W1_INSTANCES)]
        results = [await finished(client, iid) for iid in iids]
    assert all(r == [f"Hello {c}!" for c in CITIES] for r in results)
    return w1_figures(sw.elapsed)


async def w2(client: perdure.Client) -> dict[str, float]:
    with Stopwatch() as sw:
        total = await run_one(client, "fan_out", W2_FANOUT)
    assert total == sum(i * 2 for i in range(W2_FANOUT)), total
    return {"activities": W2_FANOUT, "seconds": round(sw.elapsed, 3)}


async def w3(client: perdure.Client) -> dict[str, float]:
    latencies = []
    for _ in range(W3_ITERATIONS):
        t0 = time.perf_counter()
        result = await run_one(client, "hello_once")
        latencies.append(time.perf_counter() - t0)
        assert result == f"Hello {CITIES[0]}!"
    return w3_figures(latencies)


async def run(workload: str, url: str) -> dict[str, float]:
    store = perdure.create_store(url)
    try:
        async with perdure.Worker(app, store):
            client = perdure.Client(store, app=app)
            await run_one(client, "hello_sequence")  # warm-up
            return await {"W1": w1, "W2": w2, "W3": w3}[workload](client)
    finally:
        await store.close()


def main() -> None:
    args = parse_args("perdure")
    with scratch_database(args.pg) as where:
        db_file = os.path.join(where, "perdure.db")
        url = args.pg or f"sqlite:///{db_file}?synchronous={args.synchronous}"
        figures = asyncio.run(run(args.workload, url))
        if not args.pg and not os.path.exists(db_file):  # the URL must have meant our temp dir
            raise SystemExit(f"perdure did not write {db_file}: check the SQLite URL form")
    store = "postgres" if args.pg else f"sqlite-{args.synchronous.lower()}"
    emit("perdure", args.workload, store, figures)


if __name__ == "__main__":
    main()
