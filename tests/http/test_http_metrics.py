"""/metrics: the worker's counters and the task hub's gauges after known work (both stores)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from http_apps import ORIGIN
from prometheus_client.parser import text_string_to_metric_families

import perdure
from perdure.http import HttpClient, KeyAuth, create_asgi_app
from perdure.http.metrics import MetricsSource

app = perdure.App()


@app.activity
def greet(city: str) -> str:
    return f"Hello {city}!"


@app.activity
def boom(_: None) -> None:
    raise ValueError("boom")


@app.orchestrator
def sequence(ctx: perdure.OrchestrationContext):  # type: ignore[no-untyped-def]
    out = []
    for city in ("Tokyo", "Seattle", "London"):
        out.append((yield ctx.call_activity("greet", city)))
    return out


@app.orchestrator
def failing(ctx: perdure.OrchestrationContext):  # type: ignore[no-untyped-def]
    yield ctx.call_activity("boom")


@app.orchestrator
def unknown(ctx: perdure.OrchestrationContext):  # type: ignore[no-untyped-def]
    yield ctx.call_activity("no_such_activity")


@app.orchestrator
def waiting(ctx: perdure.OrchestrationContext):  # type: ignore[no-untyped-def]
    return (yield ctx.wait_for_external_event("go"))


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

Scrape = Callable[..., Awaitable[Samples]]


def parse(text: str) -> Samples:
    """Every sample, keyed by (sample name, sorted labels)."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def http_for(hub: Any, *, auth: KeyAuth | None = None,
             metrics: bool = True) -> httpx.AsyncClient:
    client = HttpClient.like(hub.client, app)
    source = MetricsSource(client, hub.worker.metrics) if metrics else None
    asgi = create_asgi_app(app, client, auth=auth, metrics=source)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url=ORIGIN)


@pytest.fixture
async def hub(hub_factory: Callable[..., Awaitable[Any]]) -> AsyncIterator[Any]:
    yield await hub_factory(app)


async def scrape(hub: Any) -> Samples:
    async with http_for(hub) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def run(hub: Any, name: str) -> str:
    instance_id = await hub.client.start_new(name)
    await hub.client.wait_for_completion(instance_id, timeout=30)
    return instance_id


async def test_counts_after_known_work(hub: Any) -> None:
    for name in ("sequence", "sequence", "failing", "unknown"):
        await run(hub, name)
    m = await scrape(hub)
    assert m[("perdure_orchestrations_started_total", (("name", "sequence"),))] == 2
    assert m[("perdure_orchestrations_finished_total",
              (("name", "sequence"), ("status", "Completed")))] == 2
    assert m[("perdure_orchestrations_finished_total",
              (("name", "failing"), ("status", "Failed")))] == 1
    assert m[("perdure_orchestrations_finished_total",
              (("name", "unknown"), ("status", "Failed")))] == 1
    # A sequence of three takes four steps; the others two each.
    assert m[("perdure_orchestration_steps_total", ())] == 12
    assert m[("perdure_orchestration_replays_total", ())] == 0
    assert m[("perdure_orchestration_step_duration_seconds_count", ())] == 12
    assert m[("perdure_orchestration_commit_duration_seconds_count", ())] >= 1
    assert m[("perdure_orchestration_duration_seconds_count", (("name", "sequence"),))] == 2
    assert m[("perdure_orchestration_duration_seconds_bucket",
              (("le", "+Inf"), ("name", "sequence")))] == 2
    assert m[("perdure_activity_runs_total", (("name", "greet"), ("outcome", "completed")))] == 6
    assert m[("perdure_activity_runs_total", (("name", "boom"), ("outcome", "failed")))] == 1
    assert m[("perdure_activity_duration_seconds_count", (("name", "greet"),))] == 6
    assert m[("perdure_activity_schedule_to_start_seconds_count", ())] == 7
    assert m[("perdure_unknown_function_total", (("kind", "activity"),))] == 1
    assert m[("perdure_nondeterminism_total", ())] == 0
    assert m[("perdure_activity_slots_in_use", ())] == 0
    assert m[("perdure_activity_slots", ())] == 100
    # The task hub's gauges, read by SQL at scrape time.
    assert m[("perdure_hub_up", ())] == 1
    assert m[("perdure_instances", (("status", "Completed"), ("version", "")))] == 2
    assert m[("perdure_instances", (("status", "Failed"), ("version", "")))] == 2
    assert m[("perdure_instances", (("status", "Running"), ("version", "")))] == 0
    assert m[("perdure_ready_instances", ())] == 0
    assert m[("perdure_ready_tasks", ())] == 0
    assert m[("perdure_oldest_ready_message_age_seconds", ())] == 0


async def test_a_replay_and_the_backlog(hub: Any) -> None:
    instance_id = await hub.client.start_new("waiting")
    while (await hub.client.get_status(instance_id)).runtime_status.value != "Running":
        await asyncio.sleep(0.01)
    await hub.worker.stop()  # its executor is gone with it
    await hub.client.raise_event(instance_id, "go", 1)
    await hub.client.start_new("sequence")
    m = await scrape(hub)
    assert m[("perdure_ready_instances", ())] == 2
    assert m[("perdure_instances", (("status", "Pending"), ("version", "")))] == 1
    assert m[("perdure_instances", (("status", "Running"), ("version", "")))] == 1
    assert m[("perdure_oldest_ready_message_age_seconds", ())] >= 0
    await hub.restart_worker()
    await hub.client.wait_for_completion(instance_id, timeout=30)
    m = await scrape(hub)
    assert m[("perdure_orchestration_replays_total", ())] == 1
    assert m[("perdure_orchestrations_finished_total",
              (("name", "waiting"), ("status", "Completed")))] == 1


async def test_keys_guard_metrics_like_the_management_api(hub: Any) -> None:
    async with http_for(hub, auth=KeyAuth("s3cret", ["fkey"])) as http:
        assert (await http.get("/metrics")).status_code == 401
        assert (await http.get("/metrics", headers={"x-functions-key": "fkey"})
                ).status_code == 401
        ok = await http.get("/metrics", params={"code": "s3cret"})
        assert ok.status_code == 200 and "perdure_hub_up 1.0" in ok.text


async def test_metrics_off(hub: Any) -> None:
    async with http_for(hub, metrics=False) as http:
        assert (await http.get("/metrics")).status_code == 404
