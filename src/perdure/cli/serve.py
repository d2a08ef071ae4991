"""``perdure serve``'s composition: the worker and the HTTP server on one event loop.

Running both on one loop, sharing one store and one client, makes the store's
in-process signals reach the HTTP handlers: a ``wait…`` request returns the
moment the instance completes. The CLI is the one layer that knows both.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Collection

from ..app import App
from ..client import Client
from ..http import HttpClient, HttpServer
from ..http.dashboard import BULK_RATE
from ..http.metrics import MetricsSource
from ..http.protocol import DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT
from ..http.server import metrics_server
from ..store.base import Store
from ..worker import Worker, WorkerOptions
from .azure_hosting import attach_durable_clients, is_function_app


async def run_worker(app: App, store: Store, options: WorkerOptions | None = None, *,
                     metrics_port: int | None = None, metrics_host: str = "127.0.0.1",
                     banner: Callable[[str], None] | None = None) -> None:
    """``perdure worker``: run ``app``'s worker until cancelled.

    A Durable Functions app's clients get the management API in-process
    (:mod:`perdure.cli.azure_hosting`), on the worker's own client. With
    ``metrics_port``, ``/metrics`` is served on ``metrics_host:metrics_port``
    (and ``perdure metrics on URL`` told to ``banner``, by default printed on stderr).
    """
    # An HttpClient: the management API on it remembers the instances it starts, so
    # that check-status URLs get their tokens.
    client = HttpClient(store, app=app) if is_function_app(app) else None
    transport = attach_durable_clients(app, client) if client is not None else None
    worker = Worker(app, store, client=client, options=options)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if metrics_port is not None:
                source = MetricsSource(client or Client(store, app=app), worker.metrics)
                port = await stack.enter_async_context(
                    metrics_server(source, metrics_host, metrics_port))
                shown = f"[{metrics_host}]" if ":" in metrics_host else metrics_host
                (banner or _stderr)(f"perdure metrics on http://{shown}:{port}/metrics")
            await worker.run_forever()
    finally:
        if transport is not None:
            await transport.aclose()


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def run_server(app: App, store: Store, *, host: str = "127.0.0.1", port: int = 7071,
                     auth: bool | None = None, system_key: str | None = None,
                     worker: bool = True, function_keys: Collection[str] = (),
                     worker_options: WorkerOptions | None = None,
                     log_level: str = "warning", allowed_hosts: Collection[str] = (),
                     header_timeout: float = DEFAULT_HEADER_TIMEOUT,
                     body_timeout: float = DEFAULT_BODY_TIMEOUT,
                     max_connections: int | None = None, dashboard: str = "off",
                     metrics: bool = True, bulk_rate: float = BULK_RATE) -> None:
    """Serve ``app`` until SIGINT/SIGTERM: the worker (unless ``worker=False``) and HTTP.

    Keys, hosts and connection limits are :class:`~perdure.http.HttpServer`'s;
    an invalid key is refused before the socket is bound or the store opened.
    Prints one line, ``perdure serving http://HOST:PORT``, once it accepts
    connections. ``dashboard`` is ``on``, ``read-only`` or ``off`` (``/dashboard/``),
    its bulk jobs paced to ``bulk_rate`` instances a second; ``metrics`` serves
    ``/metrics``.
    """
    server = HttpServer(host=host, port=port, auth=auth, system_key=system_key,
                        function_keys=function_keys, log_level=log_level,
                        allowed_hosts=allowed_hosts, header_timeout=header_timeout,
                        body_timeout=body_timeout, max_connections=max_connections,
                        dashboard=dashboard, metrics=metrics, bulk_rate=bulk_rate)
    try:
        await store.open()
        client = HttpClient(store, app=app, base_url=server.base_url,
                            url_query=server.auth.url_query)
        runner = Worker(app, store, client=client, options=worker_options) if worker else None
        transport = attach_durable_clients(app, client) if is_function_app(app) else None
        try:
            if runner is not None:
                await runner.start()
            await server.serve(app, client, runner.metrics if runner is not None else None)
        finally:
            if runner is not None:
                await runner.stop()
            if transport is not None:
                await transport.aclose()
            await client.close()
    finally:
        server.close()
