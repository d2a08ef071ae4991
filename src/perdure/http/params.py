"""Query parameters as the Durable Functions host reads them: names case-insensitive.

Where the host silently ignores an unparsable value (a bad date, an unknown
status), perdure answers 400 naming the parameter: a filter that is dropped
without a word turns a narrow query or purge into a wide one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from starlette.datastructures import QueryParams

from ..core.status import OrchestrationRuntimeStatus as Status
from .errors import bad_request

# Durable Task's numeric status values, which the host also accepts.
_NUMERIC_STATUS = {"0": "Running", "1": "Completed", "2": "ContinuedAsNew", "3": "Failed",
                   "4": "Canceled", "5": "Terminated", "6": "Pending", "7": "Suspended"}


class Query:
    """Case-insensitive, typed access to a request's query string."""

    def __init__(self, params: QueryParams) -> None:
        self._values: dict[str, list[str]] = {}
        for key, value in params.multi_items():
            self._values.setdefault(key.lower(), []).append(value)

    def get(self, name: str) -> str | None:
        """The first value of ``name`` (any casing), or ``None``."""
        values = self._values.get(name.lower())
        return values[0] if values else None

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name`` (any casing), in order."""
        return list(self._values.get(name.lower(), ()))

    def boolean(self, name: str, default: bool) -> bool:
        """``true``/``false`` in any casing; ``default`` when absent."""
        value = self.get(name)
        if value is None:
            return default
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        raise bad_request(f"query parameter '{name}' must be true or false, got {value!r}")

    def number(self, name: str, *, minimum: float = 0.0,
               maximum: float | None = None) -> float | None:
        """A finite decimal number of at least ``minimum``, or ``None`` when absent."""
        value = self.get(name)
        if value is None:
            return None
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number < minimum \
                or (maximum is not None and number > maximum):
            limit = f" and at most {maximum:g}" if maximum is not None else ""
            raise bad_request(f"query parameter '{name}' must be a number of at least "
                              f"{minimum:g}{limit}, got {value!r}")
        return number

    def integer(self, name: str, default: int, *, minimum: int = 1,
                maximum: int | None = None) -> int:
        """A decimal integer in range, ``default`` when absent."""
        value = self.get(name)
        if value is None:
            return default
        try:
            number = int(value.strip())
        except ValueError:
            raise bad_request(f"query parameter '{name}' must be an integer, got {value!r}"
                              ) from None
        if number < minimum or (maximum is not None and number > maximum):
            limit = f" and at most {maximum}" if maximum is not None else ""
            raise bad_request(f"query parameter '{name}' must be at least {minimum}{limit}, "
                              f"got {number}")
        return number

    def date(self, name: str) -> datetime | None:
        """An ISO 8601 date-time (UTC when it has no offset), or ``None`` when absent."""
        value = self.get(name)
        if value is None:
            return None
        try:
            parsed = parse_datetime(value)
        except ValueError:
            raise bad_request(f"query parameter '{name}' is not an ISO 8601 date-time: "
                              f"{value!r}") from None
        return parsed

    def statuses(self, name: str = "runtimeStatus") -> frozenset[Status] | None:
        """Runtime statuses, repeated and/or comma-separated, names in any casing or numbers.

        ``None`` means "no filter". ``Canceled`` is accepted (Durable Task has it,
        perdure never produces it) and matches nothing, so a filter of only
        ``Canceled`` is an empty set.
        """
        values = [v for v in self.get_all(name) if v.strip()]
        if not values:  # absent, or an empty list
            return None
        tokens = [t.strip() for v in values for t in v.split(",")]
        if not all(tokens):
            raise bad_request(f"query parameter '{name}' has an empty runtime status; "
                              "give names separated by commas")
        return parse_statuses(tokens, name)


def parse_statuses(tokens: Iterable[str], name: str = "runtimeStatus") -> frozenset[Status]:
    """Parse status tokens; 400 naming the first unknown one."""
    out: set[Status] = set()
    for token in tokens:
        text = _NUMERIC_STATUS.get(token, token)
        if text.lower() == "canceled":
            continue
        try:
            out.add(Status.parse(text))
        except ValueError:
            names = ", ".join([s.value for s in Status] + ["Canceled"])
            raise bad_request(f"query parameter '{name}' has unknown runtime status "
                              f"{token!r}; expected one of {names}") from None
    return frozenset(out)


_DATETIME = re.compile(
    r"\d{4}-\d\d-\d\d(?:[Tt ]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:[Zz]|[+-]\d\d:?\d\d)?)?")


def parse_datetime(value: str) -> datetime:
    """Parse ``yyyy-MM-dd[THH:mm:ss[.fffffff][Z|±hh:mm]]``; no offset means UTC.

    Up to 9 fractional digits (.NET writes 7; Python keeps 6).
    """
    text = value.strip()
    # An unencoded "+01:00" offset arrives as " 01:00" once the query is decoded.
    text = re.sub(r"(:\d\d(?:\.\d+)?) (\d\d:?\d\d)$", r"\1+\2", text)
    if not _DATETIME.fullmatch(text):
        raise ValueError(value)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        if digits > 6:
            rest = rest[:6] + rest[digits:]
        text = f"{head}.{rest}"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(value) from None
