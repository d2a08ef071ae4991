"""Reading JSON request bodies the way the Durable Functions host does, with limits."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import ClientDisconnect, Request

from ..core.serialization import value_limits
from .errors import INVALID_JSON, HttpError, bad_request


def max_body_bytes() -> int:
    """The largest body read: twice the value size limit, room for whitespace and escapes.

    The value it holds is held to the exact limit when it is stored (413 too).
    """
    return 2 * value_limits().max_bytes


async def read_body(request: Request, limit: int | None = None) -> bytes:
    """The raw body, refusing more than ``limit`` bytes (default :func:`max_body_bytes`)
    with 413 before reading it all."""
    limit = max_body_bytes() if limit is None else limit
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        raise bad_request("the client disconnected before sending the whole body") from None
    return b"".join(chunks)


def _too_large(limit: int) -> HttpError:
    return HttpError(413, "Request body too large",
                     f"the request body exceeds the limit of {limit} bytes")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes) -> Any:
    """Parse a JSON document (strict: no NaN/Infinity); 400 "Invalid JSON content" otherwise."""
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        depth = value_limits().max_depth
        raise bad_request(f"the request body is nested more than {depth} levels deep; the "
                          f"limit is {depth}", INVALID_JSON) from None
    except ValueError as exc:
        raise bad_request(f"the request body is not valid JSON: {exc}", INVALID_JSON) from None


async def optional_json(request: Request) -> Any:
    """The JSON body, or ``None`` when the body is empty (as the host reads a start body)."""
    raw = await read_body(request)
    return parse_json(raw) if raw.strip() else None


def is_json_media_type(content_type: str | None) -> bool:
    """Whether ``Content-Type`` is ``application/json`` (parameters and casing ignored)."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == "application/json"
