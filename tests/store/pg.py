"""The PostgreSQL test server: whether it is reachable, and scratch task hubs on it.

The server is ``PERDURE_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432``);
tests use its database ``test`` (created if missing). Tests that need it carry
the ``postgres`` marker (or a ``postgres`` parameter marked so): when the
server cannot be reached they are skipped with one line, so the suite runs
anywhere; with ``PERDURE_REQUIRE_PG=1`` (set by ``.ci/run``) they fail instead.

Each hub is a schema ``test_<random>`` of one test process, so tests running
concurrently against one server never see each other's data. Migrating a fresh
schema and dropping it cost ~55 ms, a third of a PostgreSQL test; so a hub a test
leaves at the current schema version is emptied (every row deleted) and handed to
the process's next test, and dropped when the process exits. Anything else (a
newer or missing version, an extra table) is dropped at once.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from perdure.store.migrate import load_migrations
from perdure.store.postgres.store import MIGRATIONS

SERVER = os.environ.get("PERDURE_TEST_PG", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
DATABASE_URL = f"{SERVER}/test"
REQUIRED = os.environ.get("PERDURE_REQUIRE_PG", "") not in ("", "0")
"""Set by CI: an unreachable server is an error there, not a reason to skip."""

postgres = pytest.mark.postgres
"""Marks a test (or a parameter) that needs the PostgreSQL test server."""


@functools.cache
def unreachable() -> str | None:
    """Why the test server cannot be used, or ``None``; checked once per session."""
    try:
        with psycopg.connect(f"{SERVER}/postgres", connect_timeout=2, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = 'test'").fetchone() is None:
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # a concurrent run
                    conn.execute("CREATE DATABASE test")
            # Commits need not wait for the disk: no test crashes the server. Set
            # once; test processes starting together may race to set it.
            if conn.execute("SELECT 1 FROM pg_db_role_setting s JOIN pg_database d "
                            "ON d.oid = s.setdatabase WHERE d.datname = 'test' AND "
                            "'synchronous_commit=off' = ANY(s.setconfig)").fetchone() is None:
                # The loser of that race gets a tuple-concurrently-updated error or a
                # duplicate key in pg_db_role_setting: either way the setting is there.
                with contextlib.suppress(psycopg.errors.InternalError,
                                         psycopg.errors.UniqueViolation):
                    conn.execute("ALTER DATABASE test SET synchronous_commit = off")
    except psycopg.Error as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"PostgreSQL not reachable at {SERVER} (set PERDURE_TEST_PG): {detail}"
    return None


def require_server() -> None:
    """Skip the running test if the server is unreachable (fail it if ``REQUIRED``)."""
    reason = unreachable()
    if reason is None:
        return
    if REQUIRED:
        pytest.fail(f"{reason}; PERDURE_REQUIRE_PG is set, so this is an error", pytrace=False)
    pytest.skip(reason)


def hub_url(schema: str, **options: object) -> str:
    """The store URL of task hub ``schema`` in the test database."""
    query = "&".join([f"schema={schema}", *(f"{k}={v}" for k, v in options.items())])
    return f"{DATABASE_URL}?{query}"


async def drop_schema(schema: str) -> None:
    """Drop a scratch schema and everything in it."""
    async with await psycopg.AsyncConnection.connect(DATABASE_URL, autocommit=True) as conn:
        await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
            sql.Identifier(schema)))


LATEST_VERSION = len(load_migrations(MIGRATIONS))
_emptied: list[str] = []
"""This process's hubs at the latest version with no rows, ready for the next test."""


_admin: psycopg.Connection[Any] | None = None


def _admin_connection() -> psycopg.Connection[Any]:
    """This process's connection for emptying hubs (a new one per test would be a
    fifth of the server's work in the suite)."""
    global _admin
    if _admin is None or _admin.closed or _admin.broken:
        _admin = psycopg.connect(DATABASE_URL, autocommit=True)
    return _admin


def _empty_for_reuse(schema: str) -> bool:
    """Delete every row of a hub at the latest version; ``False``: drop it instead."""
    conn = _admin_connection()
    tables = [name for (name,) in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
        (schema,)).fetchall()]
    if "schema_version" not in tables:
        return False
    version = conn.execute(sql.SQL(
        "SELECT coalesce(max(version), 0), count(*) FROM {}.schema_version").format(
            sql.Identifier(schema))).fetchone()
    if version != (LATEST_VERSION, LATEST_VERSION):
        return False
    with conn.transaction():
        for table in tables:
            if table != "schema_version":
                conn.execute(sql.SQL("DELETE FROM {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(table)))
    return True


@atexit.register
def _drop_emptied() -> None:
    if not _emptied:
        return
    conn = _admin_connection()
    for schema in _emptied:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
            sql.Identifier(schema)))
    conn.close()


@contextlib.asynccontextmanager
async def scratch_hub(**options: object) -> AsyncIterator[str]:
    """Yield the URL of an empty task hub of this process's own; empty or drop it after."""
    require_server()  # also covers a caller that forgot the marker
    schema = _emptied.pop() if _emptied else f"test_{uuid.uuid4().hex[:12]}"
    try:
        yield hub_url(schema, **options)
    finally:
        try:
            reusable = _empty_for_reuse(schema)
        except psycopg.Error:
            reusable = False
        if reusable:
            _emptied.append(schema)
        else:
            await drop_schema(schema)
