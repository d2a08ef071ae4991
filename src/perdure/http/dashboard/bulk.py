"""Bulk actions by filter: terminate or purge everything the list's filter matches.

A confirmed bulk action becomes a job of this server process: a background
task that pages through the matches oldest first (by the store's tokens, so
no row is visited twice) in batches of :data:`BULK_BATCH`, and handles each
instance through the same client methods as the management API, paced to
at most the site's ``bulk_rate`` instances a second (``perdure serve
--bulk-rate``): it is background work, and leaves the hub to the workers. The job's
page (its id in the URL) polls its progress and can cancel it; cancelling
stops it before the next instance.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ...core.errors import InstanceNotFoundError, InvalidInstanceStateError, PerdureError
from ...core.status import OrchestrationRuntimeStatus as Status
from .filters import BASE, Filters
from .instance_list import count_bound
from .site import ACTION_LABELS, Site

#: Instances per store page of a job.
BULK_BATCH = 100
#: Jobs remembered (finished ones are forgotten oldest first).
JOBS_KEPT = 50
BULK_STATUSES = {
    "terminate": (Status.Pending, Status.Running, Status.Suspended, Status.ContinuedAsNew),
    "purge": (Status.Completed, Status.Failed, Status.Terminated),
}
#: What a job's instance may answer when it changed meanwhile: it is skipped.
_SKIPPED = (InstanceNotFoundError, InvalidInstanceStateError, PerdureError)
logger = logging.getLogger(__name__)


def narrowed(filters: Filters, action: str) -> Filters:
    """``filters`` narrowed to the statuses ``action`` applies to (none: nothing matches)."""
    allowed = BULK_STATUSES[action]
    wanted = [st for st in (filters.statuses or allowed) if st in allowed]
    return dataclasses.replace(filters, statuses=wanted, after="")


@dataclass(eq=False)
class BulkJob:
    """One bulk action in progress (or ended): what it does and how far it got."""

    id: str
    action: str
    filters: Filters
    #: How many matched when it started, in words ("120", "at least 10,000").
    expected: str
    #: The count when it is exact (for the progress bar).
    total: int | None
    done: int = 0
    skipped: int = 0
    batches: int = 0
    state: str = "running"  # running, finished, cancelled, failed
    error: str = ""
    cancel_requested: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        """The action's button label."""
        return ACTION_LABELS[self.action]


class BulkJobs:
    """The bulk jobs of one dashboard (one process), by id."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.jobs: OrderedDict[str, BulkJob] = OrderedDict()

    def start(self, action: str, filters: Filters, expected: str, total: int | None) -> BulkJob:
        """Start a job of ``action`` over what ``filters`` match (already narrowed)."""
        job = BulkJob(secrets.token_urlsafe(9), action, filters, expected, total)
        self.jobs[job.id] = job
        for old in list(self.jobs.values())[:-JOBS_KEPT]:
            if old.state != "running":
                del self.jobs[old.id]
        job.task = asyncio.get_running_loop().create_task(self._run(job))
        return job

    async def _run(self, job: BulkJob) -> None:
        client = self.site.client
        f = job.filters
        token: str | None = None
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            while not job.cancel_requested and f.statuses:
                page = await client.get_status_by(
                    f.created_from, f.created_to, f.statuses, f.prefix or None,
                    page_size=BULK_BATCH, continuation_token=token, show_input=False,
                    orchestrator_name=f.name or None)
                for status in page.instances:
                    if job.cancel_requested:
                        break
                    try:
                        if job.action == "terminate":
                            await client.terminate(status.instance_id,
                                                   "bulk terminate from the dashboard")
                        elif not await client.purge_instance_history(status.instance_id):
                            raise InstanceNotFoundError(status.instance_id)
                        job.done += 1
                    except _SKIPPED:  # finished, gone or changed meanwhile
                        job.skipped += 1
                job.batches += 1
                token = page.continuation_token
                if token is None:
                    break
                # Paced by what it handled, so a slow store is not also slept on.
                await asyncio.sleep(max(0.0, (job.done + job.skipped) / self.site.bulk_rate
                                        - (loop.time() - began)))
        except Exception as exc:  # noqa: BLE001 - the job's page says what went wrong
            logger.exception("bulk %s job %s failed", job.action, job.id)
            job.state, job.error = "failed", str(exc) or type(exc).__name__
            return
        job.state = "cancelled" if job.cancel_requested else "finished"

    def cancel(self, job: BulkJob) -> None:
        """Ask ``job`` to stop before its next instance."""
        if job.state == "running":
            job.cancel_requested = True


class BulkPages:
    """``/dashboard/bulk/…``: confirm, start, follow and cancel bulk jobs."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.jobs = BulkJobs(site)

    def routes(self) -> list[BaseRoute]:
        """The bulk routes."""
        return [Route(f"{BASE}/bulk/jobs/{{job_id}}", self.job_page, methods=["GET"]),
                Route(f"{BASE}/bulk/jobs/{{job_id}}/cancel", self.cancel, methods=["POST"]),
                Route(f"{BASE}/bulk/{{action}}", self.bulk, methods=["GET", "POST"])]

    async def bulk(self, request: Request) -> Response:
        """The confirmation (GET) naming the filter and the count; POST starts the job."""
        site = self.site
        if request.method == "GET":
            sid, refusal = site.action_page(request)
        else:
            sid, _, refusal = await site.mutation(request)
        if refusal is not None:
            return refusal
        action = request.path_params["action"]
        if action not in BULK_STATUSES:
            return site.refuse(request, sid, 404, "no such bulk action")
        try:
            filters = Filters.parse(request.query_params, site.client.store.clock.now())
            target = narrowed(filters, action)
            expected, total = await self._expected(target)
        except Exception as exc:  # noqa: BLE001 - every error becomes a page
            return site.error(request, exc, sid)
        if request.method == "POST":
            job = self.jobs.start(action, target, expected, total)
            return RedirectResponse(f"{BASE}/bulk/jobs/{job.id}", 303)
        return site.render(request, "bulk.html", sid=sid, action=action,
                           label=ACTION_LABELS[action], filters=filters, narrowed=target,
                           expected=expected)

    async def _expected(self, target: Filters) -> tuple[str, int | None]:
        if not target.statuses:
            return "0", 0
        counts = await self.site.client.count_by_status(
            target.created_from, target.created_to, target.prefix or None,
            orchestrator_name=target.name or None, bound=count_bound(target))
        chosen = [c for c in counts if c.status in target.statuses]
        n = sum(c.count for c in chosen)
        if all(c.exact for c in chosen):
            return f"{n:,}", n
        return f"at least {n:,}", None

    def _job(self, request: Request) -> BulkJob | None:
        return self.jobs.jobs.get(request.path_params["job_id"])

    async def job_page(self, request: Request) -> Response:
        """A job's progress: the page, or (``?fragment=progress``) the part it polls."""
        site = self.site
        sid, refusal = site.action_page(request)
        if refusal is not None:
            return refusal
        job = self._job(request)
        if job is None:
            return site.refuse(request, sid, 404, "no such bulk job (this server restarted, "
                                                  "or it ended long ago)")
        template = "progress.html" if request.query_params.get("fragment") == "progress" \
            else "bulk_job.html"
        return site.render(request, template, sid=sid, job=job)

    async def cancel(self, request: Request) -> Response:
        """Cancel a running job (CSRF-checked, refused when read-only)."""
        site = self.site
        sid, _, refusal = await site.mutation(request)
        if refusal is not None:
            return refusal
        job = self._job(request)
        if job is None:
            return site.refuse(request, sid, 404, "no such bulk job")
        self.jobs.cancel(job)
        return RedirectResponse(f"{BASE}/bulk/jobs/{job.id}", 303)
