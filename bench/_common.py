"""Plumbing shared by the workload modules: sizes, CLI, scratch databases, the one JSON line."""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

WORKLOADS = ("W1", "W2", "W3")
CITIES = ("Tokyo", "Seattle", "London")
W1_INSTANCES = 500  # hello-sequence instances started back to back
W2_FANOUT = 1000  # activities fanned out by one orchestration
W3_ITERATIONS = 200  # sequential start-and-wait round trips


def parse_args(engine: str, extra: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog=f"{engine}_workloads.py", parents=[extra] if extra else [],
        description=f"Run one {engine} workload and print one JSON line.",
    )
    p.add_argument("workload", choices=WORKLOADS)
    p.add_argument("--pg", metavar="URL", help="PostgreSQL URL (postgresql://user@host:port/db); "
                   "the database is created for the run and dropped after. Default: SQLite")
    p.add_argument("--synchronous", choices=("NORMAL", "FULL"), default="NORMAL",
                   help="SQLite PRAGMA synchronous, for engines that let it be chosen")
    return p.parse_args()


@contextmanager
def scratch_database(pg_url: str | None) -> Iterator[str]:
    """Yield a fresh place for the run's database, removed afterwards.

    With ``pg_url``: (re)create the database it names and yield the URL. Otherwise yield a new
    temporary directory, in which the engine puts its SQLite file.
    """
    if pg_url is None:
        tmp = tempfile.mkdtemp(prefix="perdure-bench-")
        try:
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    import psycopg
    from psycopg import sql

    conninfo = psycopg.conninfo.conninfo_to_dict(pg_url)
    dbname = conninfo.pop("dbname")
    admin = psycopg.conninfo.make_conninfo(**{**conninfo, "dbname": "postgres"})

    def admin_exec(stmt: str) -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL(stmt).format(sql.Identifier(dbname)))

    admin_exec("DROP DATABASE IF EXISTS {} WITH (FORCE)")
    admin_exec("CREATE DATABASE {}")
    try:
        yield pg_url
    finally:
        admin_exec("DROP DATABASE IF EXISTS {} WITH (FORCE)")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n*q/100), at least 1
    return ordered[int(rank) - 1]


def w1_figures(elapsed: float, activities_per_instance: int = len(CITIES)) -> dict[str, float]:
    return {
        "instances": W1_INSTANCES,
        "seconds": round(elapsed, 3),
        "instances_per_s": round(W1_INSTANCES / elapsed, 1),
        "activities_per_s": round(W1_INSTANCES * activities_per_instance / elapsed, 1),
    }


def w3_figures(latencies_s: list[float]) -> dict[str, float]:
    ms = [x * 1000 for x in latencies_s]
    return {
        "iterations": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "mean_ms": round(sum(ms) / len(ms), 2),
    }


def emit(engine: str, workload: str, store: str, figures: dict[str, Any]) -> None:
    """Print the run's one JSON line, with this process's peak RSS (Linux reports KiB)."""
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    line = {"engine": engine, "workload": workload, "store": store, **figures,
            "peak_rss_mb": round(peak_kib / 1024, 1)}
    print(json.dumps(line), flush=True)


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.elapsed`` (seconds, perf_counter)."""

    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.start
