"""HTTP-triggered functions: the routes a user registers with ``@app.route``.

A function receives the Starlette request (FastAPI's ``Request`` is the same
class). It may also ask for:

* the orchestration client: a parameter annotated ``perdure.Client``,
  :class:`~perdure.http.HttpClient` (the client plus the check-status helpers,
  which it is; annotate it so to type-check them) or their ``Sync`` twins, or
  named ``client``/``starter``; a plain ``def`` runs in a thread pool and gets a
  :class:`~perdure.http.SyncHttpClient` bound to the server's loop;
* path parameters, by name (``orchestrators/{function_name}/wait`` passes
  ``function_name``); they are also in ``request.path_params``.

Route templates use Azure Functions' syntax: ``{name}``, ``{name?}`` (optional,
last segments only), ``{*rest}`` (catch-all), and the constraints ``int``,
``long``, ``float``, ``double``, ``decimal``, ``bool``, ``alpha`` and ``guid``.

The return value becomes the response: a Starlette ``Response`` as is, ``None``
→ 204, ``str`` → text, ``bytes`` → octet-stream, anything else → JSON.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute
from starlette.routing import Route as StarletteRoute

from ..app import App, Route
from ..client import Client, SyncClient
from ..core.errors import InvalidArgumentError, PerdureError
from .auth import KeyAuth
from .check_status import HttpClient, SyncHttpClient
from .errors import error_response, json_response
from .routes import unauthorized

log = logging.getLogger(__name__)

_CLIENT_NAMES = ("client", "starter")
_CLIENT_TYPES = ("Client", "SyncClient", "HttpClient", "SyncHttpClient")


class _AlphaConvertor(Convertor[str]):
    regex = "[A-Za-z]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class _GuidConvertor(_AlphaConvertor):
    regex = "[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}"


class _BoolConvertor(Convertor[bool]):
    regex = "(?i:true|false)"

    def convert(self, value: str) -> bool:
        return value.lower() == "true"

    def to_string(self, value: bool) -> str:
        return "true" if value else "false"


register_url_convertor("perdure_alpha", _AlphaConvertor())
register_url_convertor("perdure_guid", _GuidConvertor())
register_url_convertor("perdure_bool", _BoolConvertor())

_CONSTRAINTS = {"int": "int", "long": "int", "float": "float", "double": "float",
                "decimal": "float", "alpha": "perdure_alpha", "guid": "perdure_guid",
                "bool": "perdure_bool"}
_PARAM = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z]+))?(\?)?\}")


def translate_template(template: str) -> list[str]:
    """Azure Functions route template → Starlette paths (several when a part is optional)."""
    segments = [s for s in template.strip("/").split("/") if s]
    converted: list[str] = []
    optional_from: int | None = None
    for index, segment in enumerate(segments):
        parts: list[str] = []
        last = 0
        matches = list(_PARAM.finditer(segment))
        if any(m.group(4) for m in matches):
            optional_from = index if optional_from is None else optional_from
        elif optional_from is not None:
            raise InvalidArgumentError(f"route {template!r}: only the last segments may be "
                                       "optional")
        for match in matches:
            star, name, constraint, _ = match.groups()
            if star and index != len(segments) - 1:
                raise InvalidArgumentError(f"route {template!r}: a catch-all parameter must "
                                           "be the last segment")
            parts.append(segment[last:match.start()])
            parts.append(_convert(template, name, constraint, bool(star)))
            last = match.end()
        parts.append(segment[last:])
        converted.append("".join(parts))
    paths: list[str] = []
    if optional_from is not None:
        for stop in range(optional_from, len(converted)):
            paths.append("/" + "/".join(converted[:stop]))
    paths.append("/" + "/".join(converted))
    return paths


def _convert(template: str, name: str, constraint: str | None, catch_all: bool) -> str:
    if catch_all:
        return f"{{{name}:path}}"
    if constraint is None:
        return f"{{{name}}}"
    convertor = _CONSTRAINTS.get(constraint.lower())
    if convertor is None:
        raise InvalidArgumentError(
            f"route {template!r}: unsupported constraint {constraint!r}; supported: "
            f"{', '.join(sorted(_CONSTRAINTS))}")
    return f"{{{name}:{convertor}}}"


def _prefixed(prefix: str, path: str) -> str:
    prefix = prefix.strip("/")
    if not prefix:
        return path
    return f"/{prefix}" + (path if path != "/" else "")


def _wants_client(name: str, annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, Client | SyncClient):
        return True
    if isinstance(annotation, str) and annotation.rsplit(".", 1)[-1] in _CLIENT_TYPES:
        return True
    return annotation is inspect.Parameter.empty and name in _CLIENT_NAMES


def _plan(fn: Callable[..., Any], path_names: set[str]) -> list[tuple[str, str]]:
    """For each parameter: ``(name, source)`` with source request, client or path."""
    try:
        signature = inspect.signature(fn, eval_str=True)
    except (NameError, TypeError, SyntaxError):
        signature = inspect.signature(fn)
    plan: list[tuple[str, str]] = []
    request_given = False
    for name, param in signature.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if _wants_client(name, param.annotation):
            plan.append((name, "client"))
        elif name in path_names:
            plan.append((name, "path"))
        elif not request_given and (param.annotation in (Request, inspect.Parameter.empty)
                                    or "Request" in str(param.annotation)):
            plan.append((name, "request"))
            request_given = True
        elif param.default is inspect.Parameter.empty:
            raise InvalidArgumentError(
                f"HTTP function {fn.__name__!r}: cannot supply parameter {name!r}; expected "
                "the request, the client, or a path parameter")
    return plan


def to_response(value: Any) -> Response:
    """Turn a function's return value into a response."""
    if isinstance(value, Response):
        return value
    if value is None:
        return Response(None, 204)
    if isinstance(value, str):
        return PlainTextResponse(value)
    if isinstance(value, bytes | bytearray):
        return Response(bytes(value), media_type="application/octet-stream")
    return JSONResponse(value)


def user_routes(app: App, client: HttpClient, auth: KeyAuth) -> list[BaseRoute]:
    """Starlette routes for every ``@app.route`` function, under ``app.route_prefix``."""
    routes: list[BaseRoute] = []
    for route in app.routes:
        for path in translate_template(route.path):
            full = _prefixed(app.route_prefix, path)
            names = set(re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)", full))
            routes.append(StarletteRoute(full, _endpoint(route, client, auth, names),
                                         methods=list(route.methods),
                                         name=getattr(route.endpoint, "__name__", None)))
    return routes


def _endpoint(route: Route, client: HttpClient, auth: KeyAuth,
              path_names: set[str]) -> Callable[[Request], Awaitable[Response]]:
    fn = route.endpoint
    plan = _plan(fn, path_names)
    is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None))  # noqa: B004 - async callables are allowed too

    async def endpoint(request: Request) -> Response:
        if not auth.allows(request, route.auth_level):
            return unauthorized()
        kwargs: dict[str, Any] = {}
        for name, source in plan:
            if source == "request":
                kwargs[name] = request
            elif source == "path":
                kwargs[name] = request.path_params.get(name)
            elif is_async:
                kwargs[name] = client
            else:
                kwargs[name] = SyncHttpClient.bound(client, asyncio.get_running_loop())
        try:
            if is_async:
                result = await fn(**kwargs)
            else:
                result = await run_in_threadpool(fn, **kwargs)
                if inspect.isawaitable(result):
                    result = await result
            return to_response(result)
        except PerdureError as exc:
            return error_response(exc)
        except Exception:  # noqa: BLE001 - a user function's bug is a 500, not a crash
            log.exception("HTTP function %s failed", getattr(fn, "__name__", fn))
            return json_response({"Message": "An error occurred while executing the function",
                                  "ExceptionMessage": f"{getattr(fn, '__name__', 'function')} "
                                                      "raised an exception; see the server log",
                                  "ExceptionType": "FunctionInvocationException"}, 500)
    endpoint.__name__ = getattr(fn, "__name__", "endpoint")
    return endpoint
