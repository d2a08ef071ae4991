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
        text = _encoder.encode(value)
        if not text.isascii():
            # A lone surrogate ("\ud800") encodes to JSON but not to UTF-8, so no
            # store could keep it: refuse it here, where the caller can see why.
            text.encode("utf-8")
        return text
    except (TypeError, ValueError) as exc:
        raise SerializationError(
            f"{what} must be JSON-serializable, got {type(value).__name__}: {exc}"
        ) from None


def loads(text: str | None) -> Any:
    """Decode JSON text written by :func:`dumps`; ``None`` decodes to ``None``."""
    if text is None:
        return None
    return _decode(text)
