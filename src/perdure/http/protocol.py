"""uvicorn's h11 protocol with read deadlines and a connection limit.

uvicorn bounds only the idle time between keep-alive requests: a client that
connects and sends half a request line, or headers a byte a minute, or a body
that stops, holds its socket forever, and about a thousand of them exhaust the
process's file descriptors (slowloris). :func:`limited_protocol` returns an
``H11Protocol`` subclass that:

* closes a connection whose request headers are not complete within
  ``header_timeout`` seconds of the connection (or of the first byte of a
  keep-alive follow-up request), answering 408 if it had sent anything;
* closes a connection whose request body delivers no byte for
  ``body_timeout`` seconds (time the server itself holds reading back, while
  the app has not consumed what it has, does not count);
* keeps at most ``max_connections`` open: when a new connection would exceed
  the limit, the oldest connection still waiting for request headers (a
  slowloris one, or an idle keep-alive one) is closed to make room, so a
  client that sends its request at once is still served during a flood; when
  every connection is busy with a request, the newcomer gets a 503.

The deadlines are checked by one sweep per server a few times per timeout,
not one timer per connection: an O(connections) walk of plain attribute reads.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 30.0
DEFAULT_MAX_CONNECTIONS = 1000
# Descriptors kept free beside the connections: the hub, its WAL, logs, the
# listening socket, PostgreSQL connections, the worker's threads' files.
RESERVED_FDS = 100



def _raw_response(status: str, text: str, *extra: str) -> bytes:
    """A complete ``Connection: close`` response, for a connection h11 cannot answer on."""
    body = (text + "\n").encode()
    head = [f"HTTP/1.1 {status}", "content-type: text/plain; charset=utf-8",
            "connection: close", *extra, f"content-length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


_TIMEOUT_408 = _raw_response("408 Request Timeout", "the request was not received in time")
_BUSY_503 = _raw_response("503 Service Unavailable", "too many connections; retry",
                          "retry-after: 1")


@dataclass(frozen=True)
class ConnectionLimits:
    """The read deadlines (seconds) and the connection limit of one server."""

    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS


def raise_fd_limit() -> int:
    """Raise the soft open-file limit to the hard one; returns the soft limit in force.

    Where the ``resource`` module is missing (Windows) returns a large number:
    the limit is then the operating system's business.
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return 1 << 20
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass  # a sandbox may refuse; keep the soft limit and size below it
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def default_max_connections(fd_limit: int) -> int:
    """A connection limit that leaves :data:`RESERVED_FDS` descriptors for everything else."""
    return max(1, min(DEFAULT_MAX_CONNECTIONS, fd_limit - RESERVED_FDS))


class _Registry:
    """The connections of one server, and the sweep that enforces their deadlines."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.open: set[LimitedH11Protocol] = set()
        # Connections waiting for request headers, oldest first (dicts keep order).
        self.waiting: dict[LimitedH11Protocol, None] = {}
        self.sweeper: asyncio.TimerHandle | None = None
        self.period = min(1.0, max(0.05, min(limits.header_timeout, limits.body_timeout) / 4))

    def ensure_sweeping(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.sweeper is None:
            self.sweeper = loop.call_later(self.period, self.sweep, loop)

    def sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self.sweeper = None
        now = loop.time()
        for connection in list(self.open):
            connection.check_deadlines(now)
        if self.open:
            self.ensure_sweeping(loop)


class LimitedH11Protocol(H11Protocol):
    """``H11Protocol`` with the deadlines and limit of :class:`ConnectionLimits`.

    Use :func:`limited_protocol` to get a subclass bound to one server's limits.
    """

    registry: _Registry

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._headers_since: float | None = None
        self._body_since = 0.0
        self._sent_bytes = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the header deadline; make room (or refuse) past the connection limit."""
        super().connection_made(transport)
        registry = self.registry
        self._headers_since = self.loop.time()
        registry.open.add(self)
        registry.waiting[self] = None
        registry.ensure_sweeping(self.loop)
        if len(registry.open) > registry.limits.max_connections:
            victim = next(iter(registry.waiting))
            if victim is self:  # nobody is waiting for headers but us: all are busy
                log.warning("connection limit (%d) reached; refusing a connection",
                            registry.limits.max_connections)
                self._drop(_BUSY_503)
            else:
                victim._drop(None)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection, then let uvicorn clean up."""
        self._forget()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Track when headers started and completed, and when the body last moved."""
        now = self.loop.time()
        if self.conn.their_state is h11.IDLE and self._headers_since is None:
            # The first byte of a keep-alive follow-up request starts its deadline.
            self._headers_since = now
            self.registry.waiting[self] = None
        self._sent_bytes = True
        super().data_received(data)
        self._track(now)

    def on_response_complete(self) -> None:
        """After a response the connection waits (idle) for the next request."""
        super().on_response_complete()
        self._track(self.loop.time())
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            # Idle keep-alive: uvicorn's keep-alive timeout owns it until the next
            # byte, but it is the first to go when room is needed.
            self._sent_bytes = False
            self.registry.waiting.pop(self, None)
            self.registry.waiting[self] = None

    def _track(self, now: float) -> None:
        state = self.conn.their_state
        if state is not h11.IDLE and self._headers_since is not None:
            self._headers_since = None
            self.registry.waiting.pop(self, None)
        if state is h11.SEND_BODY:
            self._body_since = now

    def check_deadlines(self, now: float) -> None:
        """Close the connection if its headers or its body are overdue (called by the sweep)."""
        if self.transport.is_closing():
            self._forget()
            return
        limits = self.registry.limits
        state = self.conn.their_state
        if state is h11.IDLE and self._headers_since is not None:
            if now - self._headers_since > limits.header_timeout:
                self._drop(_TIMEOUT_408 if self._sent_bytes else None)
        elif state is h11.SEND_BODY:
            if self.flow.read_paused:
                self._body_since = now  # we stopped reading, not the client
            elif now - self._body_since > limits.body_timeout:
                log.info("closing a connection whose request body stalled for %gs",
                         limits.body_timeout)
                self._drop(None)

    def _drop(self, response: bytes | None) -> None:
        self._forget()
        if self.transport.is_closing():
            return
        if response is not None and self.conn.our_state is h11.IDLE:
            self.transport.write(response)
        # The app (if a request is in flight) sees http.disconnect via connection_lost.
        self.transport.close()

    def _forget(self) -> None:
        self.registry.open.discard(self)
        self.registry.waiting.pop(self, None)


def limited_protocol(limits: ConnectionLimits) -> type[LimitedH11Protocol]:
    """An ``H11Protocol`` class for uvicorn's ``Config(http=...)``, bound to ``limits``."""
    return type("LimitedH11Protocol", (LimitedH11Protocol,), {"registry": _Registry(limits)})
