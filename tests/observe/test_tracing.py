"""Spans in Durable Task's conventions, with the SDK's in-memory exporter (both stores):
names, attributes, parentage client → orchestration → activity → sub-orchestration, and
no duplicates after a worker restart (replay)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import perdure
from perdure.observe import tracing

app = perdure.App()
user_tracer = trace.get_tracer("the-users-code")


@app.activity
def work(step: str) -> str:
    with user_tracer.start_as_current_span(f"user:{step}"):
        return step.upper()


@app.activity
async def awork(step: str) -> str:
    with user_tracer.start_as_current_span(f"user-async:{step}"):
        return step.upper()


@app.orchestrator
def child(ctx: perdure.OrchestrationContext):  # type: ignore[no-untyped-def]
    return (yield ctx.call_activity("awork", "child"))


@app.orchestrator
def parent(ctx: perdure.OrchestrationContext):  # type: ignore[no-untyped-def]
    first = yield ctx.call_activity("work", "parent")
    yield ctx.create_timer(timedelta(seconds=0))
    ctx.send_event("elsewhere", "ping", 1)
    second = yield ctx.call_sub_orchestrator("child")
    return [first, second]


@app.orchestrator
def waiting(ctx: perdure.OrchestrationContext):  # type: ignore[no-untyped-def]
    got = yield ctx.wait_for_external_event("go")
    return (yield ctx.call_activity("work", got))


class _Switch(SpanProcessor):
    """Forwards ended spans to the exporter while this module's tests run."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.exporter, self.on = exporter, True

    def on_end(self, span: ReadableSpan) -> None:
        if self.on:
            SimpleSpanProcessor(self.exporter).on_end(span)


@pytest.fixture(scope="module")
def switch() -> Iterator[_Switch]:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    on = _Switch(InMemorySpanExporter())
    provider.add_span_processor(on)
    yield on
    on.on = False


@pytest.fixture
def exporter(switch: _Switch) -> InMemorySpanExporter:
    switch.exporter.clear()
    return switch.exporter


def by_name(spans: list[ReadableSpan], name: str, kind: SpanKind) -> ReadableSpan:
    found = [s for s in spans if s.name == name and s.kind is kind]
    assert len(found) == 1, (name, kind, [(s.name, s.kind) for s in spans])
    return found[0]


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_names_attributes_and_parentage(hub_factory: Callable[..., Awaitable[Any]],
                                              exporter: InMemorySpanExporter) -> None:
    hub = await hub_factory(app)
    await hub.client.start_new("waiting", "elsewhere")  # the event's target
    with user_tracer.start_as_current_span("the-callers-request") as caller:
        instance_id = await hub.client.start_new("parent")
    status = await hub.client.wait_for_completion(instance_id, timeout=30)
    assert status.output == ["PARENT", "CHILD"]
    await asyncio.sleep(0)
    spans = list(exporter.get_finished_spans())
    ids = [s.context.span_id for s in spans]
    assert len(ids) == len(set(ids)), "a span was emitted twice"

    create = by_name(spans, "create_orchestration:parent", SpanKind.PRODUCER)
    orchestration = by_name(spans, "orchestration:parent", SpanKind.SERVER)
    act_client = next(s for s in spans if s.name == "activity:work" and s.kind is SpanKind.CLIENT)
    act_server = next(s for s in spans if s.name == "activity:work" and s.kind is SpanKind.SERVER)
    user = by_name(spans, "user:parent", SpanKind.INTERNAL)
    timer = by_name(spans, "orchestration:parent:timer", SpanKind.INTERNAL)
    event = by_name(spans, "orchestration_event:ping", SpanKind.PRODUCER)
    sub_client = by_name(spans, "orchestration:child", SpanKind.CLIENT)
    sub_server = by_name(spans, "orchestration:child", SpanKind.SERVER)
    child_act = by_name(spans, "activity:awork", SpanKind.CLIENT)
    child_run = by_name(spans, "activity:awork", SpanKind.SERVER)
    child_user = by_name(spans, "user-async:child", SpanKind.INTERNAL)

    assert parent_of(create) == caller.get_span_context().span_id
    assert parent_of(orchestration) == create.context.span_id
    for span in (act_client, timer, event, sub_client):
        assert parent_of(span) == orchestration.context.span_id, span.name
    assert parent_of(act_server) == act_client.context.span_id
    assert parent_of(user) == act_server.context.span_id  # the activity ran inside its span
    assert parent_of(sub_server) == sub_client.context.span_id
    assert parent_of(child_act) == sub_server.context.span_id
    assert parent_of(child_run) == child_act.context.span_id
    assert parent_of(child_user) == child_run.context.span_id
    trace_ids = {s.context.trace_id for s in (create, orchestration, act_client, act_server,
                                              user, timer, event, sub_client, sub_server,
                                              child_act, child_run, child_user)}
    assert trace_ids == {caller.get_span_context().trace_id}

    assert orchestration.attributes is not None and dict(orchestration.attributes) == {
        "durabletask.type": "orchestration", "durabletask.task.name": "parent",
        "durabletask.task.instance_id": instance_id,
        "durabletask.task.execution_id": orchestration.attributes[
            "durabletask.task.execution_id"],
        "durabletask.task.status": "Completed"}
    assert act_server.attributes is not None
    assert act_server.attributes["durabletask.type"] == "activity"
    assert act_server.attributes["durabletask.task.task_id"] == 0
    assert event.attributes is not None
    assert event.attributes["durabletask.event.target_instance_id"] == "elsewhere"
    assert timer.attributes is not None and "durabletask.fire_at" in timer.attributes
    assert orchestration.start_time is not None and orchestration.end_time is not None
    assert orchestration.start_time <= act_client.start_time  # type: ignore[operator]


async def test_a_replay_emits_no_second_span(hub_factory: Callable[..., Awaitable[Any]],
                                             exporter: InMemorySpanExporter) -> None:
    hub = await hub_factory(app)
    instance_id = await hub.client.start_new("waiting")
    while (await hub.client.get_status(instance_id)).runtime_status.value != "Running":
        await asyncio.sleep(0.01)
    await hub.restart_worker()  # the executor is gone: the next step replays the history
    await hub.client.raise_event(instance_id, "go", "again")
    status = await hub.client.wait_for_completion(instance_id, timeout=30)
    assert status.output == "AGAIN"
    spans = [s for s in exporter.get_finished_spans() if s.attributes
             and s.attributes.get("durabletask.task.instance_id") == instance_id]
    names = sorted((s.name, s.kind.name) for s in spans)
    assert names == [("activity:work", "CLIENT"), ("activity:work", "SERVER"),
                     ("create_orchestration:waiting", "PRODUCER"),
                     ("orchestration:waiting", "SERVER")]
    root = by_name(spans, "orchestration:waiting", SpanKind.SERVER)
    assert root.context.span_id == tracing.span_id(
        instance_id, root.attributes["durabletask.task.execution_id"],  # type: ignore[index]
        "orchestration")


def test_without_a_tracer_provider_tracing_is_off() -> None:
    # A fresh interpreter: the SDK is installed, but nobody set a provider.
    code = ("import perdure\nfrom perdure.observe import tracing\n"
            "assert tracing.active() is None\n"
            "assert not tracing.configure_from_env({})\n"
            "assert tracing.configure_from_env({'OTEL_TRACES_EXPORTER': 'console'})\n"
            "assert tracing.active() is not None\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_traceparent_parsing() -> None:
    good = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    parsed = tracing.parse_traceparent(good, "k=v")
    assert parsed == tracing.Parent(0x0af7651916cd43dd8448eb211c80319c, 0xb7ad6b7169203331,
                                    True, "k=v")
    assert tracing.traceparent(parsed.trace_id, parsed.span_id) == good
    for bad in (None, "", "junk", "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                "00-00000000000000000000000000000000-b7ad6b7169203331-01"):
        assert tracing.parse_traceparent(bad) is None
    unsampled = tracing.parse_traceparent(good[:-2] + "00")
    assert unsampled is not None and not unsampled.sampled


async def test_an_http_start_continues_the_callers_trace(
        hub_factory: Callable[..., Awaitable[Any]], exporter: InMemorySpanExporter) -> None:
    import httpx

    from perdure.http import HttpClient, create_asgi_app

    hub = await hub_factory(app)
    asgi = create_asgi_app(app, HttpClient.like(hub.client, app))
    header = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi),
                                 base_url="http://localhost:7071") as http:
        started = await http.post("/runtime/webhooks/durabletask/orchestrators/waiting",
                                  headers={"traceparent": header, "tracestate": "k=v"})
    assert started.status_code == 202, started.text
    instance_id = started.json()["id"]
    await hub.client.raise_event(instance_id, "go", "x")
    await hub.client.wait_for_completion(instance_id, timeout=30)
    spans = list(exporter.get_finished_spans())
    create = by_name(spans, "create_orchestration:waiting", SpanKind.PRODUCER)
    root = by_name(spans, "orchestration:waiting", SpanKind.SERVER)
    assert create.context.trace_id == 0x0af7651916cd43dd8448eb211c80319c
    assert parent_of(create) == 0xb7ad6b7169203331
    assert parent_of(root) == create.context.span_id
    assert root.context.trace_state.get("k") == "v"
