"""History export (Client.export_history) round-trips into replay, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import perdure
from perdure.client import HistoryExport
from perdure.core.history import OrchestratorStarted, TaskCompleted
from perdure.testing import ReplayMismatchError, replay_histories, replay_history

S = perdure.OrchestrationRuntimeStatus


def make_app(second: str = "double") -> perdure.App:
    app = perdure.App()

    @app.activity
    def inc(x: int) -> int:
        return x + 1

    @app.activity
    def double(x: int) -> int:
        return x * 2

    @app.activity
    def triple(x: int) -> int:
        return x * 3

    @app.orchestrator
    def flow(ctx: perdure.OrchestrationContext) -> Any:
        x = yield ctx.call_activity("inc", ctx.get_input())
        ctx.set_custom_status("waiting")
        extra = yield ctx.wait_for_external_event("go")
        return (yield ctx.call_activity(second, x + extra))
    return app


async def waiting_export(client: perdure.Client, instance_id: str) -> HistoryExport:
    for _ in range(500):
        export = await client.export_history(instance_id)
        if any(isinstance(e, TaskCompleted) for e in export.events) and \
                export.runtime_status == "Running":
            return export
        await asyncio.sleep(0.02)
    raise AssertionError("the instance never reached its wait")


async def test_export_then_replay_in_flight_and_finished(hub_factory, tmp_path: Path):
    hub = await hub_factory(make_app())
    instance_id = await hub.client.start_new("flow", "e1", 1)
    export = await waiting_export(hub.client, instance_id)
    assert (export.instance_id, export.name, export.app_version) == ("e1", "flow", None)
    assert isinstance(export.events[0], OrchestratorStarted)
    # Lossless: the JSON envelope decodes to the very events the hub stores.
    again = HistoryExport.from_json(export.to_json())
    assert again.events == export.events == await hub.store.get_history("e1")
    report = replay_history(make_app(), again)
    assert report.compatible and report.status is S.Running
    export.save(tmp_path / "e1-waiting.json")
    await hub.client.raise_event("e1", "go", 10)
    done = await hub.client.wait_for_completion("e1", 10)
    assert done.output == 24
    finished = await hub.client.export_history("e1")
    assert finished.runtime_status == "Completed"
    finished.save(tmp_path / "e1-done.json")
    reports = replay_histories(make_app(), [tmp_path])
    assert [(r.compatible, r.status) for r in reports] == [(True, S.Completed), (True, S.Running)]
    with pytest.raises(ReplayMismatchError) as info:
        replay_histories(make_app(second="triple"), [tmp_path / "e1-done.json"])
    assert (info.value.instance_id, info.value.position) == ("e1", 1)
    assert info.value.expected == "call activity 'double'"
    # The waiting history has not reached the changed call: it is still compatible.
    assert replay_history(make_app(second="triple"), tmp_path / "e1-waiting.json").compatible


async def test_export_of_an_unknown_instance(hub_factory):
    hub = await hub_factory(make_app())
    with pytest.raises(perdure.InstanceNotFoundError):
        await hub.client.export_history("nobody")
