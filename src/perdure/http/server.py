"""The ASGI application and ``perdure serve``'s server: worker and HTTP on one loop.

Running the worker and uvicorn on one event loop, sharing one store and one
:class:`~perdure.Client`, makes the store's in-process signals reach the HTTP
handlers: a ``wait…`` request returns the moment the instance completes.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import signal
import socket
import sys
from collections.abc import Collection, Generator, Sequence
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..app import App
from ..client import Client
from ..core.errors import InvalidArgumentError
from .auth import KeyAuth, generate_key
from .errors import error_response, json_response
from .guard import RequestGuard
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
from .routes import ManagementApi
from .user_routes import user_routes

if TYPE_CHECKING:
    from ..store.base import Store
    from ..worker import WorkerOptions

log = logging.getLogger(__name__)

KEEP_ALIVE_SECONDS = 5
# The request line plus headers: h11's own default, stated so it is a decision.
MAX_HEADER_BYTES = 16 * 1024


def create_asgi_app(app: App, client: Client, *, auth: KeyAuth | None = None,
                    extra_routes: Sequence[BaseRoute] = (),
                    allowed_hosts: Collection[str] = ()) -> Starlette:
    """The ASGI app: the management API, ``/openapi.json``, and ``app``'s HTTP functions.

    With keys on, ``client``'s management URLs are given the instance tokens
    (its ``url_query`` hook is set). ``extra_routes`` (a dashboard, say) are
    mounted as given, after the management API and before the user routes;
    protect them with :func:`protect`. With keys off, only loopback ``Host``
    names and ``allowed_hosts`` are served, and foreign ``Origin``s are
    refused (see :mod:`perdure.http.guard`).
    """
    auth = auth or KeyAuth()
    if auth.enabled:
        client.url_query = auth.url_query
    document = openapi_document(list(app.orchestrators))

    async def openapi(request: Request) -> Response:
        return json_response(document)

    routes: list[BaseRoute] = [
        *ManagementApi(client, auth).routes(),
        Route("/openapi.json", openapi, methods=["GET"]),
        *extra_routes,
        *user_routes(app, client, auth),
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
    from .routes import unauthorized

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
        import threading

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


def _bind(host: str, port: int) -> socket.socket:
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


async def run_server(app: App, store: Store, *, host: str = "127.0.0.1", port: int = 7071,
                     auth: bool | None = None, system_key: str | None = None,
                     worker: bool = True, function_keys: Collection[str] = (),
                     worker_options: WorkerOptions | None = None,
                     log_level: str = "warning", allowed_hosts: Collection[str] = (),
                     header_timeout: float = DEFAULT_HEADER_TIMEOUT,
                     body_timeout: float = DEFAULT_BODY_TIMEOUT,
                     max_connections: int | None = None) -> None:
    """Serve ``app`` until SIGINT/SIGTERM: the worker (unless ``worker=False``) and HTTP.

    Keys: ``auth=None`` turns them on unless ``host`` is a loopback address;
    ``system_key`` implies them; with keys on and no key given, a random one
    is generated and printed. With keys off, ``Host`` must be a loopback name,
    the bound address or one of ``allowed_hosts``. Port 0 picks a free port.
    Prints one line, ``perdure serving http://HOST:PORT``, once it accepts
    connections.

    Connections must send their request headers within ``header_timeout``
    seconds and keep a request body moving (``body_timeout``); at most
    ``max_connections`` are open (default: 1000, or fewer if the file
    descriptor limit, raised to its hard limit here, is lower).
    """
    # The one place http reaches the worker layer: serve = worker + HTTP on one loop.
    from ..worker import Worker

    if auth is None:
        auth = system_key is not None or not _is_loopback(host)
    generated = auth and system_key is None
    # "is not None", not "or": an empty key is refused by KeyAuth, never replaced
    # by a random key nobody is told.
    key_auth = KeyAuth((system_key if system_key is not None else generate_key()) if auth
                       else None, function_keys)
    sock = _bind(host, port)
    port = sock.getsockname()[1]
    base_url = f"http://{_public_host(host)}:{port}"
    await store.open()
    client = Client(store, app=app, base_url=base_url, url_query=key_auth.url_query)
    hosts = [*allowed_hosts]
    if host not in ("", "0.0.0.0", "::"):
        hosts.append(host)  # the address the operator bound is the server's own
    asgi = create_asgi_app(app, client, auth=key_auth, allowed_hosts=hosts)
    fd_limit = raise_fd_limit()
    limits = ConnectionLimits(header_timeout, body_timeout,
                              max_connections or default_max_connections(fd_limit))
    if limits.max_connections > fd_limit - RESERVED_FDS:
        log.warning("--max-connections %d is close to the open-file limit %d",
                    limits.max_connections, fd_limit)
    config = uvicorn.Config(asgi, lifespan="off", log_level=log_level, access_log=False,
                            timeout_graceful_shutdown=5, http=limited_protocol(limits),
                            timeout_keep_alive=KEEP_ALIVE_SECONDS,
                            h11_max_incomplete_event_size=MAX_HEADER_BYTES)
    server = _Server(config, client)
    runner = Worker(app, store, client=client, options=worker_options) if worker else None
    try:
        if runner is not None:
            await runner.start()
        if generated:
            print(f"perdure system key (pass as ?code= or x-functions-key): "
                  f"{key_auth.system_key}", file=sys.stderr, flush=True)
        shown = f"[{host}]" if ":" in host else host
        print(f"perdure serving http://{shown}:{port}"
              + (" (keys required)" if key_auth.enabled else ""), flush=True)
        await server.serve(sockets=[sock])
    finally:
        if runner is not None:
            await runner.stop()
        await client.close()
        sock.close()
