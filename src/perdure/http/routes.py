"""The Durable Functions instance-management API.

Served under three bases, one handler set: ``/runtime/webhooks/durabletask``
(Functions 2.x+), ``/admin/extensions/DurableTaskExtension`` (Functions 1.x,
the URLs of the seed article) and ``/durabletask`` (the host's local RPC base,
which the ``azure-functions-durable`` client calls). Routes, parameters,
bodies and status codes follow ``reference/df-http-api.md``; the deliberate
differences are listed in ``docs/http-api.md``.

Every request is validated completely before anything is written, so a
malformed request never changes stored state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..core.names import validate_instance_id
from ..core.status import OrchestrationRuntimeStatus as Status
from ..observe import tracing
from .auth import TOKEN_PREFIX, KeyAuth
from .body import is_json_media_type, optional_json, parse_json, read_body
from .check_status import HttpClient
from .entities import EntityApi
from .errors import (
    INVALID_JSON,
    HttpError,
    bad_request,
    empty_response,
    error_response,
    json_response,
)
from .params import Query
from .wire import status_json

WEBHOOK_BASE = "/runtime/webhooks/durabletask"
LEGACY_BASE = "/admin/extensions/DurableTaskExtension"
RPC_BASE = "/durabletask"
BASES = (WEBHOOK_BASE, LEGACY_BASE, RPC_BASE)

CONTINUATION_HEADER = "x-ms-continuation-token"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_WAIT_SECONDS = 3600.0
RUNNING_RETRY_AFTER = "5"

Handler = Callable[[Request, Query], Awaitable[Response]]


class ManagementApi:
    """The management routes, bound to one :class:`Client` and one :class:`KeyAuth`."""

    def __init__(self, client: HttpClient, auth: KeyAuth) -> None:
        self.client = client
        self.auth = auth
        self.entities = EntityApi(client)

    def routes(self) -> list[BaseRoute]:
        """The full route table under each base.

        Flat routes rather than a ``Mount`` per base: a mount's catch-all does not
        match a path holding a newline, which must reach the id check (400).
        """
        return [route for base in BASES for route in self._table(base)]

    def _table(self, base: str) -> list[BaseRoute]:
        start = {"POST": self.start}
        collection = {"GET": self.list_instances, "DELETE": self.purge_by_filter}
        def route(path: str, handlers: Mapping[str, Handler], scoped: bool = True) -> Route:
            return self._route(base, path, handlers, scoped)
        return [
            route("/orchestrators/{function_name}", start, scoped=False),
            route("/orchestrators/{function_name}/", start, scoped=False),
            route("/orchestrators/{function_name}/{instance_id}", start, scoped=False),
            route("/instances", collection, scoped=False),
            route("/instances/", collection, scoped=False),
            route("/instances/{instance_id}", {"GET": self.get_status, "DELETE": self.purge}),
            route("/instances/{instance_id}/{operation}", {"POST": self.operation}),
            route("/instances/{instance_id}/{operation}/{event_name}",
                  {"POST": self.raise_event}),
            *self.entities.table(lambda path, handlers: route(path, handlers, scoped=False)),
        ]

    def _route(self, base: str, path: str, handlers: Mapping[str, Handler],
               scoped: bool = True) -> Route:
        """One route: key check, instance-id validation, method dispatch, error mapping.

        ``scoped`` routes accept the instance's operation tokens besides the system key.
        """
        async def endpoint(request: Request) -> Response:
            instance_id = request.path_params.get("instance_id")
            method = "GET" if request.method == "HEAD" else request.method
            try:
                refusal = await self._refusal(request, method, instance_id if scoped else None)
                if refusal is not None:
                    return refusal
                if instance_id is not None:
                    validate_instance_id(instance_id)
                return await handlers[method](request, Query(request.query_params))
            except Exception as exc:  # noqa: BLE001 - every error becomes a response
                return error_response(exc)
        return Route(base + path, endpoint, methods=list(handlers))

    async def _refusal(self, request: Request, method: str,
                       instance_id: str | None) -> Response | None:
        """``None`` if the request's key opens this route, else the 401 or 403.

        The system key opens everything. An instance token opens one operation
        of the instance as it is now: it is checked against the stored
        generation, so an unknown instance (not revealed: 401, not 404) or a
        re-created one refuses it. A genuine token used for another operation
        gets a 403 naming what it opens.
        """
        if self.auth.allows(request, "system"):
            return None
        key = self.auth.presented_key(request)
        if instance_id is None or key is None or not key.startswith(TOKEN_PREFIX):
            return unauthorized()
        generation = await self.client.instance_generation(instance_id)
        opens = None if generation is None else \
            self.auth.token_operation(key, instance_id, generation)
        if opens is None:
            return unauthorized()
        wanted = _operation_of(request, method)
        if opens != wanted:
            return forbidden(f"this token opens only '{opens}' of instance {instance_id!r}; "
                             "use the URL handed out for that operation, or the system key")
        if wanted == "restart" and Query(request.query_params).boolean(
                "restartWithNewInstanceId", True):
            return forbidden("restarting under a new instance id starts a new instance and "
                             "needs the system key; a restart token restarts in place only "
                             "(restartWithNewInstanceId=false)")
        return None

    # --- starting --------------------------------------------------------

    async def start(self, request: Request, query: Query) -> Response:
        """``POST orchestrators/{functionName}[/{instanceId}][?version=V]``: 202 +
        check-status payload (``version``, as the ``azure-functions-durable`` client
        sends it; default: the app's)."""
        name = request.path_params["function_name"]
        instance_id = request.path_params.get("instance_id") or None
        wait = _wait_options(query)
        data = await optional_json(request)
        # The caller's trace context (W3C headers) parents the instance's spans.
        with tracing.remote_parent(request.headers.get("traceparent"),
                                   request.headers.get("tracestate")):
            new_id = await self.client.start_new(name, instance_id, data, query.get("version"))
        return await self._created(request, new_id, wait)

    async def _created(self, request: Request, instance_id: str,
                       wait: tuple[float, float] | None) -> Response:
        if wait is None:
            return self.client.create_check_status_response(request, instance_id)
        timeout, interval = wait
        return await self.client.wait_for_completion_or_create_check_status_response(
            request, instance_id, timeout=timeout, retry_interval=interval)

    # --- querying --------------------------------------------------------

    async def get_status(self, request: Request, query: Query) -> Response:
        """``GET instances/{id}``: 202 while active, 200 when finished, 404 when unknown."""
        instance_id = request.path_params["instance_id"]
        show_history = query.boolean("showHistory", False)
        show_output = query.boolean("showHistoryOutput", False)
        show_input = query.boolean("showInput", True)
        fail_500 = query.boolean("returnInternalServerErrorOnFailure", False)
        status = await self.client.get_status(instance_id, show_history=show_history,
                                              show_history_output=show_output,
                                              show_input=show_input)
        if status is None:
            return empty_response(404)
        if status.runtime_status is Status.Pending:
            status.history = None  # the host fetches no history for a Pending instance
        body = status_json(status)
        if not status.runtime_status.is_terminal:
            return json_response(body, 202, {"Location": str(request.url),
                                             "Retry-After": RUNNING_RETRY_AFTER})
        if status.runtime_status is Status.Failed and fail_500:
            return json_response(body, 500)
        return json_response(body, 200)

    async def list_instances(self, request: Request, query: Query) -> Response:
        """``GET instances``: one page of matching instances, oldest first."""
        created_from = query.date("createdTimeFrom")
        created_to = query.date("createdTimeTo")
        statuses = query.statuses()
        prefix = query.get("instanceIdPrefix") or None
        version = query.get("version")
        top = min(query.integer("top", DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
        show_input = query.boolean("showInput", True)
        token = request.headers.get(CONTINUATION_HEADER, "").strip() or None
        if token is not None and token.lower() == "null":
            token = None
        if statuses is not None and not statuses:  # only "Canceled": nothing can match
            return json_response([], 200, {CONTINUATION_HEADER: ""})
        page = await self.client.get_status_by(created_from, created_to, statuses, prefix,
                                               page_size=top, continuation_token=token,
                                               show_input=show_input, version=version)
        return json_response([status_json(s) for s in page.instances], 200,
                             {CONTINUATION_HEADER: page.continuation_token or ""})

    # --- purging ---------------------------------------------------------

    async def purge(self, request: Request, query: Query) -> Response:
        """``DELETE instances/{id}``: 200 ``{"instancesDeleted": 1}`` or 404."""
        deleted = await self.client.purge_instance_history(request.path_params["instance_id"])
        if not deleted:
            return empty_response(404)
        return json_response({"instancesDeleted": deleted})

    async def purge_by_filter(self, request: Request, query: Query) -> Response:
        """``DELETE instances?createdTimeFrom=…``: 200 with the count, 404 when none matched."""
        created_from = query.date("createdTimeFrom")
        if created_from is None:
            raise bad_request("Please provide value for 'createdTimeFrom' parameter.")
        created_to = query.date("createdTimeTo")
        statuses = query.statuses()
        if statuses is not None and not statuses:
            return empty_response(404)
        deleted = await self.client.purge_instance_history_by(created_from, created_to, statuses)
        if not deleted:
            return empty_response(404)
        return json_response({"instancesDeleted": deleted})

    # --- signalling ------------------------------------------------------

    async def raise_event(self, request: Request, query: Query) -> Response:
        """``POST instances/{id}/raiseEvent/{eventName}``: 202, 404, 410 or 400."""
        if request.path_params["operation"].lower() != "raiseevent":
            return empty_response(404)
        instance_id = request.path_params["instance_id"]
        # The host's order: existence, then finished, then the body.
        status = await self.client.get_status(instance_id, show_input=False)
        if status is None:
            return empty_response(404)
        if status.runtime_status.is_terminal:
            return empty_response(410)
        if not is_json_media_type(request.headers.get("content-type")):
            raise HttpError(400, "Only application/json request content is supported",
                            f"Content-Type must be application/json, got "
                            f"{request.headers.get('content-type')!r}")
        raw = await read_body(request)
        if not raw.strip():
            raise bad_request("the request body is empty; send the event data as JSON "
                              "(null for none)", INVALID_JSON)
        data = parse_json(raw)
        await self.client.raise_event(instance_id, request.path_params["event_name"], data)
        return empty_response(202)

    async def operation(self, request: Request, query: Query) -> Response:
        """``POST instances/{id}/{terminate|suspend|resume|rewind|restart}``."""
        operation = request.path_params["operation"].lower()
        instance_id = request.path_params["instance_id"]
        if operation == "restart":
            return await self._restart(request, query, instance_id)
        method = {"terminate": self.client.terminate, "suspend": self.client.suspend,
                  "resume": self.client.resume, "rewind": self.client.rewind}.get(operation)
        if method is None:
            return empty_response(404)
        await method(instance_id, query.get("reason"))
        return empty_response(202)

    async def _restart(self, request: Request, query: Query, instance_id: str) -> Response:
        new_id_wanted = query.boolean("restartWithNewInstanceId", True)
        wait = _wait_options(query)
        new_id = await self.client.restart(instance_id, restart_with_new_instance_id=new_id_wanted)
        return await self._created(request, new_id, wait)


_POST_OPERATIONS = {name.lower(): name for name in
                    ("raiseEvent", "terminate", "suspend", "resume", "rewind", "restart")}


def _operation_of(request: Request, method: str) -> str | None:
    """The instance operation (``perdure.http.auth.OPERATIONS``) a request performs."""
    operation = request.path_params.get("operation")
    if operation is None:
        return {"GET": "read", "DELETE": "purge"}.get(method)
    name = _POST_OPERATIONS.get(operation.lower())
    # raiseEvent is the one operation with an event name after it (the handlers
    # answer 404 for the other shapes).
    if name is None or (name == "raiseEvent") != ("event_name" in request.path_params):
        return None
    return name


def _wait_options(query: Query) -> tuple[float, float] | None:
    """``timeout`` (+ ``pollingInterval``) in seconds, validated before anything starts.

    The wait is woken by the completion itself, so ``pollingInterval`` only has
    to be a valid number; unlike the host, one longer than ``timeout`` is not
    an error (it is capped).
    """
    timeout = query.number("timeout", maximum=MAX_WAIT_SECONDS)
    interval = query.number("pollingInterval", maximum=MAX_WAIT_SECONDS)
    if timeout is None:
        return None
    return timeout, min(timeout, 1.0 if interval is None else interval)


def unauthorized() -> Response:
    """401 with a body naming what is missing."""
    body: dict[str, Any] = {
        "Message": "Unauthorized",
        "ExceptionMessage": "this route requires a key: pass it as the 'code' query parameter "
                            "or in the 'x-functions-key' header",
        "ExceptionType": "UnauthorizedAccessException",
    }
    return json_response(body, 401)


def forbidden(reason: str) -> Response:
    """403: the key is genuine (an instance token) but does not open this request."""
    body: dict[str, Any] = {
        "Message": "Forbidden",
        "ExceptionMessage": reason,
        "ExceptionType": "UnauthorizedAccessException",
    }
    return json_response(body, 403)
