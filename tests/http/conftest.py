"""HTTP fixtures: the ASGI app over an in-process hub, driven with httpx."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import http_apps
import httpx
import pytest
from http_apps import BASE, ORIGIN

import perdure
from perdure.http import HttpClient, KeyAuth, create_asgi_app

TEST_HOSTS = ("example.test",)


@dataclass
class Api:
    """An httpx client on the ASGI app, plus the hub behind it."""

    http: httpx.AsyncClient
    client: HttpClient
    hub: Any

    async def start(self, name: str, instance_id: str | None = None, data: Any = None,
                    **params: Any) -> httpx.Response:
        path = f"{BASE}/orchestrators/{name}" + (f"/{instance_id}" if instance_id else "")
        kwargs: dict[str, Any] = {"params": params}
        if data is not None:
            kwargs["json"] = data
        return await self.http.post(path, **kwargs)

    async def status(self, instance_id: str, **params: Any) -> httpx.Response:
        return await self.http.get(f"{BASE}/instances/{instance_id}", params=params)

    async def until(self, instance_id: str, *statuses: str, timeout: float = 10) -> dict[str, Any]:
        """Poll the status route until the instance reaches one of ``statuses``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            response = await self.status(instance_id)
            if response.status_code != 404 and response.json()["runtimeStatus"] in statuses:
                return response.json()
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{instance_id} never reached {statuses}: {response.text}")
            await asyncio.sleep(0.01)


async def make_api(hub_factory: Callable[..., Awaitable[Any]], app: perdure.App = http_apps.app,
                   auth: KeyAuth | None = None) -> tuple[Api, httpx.AsyncClient]:
    hub = await hub_factory(app, lease_seconds=5.0)
    # With keys off only loopback Hosts are served; the tests' one public-looking
    # name is allowed explicitly, as an operator would with --allowed-host.
    client = HttpClient.like(hub.client, app)  # the very client the routes use
    asgi = create_asgi_app(app, client, auth=auth, allowed_hosts=TEST_HOSTS)
    # The worker hands activities hub.client: their URLs carry the server's keys too.
    hub.client.url_query = client.url_query
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url=ORIGIN)
    return Api(http, client, hub), http


@pytest.fixture
async def api(hub_factory) -> AsyncIterator[Api]:
    http_apps.calls.clear()
    result, http = await make_api(hub_factory)
    async with http:
        yield result


@pytest.fixture
async def api_factory(hub_factory) -> AsyncIterator[Callable[..., Awaitable[Api]]]:
    """Build an :class:`Api` for another app or with keys."""
    opened: list[httpx.AsyncClient] = []

    async def make(app: perdure.App = http_apps.app, auth: KeyAuth | None = None) -> Api:
        result, http = await make_api(hub_factory, app, auth)
        opened.append(http)
        return result

    yield make
    for http in opened:
        await http.aclose()
