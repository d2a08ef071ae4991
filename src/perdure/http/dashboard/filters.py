"""The instance list's filters, as read from (and written back to) the URL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from ...core.errors import InvalidArgumentError
from ...core.status import OrchestrationRuntimeStatus as Status

BASE = "/dashboard"
PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
QUICK_RANGES = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
RANGE_LABELS = {"15m": "Last 15 min", "1h": "Last hour", "1d": "Last day"}


@dataclass
class Filters:
    """The list's filters; ``after`` is the store's continuation token of the page."""

    statuses: list[Status] = field(default_factory=list)
    name: str = ""
    prefix: str = ""
    created_from: datetime | None = None
    created_to: datetime | None = None
    quick: str = ""
    size: int = DEFAULT_PAGE_SIZE
    after: str = ""
    raw_from: str = ""
    raw_to: str = ""
    oldest_first: bool = False

    @classmethod
    def parse(cls, query: QueryParams, now: datetime) -> Filters:
        """The filters of a request's query; ``InvalidArgumentError`` names a bad one."""
        statuses: list[Status] = []
        for text in query.getlist("status"):
            if text:
                status = Status.parse(text)
                if status not in statuses:
                    statuses.append(status)
        order = query.get("order", "")
        if order not in ("", "newest", "oldest"):
            raise InvalidArgumentError("order must be newest or oldest")
        out = cls(statuses=statuses, name=query.get("name", "").strip(),
                  prefix=query.get("prefix", "").strip(), after=query.get("after", ""),
                  oldest_first=order == "oldest")
        out.quick = query.get("range", "")
        if out.quick:
            if out.quick not in QUICK_RANGES:
                raise InvalidArgumentError(f"range must be one of {', '.join(QUICK_RANGES)}")
            out.created_from = now - QUICK_RANGES[out.quick]
        out.raw_from, out.raw_to = query.get("from", ""), query.get("to", "")
        if out.raw_from and not out.quick:
            out.created_from = _parse_time(out.raw_from, "from")
        if out.raw_to:
            out.created_to = _parse_time(out.raw_to, "to")
        size = query.get("size", "")
        if size:
            if not size.isdigit() or int(size) not in PAGE_SIZES:
                raise InvalidArgumentError(f"size must be one of {PAGE_SIZES}")
            out.size = int(size)
        return out

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        """The URL query for these filters, with ``changes`` applied (empty drops)."""
        values: dict[str, Any] = {
            "status": [s.value for s in self.statuses], "name": self.name,
            "prefix": self.prefix, "range": self.quick,
            "from": "" if self.quick else self.raw_from, "to": self.raw_to,
            "size": "" if self.size == DEFAULT_PAGE_SIZE else str(self.size), "after": "",
            "order": "oldest" if self.oldest_first else "",
        }
        values.update(changes)
        out: list[tuple[str, str]] = []
        for key, value in values.items():
            for item in value if isinstance(value, list) else [value]:
                if item:
                    out.append((key, str(item)))
        return out

    def url(self, **changes: Any) -> str:
        """The list's URL for these filters, with ``changes``."""
        query = urlencode(self.params(**changes))
        return f"{BASE}/" + (f"?{query}" if query else "")

    def describe(self) -> list[tuple[str, str]]:
        """The filters in words (label, value), for a confirmation page."""
        out = []
        if self.name:
            out.append(("Orchestrator", self.name))
        if self.prefix:
            out.append(("Id prefix", self.prefix))
        if self.created_from is not None:
            out.append(("Created from", self.created_from.isoformat()))
        if self.created_to is not None:
            out.append(("Created to", self.created_to.isoformat()))
        return out


def _parse_time(text: str, what: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgumentError(f"'{what}' must be a date and time (ISO 8601), "
                                   f"got {text!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
