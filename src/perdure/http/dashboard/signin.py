"""Signing in with the system key, with a per-client backoff after wrong keys."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .filters import BASE
from .site import Site, local_next, read_form

#: Wrong keys a client may try at once before it has to wait.
FREE_ATTEMPTS = 3
#: The wait after the first wrong key beyond the free ones; it doubles with each.
FIRST_WAIT = 1.0
MAX_WAIT = 300.0
#: Clients remembered (the least recently wrong are forgotten first).
CLIENTS_KEPT = 10_000


@dataclass(slots=True)
class _Strikes:
    wrong: int
    until: float


class Throttle:
    """Per-client backoff on wrong keys: after :data:`FREE_ATTEMPTS` wrong
    keys a client waits :data:`FIRST_WAIT` seconds, twice as long after each
    further one (at most :data:`MAX_WAIT`); any attempt during the wait is
    refused unheard. A right key forgets the client. ``now`` gives seconds."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._clients: OrderedDict[str, _Strikes] = OrderedDict()

    def wait(self, client: str) -> float:
        """Seconds ``client`` must still wait before its next attempt is heard."""
        strikes = self._clients.get(client)
        return 0.0 if strikes is None else max(0.0, strikes.until - self._now())

    def wrong(self, client: str) -> float:
        """Count a wrong key of ``client``; returns the wait it now owes."""
        strikes = self._clients.pop(client, None) or _Strikes(0, 0.0)
        strikes.wrong += 1
        extra = strikes.wrong - FREE_ATTEMPTS
        if extra > 0:
            strikes.until = self._now() + min(MAX_WAIT, FIRST_WAIT * 2 ** (extra - 1))
        self._clients[client] = strikes
        while len(self._clients) > CLIENTS_KEPT:
            self._clients.popitem(last=False)
        return self.wait(client)

    def right(self, client: str) -> None:
        """Forget ``client``'s wrong keys."""
        self._clients.pop(client, None)


def client_of(request: Request) -> str:
    """Who is signing in: the peer address (behind a proxy, configure it to pass one)."""
    return request.client.host if request.client is not None else "unknown"


class SignIn:
    """``/dashboard/login`` and ``/dashboard/logout``."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.throttle = Throttle(site.seconds)

    def routes(self) -> list[BaseRoute]:
        """The sign-in routes."""
        return [Route(f"{BASE}/login", self.login, methods=["GET", "POST"]),
                Route(f"{BASE}/logout", self.logout, methods=["POST"])]

    async def login(self, request: Request) -> Response:
        """The key prompt (GET) and its answer (POST)."""
        site = self.site
        if request.method == "GET":
            return site.render(request, "login.html", sid=site.sessions.session_id(request),
                               next=local_next(request.query_params.get("next", "")),
                               wrong=False, wait=0)
        form = await read_form(request)
        key, target = form.get("key"), local_next(form.get("next", ""))
        if not site.auth.enabled:
            return RedirectResponse(target, 303)
        who = client_of(request)
        wait = self.throttle.wait(who)
        if wait > 0:
            return self._refused(request, target, 429, wait)
        if not isinstance(key, str) or not site.auth.is_system_key(key):
            return self._refused(request, target, 401, self.throttle.wrong(who))
        self.throttle.right(who)
        response = RedirectResponse(target, 303)
        site.sessions.set_cookie(response, request, site.sessions.new_session())
        return response

    def _refused(self, request: Request, target: str, code: int, wait: float) -> Response:
        seconds = math.ceil(wait)
        response = self.site.render(request, "login.html", code, next=target,
                                    wrong=code == 401, wait=seconds)
        if seconds:
            response.headers["Retry-After"] = str(seconds)
        return response

    async def logout(self, request: Request) -> Response:
        """End the session (the form's CSRF token required)."""
        site = self.site
        sid = site.sessions.session_id(request)
        form = await read_form(request)
        if not site.sessions.csrf_ok(sid, form.get("csrf")):
            return site.refuse(request, sid, 403, "the form did not come from this dashboard")
        response = RedirectResponse(f"{BASE}/login", 303)
        site.sessions.clear_cookie(response)
        return response
