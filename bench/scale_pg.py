"""Scale-out on PostgreSQL: W1 and W2 with 1, 2 and 4 worker processes, next to DBOS.

    python bench/scale_pg.py [--workers 1,2,4] [--workloads W1,W2] [--runs 3]
                             [--pg-server postgresql://postgres@127.0.0.1:5432] [--no-dbos]

For each run, each workload and each worker count, a fresh database is created on the server,
N ``perdure worker bench/perdure_workloads.py --store <db>`` processes are started (each its own
Python process with its own connection pool and LISTEN connection), and this process acts as the
application: a ``perdure.Client`` on the same database starts the instances and waits for them.
Timing starts once every worker is listening and a warm-up of 50 instances per worker has
completed (connections opened, statements prepared). W1 starts
500 hello sequences and waits for all (instances/s): the client keeps up to ``--concurrency``
starts in flight (default 32), as a frontend serving many requests does, so that the client is not
what is measured (``--concurrency 1`` starts them back to back), and waits for all of them at once
(concurrent status reads share statements). W2 starts one orchestration that
fans out to 1,000 activities (seconds to its result). Sizes come from ``_common.py``.

DBOS runs the same workloads on the same server in the same run, through
``bench/dbos_workloads.py W1|W2 --pg <db>`` (its own fresh database; one process, as DBOS runs).

Runs are interleaved (every configuration once, then again...) and figures are medians over
``--runs``. Stdout gets one JSON line per configuration and run, then one summary line with the
medians, the scaling over one worker (of the medians, and paired within each run:
``scaling_per_run``), and the ratios to DBOS (W1: perdure instances/s / DBOS instances/s; W2:
DBOS seconds / perdure seconds; > 1 means perdure is better). Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))
sys.path.insert(0, HERE)

import psycopg  # noqa: E402
from _common import (  # noqa: E402
    CITIES,
    W1_INSTANCES,
    W2_FANOUT,
    Stopwatch,
    scratch_database,
)

import perdure  # noqa: E402
from perdure.store.postgres import parse_postgres_url  # noqa: E402

APP = os.path.join(HERE, "perdure_workloads.py")
ORCHESTRATORS = ("hello_sequence", "hello_once", "fan_out")
WAIT = 600.0
WARM_UP = 50  # instances per worker, before timing


def start_workers(url: str, count: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-m", "perdure.cli", "worker", APP, "--store", url],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for _ in range(count)]


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def wait_listening(url: str, count: int, procs: list[subprocess.Popen[bytes]]) -> None:
    """Wait until ``count`` workers hold a LISTEN connection on the database."""
    conninfo, _ = parse_postgres_url(url)  # without perdure's own options
    dbname = psycopg.conninfo.conninfo_to_dict(conninfo)["dbname"]
    deadline = time.monotonic() + 60
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        while True:
            for proc in procs:
                if proc.poll() is not None:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"worker exited {proc.returncode}: {err[-800:]}")
            row = await (await conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                "AND query LIKE 'LISTEN %%perdure_%%_to_%%'", (dbname,))).fetchone()
            if row and row[0] >= count:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {row[0] if row else 0} of {count} workers listening")
            await asyncio.sleep(0.05)


async def finished(client: perdure.Client, iid: str) -> Any:
    status = await client.wait_for_completion(iid, timeout=WAIT)
    if status.runtime_status != "Completed":
        raise RuntimeError(f"instance {iid} ended {status.runtime_status}: {status!r}")
    return status.output


async def start_all(client: perdure.Client, count: int, concurrency: int) -> list[str]:
    """Start ``count`` hello sequences with up to ``concurrency`` starts in flight."""
    gate = asyncio.Semaphore(concurrency)

    async def start() -> str:
        async with gate:
            return await client.start_new("hello_sequence")

    return list(await asyncio.gather(*(start() for _ in range(count))))


async def perdure_run(workload: str, url: str, workers: int, concurrency: int,
                      instances: int) -> dict[str, Any]:
    procs = start_workers(url, workers)
    try:
        client = perdure.Client(url, orchestrators=ORCHESTRATORS)
        try:
            await client.get_status("none")  # opens the store: creates the schema
            await wait_listening(url, workers + 1, procs)  # + this client's own listener
            # Warm-up (not timed): every worker's connections opened, its statements
            # prepared, its code paths run, as in a process that has been serving.
            await asyncio.gather(*(finished(client, iid) for iid in
                                   await start_all(client, WARM_UP * workers, concurrency)))
            if workload == "W1":
                with Stopwatch() as sw:
                    iids = await start_all(client, instances, concurrency)
                    results = await asyncio.gather(*(finished(client, iid) for iid in iids))
                assert all(r == [f"Hello {c}!" for c in CITIES] for r in results)
                return {"instances": instances, "seconds": round(sw.elapsed, 3),
                        "instances_per_s": round(instances / sw.elapsed, 1),
                        "activities_per_s": round(instances * len(CITIES) / sw.elapsed, 1),
                        "concurrency": concurrency}
            with Stopwatch() as sw:
                total = await finished(client, await client.start_new("fan_out", input=W2_FANOUT))
            assert total == sum(i * 2 for i in range(W2_FANOUT)), total
            return {"activities": W2_FANOUT, "seconds": round(sw.elapsed, 3)}
        finally:
            await client.close()
    finally:
        stop_workers(procs)


def run_perdure(workload: str, workers: int, server: str, run: int,
                concurrency: int, instances: int = W1_INSTANCES,
                options: str = "") -> dict[str, Any]:
    base = {"engine": "perdure", "workload": workload, "workers": workers, "run": run}
    url = f"{server}/bench_scale_{os.getpid()}"
    try:
        with scratch_database(url):
            store_url = f"{url}?{options}" if options else url
            figures = asyncio.run(perdure_run(workload, store_url, workers, concurrency,
                                              instances))
    except Exception as exc:  # noqa: BLE001 - a failed run is reported, not fatal
        return {**base, "error": f"{type(exc).__name__}: {exc}"}
    return {**base, **figures}


def run_dbos(workload: str, server: str, run: int, timeout: float) -> dict[str, Any]:
    base = {"engine": "dbos", "workload": workload, "workers": 1, "run": run}
    cmd = [sys.executable, os.path.join(HERE, "dbos_workloads.py"), workload,
           "--pg", f"{server}/bench_scale_dbos_{os.getpid()}"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**base, "error": f"timed out after {timeout} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {**base, "error": f"exit {proc.returncode}: " + " | ".join(tail)}
    figures = json.loads(lines[-1])
    return {**base, **{k: v for k, v in figures.items() if k not in ("engine", "workload")}}


FIELD = {"W1": "instances_per_s", "W2": "seconds"}


def paired_scaling(ok: list[dict[str, Any]], workload: str,
                   workers: list[int]) -> dict[str, dict[str, Any]]:
    """N workers over 1 worker within each run (the machine's speed drifts between
    runs, not within one), and the median of those ratios (> 1: N workers are better)."""
    field = FIELD[workload]
    by_run: dict[int, dict[int, float]] = {}
    for r in ok:
        if r["engine"] == "perdure" and r["workload"] == workload:
            by_run.setdefault(r["run"], {})[r["workers"]] = r[field]
    out: dict[str, dict[str, Any]] = {}
    for n in workers:
        ratios = [round(v[n] / v[1] if workload == "W1" else v[1] / v[n], 2)
                  for v in by_run.values() if 1 in v and n in v and v[1] and v[n]]
        if ratios:
            out[str(n)] = {"median": round(statistics.median(ratios), 2), "runs": ratios}
    return out


def summarize(results: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    ok = [r for r in results if "error" not in r]

    def median(engine: str, workload: str, workers: int) -> float | None:
        values = [r[FIELD[workload]] for r in ok if r["engine"] == engine
                  and r["workload"] == workload and r["workers"] == workers]
        return round(statistics.median(values), 3) if values else None

    out: dict[str, Any] = {"summary": True, "runs": args.runs, "concurrency": args.concurrency,
                           "w1_instances": args.w1_instances,
                           "store_options": args.store_options,
                           "failed_runs": len(results) - len(ok)}
    for workload in args.workloads:
        field = FIELD[workload]
        perdure_by_n = {n: median("perdure", workload, n) for n in args.workers}
        dbos = median("dbos", workload, 1) if args.dbos else None
        entry: dict[str, Any] = {"of": field, "perdure": {str(n): v for n, v in
                                                          perdure_by_n.items()}, "dbos": dbos}
        one = perdure_by_n.get(1)
        if one:
            entry["scaling_vs_1_worker"] = {
                str(n): round(v / one if workload == "W1" else one / v, 2)
                for n, v in perdure_by_n.items() if v}
            entry["scaling_per_run"] = paired_scaling(ok, workload, args.workers)
        if dbos:
            entry["vs_dbos"] = {
                str(n): round(v / dbos if workload == "W1" else dbos / v, 2)
                for n, v in perdure_by_n.items() if v}
        out[workload] = entry
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", default="1,2,4", help="comma list of worker process counts")
    p.add_argument("--workloads", default="W1,W2", help="comma list of W1,W2")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--pg-server", default="postgresql://postgres@127.0.0.1:5432",
                   help="PostgreSQL server; scratch databases are created and dropped there")
    p.add_argument("--concurrency", type=int, default=32,
                   help="W1: starts the client keeps in flight (1: back to back)")
    p.add_argument("--w1-instances", type=int, default=W1_INSTANCES,
                   help="W1 size for perdure (DBOS keeps _common.W1_INSTANCES); a larger run "
                        "measures steady-state throughput rather than a 0.3 s burst")
    p.add_argument("--store-options", default="",
                   help="query string added to perdure's store URL (e.g. affinity=0.1)")
    p.add_argument("--no-dbos", dest="dbos", action="store_false", help="skip DBOS")
    p.add_argument("--timeout", type=float, default=900, help="seconds allowed for a DBOS run")
    args = p.parse_args()
    args.workers = [int(n) for n in args.workers.split(",") if n]
    args.workloads = [w for w in args.workloads.split(",") if w]
    if bad := set(args.workloads) - set(FIELD):
        p.error(f"unknown workload: {', '.join(sorted(bad))}")
    server = args.pg_server.rstrip("/")

    results = []
    for run in range(1, args.runs + 1):
        for workload in args.workloads:
            configs: list[tuple[str, int]] = [("perdure", n) for n in args.workers]
            if args.dbos:
                configs.append(("dbos", 1))
            for engine, workers in configs:
                t0 = time.monotonic()
                if engine == "perdure":
                    result = run_perdure(workload, workers, server, run, args.concurrency,
                                         args.w1_instances, args.store_options)
                else:
                    result = run_dbos(workload, server, run, args.timeout)
                status = f"FAILED: {result['error']}" if "error" in result else \
                    f"{result[FIELD[workload]]} {FIELD[workload]}"
                print(f"  run {run} {workload} {engine} x{workers}: {status} "
                      f"({time.monotonic() - t0:.1f} s)", file=sys.stderr)
                print(json.dumps(result), flush=True)
                results.append(result)
    print(json.dumps(summarize(results, args)), flush=True)


if __name__ == "__main__":
    main()
