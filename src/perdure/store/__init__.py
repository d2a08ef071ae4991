"""Task hubs: the :class:`Store` protocol and its SQLite and PostgreSQL implementations."""

from __future__ import annotations

import os

from ..core.errors import InvalidArgumentError
from .base import Store
from .clock import SYSTEM_CLOCK, Clock

DEFAULT_STORE_URL = "sqlite:///perdure.db"


def store_url_from_env(url: str | None = None) -> str:
    """The store URL: explicit, else ``PERDURE_STORE``, else ``./perdure.db``."""
    return url or os.environ.get("PERDURE_STORE") or DEFAULT_STORE_URL


def create_store(url: str | None = None, *, clock: Clock = SYSTEM_CLOCK) -> Store:
    """Build (not open) the store for ``url``: ``sqlite:///path`` or ``postgresql://...``.

    ``clock`` is the time it runs by: the wall clock, or a test's :class:`Clock`.
    """
    url = store_url_from_env(url)
    if url.startswith("sqlite:"):
        from .sqlite import SqliteStore

        return SqliteStore(url, clock=clock)
    if url.startswith(("postgresql:", "postgres:")):
        from .postgres import PostgresStore

        return PostgresStore(url, clock=clock)
    raise InvalidArgumentError(
        f"unsupported store URL {url!r}: expected sqlite:///path or postgresql://user@host/db"
    )


__all__ = ["DEFAULT_STORE_URL", "SYSTEM_CLOCK", "Clock", "Store", "create_store",
           "store_url_from_env"]
