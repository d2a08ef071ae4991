"""Durable Functions HTTP functions as perdure routes.

Each function gets a real ``func.HttpRequest`` (method, URL, headers, query
parameters, route parameters as strings, body), its durable-client bindings
as the binding JSON, and a ``func.Context`` when it declares ``context``;
it may return a ``func.HttpResponse``, a ``str`` (200, text) or ``None`` (204).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import azure.functions as func
from starlette.requests import Request
from starlette.responses import Response

from ..client import Client
from .client import binding_json
from .context import FunctionContext, OutValue

log = logging.getLogger(__name__)

ALL_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")


async def to_http_request(request: Request) -> func.HttpRequest:
    """The ``func.HttpRequest`` of a Starlette request."""
    body = await request.body()
    return func.HttpRequest(
        method=request.method, url=str(request.url), headers=dict(request.headers),
        params=dict(request.query_params),
        route_params={k: str(v) for k, v in request.path_params.items()}, body=body)


def to_response(value: Any, function_name: str) -> Response:
    """A function's return value as the host answers it."""
    if value is None:
        return Response(None, 204)
    if isinstance(value, str):
        return Response(value.encode(), 200, media_type="text/plain; charset=utf-8")
    if isinstance(value, func.HttpResponse):
        headers = value.headers
        if "content-type" not in headers:
            mimetype = value.mimetype
            headers["content-type"] = (f"{mimetype}; charset={value.charset}"
                                       if mimetype.startswith("text/") else mimetype)
        response = Response(value.get_body() or b"", value.status_code)
        # Starlette computed content-length; every other header (each Set-Cookie
        # included) is the function's.
        response.raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1"))
                                 for k, v in headers.items() if k.lower() != "content-length"]
        return response
    raise TypeError(f"HTTP function {function_name!r} returned a "
                    f"{type(value).__name__}; expected func.HttpResponse, str or None")


def wrap_http_function(fn: Callable[..., Any], trigger_name: str, client_params: list[str],
                       function_name: str, directory: str, out_param: str | None = None,
                       hub_name: str = "TestHubName",
                       ) -> Callable[[Request, Client], Awaitable[Response]]:
    """A perdure route endpoint calling the DF HTTP function ``fn``.

    ``out_param`` names a v1 ``http`` output binding (a ``func.Out``); what
    the function sets there is the response when it returns nothing.
    """
    parameters = inspect.signature(fn).parameters
    wants_context = "context" in parameters and \
        "context" not in (trigger_name, out_param, *client_params)
    is_async = inspect.iscoroutinefunction(fn)

    async def endpoint(request: Request, client: Client) -> Response:
        kwargs: dict[str, Any] = {trigger_name: await to_http_request(request)}
        for name in client_params:
            kwargs[name] = binding_json(client, hub_name)
        if wants_context:
            kwargs["context"] = FunctionContext(function_name, directory)
        out = OutValue() if out_param else None
        if out_param:
            kwargs[out_param] = out
        if is_async:
            result = await fn(**kwargs)
        else:
            result = await asyncio.to_thread(fn, **kwargs)
            if inspect.isawaitable(result):
                result = await result
        if result is None and out is not None:
            result = out.get()
        return to_response(result, function_name)
    endpoint.__name__ = function_name
    return endpoint
