"""JSON at every durable boundary: inputs, outputs, events and custom status.

Values are encoded at the call site so that a non-serializable value fails
where the user wrote it, not deep inside a worker.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import SerializationError

_encoder = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False)
_decode = json.JSONDecoder().decode


def dumps(value: Any, what: str = "value") -> str | None:
    """Encode ``value`` as compact JSON text; ``None`` stays ``None`` (no value)."""
    if value is None:
        return None
    try:
        return _encoder.encode(value)
    except (TypeError, ValueError) as exc:
        raise SerializationError(
            f"{what} must be JSON-serializable, got {type(value).__name__}: {exc}"
        ) from None


def loads(text: str | None) -> Any:
    """Decode JSON text written by :func:`dumps`; ``None`` decodes to ``None``."""
    if text is None:
        return None
    return _decode(text)
