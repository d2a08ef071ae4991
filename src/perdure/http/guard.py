"""A request guard in front of every route: malformed paths, and browsers on a keyless server.

Two checks, both before routing:

* **Paths.** The server decodes the request path before routing, so an
  encoded slash (``%2F``) in an instance id would become a path separator (a
  404 or 405), and an invalid escape (``%ZZ``) or invalid UTF-8 (``%C3%28``)
  would be decoded to U+FFFD, merging distinct ids into one. The guard reads
  the raw path and answers 400 instead: anywhere for a bad escape or bad
  UTF-8; under the management bases also for an encoded ``/`` or ``\\``.
* **Browsers.** With keys off, anything that can reach the port may manage
  instances, which is fine for a terminal on the same machine but not for a
  web page in that machine's browser: a cross-origin ``text/plain`` POST needs
  no CORS preflight (CSRF), and a DNS-rebinding name resolves to 127.0.0.1
  and is then same-origin. So, with keys off, a request whose ``Host`` is not
  a loopback name or address (nor one the operator allowed) and a request
  whose ``Origin`` differs from its ``Host`` are refused with 403. Requests
  without ``Origin`` (``curl``, SDKs, server-to-server) are unaffected.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import error_body, json_response
from .routes import BASES

_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_ENCODED_SEPARATOR = re.compile(rb"%(2[Ff]|5[Cc])")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, ``*.localhost``, 127.0.0.0/8 and ``::1`` (no port, no brackets)."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_host(value: str) -> tuple[str, str | None]:
    """``host[:port]`` or ``[v6][:port]`` → (lower-case host without brackets, port or None)."""
    value = value.strip().lower()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") and rest[1:] else None
    if value.count(":") == 1:
        host, _, port = value.partition(":")
        return host, port or None
    return value, None  # a bare IPv6 address (no brackets) or a plain name


class RequestGuard:
    """Pure ASGI middleware applying the path checks and, with keys off, the browser checks.

    ``allowed_hosts`` are names (any port; ``*.example.com`` for subdomains,
    ``*`` for any) or ``name:port``, accepted as ``Host`` besides loopback ones.
    """

    def __init__(self, app: ASGIApp, *, check_browsers: bool,
                 allowed_hosts: Collection[str] = ()) -> None:
        self.app = app
        self.check_browsers = check_browsers
        self.allowed_hosts = [entry.strip().lower() for entry in allowed_hosts if entry.strip()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self._path_problem(scope)
            if refusal is None and self.check_browsers:
                refusal = self._browser_problem(scope)
            if refusal is not None:
                status, message, exception_message = refusal
                body = error_body(message, exception_message,
                                  "ArgumentException" if status == 400
                                  else "UnauthorizedAccessException")
                await json_response(body, status)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    # --- paths -----------------------------------------------------------

    @staticmethod
    def _path_problem(scope: Scope) -> tuple[int, str, str] | None:
        raw: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        raw = raw.partition(b"?")[0]
        bad = _BAD_ESCAPE.search(raw)
        if bad is not None:
            shown = raw[bad.start():bad.start() + 3].decode("ascii", "replace")
            return (400, "Invalid request path",
                    f"the path holds an invalid percent-escape {shown!r}; encode '%' as '%25'")
        try:
            unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            return (400, "Invalid request path",
                    "the path's percent-escapes do not decode to valid UTF-8")
        path = raw.decode("latin-1")
        if any(path == base or path.startswith(base + "/") for base in BASES) \
                and _ENCODED_SEPARATOR.search(raw):
            return (400, "Invalid request path",
                    "an encoded '/' or '\\' (%2F, %5C) is not allowed in a path segment of "
                    "the management API; instance ids may not contain them")
        return None

    # --- browsers ----------------------------------------------------------

    def _browser_problem(self, scope: Scope) -> tuple[int, str, str] | None:
        headers = _headers(scope)
        host_header = headers.get("host")
        if host_header is not None and not self._host_allowed(host_header):
            return (403, "Forbidden",
                    f"Host {host_header!r} is not a loopback name or address; with keys off "
                    "only those are served (against DNS rebinding); allow it with "
                    "'perdure serve --allowed-host NAME', or turn keys on")
        origin = headers.get("origin")
        if origin is not None and not _same_origin(origin, host_header, scope):
            return (403, "Forbidden",
                    f"cross-origin request refused (Origin {origin!r}); with keys off only "
                    "the server's own pages may call it (against CSRF); turn keys on to "
                    "serve other origins")
        return None

    def _host_allowed(self, value: str) -> bool:
        host, port = split_host(value)
        if is_loopback_host(host):
            return True
        for entry in self.allowed_hosts:
            if entry == "*":
                return True
            allowed, allowed_port = split_host(entry)
            if allowed_port is not None and allowed_port != port:
                continue
            if allowed == host or (allowed.startswith("*.") and host.endswith(allowed[1:])):
                return True
        return False


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        if name in (b"host", b"origin"):
            headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return headers


def _same_origin(origin: str, host_header: str | None, scope: Scope) -> bool:
    """``Origin``'s host and port are the request's own ``Host`` (the scheme may differ:
    a TLS-terminating proxy talks plain HTTP to us)."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return False  # "null" (sandboxed frames, file: pages) and the like
    if host_header is None:
        server: Any = scope.get("server")
        if not server:
            return False
        host_header = f"{server[0]}:{server[1]}"
    origin_host = parts.hostname.lower()
    origin_port = str(port) if port is not None else _DEFAULT_PORTS[parts.scheme]
    host, host_port = split_host(host_header)
    if host_port is None:
        # A Host without port means the default port of the scheme the client used.
        return host == origin_host and port is None
    return host == origin_host and host_port == origin_port
