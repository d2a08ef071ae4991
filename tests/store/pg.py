"""The PostgreSQL test server: whether it is reachable, and scratch task hubs on it.

The server is ``PERDURE_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432``);
tests use its database ``test`` (created if missing). Tests that need it carry
the ``postgres`` marker (or a ``postgres`` parameter marked so): when the
server cannot be reached they are skipped with one line, so the suite runs
anywhere; with ``PERDURE_REQUIRE_PG=1`` (set by ``.ci/run``) they fail instead.

Each hub is a schema ``test_<random>`` that is dropped (CASCADE) afterwards, so
tests running concurrently against one server never see each other's data.
"""

from __future__ import annotations

import contextlib
import functools
import os
import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg import sql

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


@contextlib.asynccontextmanager
async def scratch_hub(**options: object) -> AsyncIterator[str]:
    """Yield the URL of an empty task hub in a fresh schema; drop the schema after."""
    require_server()  # also covers a caller that forgot the marker
    schema = f"test_{uuid.uuid4().hex[:12]}"
    try:
        yield hub_url(schema, **options)
    finally:
        await drop_schema(schema)
