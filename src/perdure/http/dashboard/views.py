"""The dashboard's routes, from its parts: sign-in, list, detail, actions, bulk jobs."""

from __future__ import annotations

from typing import Protocol

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from ...app import App
from ..auth import KeyAuth
from ..check_status import HttpClient
from .actions import Actions
from .bulk import BulkPages
from .filters import BASE
from .instance_detail import InstanceDetail
from .instance_list import InstanceList
from .signin import SignIn
from .site import BULK_RATE, HERE, Site


class Part(Protocol):
    """A part of the dashboard: its routes."""

    def routes(self) -> list[BaseRoute]:
        """The part's routes."""
        ...


class Dashboard:
    """The dashboard over one :class:`HttpClient` and :class:`KeyAuth`."""

    def __init__(self, app: App, client: HttpClient, auth: KeyAuth, mode: str = "on",
                 bulk_rate: float = BULK_RATE) -> None:
        self.site = Site(app, client, auth, mode, bulk_rate)
        self.signin = SignIn(self.site)
        self.bulk = BulkPages(self.site)
        self.parts: list[Part] = [self.signin, InstanceList(self.site), InstanceDetail(self.site),
                      Actions(self.site), self.bulk]

    def routes(self) -> list[BaseRoute]:
        """Every route under ``/dashboard``."""
        routes: list[BaseRoute] = [route for part in self.parts for route in part.routes()]
        routes.append(Mount(f"{BASE}/static", StaticFiles(directory=HERE / "static"),
                            name="static"))
        return routes


def dashboard_routes(app: App, client: HttpClient, auth: KeyAuth,
                     mode: str = "on", bulk_rate: float = BULK_RATE) -> list[BaseRoute]:
    """The dashboard's routes under ``/dashboard`` (none for ``mode="off"``); its bulk
    jobs handle at most ``bulk_rate`` instances a second."""
    if mode == "off":
        return []
    return Dashboard(app, client, auth, mode, bulk_rate).routes()
