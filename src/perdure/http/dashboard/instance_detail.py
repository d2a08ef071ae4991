"""An instance's page: status card, generations, sub-orchestrations, timeline, history."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ...core.errors import UnknownFunctionError
from ...core.status import OrchestrationRuntimeStatus as Status
from .filters import BASE
from .site import Site
from .timeline import build_timeline, event_waits

SUB_ORCHESTRATIONS_SHOWN = 100


def available(status: Status) -> list[str]:
    """The actions that make sense for an instance in ``status``."""
    if status is Status.Suspended:
        return ["resume", "terminate", "raise-event", "restart"]
    if status.is_terminal:
        return (["rewind"] if status is Status.Failed else []) + ["restart", "purge"]
    return ["terminate", "suspend", "raise-event", "restart"]


class InstanceDetail:
    """``/dashboard/instances/{id}``."""

    def __init__(self, site: Site) -> None:
        self.site = site

    def routes(self) -> list[BaseRoute]:
        """The detail route."""
        return [Route(f"{BASE}/instances/{{instance_id}}", self.detail, methods=["GET"])]

    async def detail(self, request: Request) -> Response:
        """The page of one instance."""
        site = self.site
        sid, refusal = site.session(request)
        if refusal is not None:
            return refusal
        instance_id = request.path_params["instance_id"]
        client = site.client
        try:
            status = await client.get_status(instance_id, show_history=True,
                                             show_history_output=True)
            if status is None:
                return site.refuse(request, sid, 404, f"no instance {instance_id!r}")
            export = await client.export_history(instance_id)
            waits = event_waits(self._orchestrator(status.name), instance_id, export.events)
            timeline = build_timeline(export.events, client.store.clock.now(), waits)
            generations = await client.get_generations(instance_id)
            subs: list[tuple[str, str, Any]] = []
            for bar in timeline.bars:
                if bar.instance_id is not None and len(subs) < SUB_ORCHESTRATIONS_SHOWN:
                    sub = await client.get_status(bar.instance_id, show_input=False)
                    subs.append((bar.instance_id, bar.label, sub))
        except Exception as exc:  # noqa: BLE001 - every error becomes a page
            return site.error(request, exc, sid)
        current = (generations[-1].generation + 1) if generations else 1
        return site.render(request, "detail.html", sid=sid, s=status, timeline=timeline,
                           execution_id=export.execution_id, subs=subs,
                           generations=generations, generation=current,
                           available=available(status.runtime_status),
                           notice=site.notice(request))

    def _orchestrator(self, name: str) -> Any:
        try:
            return self.site.app.get_orchestrator(name)
        except UnknownFunctionError:
            return None
