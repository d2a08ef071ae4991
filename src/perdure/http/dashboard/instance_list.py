"""The instance list: filters in the URL, counts per status, keyset pages, live refresh."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ...client import StatusCount
from ...core.status import OrchestrationRuntimeStatus as Status
from .filters import BASE, PAGE_SIZES, RANGE_LABELS, Filters
from .site import Site

#: Rows a count per status reads at most (an index range of its own); beyond,
#: a chip says "≥ N".
COUNT_BOUND = 10_000
#: Rows counted in all under a name or an id prefix: one pass that reads each
#: row for its status (see ``Store.count_instances``), so fewer.
ONE_PASS_BOUND = 2_000


def count_bound(filters: Filters) -> int:
    """The bound of the counts under ``filters``."""
    return ONE_PASS_BOUND if filters.name or filters.prefix else COUNT_BOUND
#: The live refresh's fragment: the rows and the chips.
LIVE = "live"


@dataclass(frozen=True, slots=True)
class Chip:
    """A status's chip: its count in words (exact, or "≥ N" where counting stopped)."""

    status: Status
    count: str
    exact: bool


def chips_of(counts: list[StatusCount]) -> list[Chip]:
    """The chips of ``counts``."""
    return [Chip(c.status, f"{c.count:,}" if c.exact else f"≥ {c.count:,}", c.exact)
            for c in counts]


class InstanceList:
    """``/dashboard/``: the list, its live fragment and the redirect to it."""

    def __init__(self, site: Site) -> None:
        self.site = site

    def routes(self) -> list[BaseRoute]:
        """The list's routes."""
        return [Route(BASE, self.to_index, methods=["GET"]),
                Route(f"{BASE}/", self.index, methods=["GET"])]

    async def to_index(self, request: Request) -> Response:
        """``/dashboard`` → ``/dashboard/``."""
        return RedirectResponse(f"{BASE}/", 307)

    async def index(self, request: Request) -> Response:
        """The list page, or (``?fragment=live``) its rows and chips for the live refresh."""
        site = self.site
        sid, refusal = site.session(request)
        if refusal is not None:
            return refusal
        fragment = request.query_params.get("fragment", "")
        if fragment not in ("", LIVE):
            return site.refuse(request, sid, 400, f"fragment must be {LIVE!r}")
        try:
            filters = Filters.parse(request.query_params, site.client.store.clock.now())
            rows, token = await self.page(filters)
            chips = chips_of(await self.counts(filters))
        except Exception as exc:  # noqa: BLE001 - every error becomes a page
            return site.error(request, exc, sid)
        context: dict[str, Any] = {
            "filters": filters, "rows": rows, "chips": chips,
            "next_url": None if token is None else filters.url(after=token)}
        if fragment:
            return site.render(request, "live.html", sid=sid, **context)
        return site.render(request, "list.html", sid=sid, statuses=list(Status),
                           ranges=RANGE_LABELS, sizes=PAGE_SIZES,
                           orchestrators=sorted(site.app.orchestrators),
                           notice=site.notice(request), **context)

    async def page(self, filters: Filters) -> tuple[list[Any], str | None]:
        """One keyset page in the list's order, and the store's token of the next."""
        page = await self.site.client.get_status_by(
            filters.created_from, filters.created_to, filters.statuses or None,
            filters.prefix or None, page_size=filters.size,
            continuation_token=filters.after or None, show_input=False,
            orchestrator_name=filters.name or None, newest_first=not filters.oldest_first)
        return page.instances, page.continuation_token

    async def counts(self, filters: Filters) -> list[StatusCount]:
        """Instances per status under every filter but the statuses (the chips pick those)."""
        return await self.site.client.count_by_status(
            filters.created_from, filters.created_to, filters.prefix or None,
            orchestrator_name=filters.name or None, bound=count_bound(filters))
