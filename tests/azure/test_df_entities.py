"""A Durable Functions entity app (the v1 counter-entity pattern) on perdure, on SQLite and
PostgreSQL: ``df.Entity.create`` through the SDK's batch protocol, an orchestrator's
``signal_entity`` and ``call_entity`` (a failed operation raises in it and is rolled back),
and the unmodified client's ``signal_entity`` and ``read_entity_state`` from HTTP functions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from df_in_process import ORIGIN, df_session, until_done

from perdure.azure import FunctionApp
from perdure.cli.apps import load_any_app

APP = load_any_app(str(Path(__file__).parent / "apps" / "counter_v1"))


@pytest.fixture
async def http(hub_factory: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with df_session(hub_factory, APP) as session:
        yield session


def test_the_entity_is_registered_case_insensitively() -> None:
    assert isinstance(APP, FunctionApp)
    assert "counter" in APP.entities and APP.skipped == []


async def test_orchestrator_signals_and_calls_the_entity(http: httpx.AsyncClient) -> None:
    started = await http.post("/api/start", params={"key": "k1"})
    assert started.status_code == 202, started.text
    status = await until_done(http, started.json()["statusQueryGetUri"].replace(ORIGIN, ""))
    assert status["runtimeStatus"] == "Completed", status
    # The signal's add came first; the failed operation's change was rolled back.
    assert status["output"] == [3, "counter refused", 3]
    read = await http.get("/api/entity/Counter/k1")
    assert read.status_code == 200 and read.json() == {"entity": "Counter", "key": "k1",
                                                       "state": 3}


async def test_client_signal_and_read(http: httpx.AsyncClient) -> None:
    assert (await http.get("/api/entity/Counter/k2")).status_code == 404
    for amount in (5, 6):
        assert (await http.post("/api/entity/Counter/k2",
                                params={"amount": amount})).status_code == 202
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        read = await http.get("/api/entity/Counter/k2")
        if read.status_code == 200 and read.json()["state"] == 11:
            break
        assert asyncio.get_running_loop().time() < deadline, read.text
        await asyncio.sleep(0.02)


async def test_replayed_from_history_at_every_step(hub_factory: Any) -> None:
    hub = await hub_factory(APP, cache_mb=0)
    iid = await hub.client.start_new("CounterOrchestration", input="k3")
    done = await hub.client.wait_for_completion(iid, 20)
    assert done.output == [3, "counter refused", 3], done.output


async def test_a_v2_entity_trigger(hub_factory: Any) -> None:
    app = load_any_app(str(Path(__file__).parent / "apps" / "entity_v2"))
    assert "tally" in app.entities
    hub = await hub_factory(app)
    iid = await hub.client.start_new("append_twice")
    done = await hub.client.wait_for_completion(iid, 20)
    assert done.output == ["a", "b"], done.output
    assert await hub.client.read_entity_state(("Tally", "t")) == (True, ["a", "b"])
