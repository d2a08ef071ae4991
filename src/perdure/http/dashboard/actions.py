"""Actions on one instance (each confirmed first) and starting a new one."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..errors import error_response
from .filters import BASE
from .site import ACTION_LABELS, Site, quote_id

ACTIONS = tuple(ACTION_LABELS)


class Actions:
    """``/dashboard/instances/{id}/confirm/{action}``, ``…/{action}`` and ``/dashboard/start``."""

    def __init__(self, site: Site) -> None:
        self.site = site

    def routes(self) -> list[BaseRoute]:
        """The action routes."""
        return [
            Route(f"{BASE}/start", self.start, methods=["GET", "POST"]),
            Route(f"{BASE}/instances/{{instance_id}}/confirm/{{action}}", self.confirm,
                  methods=["GET"]),
            Route(f"{BASE}/instances/{{instance_id}}/{{action}}", self.act, methods=["POST"]),
        ]

    async def confirm(self, request: Request) -> Response:
        """The confirmation naming the instance (and the event editor for raise event)."""
        site = self.site
        sid, refusal = site.action_page(request)
        if refusal is not None:
            return refusal
        action = request.path_params["action"]
        if action not in ACTIONS:
            return site.refuse(request, sid, 404, "no such action")
        return site.render(request, "confirm.html", sid=sid,
                           instance_id=request.path_params["instance_id"], action=action,
                           label=ACTION_LABELS[action], error="", event_name="",
                           event_data="null")

    async def act(self, request: Request) -> Response:
        """Do a confirmed action through the client, then show the instance with the result."""
        site = self.site
        client = site.client
        action = request.path_params["action"]
        instance_id = request.path_params["instance_id"]
        sid, form, refusal = await site.mutation(request)
        if refusal is not None:
            return refusal
        if action not in ACTIONS:
            return site.refuse(request, sid, 404, "no such action")
        reason = form.get("reason") or None
        target = instance_id
        try:
            if action == "raise-event":
                name = form.get("event_name", "").strip()
                raw = form.get("event_data", "")
                try:
                    data = json.loads(raw) if raw.strip() else None
                except ValueError as exc:
                    return site.render(request, "confirm.html", 400, sid=sid,
                                       instance_id=instance_id, action=action,
                                       label=ACTION_LABELS[action],
                                       error=f"the event data is not valid JSON: {exc}",
                                       event_name=name, event_data=raw)
                await client.raise_event(instance_id, name, data)
                done = f"event {name!r} raised"
            elif action == "restart":
                target = await client.restart(
                    instance_id, restart_with_new_instance_id=form.get("new_id") == "on")
                done = f"restarted as {target}"
            elif action == "purge":
                if not await client.purge_instance_history(instance_id):
                    return site.refuse(request, sid, 404, f"no instance {instance_id!r}")
                return RedirectResponse(
                    f"{BASE}/?" + site.notice_query(f"{instance_id} purged"), 303)
            else:
                method = {"terminate": client.terminate, "suspend": client.suspend,
                          "resume": client.resume, "rewind": client.rewind}[action]
                await method(instance_id, reason)
                done = f"{ACTION_LABELS[action].lower()} requested"
        except Exception as exc:  # noqa: BLE001 - every error becomes a page
            return site.error(request, exc, sid)
        return RedirectResponse(f"{BASE}/instances/{quote_id(target)}?"
                                + site.notice_query(done), 303)

    async def start(self, request: Request) -> Response:
        """Start an instance of an orchestrator of the app's registry, with JSON input."""
        site = self.site
        orchestrators = sorted(site.app.orchestrators)
        if request.method == "GET":
            sid, refusal = site.action_page(request)
            if refusal is not None:
                return refusal
            return site.render(request, "start.html", sid=sid, orchestrators=orchestrators,
                               error="", chosen="", input_text="null", instance_id="")
        sid, form, refusal = await site.mutation(request)
        if refusal is not None:
            return refusal
        name = form.get("name", "")
        raw = form.get("input", "")
        wanted = form.get("instance_id", "").strip() or None

        def again(code: int, error: str) -> Response:
            return site.render(request, "start.html", code, sid=sid,
                               orchestrators=orchestrators, error=error, chosen=name,
                               input_text=raw, instance_id=wanted or "")
        try:
            data = json.loads(raw) if raw.strip() else None
        except ValueError as exc:
            return again(400, f"the input is not valid JSON: {exc}")
        try:
            new_id = await site.client.start_new(name, wanted, data)
        except Exception as exc:  # noqa: BLE001 - shown on the form
            code = error_response(exc).status_code
            return again(code, str(exc) if code < 500 else "the server could not start it")
        return RedirectResponse(f"{BASE}/instances/{quote_id(new_id)}?"
                                + site.notice_query("started"), 303)

