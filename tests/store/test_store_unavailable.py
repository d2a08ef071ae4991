"""Conditions an operator must fix surface as StoreUnavailableError (hardening #11)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest

from perdure.core.errors import StoreUnavailableError
from perdure.store import create_store
from perdure.store.base import NewInstance
from perdure.store.sqlite.health import unavailable_reason

from .pg import postgres, scratch_hub


@postgres
async def test_a_read_only_postgres_transaction_is_store_unavailable():
    async with scratch_hub() as url:
        store = create_store(url)
        await store.open()
        try:
            async def read_only_write(conn: psycopg.AsyncConnection[Any], queries: Any) -> None:
                async with conn.transaction():
                    # What a standby (or a primary demoted by a failover) answers.
                    await conn.execute("SET TRANSACTION READ ONLY")
                    await conn.execute("CREATE TABLE refused (x int)")

            with pytest.raises(StoreUnavailableError, match="read-only") as caught:
                await store._run(read_only_write)  # type: ignore[attr-defined]
            assert "password" not in str(caught.value)
            # Other errors keep their type: a caller may handle them.
            async def bad_sql(conn: psycopg.AsyncConnection[Any], queries: Any) -> None:
                await conn.execute("SELECT * FROM no_such_table")

            with pytest.raises(psycopg.errors.UndefinedTable):
                await store._run(bad_sql)  # type: ignore[attr-defined]
        finally:
            await store.close()


async def test_a_busy_sqlite_hub_is_not_unavailable(tmp_path: Path):
    assert unavailable_reason(sqlite3.OperationalError("database is locked")) is None
    assert unavailable_reason(sqlite3.OperationalError("database or disk is full")) \
        == "the disk holding the hub is full"
    # A start on a healthy hub goes through the same path.
    store = create_store(f"sqlite:///{tmp_path / 'hub.db'}")
    await store.open()
    try:
        await store.create_instance(NewInstance("i1", "echo", "e1"))
        assert await store.get_instance("i1") is not None
    finally:
        await store.close()
