"""Shared fixtures: an in-process task hub (SQLite temp file), worker and client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from store import pg

import perdure


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked ``postgres`` skip (one line) when the PostgreSQL test server is unreachable."""
    if item.get_closest_marker("postgres") is not None:
        pg.require_server()


@dataclass
class Hub:
    """An app served by a worker on a fresh task hub, with a client."""

    app: perdure.App
    store: perdure.Store
    worker: perdure.Worker
    client: perdure.Client

    async def restart_worker(self, app: perdure.App | None = None, **options: object) -> None:
        """Stop the worker and start a new one (optionally with other code)."""
        await self.worker.stop()
        self.worker = perdure.Worker(app or self.app, self.store, client=self.client,
                                     options=perdure.WorkerOptions(**options))  # type: ignore[arg-type]
        await self.worker.start()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A SQLite task hub URL in a temp dir."""
    return f"sqlite:///{tmp_path / 'hub.db'}"


async def open_hub(app: perdure.App, url: str, **options: object) -> Hub:
    """Start a worker and a client for ``app`` on ``url``."""
    store = perdure.create_store(url)
    client = perdure.Client(store, app=app)
    worker = perdure.Worker(app, store, client=client,
                            options=perdure.WorkerOptions(**options))  # type: ignore[arg-type]
    await worker.start()
    return Hub(app, store, worker, client)


@pytest.fixture
async def hub_factory(db_url: str) -> AsyncIterator[object]:
    """Call with an app (and worker options) to get a running :class:`Hub`."""
    hubs: list[Hub] = []

    async def make(app: perdure.App, **options: object) -> Hub:
        hub = await open_hub(app, db_url, **options)
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        await hub.worker.stop()
        await hub.store.close()
