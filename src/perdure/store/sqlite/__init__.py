"""The SQLite task hub: one file, one process writing at a time, WAL readers alongside.

``store.py`` is the facade (connections, the database thread, wake-up
signals), ``transitions.py`` the transitions as functions of one connection,
``queries.sql`` every statement by name, ``health.py`` the checks that tell a
full disk or a deleted file from a bug, ``migrations/`` the schema.
"""

from __future__ import annotations

from .store import MIGRATIONS, SqliteStore, parse_sqlite_url

__all__ = ["MIGRATIONS", "SqliteStore", "parse_sqlite_url"]
