"""HTTP load check: concurrent clients start and poll instances on a real ``perdure serve``.

    .venv/bin/python bench/http_load.py [--clients 50] [--duration 30]

Starts ``perdure serve examples/hello.py`` on a fresh SQLite hub on a free
loopback port; each client loops: ``POST …/orchestrators/hello_sequence``
(202), then ``GET`` the returned status URL until it answers 200 Completed.
Afterwards every started instance is checked (lost = not Completed with the
right output). Prints one JSON line: requests/s, p50/p99 latency, errors,
lost instances. The clients use aiohttp, which is light enough that one
process of them does not saturate a core before the server does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "examples" / "hello.py"
START = "/runtime/webhooks/durabletask/orchestrators/hello_sequence"
GREETINGS = ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.started: list[str] = []
        self.completed = 0

    def error(self, what: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(what)
        else:
            self.errors.append("")


async def request(session: aiohttp.ClientSession, stats: Stats, method: str,
                  url: str) -> tuple[int, object]:
    """One timed request; returns (status, parsed JSON body or None)."""
    began = time.perf_counter()
    try:
        async with session.request(method, url) as response:
            body = await response.read()
            return response.status, json.loads(body) if body else None
    finally:
        stats.latencies.append(time.perf_counter() - began)


async def client_loop(session: aiohttp.ClientSession, url: str, stats: Stats, deadline: float,
                      poll_interval: float) -> None:
    while time.perf_counter() < deadline:
        try:
            status, payload = await request(session, stats, "POST", url + START)
            if status != 202 or not isinstance(payload, dict):
                stats.error(f"start: {status} {str(payload)[:200]}")
                continue
            stats.started.append(payload["id"])
            status_url = payload["statusQueryGetUri"]
            while True:
                await asyncio.sleep(poll_interval)
                status, body = await request(session, stats, "GET", status_url)
                if status == 202:
                    if time.perf_counter() > deadline + 10:
                        stats.error(f"{payload['id']} still running after the run")
                        break
                    continue
                if status == 200 and isinstance(body, dict) and body["output"] == GREETINGS:
                    stats.completed += 1
                else:
                    stats.error(f"status: {status} {str(body)[:200]}")
                break
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            stats.error(f"{type(exc).__name__}: {exc}")


async def verify(url: str, ids: list[str]) -> int:
    """How many started instances are not Completed with the right output (after a drain)."""
    lost = 0
    stats = Stats()
    async with aiohttp.ClientSession() as session:
        for instance_id in ids:
            deadline = time.perf_counter() + 30
            while True:
                status, body = await request(
                    session, stats, "GET",
                    f"{url}/runtime/webhooks/durabletask/instances/{instance_id}")
                if status == 202 and time.perf_counter() < deadline:
                    await asyncio.sleep(0.05)
                    continue
                if status != 200 or not isinstance(body, dict) or body["output"] != GREETINGS:
                    lost += 1
                break
    return lost


def start_server(store_url: str) -> tuple[subprocess.Popen[bytes], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "perdure.cli", "serve", str(APP), "--store", store_url,
         "--port", "0"], stdout=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if select.select([process.stdout], [], [], 0.1)[0]:
            line = process.stdout.readline().decode()
            if line.startswith("perdure serving "):
                return process, line.split()[2]
        if process.poll() is not None:
            break
    process.kill()
    raise SystemExit("perdure serve did not start")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def run(args: argparse.Namespace, url: str) -> dict[str, object]:
    stats = Stats()
    connector = aiohttp.TCPConnector(limit=args.clients)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        began = time.perf_counter()
        deadline = began + args.duration
        await asyncio.gather(*(client_loop(session, url, stats, deadline, args.poll_interval)
                               for _ in range(args.clients)))
        elapsed = time.perf_counter() - began
    lost = await verify(url, stats.started)
    return {
        "bench": "http_load", "clients": args.clients, "duration_s": round(elapsed, 2),
        "requests": len(stats.latencies),
        "requests_per_s": round(len(stats.latencies) / elapsed, 1),
        "p50_ms": round(percentile(stats.latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(stats.latencies, 0.99) * 1000, 2),
        "instances_started": len(stats.started), "instances_completed": stats.completed,
        "instances_per_s": round(stats.completed / elapsed, 1),
        "errors": len(stats.errors), "lost_instances": lost,
        "first_errors": [e for e in stats.errors if e][:3],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds")
    parser.add_argument("--poll-interval", type=float, default=0.02, help="seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_server(f"sqlite:///{tmp}/bench.db")
        try:
            result = asyncio.run(run(args, url))
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    print(json.dumps(result), flush=True)
    sys.exit(1 if result["errors"] or result["lost_instances"] else 0)


if __name__ == "__main__":
    main()
