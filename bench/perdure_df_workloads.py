"""W1-W3 on perdure hosting a Durable Functions app; ``python bench/perdure_df_workloads.py W1``.

The same workloads as ``perdure_workloads.py``, on the same worker, store and client, but the
orchestrators and activities are ``df_app/function_app.py``'s — an unmodified DF v2 app run
through the SDK (``perdure.azure``). Side by side with ``--engines perdure,perdure-df`` this
measures what hosting the SDK costs.
"""

from __future__ import annotations

import asyncio
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))

import perdure_workloads as native  # noqa: E402
from _common import emit, parse_args, scratch_database  # noqa: E402

import perdure  # noqa: E402
from perdure.cli.apps import load_any_app  # noqa: E402


async def run(workload: str, url: str) -> dict[str, float]:
    app = load_any_app(os.path.join(HERE, "df_app"))
    store = perdure.create_store(url)
    try:
        async with perdure.Worker(app, store):
            client = perdure.Client(store, app=app)
            await native.run_one(client, "hello_sequence")  # warm-up
            return await {"W1": native.w1, "W2": native.w2, "W3": native.w3}[workload](client)
    finally:
        await store.close()


def main() -> None:
    args = parse_args("perdure-df")
    with scratch_database(args.pg) as where:
        url = args.pg or f"sqlite:///{os.path.join(where, 'perdure.db')}" \
            f"?synchronous={args.synchronous}"
        figures = asyncio.run(run(args.workload, url))
    store = "postgres" if args.pg else f"sqlite-{args.synchronous.lower()}"
    emit("perdure-df", args.workload, store, figures)


if __name__ == "__main__":
    main()
