"""Throughput and memory as the work grows: one worker drains N hello sequences.

    python bench/scale.py [--sizes 2000,20000,200000] [--stores sqlite,postgres]
                          [--modes backlog,live] [--runs 1] [--variants new=src,base=/tmp/base/src]
                          [--cache-mb N] [--pg-server postgresql://postgres@127.0.0.1:5432]

Modes, each at every size N (the default: backlog and live):

- ``backlog``: N hello sequences (3 activities each) are started while no worker runs
  (``starts_per_s``), then one worker starts and drains them (``instances_per_s``, from the
  moment the worker is ready to the last completion).
- ``live``: the worker runs first; N are started back to back while it works
  (``starts_per_s``), and ``instances_per_s`` counts from the first start to the last completion.
- ``waiting``: the worker runs; N instances are started that each wait for an external event;
  once all wait, each is sent its event (32 raises in flight): ``released_per_s`` counts from
  the first raise to the last completion, and the worker's peak RSS covers both phases.

Every (variant, store, mode, size) runs in a fresh pair of processes: a driver (the client:
starts and counts completions with one indexed ``count(*)`` every 0.2 s) and a worker process,
whose peak RSS (``ru_maxrss``) is ``worker_peak_rss_mb``. A variant is a ``name=path`` of a
``src`` directory, so a base checkout and this one run side by side in one command; runs are
interleaved (every configuration once, then again) and figures are medians over ``--runs``.
Stdout gets one JSON line per run, then one summary line with, per variant, store and mode,
each size's medians and its ratio to the smallest size (``vs_smallest``: 1.0 is flat).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SIZES = (2_000, 20_000, 200_000)
POLL = 0.2  # seconds between completion counts
DRAIN_TIMEOUT = 3600.0


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                   help="comma-separated instance counts (default %(default)s)")
    p.add_argument("--stores", default="sqlite", help="sqlite, postgres or both, comma-separated")
    p.add_argument("--modes", default="backlog,live", help="backlog, live or both")
    p.add_argument("--runs", type=int, default=1, help="runs per configuration (median)")
    p.add_argument("--variants", default=f"new={os.path.join(HERE, '..', 'src')}",
                   help="name=src-dir pairs, comma-separated (default: this checkout)")
    p.add_argument("--cache-mb", type=float, default=None,
                   help="the worker's executor-cache budget, for variants that have one")
    p.add_argument("--pg-server", default="postgresql://postgres@127.0.0.1:5432")
    p.add_argument("--timeout", type=float, default=DRAIN_TIMEOUT, help="per run, seconds")
    p.add_argument("--py-spy", metavar="DIR", default=None,
                   help="profile each worker with py-spy (from PATH or the venv) into DIR, as "
                        "collapsed stacks: <variant>-<store>-<mode>-<size>.txt")
    # Internal: the driver and worker processes of one run.
    p.add_argument("--role", choices=("driver", "worker"), help=argparse.SUPPRESS)
    p.add_argument("--src", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--mode", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--profile-to", help=argparse.SUPPRESS)
    return p.parse_args()


# --- the worker process -------------------------------------------------------------------


def worker_main(args: argparse.Namespace) -> None:
    """Run one worker until stdin closes; print ``ready``, then at the end its peak RSS."""
    import dataclasses

    import perdure
    from perdure.cli import _tune_gc_for_serving

    app = perdure.App()

    @app.activity
    def say_hello(city: str) -> str:
        return f"Hello {city}!"

    @app.orchestrator
    def wait_go(ctx: perdure.OrchestrationContext):  # type: ignore[no-untyped-def]
        return (yield ctx.wait_for_external_event("go"))

    @app.orchestrator
    def hello_sequence(ctx: perdure.OrchestrationContext):  # type: ignore[no-untyped-def]
        out = []
        for city in ("Tokyo", "Seattle", "London"):
            out.append((yield ctx.call_activity("say_hello", city)))
        return out

    fields = {f.name for f in dataclasses.fields(perdure.WorkerOptions)}
    options = perdure.WorkerOptions()
    if args.cache_mb is not None and "cache_mb" in fields:
        options.cache_mb = args.cache_mb  # type: ignore[attr-defined]

    async def run() -> None:
        store = perdure.create_store(args.url)
        _tune_gc_for_serving()
        async with perdure.Worker(app, store, options=options):
            print("ready", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await store.close()

    asyncio.run(run())
    print(json.dumps({"peak_rss_mb": round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}), flush=True)


# --- the driver process (the application) -------------------------------------------------


class Counter:
    """Counts completed instances with one indexed query on the task hub."""

    QUERY = "SELECT count(*) FROM instances WHERE runtime_status = '{}'"

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:"):
            path = url.removeprefix("sqlite:///").split("?")[0]
            self._sqlite: sqlite3.Connection | None = sqlite3.connect("/" + path.lstrip("/"))
            self._pg: Any = None
        else:
            import psycopg

            self._sqlite = None
            self._pg = psycopg.connect(url, autocommit=True,
                                       options="-c search_path=perdure")

    #: Whether any instance is still Pending or Running: the index's first entry
    #: answers it, where a count of the finished would read every one of them.
    UNFINISHED = ("SELECT EXISTS (SELECT 1 FROM instances"
                  " WHERE runtime_status IN ('Pending', 'Running'))")

    def unfinished(self) -> bool:
        """Whether some instance has not finished yet (one index probe)."""
        if self._sqlite is not None:
            row = self._sqlite.execute(self.UNFINISHED).fetchone()
        else:
            row = self._pg.execute(self.UNFINISHED).fetchone()
        return bool(row[0])

    def completed(self, status: str = "Completed") -> int:
        """How many instances are in ``status`` (a constant of ours, not user input)."""
        query = self.QUERY.format(status)
        if self._sqlite is not None:
            row = self._sqlite.execute(query).fetchone()
        else:
            row = self._pg.execute(query).fetchone()
        return int(row[0])

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        if self._pg is not None:
            self._pg.close()


def start_worker(args: argparse.Namespace) -> subprocess.Popen[str]:
    cmd = [sys.executable, os.path.abspath(__file__), "--role", "worker", "--src", args.src,
           "--url", args.url]
    if args.cache_mb is not None:
        cmd += ["--cache-mb", str(args.cache_mb)]
    if args.profile_to:
        spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
        cmd = [spy, "record", "--format", "raw", "--rate", "200", "--output", args.profile_to,
               "--", *cmd]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    while line.startswith("py-spy>") or line == "\n":
        line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise RuntimeError(f"worker did not start: {line!r}")
    return proc


def stop_worker(proc: subprocess.Popen[str]) -> float:
    """Close the worker's stdin (it stops), return its peak RSS in MB."""
    out, _ = proc.communicate(input="", timeout=60)
    last = [line for line in out.splitlines() if line.startswith("{")][-1]
    return float(json.loads(last)["peak_rss_mb"])


async def start_all(client: Any, count: int) -> tuple[float, float]:
    """Start ``count`` hello sequences back to back: (starts/s overall, in the last tenth)."""
    tenth = max(1, count // 10)
    t0 = time.perf_counter()
    mark = t0
    for i in range(count):
        if i == count - tenth:
            mark = time.perf_counter()
        await client.start_new("hello_sequence")
    end = time.perf_counter()
    return count / (end - t0), tenth / max(end - mark, 1e-9)


def wait_drained(counter: Counter, target: int, deadline: float,
                 status: str = "Completed") -> float:
    """Poll until ``target`` instances are in ``status``; return the time it happened.

    Completions are polled by asking whether any instance is unfinished, then
    counted once: on PostgreSQL a count over 200,000 finished rows, five times a
    second, took a good part of a core from the worker it measures.
    """
    while True:
        if status == "Completed" and not counter.unfinished():
            done = time.perf_counter()
            finished = counter.completed(status)
            if finished < target:
                raise RuntimeError(f"only {finished} of {target} completed (others failed)")
            return done
        if status != "Completed" and counter.completed(status) >= target:
            return time.perf_counter()
        if time.perf_counter() > deadline:
            raise RuntimeError(f"only {counter.completed()} of {target} completed in time")
        time.sleep(POLL)


async def drive(args: argparse.Namespace) -> dict[str, Any]:
    import perdure

    client = perdure.Client(args.url, orchestrators=("hello_sequence", "wait_go"))
    await client.get_status("none")  # opens the store: creates the schema
    counter = Counter(args.url)
    deadline = time.perf_counter() + args.timeout
    n = args.size
    try:
        if args.mode == "waiting":
            return await waiting(args, client, counter, deadline)
        if args.mode == "backlog":
            starts, starts_last = await start_all(client, n)
            proc = start_worker(args)
            t0 = time.perf_counter()
            done = wait_drained(counter, n, deadline)
        else:
            proc = start_worker(args)
            t0 = time.perf_counter()
            starts, starts_last = await start_all(client, n)
            done = wait_drained(counter, n, deadline)
        rss = stop_worker(proc)
    finally:
        counter.close()
        await client.close()
    return {"instances": n, "seconds": round(done - t0, 2),
            "instances_per_s": round(n / (done - t0), 1), "starts_per_s": round(starts, 1),
            "starts_per_s_last_tenth": round(starts_last, 1), "worker_peak_rss_mb": rss}


async def waiting(args: argparse.Namespace, client: Any, counter: Counter,
                  deadline: float) -> dict[str, Any]:
    """N instances wait on an external event (worker running), then all are released."""
    n = args.size
    proc = start_worker(args)
    t0 = time.perf_counter()
    ids = [await client.start_new("wait_go") for _ in range(n)]
    starts = n / (time.perf_counter() - t0)
    wait_drained(counter, n, deadline, "Running")  # every one stepped once and waits
    gate = asyncio.Semaphore(32)  # raises in flight, as a frontend serving many requests

    async def release(iid: str) -> None:
        async with gate:
            await client.raise_event(iid, "go", 1)

    t1 = time.perf_counter()
    await asyncio.gather(*(release(iid) for iid in ids))
    raised = time.perf_counter() - t1
    done = wait_drained(counter, n, deadline)
    rss = stop_worker(proc)
    return {"instances": n, "starts_per_s": round(starts, 1),
            "raises_per_s": round(n / raised, 1),
            "released_per_s": round(n / (done - t1), 1), "worker_peak_rss_mb": rss,
            "instances_per_s": round(n / (done - t0), 1)}


def driver_main(args: argparse.Namespace) -> None:
    print(json.dumps(asyncio.run(drive(args))), flush=True)


# --- the orchestrating process ------------------------------------------------------------


def one_run(args: argparse.Namespace, variant: str, src: str, store: str, mode: str,
            size: int, run: int) -> dict[str, Any]:
    base = {"variant": variant, "store": store, "mode": mode, "size": size, "run": run}
    tmp = tempfile.mkdtemp(prefix="perdure-scale-")
    db = f"scale_{os.getpid()}_{variant}_{mode}_{size}".lower()
    url = f"sqlite:///{tmp}/hub.db?synchronous=NORMAL" if store == "sqlite" \
        else f"{args.pg_server.rstrip('/')}/{db}"
    cmd = [sys.executable, os.path.abspath(__file__), "--role", "driver", "--src", src,
           "--url", url, "--mode", mode, "--size", str(size)]
    if args.cache_mb is not None:
        cmd += ["--cache-mb", str(args.cache_mb)]
    if args.py_spy:
        os.makedirs(args.py_spy, exist_ok=True)
        cmd += ["--profile-to", os.path.join(os.path.abspath(args.py_spy),
                                             f"{variant}-{store}-{mode}-{size}.txt")]
    sys.path.insert(0, HERE)
    from _common import scratch_database

    t0 = time.monotonic()
    try:
        with scratch_database(None if store == "sqlite" else url):
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=args.timeout + 120)
    except subprocess.TimeoutExpired:
        return {**base, "error": "timed out"}
    finally:
        subprocess.run(["rm", "-rf", tmp], check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {**base, "error": f"exit {proc.returncode}: " + " | ".join(tail)}
    print(f"  {variant} {store} {mode} {size} run {run}: {time.monotonic() - t0:.1f} s",
          file=sys.stderr)
    return {**base, **json.loads(lines[-1])}


def summarize(results: list[dict[str, Any]], sizes: list[int]) -> dict[str, Any]:
    fields = ("instances_per_s", "starts_per_s", "starts_per_s_last_tenth", "worker_peak_rss_mb",
              "released_per_s")
    out: dict[str, Any] = {}
    keys = sorted({(r["variant"], r["store"], r["mode"]) for r in results if "error" not in r})
    for variant, store, mode in keys:
        table: dict[str, Any] = {}
        for size in sizes:
            rows = [r for r in results if "error" not in r and (r["variant"], r["store"],
                    r["mode"], r["size"]) == (variant, store, mode, size)]
            if rows:
                table[str(size)] = {f: statistics.median(r[f] for r in rows)
                                    for f in fields if f in rows[0]}
        first = table.get(str(sizes[0]))
        for figures in table.values():
            if first:
                figures["vs_smallest"] = {
                    f: round(figures[f] / first[f], 3) for f in fields[:2] if f in first}
        out[f"{variant}/{store}/{mode}"] = table
    return out


def warn_without_autovacuum(server: str) -> None:
    """Say so when the server does not vacuum: every consumed message and finished task
    then stays a dead entry at the head of the queue indexes, and a large drain slows
    down (a 50,000 backlog: 577/s without, 721/s with, against about 800/s at 2,000)."""
    import psycopg

    with psycopg.connect(f"{server.rstrip('/')}/postgres", autocommit=True) as conn:
        row = conn.execute("SHOW autovacuum").fetchone()
    if row is not None and row[0] != "on":
        print(f"warning: autovacuum is {row[0]} on {server}: large PostgreSQL drains will "
              "slow down as dead queue entries pile up", file=sys.stderr)


def main() -> None:
    args = parse_args()
    if args.role is not None:
        sys.path.insert(0, os.path.abspath(args.src))
        {"driver": driver_main, "worker": worker_main}[args.role](args)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    variants = [v.split("=", 1) for v in args.variants.split(",")]
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", file=sys.stderr)
    if "postgres" in args.stores.split(","):
        warn_without_autovacuum(args.pg_server)
    results = []
    for run in range(1, args.runs + 1):
        for size in sizes:
            for store in args.stores.split(","):
                for mode in args.modes.split(","):
                    for name, src in variants:
                        result = one_run(args, name, os.path.abspath(src), store, mode,
                                         size, run)
                        print(json.dumps(result), flush=True)
                        results.append(result)
    print(json.dumps({"summary": summarize(results, sizes), "load_at_start": load[0],
                      "load_at_end": os.getloadavg()[0]}), flush=True)


if __name__ == "__main__":
    main()
