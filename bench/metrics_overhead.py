"""W1 with the worker's metrics counting against a checkout without it, side by side.

    python bench/metrics_overhead.py --baseline DIR [--runs 10] [--workload W1]

``DIR`` is a checkout of the same code with the counting removed from
``perdure/worker/worker.py`` (the ``self.metrics`` / ``count_*`` / ``*.observe``
lines; for the figures in docs/operations.md it was a detached worktree of the
same commit with those 19 lines deleted). Runs alternate between the two
checkouts (``bench/perdure_workloads.py`` of each, a fresh subprocess and
database per run), so load on the machine hits both alike; the report gives
each side's median instances/s, the median of the per-pair ratios, and the
load average seen at each run. Counting costs a few integer increments and
``bisect`` calls per step: the ratio should sit at 1.00 within the noise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(checkout: str, workload: str) -> float:
    out = subprocess.run([sys.executable, os.path.join(checkout, "bench", "perdure_workloads.py"),
                          workload, "--synchronous", "NORMAL"],
                         capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["instances_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", required=True, help="checkout without the counting")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--workload", default="W1")
    args = parser.parse_args()
    on: list[float] = []
    off: list[float] = []
    loads: list[float] = []
    for i in range(args.runs):
        order = [(ROOT, on), (args.baseline, off)]
        for checkout, figures in order if i % 2 == 0 else order[::-1]:
            loads.append(os.getloadavg()[0])
            figures.append(run(checkout, args.workload))
        print(f"run {i + 1}: on {on[-1]:.0f}/s, off {off[-1]:.0f}/s", file=sys.stderr)
    ratios = [a / b for a, b in zip(on, off, strict=True)]
    print(json.dumps({
        "workload": args.workload, "runs": args.runs,
        "on_instances_per_s": round(statistics.median(on), 1),
        "off_instances_per_s": round(statistics.median(off), 1),
        "median_ratio_on_off": round(statistics.median(ratios), 3),
        "ratio_of_medians": round(statistics.median(on) / statistics.median(off), 3),
        "load_average": [round(min(loads), 1), round(statistics.median(loads), 1),
                         round(max(loads), 1)],
        "cpus": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()
