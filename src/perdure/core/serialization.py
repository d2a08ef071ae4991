"""JSON at every durable boundary: inputs, outputs, events and custom status.

Values are encoded at the call site so that a non-serializable value fails
where the user wrote it, not deep inside a worker. Every value that enters the
task hub passes :func:`dumps`, so its limits (:class:`ValueLimits`: encoded
size and nesting depth) hold for everything stored, whichever door it came
through: HTTP, the client, the CLI, an activity result, a custom status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import InvalidArgumentError, SerializationError, ValueTooLargeError

_encoder = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False)
_decode = json.JSONDecoder().decode

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ValueLimits:
    """Limits on every JSON value stored: encoded size in bytes and nesting depth.

    The defaults suit one machine: a value costs several times its size in
    memory while it is encoded, stored and served.
    """

    max_bytes: int = 4 * MIB
    max_depth: int = 256

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_depth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(f"{name} must be a positive integer, got {value!r}")


_limits = ValueLimits()


def value_limits() -> ValueLimits:
    """The limits this process enforces."""
    return _limits


def set_value_limits(limits: ValueLimits) -> None:
    """Set the limits this process enforces (``perdure serve/worker --max-value-size``)."""
    global _limits
    if not isinstance(limits, ValueLimits):
        raise InvalidArgumentError("set_value_limits takes a ValueLimits")
    _limits = limits


def dumps(value: Any, what: str = "value") -> str | None:
    """Encode ``value`` as compact JSON text; ``None`` stays ``None`` (no value).

    Raises :class:`SerializationError` for a value that is not JSON, or nested
    deeper than the depth limit, and :class:`ValueTooLargeError` for one whose
    encoding exceeds the size limit.
    """
    if value is None:
        return None
    limits = _limits
    try:
        text = _encoder.encode(value)
        size = len(text)
        if not text.isascii():
            # A lone surrogate ("\ud800") encodes to JSON but not to UTF-8, so no
            # store could keep it: refuse it here, where the caller can see why.
            size = len(text.encode("utf-8"))
    except RecursionError:
        raise _too_deep(what, limits) from None
    except (TypeError, ValueError) as exc:
        raise SerializationError(
            f"{what} must be JSON-serializable, got {type(value).__name__}: {exc}"
        ) from None
    if size > limits.max_bytes:
        raise ValueTooLargeError(f"{what} is {size} bytes encoded as JSON; the limit is "
                                 f"{limits.max_bytes} bytes", size, limits.max_bytes)
    # Fewer brackets than the limit cannot nest deeper: only big values are walked.
    if text.count("[") + text.count("{") > limits.max_depth and \
            _deeper_than(value, limits.max_depth):
        raise _too_deep(what, limits)
    return text


def _too_deep(what: str, limits: ValueLimits) -> SerializationError:
    return SerializationError(f"{what} is nested more than {limits.max_depth} levels deep; "
                              f"the limit is {limits.max_depth}")


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and dicts nest more than ``limit`` levels in ``value`` (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, dict | list | tuple))
    return False


def loads(text: str | None) -> Any:
    """Decode JSON text written by :func:`dumps`; ``None`` decodes to ``None``."""
    if text is None:
        return None
    return _decode(text)


def parse_json(text: str | bytes, what: str = "value") -> Any:
    """Parse JSON from outside (a request body, a command-line option) strictly.

    No ``NaN``/``Infinity``; text nested beyond what the parser can take is a
    :class:`SerializationError` that says so, not a ``RecursionError``. The
    value's limits are checked when it is encoded for storage (:func:`dumps`).
    """
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise _too_deep(what, _limits) from None
    except ValueError as exc:
        raise SerializationError(f"{what} is not valid JSON: {exc}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
