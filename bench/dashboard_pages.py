"""Dashboard page times on a large task hub (issue 11: a page in <= 50 ms server time).

    python bench/dashboard_pages.py [--instances 1000000] [--repeat 20] [--hub PATH]
    python bench/dashboard_pages.py --pg postgresql://postgres@127.0.0.1:5432/postgres
                                    [--schema dash_bench] [--instances 1000000]

Fills a fresh hub (a SQLite file, or with ``--pg`` a PostgreSQL schema) with
``--instances`` instance rows written straight into its table (spread over 30
days; 90 % Completed, 5 % Failed, 4 % Running, 1 % Suspended; three
orchestrator names; ids ``<hex position>-<random>``, so an id prefix picks a
stretch of creation time), then serves the dashboard in-process
(``create_asgi_app(..., dashboard="on")`` over httpx's ASGI transport, so the
time is the server's, without a socket) and requests each page ``--repeat``
times. Every list page carries its counts per status. Stdout: one JSON line
per page with its median and p95 in milliseconds and its median over the
default list page's (side by side in one run, so comparable on a loaded
machine), then a summary line.
``--hub`` / ``--schema`` keep (or reuse) the filled hub.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import httpx  # noqa: E402

import perdure  # noqa: E402
from perdure.http import HttpClient, create_asgi_app  # noqa: E402

NAMES = ("orders", "billing", "nightly")
DAY_US = 86_400_000_000

app = perdure.App()


@app.orchestrator
def orders(ctx: perdure.OrchestrationContext) -> Any:
    return ctx.get_input()


@app.orchestrator
def billing(ctx: perdure.OrchestrationContext) -> Any:
    return ctx.get_input()


@app.orchestrator
def nightly(ctx: perdure.OrchestrationContext) -> Any:
    return ctx.get_input()


def rows(start: int, count: int) -> Any:
    """Instance rows ``start`` .. ``count - 1`` (the same for both stores)."""
    rng = random.Random(11 + start)
    now_us = int(time.time() * 1_000_000)
    first_us = now_us - 30 * DAY_US
    step = (now_us - first_us) // max(count, 1)
    for i in range(start, count):
        roll = rng.random()
        status = ("Completed" if roll < 0.90 else "Failed" if roll < 0.95
                  else "Running" if roll < 0.99 else "Suspended")
        created = first_us + i * step
        output = f'{{"total": {i}}}' if status == "Completed" else None
        failure = (json.dumps({"error_type": "ValueError", "message": f"bad order {i}",
                               "stack_trace": None}) if status == "Failed" else None)
        yield (f"{i:08x}-{rng.getrandbits(64):016x}", NAMES[i % 3], f"e{i}", status,
               created, created + 1000, f'{{"order": {i}}}', output, None, failure)


COLUMNS = ("instance_id, name, execution_id, runtime_status, created_at, updated_at, input, "
           "output, custom_status, failure")


def fill_sqlite(path: str, count: int) -> None:
    conn = sqlite3.connect(path)
    have = conn.execute("SELECT count(*) FROM instances").fetchone()[0]
    if have >= count:
        conn.close()
        return
    with conn:
        conn.executemany(f"INSERT INTO instances ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                         rows(have, count))
    conn.execute("ANALYZE")
    conn.close()


def fill_postgres(url: str, schema: str, count: int) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        table = sql.SQL("{}.instances").format(sql.Identifier(schema))
        have = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
        if have is not None and have[0] >= count:
            return
        with conn.cursor() as cur, cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(
                table, sql.SQL(COLUMNS))) as copy:
            for row in rows(have[0] if have else 0, count):
                copy.write_row(row)
        conn.execute(sql.SQL("VACUUM ANALYZE {}").format(table))


async def measure(url: str, repeat: int) -> list[dict[str, Any]]:
    store = perdure.create_store(url)
    await store.open()
    client = HttpClient(store, app=app)
    asgi = create_asgi_app(app, client, dashboard="on")
    out = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi),
                                 base_url="http://localhost:7071") as http:
        first = await http.get("/dashboard/")

        def next_of(html: str) -> str:
            return html.split('" rel="next"')[0].rsplit('href="', 1)[-1].replace("&amp;", "&")
        older = next_of(first.text)
        later = next_of((await http.get("/dashboard/?order=oldest")).text)
        some_id = first.text.split('href="/dashboard/instances/', 1)[1].split('"')[0]
        pages = {
            "list (default: newest first)": "/dashboard/",
            "list, newest first, next page": older,
            "list, oldest first": "/dashboard/?order=oldest",
            "list, oldest first, next page": later,
            "list, status Running": "/dashboard/?status=Running",
            "list, Failed+Suspended": "/dashboard/?status=Failed&status=Suspended",
            "list, last hour": "/dashboard/?range=1h",
            "list, orchestrator name": "/dashboard/?name=billing",
            "list, name + status Suspended": "/dashboard/?name=billing&status=Suspended",
            "list, id prefix, 256 old matches": "/dashboard/?prefix=00000f",
            "list, id prefix, 65,536 old matches": "/dashboard/?prefix=0000",
            "list, id prefix, 65,536 + status Running": "/dashboard/?prefix=0000&status=Running",
            "list, id prefix, 256 newest matches": "/dashboard/?prefix=000f41",
            "list, id prefix matching all": "/dashboard/?prefix=0",
            "list, id prefix matching none": "/dashboard/?prefix=zz",
            "live refresh (rows + counts)": "/dashboard/?fragment=live",
            "instance detail": f"/dashboard/instances/{some_id}",
        }
        for label, path in pages.items():
            times = []
            for _ in range(repeat):
                began = time.perf_counter()
                response = await http.get(path)
                times.append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200, (path, response.status_code)
            times.sort()
            out.append({"page": label, "path": path,
                        "median_ms": round(statistics.median(times), 2),
                        "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 2)})
    await client.close()
    await store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--hub", default=None, help="the SQLite hub file to fill or reuse")
    parser.add_argument("--pg", default=None, help="a PostgreSQL database URL: bench on it")
    parser.add_argument("--schema", default="dash_bench", help="the PostgreSQL hub's schema")
    args = parser.parse_args()
    if args.pg:
        url = f"{args.pg}?schema={args.schema}"
    else:
        folder = tempfile.mkdtemp(prefix="perdure-dash-bench-")
        path = args.hub or os.path.join(folder, "hub.db")
        url = f"sqlite:///{path}"

    async def create() -> None:
        store = perdure.create_store(url)
        await store.open()
        await store.close()
    asyncio.run(create())
    began = time.perf_counter()
    if args.pg:
        fill_postgres(args.pg, args.schema, args.instances)
    else:
        fill_sqlite(path, args.instances)
    print(f"filled {args.instances} instances in {time.perf_counter() - began:.1f}s",
          file=sys.stderr)
    results = asyncio.run(measure(url, args.repeat))
    # Each page against the default list page of the same run: comparable across loads.
    default = results[0]["median_ms"]
    for line in results:
        line["vs_default_list"] = round(line["median_ms"] / default, 2)
    for line in results:
        print(json.dumps({"store": "postgres" if args.pg else "sqlite",
                          "instances": args.instances, **line}))
    print(json.dumps({"store": "postgres" if args.pg else "sqlite",
                      "instances": args.instances, "summary": True,
                      "worst_median_ms": max(r["median_ms"] for r in results),
                      "worst_p95_ms": max(r["p95_ms"] for r in results)}))


if __name__ == "__main__":
    main()
