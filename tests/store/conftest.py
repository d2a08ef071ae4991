"""The store conformance suite's fixtures: every test runs against every backend.

A backend is an entry of ``STORE_FACTORIES``: an async context manager that
prepares an empty task hub for one test and yields its URL. Adding PostgreSQL
is one more entry: a scratch schema in the test database (see ``pg.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Set
from pathlib import Path

import pytest

from perdure.store import Clock, Store, create_store

from .pg import postgres, scratch_hub


@contextlib.asynccontextmanager
async def sqlite_hub(tmp_path: Path) -> AsyncIterator[str]:
    """A fresh SQLite file per test (``tmp_path`` is absolute: ``sqlite:////tmp/...``)."""
    yield f"sqlite:///{tmp_path / 'hub.db'}"


@contextlib.asynccontextmanager
async def postgres_hub(tmp_path: Path) -> AsyncIterator[str]:
    """A fresh schema per test in the PostgreSQL test database, dropped afterwards."""
    async with scratch_hub() as url:
        yield url


HubFactory = Callable[[Path], contextlib.AbstractAsyncContextManager[str]]
STORE_FACTORIES: dict[str, HubFactory] = {
    "sqlite": sqlite_hub,
    "postgres": postgres_hub,
}
BACKENDS: Set[str] = STORE_FACTORIES.keys()


def backend_params() -> list[object]:
    """The backends as fixture parameters; ``postgres`` skips when its server is unreachable."""
    return [pytest.param(name, marks=postgres) if name == "postgres" else name
            for name in sorted(BACKENDS)]


@pytest.fixture(params=backend_params())
async def hub_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty task hub of each backend."""
    async with STORE_FACTORIES[request.param](tmp_path) as url:
        yield url


async def _open(url: str, clock: Clock) -> Store:
    store = create_store(url, clock=clock)
    await store.open()
    return store


@pytest.fixture
def clock() -> Clock:
    """The time the test's stores run by: advance it instead of sleeping out a lease."""
    return Clock()


@pytest.fixture
async def store(hub_url: str, clock: Clock) -> AsyncIterator[Store]:
    """An open store on a fresh task hub."""
    opened = await _open(hub_url, clock)
    yield opened
    await opened.close()


@pytest.fixture
async def other_store(hub_url: str, store: Store, clock: Clock) -> AsyncIterator[Store]:
    """A second store on the same task hub, as another process would open it (on the
    same clock: processes share the wall clock)."""
    opened = await _open(hub_url, clock)
    yield opened
    await opened.close()
