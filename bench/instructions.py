"""Instructions per W1 instance and per W3 round trip, counted by valgrind, side by side.

    python bench/instructions.py [--workloads W1,W3] [--variants new=src,base=/tmp/base/src]
                                 [--sizes 100,400] [--runs 1]

On this shared machine a wall-clock figure swings by a third from one minute to the next, more
than most changes move it. The instructions a workload executes repeat to within a few tenths
of a percent, so they tell a small change from noise: count them before and after (a variant is
``name=path`` of a ``src`` directory, as in ``scale.py``), then confirm a gain on the clock with
``run.py``. They miss what the kernel does (a commit's writes, a thread's wake-up) and count a
memset by the byte: an I/O or a latency change must be judged by the clock alone.

Each (variant, workload) runs at two sizes, each in a fresh process under ``valgrind
--tool=callgrind`` with SQLite NORMAL in a temporary directory (in memory where ``/dev/shm``
exists); start-up, imports and the warm-up cancel out of ``(count(large) - count(small)) /
(large - small)``. W1 starts that many hello sequences back to back and waits for them all; W3
runs that many start-and-wait round trips of a one-activity orchestration. Every variant's
sources are compiled first (the environment may forbid writing bytecode, and compiling would be
counted). Stdout gets one JSON line per measurement, then a summary with each variant's median
and its ratio to the first variant. Needs valgrind (``apt-get install -y valgrind``); a run of
400 W3 round trips takes about half a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = ("W1", "W3")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", default="W1,W3", help="comma list of W1,W3")
    p.add_argument("--variants", default=f"new={os.path.join(HERE, '..', 'src')}",
                   help="comma list of name=path of a src directory")
    p.add_argument("--sizes", default="100,400", help="the two sizes, small,large")
    p.add_argument("--runs", type=int, default=1, help="measurements of each pair")
    p.add_argument("--child", nargs=3, metavar=("SRC", "WORKLOAD", "SIZE"),
                   help=argparse.SUPPRESS)  # the measured process
    return p.parse_args()


def child(src: str, workload: str, size: int) -> None:
    """Run ``size`` of ``workload`` against the perdure at ``src``."""
    sys.path.insert(0, src)
    import perdure  # noqa: F401 - the variant's, before the workloads module puts ours first

    sys.path.insert(0, HERE)
    import perdure_workloads as pw

    async def run(url: str) -> None:
        store = pw.perdure.create_store(url)
        try:
            async with pw.perdure.Worker(pw.app, store):
                client = pw.perdure.Client(store, app=pw.app)
                await pw.run_one(client, "hello_sequence")  # warm-up
                if workload == "W1":
                    ids = [await client.start_new("hello_sequence") for _ in range(size)]
                    for instance_id in ids:
                        await pw.finished(client, instance_id)
                else:
                    for _ in range(size):
                        await pw.run_one(client, "hello_once")
        finally:
            await store.close()

    where = tempfile.mkdtemp(dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        asyncio.run(run(f"sqlite:///{where}/hub.db?synchronous=NORMAL"))
    finally:
        shutil.rmtree(where, ignore_errors=True)


def count(src: str, workload: str, size: int, env: dict[str, str]) -> int:
    """Instructions of one child process under callgrind."""
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
           os.path.abspath(__file__), "--child", src, workload, str(size)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    found = re.search(r"Collected\s*:\s*([\d,]+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        tail = " | ".join(proc.stderr.strip().splitlines()[-5:])
        raise SystemExit(f"{workload} of {src} failed (exit {proc.returncode}): {tail}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    args = parse_args()
    if args.child is not None:
        src, workload, size = args.child
        child(src, workload, int(size))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install -y valgrind)")
    workloads = [w for w in args.workloads.split(",") if w]
    if bad := set(workloads) - set(WORKLOADS):
        raise SystemExit(f"unknown workload(s): {', '.join(sorted(bad))}")
    small, large = (int(s) for s in args.sizes.split(","))
    if not 0 < small < large:
        raise SystemExit("--sizes takes two sizes, the smaller first")
    variants = [(name, os.path.abspath(src))
                for name, src in (v.split("=", 1) for v in args.variants.split(","))]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for _, src in variants:
        subprocess.run([sys.executable, "-m", "compileall", "-q", src, HERE], env=env,
                       check=True, stdout=subprocess.DEVNULL)
    per_unit: dict[tuple[str, str], list[float]] = {}
    for run in range(1, args.runs + 1):
        for workload in workloads:
            for name, src in variants:
                difference = count(src, workload, large, env) - count(src, workload, small, env)
                value = difference / (large - small)
                per_unit.setdefault((name, workload), []).append(value)
                print(json.dumps({"variant": name, "workload": workload, "run": run,
                                  "instructions_per_unit": round(value)}), flush=True)
    summary: dict[str, dict[str, dict[str, float]]] = {}
    first = variants[0][0]
    for workload in workloads:
        for name, _ in variants:
            median = statistics.median(per_unit[(name, workload)])
            base = statistics.median(per_unit[(first, workload)])
            summary.setdefault(workload, {})[name] = {
                "instructions_per_unit": round(median), f"vs_{first}": round(median / base, 4)}
    print(json.dumps({"summary": summary, "unit": {"W1": "instance", "W3": "round trip"},
                      "sizes": [small, large]}), flush=True)


if __name__ == "__main__":
    main()
