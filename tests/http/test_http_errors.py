"""Errors of the hub and of perdure itself over HTTP (hardening #11).

500s name no internal text; a full, read-only or deleted hub is a 503 with a
JSON body; a wait in flight ends with the 202 check-status answer when the
server starts shutting down.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from pathlib import Path

import http_apps
import httpx
import pytest
from http_apps import BASE, ORIGIN

import perdure
from perdure.core.errors import StoreUnavailableError
from perdure.http import create_asgi_app
from perdure.store.sqlite import SqliteStore


@pytest.mark.sqlite_only  # the client is patched: no task hub is reached
@pytest.mark.parametrize("exc", [sqlite3.OperationalError("disk I/O error"),
                                 RecursionError("maximum recursion depth exceeded"),
                                 perdure.PerdureError("internal detail: SELECT * FROM x")])
async def test_a_500_names_no_internal_text(api, monkeypatch, caplog, exc):
    async def broken(*args, **kwargs):
        raise exc

    monkeypatch.setattr(api.client, "get_status", broken)
    with caplog.at_level(logging.WARNING, logger="perdure.http.errors"):
        response = await api.status("any")
    assert response.status_code == 500
    body = response.json()
    assert set(body) == {"Message", "ExceptionMessage", "ExceptionType"}
    for leaked in (str(exc), type(exc).__name__, "SELECT"):
        assert leaked not in response.text
    # The log has the whole story, and the id that ties it to the answer.
    incident = body["ExceptionMessage"].rsplit("error id ", 1)[1].rstrip(")")
    record = next(r for r in caplog.records if incident in r.getMessage())
    assert record.exc_info is not None and record.exc_info[1] is exc


@pytest.mark.sqlite_only  # the client is patched: no task hub is reached
async def test_store_unavailable_is_a_503_with_a_json_body(api, monkeypatch):
    async def full(*args, **kwargs):
        raise StoreUnavailableError("sqlite:////secret/path/hub.db", "the disk is full")

    monkeypatch.setattr(api.client, "start_new", full)
    response = await api.start("echo", "x", data=1)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["ExceptionType"] == "StoreUnavailableError"
    assert "the disk is full" in response.json()["ExceptionMessage"]
    assert "/secret/path" not in response.text


# --- real SQLite hubs --------------------------------------------------------


async def _sqlite_api(path: Path) -> tuple[SqliteStore, httpx.AsyncClient]:
    store = SqliteStore(f"sqlite:///{path}")
    client = perdure.Client(store, app=http_apps.app)
    await store.open()
    asgi = create_asgi_app(http_apps.app, client)
    return store, httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url=ORIGIN)


async def _pragma(store: SqliteStore, statement: str) -> None:
    """Run ``statement`` on both of the store's connections (the loop's and the thread's)."""
    assert store._inline is not None and store._conn is not None
    store._inline.execute(statement)
    await asyncio.get_running_loop().run_in_executor(store._executor, store._conn.execute,
                                                     statement)


async def test_a_full_disk_is_a_503(tmp_path: Path):
    store, http = await _sqlite_api(tmp_path / "hub.db")
    async with http:
        page_count = store._inline.execute("PRAGMA page_count").fetchone()[0]
        # SQLite's own "database or disk is full", without filling a disk.
        await _pragma(store, f"PRAGMA max_page_count = {page_count}")
        response = await http.post(f"{BASE}/orchestrators/echo/big", json="x" * 100_000)
        assert response.status_code == 503, response.text
        assert "full" in response.json()["ExceptionMessage"]
        assert "database or disk is full" not in response.text
        assert (await http.get(f"{BASE}/instances/big")).status_code == 404
    await store.close()


async def test_a_read_only_hub_is_a_503(tmp_path: Path):
    store, http = await _sqlite_api(tmp_path / "hub.db")
    async with http:
        await _pragma(store, "PRAGMA query_only = ON")
        response = await http.post(f"{BASE}/orchestrators/echo/ro", json=1)
        assert response.status_code == 503, response.text
        assert "read-only" in response.json()["ExceptionMessage"]
    await store.close()


async def test_a_hub_file_deleted_under_a_running_server_refuses_starts(tmp_path: Path):
    path = tmp_path / "hub.db"
    store, http = await _sqlite_api(path)
    async with http:
        assert (await http.post(f"{BASE}/orchestrators/echo/before", json=1)).status_code == 202
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        # SQLite would happily commit to the unlinked file: this start would be
        # acknowledged and then lost with the process.
        response = await http.post(f"{BASE}/orchestrators/echo/after", json=1)
        assert response.status_code == 503, response.text
        assert "deleted or replaced" in response.json()["ExceptionMessage"]
        # Every later write is refused too, not only starts.
        with pytest.raises(StoreUnavailableError, match="deleted"):
            await store.purge_instance("before")
    await store.close()


async def test_a_hub_file_replaced_under_a_running_server_is_noticed(tmp_path: Path):
    path = tmp_path / "hub.db"
    store, http = await _sqlite_api(path)
    async with http:
        os.replace(_fresh_copy(tmp_path), path)
        response = await http.post(f"{BASE}/orchestrators/echo/after", json=1)
        assert response.status_code == 503
    await store.close()


def _fresh_copy(tmp_path: Path) -> Path:
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    return other


# --- shutdown ----------------------------------------------------------------


async def test_interrupt_waits_answers_a_wait_in_flight_with_the_202(api):
    waiting = asyncio.create_task(api.start("approval", "w1", timeout=60))
    await api.until("w1", "Running")
    await asyncio.sleep(0.1)
    api.client.interrupt_waits()
    response = await asyncio.wait_for(waiting, 5)
    assert response.status_code == 202
    assert response.json()["id"] == "w1"
    # Later waits (requests racing the shutdown) do not park either.
    response = await asyncio.wait_for(api.start("approval", "w2", timeout=60), 5)
    assert response.status_code == 202
