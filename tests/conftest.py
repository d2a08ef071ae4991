"""Shared fixtures: an in-process task hub, worker and client, on each backend.

``db_url`` (and so ``hub_factory``, and the HTTP suite's ``api``) is
parametrised over a SQLite temp file and a fresh PostgreSQL schema; the
``postgres`` parameter skips when the server is unreachable (see
``store/pg.py``). A test about SQLite itself, or one that answers before any
task hub is reached, carries ``@pytest.mark.sqlite_only`` and runs on SQLite alone.
"""

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``sqlite_only`` tests keep their SQLite hub only: the PostgreSQL ones are deselected."""
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("db_url") == "postgres"
        (drop if on_postgres and item.get_closest_marker("sqlite_only") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = spread_end_to_end(keep)


def _runs_processes(item: pytest.Item) -> bool:
    return item.path.parent.name == "e2e" or item.get_closest_marker("processes") is not None


def spread_end_to_end(items: list[pytest.Item]) -> list[pytest.Item]:
    """The end-to-end tests (real processes, seconds each: ``tests/e2e`` and those marked
    ``processes``) spread evenly over the first
    two thirds of the run: pytest-xdist hands each process a run of consecutive
    tests, and they are a third of the suite's time, too much for one process,
    and a long one started last finishes alone."""
    slow = [item for item in items if _runs_processes(item)]
    fast = [item for item in items if not _runs_processes(item)]
    if not slow:
        return items
    every = max(1, (2 * len(fast)) // (3 * len(slow)))
    spread: list[pytest.Item] = []
    for index, item in enumerate(fast):
        if index % every == 0 and slow:
            spread.append(slow.pop(0))
        spread.append(item)
    return spread + slow


@dataclass
class Hub:
    """An app served by a worker on a fresh task hub, with a client."""

    app: perdure.App
    store: perdure.Store
    worker: perdure.Worker
    client: perdure.Client

    @property
    def clock(self) -> perdure.Clock:
        """The hub's clock: advance it to expire leases and fire timers at once."""
        return self.store.clock

    async def restart_worker(self, app: perdure.App | None = None, **options: object) -> None:
        """Stop the worker and start a new one (optionally with other code)."""
        await self.worker.stop()
        self.worker = perdure.Worker(app or self.app, self.store, client=self.client,
                                     options=perdure.WorkerOptions(**options))  # type: ignore[arg-type]
        await self.worker.start()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pg.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty task hub: a SQLite file in a temp dir, or a scratch schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    async with pg.scratch_hub() as url:
        yield url


async def open_hub(app: perdure.App, url: str, **options: object) -> Hub:
    """Start a worker and a client for ``app`` on ``url``, on a clock of their own."""
    store = perdure.create_store(url, clock=perdure.Clock())
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
