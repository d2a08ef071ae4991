"""The Durable Functions entity API: signal, read and list entities over HTTP.

Under every management base: ``POST entities/{name}/{key}?op=…`` signals an
operation (202; ``DELETE`` signals ``delete``), ``GET entities/{name}/{key}``
answers the state (404 when the entity has none), ``GET entities[/{name}]``
lists entities, ``x-ms-continuation-token`` paged. Bodies, codes and JSON are
the host's (``reference/df-http-api.md`` §1 (l)); the system key opens them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..core.entities import EntityId
from ..core.errors import UnknownFunctionError
from .body import is_json_media_type, parse_json, read_body
from .check_status import HttpClient
from .errors import bad_request, empty_response, json_response
from .params import Query
from .wire import format_time

if TYPE_CHECKING:
    from .routes import Handler

CONTINUATION_HEADER = "x-ms-continuation-token"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

RouteMaker = Callable[[str, Mapping[str, "Handler"]], Route]


class EntityApi:
    """The entity routes of one :class:`HttpClient`."""

    def __init__(self, client: HttpClient) -> None:
        self.client = client

    def table(self, route: RouteMaker) -> list[BaseRoute]:
        """The routes under one base, built by the management API's ``route``."""
        one = {"GET": self.read, "POST": self.signal, "DELETE": self.delete}
        listing = {"GET": self.list}
        return [route("/entities", listing), route("/entities/", listing),
                route("/entities/{entity_name}", listing),
                route("/entities/{entity_name}/", listing),
                route("/entities/{entity_name}/{entity_key}", one)]

    def _entity(self, request: Request, known: bool) -> EntityId:
        name = request.path_params["entity_name"]
        key = request.path_params["entity_key"]
        for char in "/\\#?":
            if char in key:
                raise bad_request(f"entity key {key!r} contains {char!r}; '/', '\\\\', '#' and "
                                  "'?' are not allowed")
        entity = EntityId(name, key)
        names = self.client.entity_names
        if known and names is not None and entity.name not in names:
            raise UnknownFunctionError("entity", entity.name, sorted(names))
        return entity

    async def signal(self, request: Request, query: Query) -> Response:
        """``POST entities/{name}/{key}?op=…``: 202 once the signal is durable."""
        entity = self._entity(request, known=True)
        operation = query.get("op")
        if not operation:
            raise bad_request("the 'op' query parameter names the operation to signal")
        raw = await read_body(request)
        data: Any = None
        if raw.strip():
            data = parse_json(raw) if is_json_media_type(request.headers.get("content-type")) \
                else raw.decode("utf-8", errors="replace")
        await self.client.signal_entity(entity, operation, data)
        return empty_response(202)

    async def delete(self, request: Request, query: Query) -> Response:
        """``DELETE entities/{name}/{key}``: signals ``delete``."""
        await self.client.signal_entity(self._entity(request, known=True), "delete")
        return empty_response(202)

    async def read(self, request: Request, query: Query) -> Response:
        """``GET entities/{name}/{key}``: 200 with the state, 404 when it has none."""
        exists, state = await self.client.read_entity_state(self._entity(request, known=False))
        return json_response(state) if exists else empty_response(404)

    async def list(self, request: Request, query: Query) -> Response:
        """``GET entities[/{name}]``: one page of entities, oldest first."""
        name = request.path_params.get("entity_name") or None
        top = min(query.integer("top", DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
        token = request.headers.get(CONTINUATION_HEADER, "").strip() or None
        if token is not None and token.lower() == "null":
            token = None
        fetch_state = query.boolean("fetchState", False)
        page = await self.client.list_entities(
            name, fetch_state=fetch_state,
            last_modified_from=query.date("lastOperationTimeFrom"),
            last_modified_to=query.date("lastOperationTimeTo"),
            page_size=top, continuation_token=token)
        body = []
        for meta in page.entities:
            item: dict[str, Any] = {
                "entityId": {"name": meta.entity_id.name, "key": meta.entity_id.key},
                "lastOperationTime": format_time(meta.last_modified)}
            if fetch_state:
                item["state"] = meta.state
            body.append(item)
        return json_response(body, 200, {CONTINUATION_HEADER: page.continuation_token or ""})


__all__ = ["EntityApi"]
