"""The ASGI application, and the HTTP half of ``perdure serve``.

:class:`HttpServer` serves the ASGI app on uvicorn; the CLI composes it with a
worker on one event loop (:mod:`perdure.cli.serve`), sharing one store and one
client, so that the store's in-process signals reach the HTTP handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator, Collection, Generator, Iterator, Sequence
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..app import App
from ..client import Client
from ..core.errors import InvalidArgumentError
from ..observe import WorkerMetrics
from .auth import KeyAuth, generate_key
from .check_status import HttpClient
from .dashboard import BULK_RATE, dashboard_routes
from .errors import error_response, json_response
from .guard import RequestGuard
from .metrics import MetricsSource
from .openapi import openapi_document
from .protocol import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    RESERVED_FDS,
    ConnectionLimits,
    default_max_connections,
    limited_protocol,
    raise_fd_limit,
)
from .routes import ManagementApi, unauthorized
from .user_routes import user_routes

log = logging.getLogger(__name__)

KEEP_ALIVE_SECONDS = 5
# The request line plus headers: h11's own default, stated so it is a decision.
MAX_HEADER_BYTES = 16 * 1024


def create_asgi_app(app: App, client: Client, *, auth: KeyAuth | None = None,
                    extra_routes: Sequence[BaseRoute] = (),
                    allowed_hosts: Collection[str] = (), dashboard: str = "off",
                    metrics: MetricsSource | None = None,
                    bulk_rate: float = BULK_RATE) -> Starlette:
    """The ASGI app: the management API, ``/openapi.json``, and ``app``'s HTTP functions.

    ``client`` serves both; pass an :class:`HttpClient` (a plain
    :class:`~perdure.Client` is replaced by one on its store, see
    :meth:`HttpClient.like`). With keys on, its management URLs are given the
    instance tokens (the given client's ``url_query`` hook is set).
    ``extra_routes`` (a dashboard, say) are mounted as given, after the
    management API and before the user routes; protect them with
    :func:`protect`. With keys off, only loopback ``Host`` names and
    ``allowed_hosts`` are served, and foreign ``Origin``s are refused (see
    :mod:`perdure.http.guard`). ``dashboard`` (``on``, ``read-only`` or
    ``off``) mounts the operations dashboard at ``/dashboard/``, and makes
    ``/`` redirect there unless one of ``app``'s routes claims ``/``; its bulk
    jobs handle at most ``bulk_rate`` instances a second.
    ``metrics`` serves ``/metrics`` (Prometheus), to the system key when keys are on.
    """
    auth = auth or KeyAuth()
    if auth.enabled:
        client.url_query = auth.url_query
    http_client = HttpClient.like(client, app)
    document = openapi_document(list(app.orchestrators))

    async def openapi(request: Request) -> Response:
        return json_response(document)

    users = user_routes(app, http_client, auth)
    board = dashboard_routes(app, http_client, auth, dashboard, bulk_rate)
    if board and not any(getattr(r, "path", None) == "/" for r in users):
        async def to_dashboard(request: Request) -> Response:
            return RedirectResponse("/dashboard/", 307)
        board.append(Route("/", to_dashboard, methods=["GET"]))
    routes: list[BaseRoute] = [
        *ManagementApi(http_client, auth).routes(),
        Route("/openapi.json", openapi, methods=["GET"]),
        *([Route("/metrics", protect(metrics.endpoint, auth, "admin"), methods=["GET"])]
          if metrics is not None else []),
        *extra_routes,
        *board,
        *users,
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        # Starlette's own 404/405 are plain text; clients of the host expect an
        # empty body or JSON.
        assert isinstance(exc, HTTPException)
        return Response(None, exc.status_code, exc.headers)

    async def server_error(request: Request, exc: Exception) -> Response:
        return error_response(exc)

    guard = Middleware(RequestGuard, check_browsers=not auth.enabled,
                       allowed_hosts=allowed_hosts)
    return Starlette(routes=routes, middleware=[guard],
                     exception_handlers={HTTPException: http_error, Exception: server_error})


def protect(endpoint: Any, auth: KeyAuth, level: str) -> Any:
    """Wrap a Starlette endpoint so that it requires ``level`` (anonymous/function/admin)."""
    async def guarded(request: Request) -> Response:
        if not auth.allows(request, level):
            return unauthorized()
        response: Response = await endpoint(request)
        return response
    guarded.__name__ = getattr(endpoint, "__name__", "guarded")
    return guarded


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _public_host(host: str) -> str:
    if host in ("", "0.0.0.0", "::") or _is_loopback(host):
        return "localhost"
    return f"[{host}]" if ":" in host else host


class _Server(uvicorn.Server):
    """uvicorn, minus re-raising the stop signal after shutdown, plus ending waits first.

    uvicorn re-raises SIGTERM/SIGINT once it has stopped, which would kill the
    process before the worker below it has stopped and released its leases.
    """

    def __init__(self, config: uvicorn.Config, client: Client) -> None:
        super().__init__(config)
        self.client = client

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """End in-flight ``wait…`` requests with their 202 check-status answer, then stop.

        uvicorn waits for requests during its grace period and then cancels
        them, which answered a wait of a minute with a plain-text 500.
        """
        self.client.interrupt_waits()
        await super().shutdown(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only when
    # the protocol says TCP; without it every keep-alive response waits ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # Listen now: connections made before uvicorn starts wait in the backlog.
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        # A port in use, a host that does not resolve (socket.gaierror), an
        # address not on this machine: the caller's --host/--port, in one line.
        raise InvalidArgumentError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.set_inheritable(True)
    return sock


class HttpServer:
    """The HTTP half of ``perdure serve``: keys, a socket bound at once, uvicorn with limits.

    Keys: ``auth=None`` turns them on unless ``host`` is a loopback address;
    ``system_key`` implies them; with keys on and no key given, a random one
    is generated (and printed by :meth:`serve`). With keys off, ``Host`` must
    be a loopback name, the bound address or one of ``allowed_hosts``. Port 0
    picks a free port: :attr:`port` and :attr:`base_url` tell which.

    Connections must send their request headers within ``header_timeout``
    seconds and keep a request body moving (``body_timeout``); at most
    ``max_connections`` are open (default: 1000, or fewer if the file
    descriptor limit, raised to its hard limit here, is lower).
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 7071, auth: bool | None = None,
                 system_key: str | None = None, function_keys: Collection[str] = (),
                 log_level: str = "warning", allowed_hosts: Collection[str] = (),
                 header_timeout: float = DEFAULT_HEADER_TIMEOUT,
                 body_timeout: float = DEFAULT_BODY_TIMEOUT,
                 max_connections: int | None = None, dashboard: str = "off",
                 metrics: bool = True, bulk_rate: float = BULK_RATE) -> None:
        if auth is None:
            auth = system_key is not None or not _is_loopback(host)
        self._generated = auth and system_key is None
        # "is not None", not "or": an empty key is refused by KeyAuth (before the
        # socket is bound), never replaced by a random key nobody is told.
        self.auth = KeyAuth((system_key if system_key is not None else generate_key()) if auth
                            else None, function_keys)
        self._host = host
        self._socket = bind_socket(host, port)
        self.port: int = self._socket.getsockname()[1]
        """The port listened on (the one picked, for port 0)."""
        self.base_url = f"http://{_public_host(host)}:{self.port}"
        """Where management URLs point."""
        self._allowed_hosts = [*allowed_hosts]
        if host not in ("", "0.0.0.0", "::"):
            self._allowed_hosts.append(host)  # the address the operator bound is the server's own
        self._log_level = log_level
        self._dashboard = dashboard
        self._bulk_rate = bulk_rate
        self._metrics = metrics
        fd_limit = raise_fd_limit()
        self._limits = ConnectionLimits(header_timeout, body_timeout,
                                        max_connections or default_max_connections(fd_limit))
        if self._limits.max_connections > fd_limit - RESERVED_FDS:
            log.warning("--max-connections %d is close to the open-file limit %d",
                        self._limits.max_connections, fd_limit)

    async def serve(self, app: App, client: HttpClient,
                    worker_metrics: WorkerMetrics | None = None) -> None:
        """Serve ``app`` through ``client`` until SIGINT/SIGTERM (and ``/metrics``, with
        ``worker_metrics`` if a worker runs in this process, unless ``metrics=False``).

        Prints one line, ``perdure serving http://HOST:PORT``, once it accepts
        connections (after the generated system key, if any, on stderr). On
        shutdown, ``wait…`` requests in flight answer their 202 at once.
        """
        asgi = create_asgi_app(app, client, auth=self.auth, allowed_hosts=self._allowed_hosts,
                               dashboard=self._dashboard, bulk_rate=self._bulk_rate,
                               metrics=MetricsSource(client, worker_metrics)
                               if self._metrics else None)
        # log_config=None: uvicorn's records go to the application's handlers (the
        # CLI's --log-format), not to a console handler of uvicorn's own.
        config = uvicorn.Config(asgi, lifespan="off", log_level=self._log_level,
                                log_config=None,
                                access_log=False, timeout_graceful_shutdown=5,
                                http=limited_protocol(self._limits),
                                timeout_keep_alive=KEEP_ALIVE_SECONDS,
                                h11_max_incomplete_event_size=MAX_HEADER_BYTES)
        server = _Server(config, client)
        if self._generated:
            print(f"perdure system key (pass as ?code= or x-functions-key): "
                  f"{self.auth.system_key}", file=sys.stderr, flush=True)
        shown = f"[{self._host}]" if ":" in self._host else self._host
        print(f"perdure serving http://{shown}:{self.port}"
              + (" (keys required)" if self.auth.enabled else ""), flush=True)
        await server.serve(sockets=[self._socket])

    def close(self) -> None:
        """Close the listening socket."""
        self._socket.close()


class _QuietServer(uvicorn.Server):
    """uvicorn without signal handlers: the worker process owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def metrics_server(source: MetricsSource, host: str, port: int) -> AsyncIterator[int]:
    """Serve ``/metrics`` alone on ``host:port`` (``perdure worker --metrics-port``) while
    the block runs; yields the port listened on (the one picked, for port 0)."""
    sock = bind_socket(host, port)
    app = Starlette(routes=[Route("/metrics", source.endpoint, methods=["GET"])])
    server = _QuietServer(uvicorn.Config(app, lifespan="off", log_level="warning",
                                         access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        sock.close()
