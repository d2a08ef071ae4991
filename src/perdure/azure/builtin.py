"""``context.call_http``: the host's built-in activity ``BuiltIn::HttpActivity``, on httpx.

The SDK schedules a ``CallHttp`` action holding a ``DurableHttpRequest``
(``method``, ``uri``, ``content``, ``headers``, ``tokenSource``); the host
runs it as an activity whose result, ``{"statusCode", "headers",
"content"}``, the orchestrator receives. perdure runs the request once: no
managed-identity tokens, and a 202 is returned as is (the Functions host
would poll its ``Location``).
"""

from __future__ import annotations

from typing import Any

import httpx

from ..core.errors import InvalidArgumentError

HTTP_ACTIVITY = "BuiltIn::HttpActivity"
TIMEOUT_SECONDS = 100.0


async def http_activity(request: dict[str, Any]) -> dict[str, Any]:
    """Send the durable HTTP request; its status code, headers and text content."""
    if not isinstance(request, dict) or not request.get("uri") or not request.get("method"):
        raise InvalidArgumentError("call_http needs a method and a uri")
    if request.get("tokenSource"):
        raise InvalidArgumentError("call_http with a token_source (managed identity) is not "
                                   "supported by perdure")
    content = request.get("content")
    async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
        response = await client.request(
            str(request["method"]).upper(), str(request["uri"]),
            content=None if content is None else str(content).encode(),
            headers={str(k): str(v) for k, v in (request.get("headers") or {}).items()})
    return {"statusCode": response.status_code, "headers": dict(response.headers),
            "content": response.text}
