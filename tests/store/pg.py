"""Scratch PostgreSQL task hubs for tests: a fresh schema per test in database ``test``.

The server is ``PERDURE_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432``).
Each hub is a schema ``test_<random>`` that is dropped (CASCADE) afterwards, so
tests running concurrently against one server never see each other's data.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import psycopg
from psycopg import sql

SERVER = os.environ.get("PERDURE_TEST_PG", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
DATABASE_URL = f"{SERVER}/test"


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
    schema = f"test_{uuid.uuid4().hex[:12]}"
    try:
        yield hub_url(schema, **options)
    finally:
        await drop_schema(schema)
