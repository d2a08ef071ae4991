"""A Durable Functions app served in-process for tests: perdure's HTTP app and the
app's durable clients over one task hub, reached through an httpx ASGI transport."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from perdure.azure import FunctionApp
from perdure.cli.azure_hosting import attach_durable_clients
from perdure.http import HttpClient, create_asgi_app

ORIGIN = "http://localhost:7071"


@asynccontextmanager
async def df_session(hub_factory: Any, app: object) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP session to ``app`` served on a fresh hub (``hub_factory``'s backend)."""
    assert isinstance(app, FunctionApp)
    hub = await hub_factory(app, lease_seconds=5.0)
    client = HttpClient.like(hub.client, app)
    transport = attach_durable_clients(app, client)
    asgi = create_asgi_app(app, client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi),
                                 base_url=ORIGIN) as session:
        yield session
    await transport.aclose()


async def until_done(http: httpx.AsyncClient, url: str, timeout: float = 20) -> dict[str, Any]:
    """The check-status payload at ``url`` once the instance has left Pending/Running
    (and ContinuedAsNew), or as it is after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status: dict[str, Any] = (await http.get(url)).json()
        if status["runtimeStatus"] not in ("Pending", "Running", "ContinuedAsNew") \
                or asyncio.get_running_loop().time() > deadline:
            return status
        await asyncio.sleep(0.02)
