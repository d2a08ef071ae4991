"""Dashboard fixtures: the ASGI app (dashboard on) over an in-process hub, driven with httpx."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import dash_apps
import httpx
import pytest

from perdure.http import HttpClient, KeyAuth, create_asgi_app

ORIGIN = "http://localhost:7071"


@dataclass
class Board:
    """An httpx client on the app, the client behind it, and helpers."""

    http: httpx.AsyncClient
    client: HttpClient

    async def csrf(self, path: str = "/dashboard/") -> str:
        page = await self.http.get(path)
        match = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert match, page.text
        return match.group(1)

    async def until(self, instance_id: str, *statuses: str, timeout: float = 10) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            status = await self.client.get_status(instance_id)
            if status is not None and status.runtime_status.value in statuses:
                return status
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{instance_id} never reached {statuses}: {status}")
            await asyncio.sleep(0.01)


@pytest.fixture
async def board_factory(hub_factory) -> AsyncIterator[Callable[..., Awaitable[Board]]]:
    opened: list[httpx.AsyncClient] = []

    async def make(mode: str = "on", auth: KeyAuth | None = None, app: Any = None,
                   bulk_rate: float = math.inf) -> Board:
        app = app or dash_apps.app
        hub = await hub_factory(app, lease_seconds=5.0)
        client = HttpClient.like(hub.client, app)
        asgi = create_asgi_app(app, client, auth=auth, dashboard=mode, bulk_rate=bulk_rate)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url=ORIGIN)
        opened.append(http)
        return Board(http, client)

    yield make
    for http in opened:
        await http.aclose()


@pytest.fixture
async def board(board_factory) -> Board:
    return await board_factory()
