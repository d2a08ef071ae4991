"""Benchmark perdure against DBOS, side by side, in one command.

    python bench/run.py [--engines perdure,dbos,perdure-df] [--workloads W1,W2,W3] [--runs 3]
                        [--synchronous NORMAL|FULL] [--store sqlite|postgres]

Workloads (sizes in ``_common.py``; each engine implements them in ``<engine>_workloads.py``):

- W1: 500 instances of a 3-activity hello sequence (Tokyo, Seattle, London), started as fast as
  the client allows, until all complete: instances/s and activities/s.
- W2: one orchestration fans out to 1,000 activities and sums them: seconds from start to result.
- W3: 200 sequential start-and-wait of a one-activity orchestration: p50/p99 latency in ms.

Every (engine, workload) pair runs in a fresh subprocess, so imports, caches and peak RSS
(``ru_maxrss`` of that process, read at its end) do not bleed between them, and against a fresh
database: a temporary SQLite file, or with ``--store postgres`` a scratch PostgreSQL database
(created and dropped by the workload; server from ``--pg-server``). The machine is small and
noisy, so runs are interleaved (run 1 of every pair, then run 2, ...) and each engine's figures
are the median over ``--runs``. Ratios are computed per run from the two engines' figures of that
same run, and the median of those is reported (perdure/DBOS; > 1 means perdure is better for W1
and W2, < 1 means perdure is better for W3):

- W1: perdure instances/s / DBOS instances/s
- W2: DBOS seconds / perdure seconds
- W3: perdure p50 / DBOS p50

With ``perdure-df`` among the engines (the same workloads as an unmodified Azure Durable
Functions app, ``df_app/function_app.py``, hosted by ``perdure.azure``), the same forms also
compare it with native perdure (``W1 perdure-df/perdure``: > 1/3 is the target for W1).

Stdout gets one JSON line per run, then one summary line; progress and failures go to stderr.
A failed run prints a JSON line with an ``error`` field and is left out of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ENGINES = ("perdure", "dbos", "perdure-df")
SCRIPTS = {"perdure": "perdure_workloads.py", "dbos": "dbos_workloads.py",
           "perdure-df": "perdure_df_workloads.py"}
RATIOS = {  # workload: (field, how the ratio is formed from (perdure, dbos) values)
    "W1": ("instances_per_s", lambda p, d: p / d),
    "W2": ("seconds", lambda p, d: d / p),
    "W3": ("p50_ms", lambda p, d: p / d),
}


def run_once(engine: str, workload: str, args: argparse.Namespace, run: int) -> dict:
    cmd = [sys.executable, os.path.join(HERE, SCRIPTS[engine]), workload,
           "--synchronous", args.synchronous]
    if args.store == "postgres":
        cmd += ["--pg", f"{args.pg_server.rstrip('/')}/bench_{engine}_{workload}_{os.getpid()}"]
    if engine == "dbos":
        cmd += ["--fanout", args.dbos_fanout]
    base = {"engine": engine, "workload": workload, "run": run}
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {**base, "error": f"timed out after {args.timeout} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {**base, "error": f"exit {proc.returncode}: " + " | ".join(tail)}
    print(f"  {engine} {workload} run {run}: {time.monotonic() - t0:.1f} s", file=sys.stderr)
    return {**base, **json.loads(lines[-1])}


def summarize(results: list[dict], args: argparse.Namespace) -> dict:
    ok = [r for r in results if "error" not in r]
    medians: dict[str, dict[str, dict[str, float]]] = {}
    for engine in args.engines:
        for workload in args.workloads:
            runs = [r for r in ok if r["engine"] == engine and r["workload"] == workload]
            if not runs:
                continue
            fields = [k for k, v in runs[0].items()
                      if isinstance(v, int | float) and not isinstance(v, bool) and k != "run"]
            medians.setdefault(engine, {})[workload] = {
                k: round(statistics.median(r[k] for r in runs), 3) for k in fields}
    ratios: dict[str, dict[str, float | int | str]] = {}
    for workload, (field, form) in RATIOS.items():
        per_run = []
        for run in range(1, args.runs + 1):
            pair = {r["engine"]: r[field] for r in ok if r["workload"] == workload
                    and r["run"] == run and field in r}
            if "perdure" in pair and "dbos" in pair:
                per_run.append(form(pair["perdure"], pair["dbos"]))
        if per_run:
            ratios[workload] = {"median": round(statistics.median(per_run), 3),
                                "per_run": [round(x, 3) for x in per_run], "of": field}
        # The Durable Functions app on perdure, against native perdure (same forms).
        df_runs = []
        for run in range(1, args.runs + 1):
            pair = {r["engine"]: r[field] for r in ok if r["workload"] == workload
                    and r["run"] == run and field in r}
            if "perdure" in pair and "perdure-df" in pair:
                df_runs.append(form(pair["perdure-df"], pair["perdure"]))
        if df_runs:
            ratios[f"{workload} perdure-df/perdure"] = {
                "median": round(statistics.median(df_runs), 3),
                "per_run": [round(x, 3) for x in df_runs], "of": field}
    return {"summary": True, "runs": args.runs, "store": args.store,
            "synchronous": args.synchronous, "dbos_fanout": args.dbos_fanout,
            "failed_runs": len(results) - len(ok), "medians": medians, "ratios": ratios}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--engines", default="perdure,dbos",
                   help="comma list of perdure,dbos,perdure-df")
    p.add_argument("--workloads", default="W1,W2,W3", help="comma list of W1,W2,W3")
    p.add_argument("--runs", type=int, default=3, help="runs of each (engine, workload)")
    p.add_argument("--synchronous", choices=("NORMAL", "FULL"), default="NORMAL",
                   help="perdure's SQLite PRAGMA synchronous (DBOS keeps its own defaults)")
    p.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--pg-server", default="postgresql://postgres@127.0.0.1:5432",
                   help="PostgreSQL server for --store postgres (scratch databases go there)")
    p.add_argument("--dbos-fanout", choices=("queue", "gather"), default="queue",
                   help="DBOS's W2 fan-out (see dbos_workloads.py)")
    p.add_argument("--timeout", type=float, default=900, help="seconds allowed for one run")
    args = p.parse_args()
    args.engines = [e for e in args.engines.split(",") if e]
    args.workloads = [w for w in args.workloads.split(",") if w]
    if bad := set(args.engines) - set(ENGINES) | set(args.workloads) - set(RATIOS):
        p.error(f"unknown engine or workload: {', '.join(sorted(bad))}")

    results = []
    for run in range(1, args.runs + 1):
        for workload in args.workloads:
            for engine in args.engines:
                result = run_once(engine, workload, args, run)
                if "error" in result:
                    print(f"  {engine} {workload} run {run} FAILED: {result['error']}",
                          file=sys.stderr)
                print(json.dumps(result), flush=True)
                results.append(result)
    print(json.dumps(summarize(results, args)), flush=True)


if __name__ == "__main__":
    main()
