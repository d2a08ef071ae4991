"""The durable-client binding: the JSON the SDK's client is built from, and its transport.

A function with ``durable_client_input`` (or a v1 ``durableClient`` binding)
receives the binding as the host sends it, a JSON string; the SDK turns it
into an unmodified ``DurableOrchestrationClient``. Its calls go to
``rpcBaseUrl``, a private origin (:data:`PRIVATE_ORIGIN`) that
:func:`install_transport` routes in-process to perdure's own management API
(the same handlers as over the network), so that clients work in
``perdure worker`` processes that serve no HTTP too. ``managementUrls``
(what check-status payloads show) are built from the server's public base URL.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..client import Client
from ..client.urls import WEBHOOK_PATH, management_urls, no_query
from ..core.errors import InvalidArgumentError

PRIVATE_HOST = "perdure.internal"
PRIVATE_ORIGIN = f"http://{PRIVATE_HOST}"
RPC_BASE_URL = f"{PRIVATE_ORIGIN}{WEBHOOK_PATH}/"
_PLACEHOLDER = "INSTANCEID"

_SDK_CLIENT_MODULE = "azure.durable_functions.models.DurableOrchestrationClient"


def binding_json(client: Client, hub_name: str = "TestHubName") -> str:
    """The binding JSON of a durable client whose public URLs are ``client``'s."""
    urls = management_urls(client.base_url, _PLACEHOLDER, no_query, None)
    assert urls is not None
    base = client.base_url.rstrip("/") + WEBHOOK_PATH
    return json.dumps({
        "taskHubName": hub_name,
        "creationUrls": {
            "createNewInstancePostUri": f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]",
            "createAndWaitOnNewInstancePostUri":
                f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]"
                "?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}",
        },
        "managementUrls": urls,
        "baseUrl": base,
        "rpcBaseUrl": RPC_BASE_URL,
        "requiredQueryStringParameters": "",
    })


Sender = Callable[..., Awaitable[list[Any]]]


class InProcessTransport:
    """Sends the SDK client's requests for :data:`PRIVATE_ORIGIN` to an ASGI app.

    Other URLs go to the SDK's own (aiohttp) functions. Responses are mapped
    as the SDK's ``http_utils`` does: ``[status, parsed JSON or None]``, and
    ``""`` for an empty GET body.
    """

    def __init__(self, asgi_app: Any, fallback: dict[str, Sender]) -> None:
        self._http = httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi_app),
                                       base_url=PRIVATE_ORIGIN, timeout=None)
        self._fallback = fallback

    async def _send(self, method: str, url: str, data: Any = None,
                    headers: dict[str, str] | None = None) -> list[Any]:
        content = None if data is None else json.dumps(data).encode()
        sent = {"content-type": "application/json"} if content is not None else {}
        response = await self._http.request(method, url, content=content,
                                            headers={**sent, **(headers or {})})
        body: Any = json.loads(response.content) if response.content.strip() else None
        if method == "GET" and body is None:
            body = ""
        return [response.status_code, body]

    async def post(self, url: str, data: Any = None, trace_parent: str | None = None,
                   trace_state: str | None = None,
                   function_invocation_id: str | None = None) -> list[Any]:
        """``http_utils.post_async_request``'s contract."""
        if not url.startswith(PRIVATE_ORIGIN + "/"):
            return await self._fallback["post"](url, data, trace_parent, trace_state,
                                                function_invocation_id)
        return await self._send("POST", url, data)

    async def get(self, url: str, function_invocation_id: str | None = None) -> list[Any]:
        """``http_utils.get_async_request``'s contract."""
        if not url.startswith(PRIVATE_ORIGIN + "/"):
            return await self._fallback["get"](url, function_invocation_id)
        return await self._send("GET", url)

    async def delete(self, url: str, function_invocation_id: str | None = None) -> list[Any]:
        """``http_utils.delete_async_request``'s contract."""
        if not url.startswith(PRIVATE_ORIGIN + "/"):
            return await self._fallback["delete"](url, function_invocation_id)
        return await self._send("DELETE", url)

    async def aclose(self) -> None:
        """Close the in-process HTTP client."""
        await self._http.aclose()


def install_transport(asgi_app: Any, client: Client) -> InProcessTransport:
    """Route every SDK client's private-origin calls to ``asgi_app`` (the management API
    on ``client``), and build their check-status URLs with ``client``.

    Patches the module globals the SDK client copies into each instance
    (``post_async_request``, ``get_async_request``, ``delete_async_request``
    of ``azure.durable_functions.models.DurableOrchestrationClient``), so that
    clients built by the SDK's middleware and by v1 user code use it alike;
    and ``DurableOrchestrationClient.get_client_response_links``, so that the
    URLs carry perdure's per-instance tokens when keys are on (the SDK can only
    fill a template in).
    """
    module = importlib.import_module(_SDK_CLIENT_MODULE)
    originals: dict[str, Any] = getattr(module, "_perdure_originals", None) or {
        "post": module.post_async_request, "get": module.get_async_request,
        "delete": module.delete_async_request,
        "links": module.DurableOrchestrationClient.get_client_response_links}
    transport = InProcessTransport(asgi_app, originals)
    setattr(module, "_perdure_originals", originals)  # noqa: B010 - a module global
    setattr(module, "post_async_request", transport.post)  # noqa: B010
    setattr(module, "get_async_request", transport.get)  # noqa: B010
    setattr(module, "delete_async_request", transport.delete)  # noqa: B010
    template_links = originals["links"]

    def links(sdk_client: Any, request: Any, instance_id: str) -> dict[str, str]:
        bindings = getattr(sdk_client, "_orchestration_bindings", None)
        if getattr(bindings, "rpc_base_url", None) != RPC_BASE_URL:
            return template_links(sdk_client, request, instance_id)  # type: ignore[no-any-return]
        base = None
        if request is not None and getattr(request, "url", None):
            parsed = urlsplit(request.url)
            base = f"{parsed.scheme}://{parsed.netloc}"
        try:
            return client.create_http_management_payload(instance_id, base_url=base)
        except InvalidArgumentError:  # an instance this process has not seen
            return template_links(sdk_client, request, instance_id)  # type: ignore[no-any-return]

    module.DurableOrchestrationClient.get_client_response_links = links
    return transport
