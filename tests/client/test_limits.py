"""Input limits at every door: depth, size, control characters (both task hubs)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from store.pg import postgres, scratch_hub

import perdure
from perdure import OrchestrationRuntimeStatus as S
from perdure.core.serialization import ValueLimits, dumps, set_value_limits, value_limits

app = perdure.App()


@app.activity
def produce(spec: list) -> object:
    kind, n = spec
    return "x" * n if kind == "big" else nested(n)


@app.orchestrator
def echo(ctx: perdure.OrchestrationContext):
    return ctx.get_input()


@app.orchestrator
def returns(ctx: perdure.OrchestrationContext):
    kind, n = ctx.get_input()
    if kind == "status":
        ctx.set_custom_status(nested(n))
    try:
        return (yield ctx.call_activity("produce", [kind, n]))
    except perdure.TaskFailedError as exc:
        return [exc.details.error_type, exc.details.message]


@app.orchestrator
def sends(ctx: perdure.OrchestrationContext):
    ctx.send_event(ctx.get_input(), "go")
    return "sent"


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


@contextlib.contextmanager
def limits(**changes: int) -> Iterator[None]:
    before = value_limits()
    set_value_limits(ValueLimits(**{"max_bytes": before.max_bytes,
                                    "max_depth": before.max_depth, **changes}))
    try:
        yield
    finally:
        set_value_limits(before)


def test_dumps_enforces_depth_and_size():
    assert dumps(nested(256), "input") is not None
    with pytest.raises(perdure.SerializationError, match="input is nested more than 256"):
        dumps(nested(257), "input")
    with pytest.raises(perdure.SerializationError, match="nested more than 256"):
        dumps(nested(5000), "input")  # beyond the encoder's own recursion limit
    deep_dict: object = {}
    for _ in range(300):
        deep_dict = {"k": deep_dict}
    with pytest.raises(perdure.SerializationError, match="nested"):
        dumps(deep_dict, "custom status")
    # Many brackets, little depth: accepted (the walk only runs past the bracket count).
    assert dumps([[i] for i in range(1000)]) is not None
    assert dumps("[" * 1000) is not None
    with pytest.raises(perdure.ValueTooLargeError, match="event data is 4194307 bytes"):
        dumps("x" * (4 * 1024 * 1024 + 1), "event data")
    with pytest.raises(perdure.ValueTooLargeError):
        dumps("é" * (2 * 1024 * 1024 + 1))  # counted in UTF-8 bytes
    with limits(max_bytes=100, max_depth=3):
        assert dumps(nested(3)) is not None
        with pytest.raises(perdure.SerializationError):
            dumps(nested(4))
        with pytest.raises(perdure.ValueTooLargeError, match="the limit is 100 bytes"):
            dumps("x" * 101)
    with pytest.raises(perdure.InvalidArgumentError):
        ValueLimits(max_bytes=0)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=postgres)])
async def hub(request, tmp_path: Path, hub_factory_for) -> AsyncIterator[object]:
    yield await hub_factory_for(request.param, tmp_path)


@pytest.fixture
async def hub_factory_for() -> AsyncIterator[object]:
    opened: list[object] = []
    stack = contextlib.AsyncExitStack()

    async def make(backend: str, tmp_path: Path) -> object:
        url = f"sqlite:///{tmp_path / 'hub.db'}" if backend == "sqlite" else \
            await stack.enter_async_context(scratch_hub())
        store = perdure.create_store(url)
        client = perdure.Client(store, app=app)
        worker = perdure.Worker(app, store, client=client)
        await worker.start()
        hub = SimpleNamespace(store=store, client=client, worker=worker)
        opened.append(hub)
        return hub

    async with stack:
        yield make
        for hub in opened:
            await hub.worker.stop()
            await hub.store.close()


async def test_values_over_the_limits_are_refused_at_the_client(hub):
    client = hub.client
    with pytest.raises(perdure.SerializationError, match="input is nested more than 256"):
        await client.start_new("echo", "deep", nested(964))
    with pytest.raises(perdure.ValueTooLargeError):
        await client.start_new("echo", "big", "x" * (4 * 1024 * 1024))
    iid = await client.start_new("echo", "ok", nested(200))
    assert (await client.wait_for_completion(iid, 10)).output == nested(200)
    waiting = await client.start_new("sends", "waiting", "nobody")  # fails: no such instance
    with pytest.raises(perdure.SerializationError, match="event data is nested"):
        await client.raise_event("ok", "go", nested(964))
    assert await client.get_status("deep") is None and await client.get_status("big") is None
    await client.wait_for_completion(waiting, 10)


async def test_results_and_statuses_over_the_limits_fail_their_own_task(hub):
    client = hub.client
    big = await client.start_new("returns", input=["big", 4 * 1024 * 1024 + 10])
    deep = await client.start_new("returns", input=["deep", 300])
    status = await client.start_new("returns", input=["status", 300])
    done = await client.wait_for_completion(big, 20)
    assert done.output[0] == "ValueTooLargeError" and "result of activity" in done.output[1]
    done = await client.wait_for_completion(deep, 10)
    assert done.output[0] == "SerializationError" and "nested more than 256" in done.output[1]
    done = await client.wait_for_completion(status, 10)
    assert done.runtime_status is S.Failed and "custom status is nested" in done.output


@pytest.mark.parametrize("bad", ["a\x00b", "tab\there", "\x1b[31m", "nl\n"])
async def test_control_characters_are_refused_everywhere(hub, bad: str):
    client = hub.client
    iid = await client.start_new("echo", "plain")
    for call in (lambda: client.get_status(bad), lambda: client.raise_event(bad, "go"),
                 lambda: client.terminate(bad), lambda: client.suspend(bad),
                 lambda: client.purge_instance_history(bad), lambda: client.restart(bad),
                 lambda: client.start_new("echo", bad),
                 lambda: client.raise_event(iid, bad),
                 lambda: client.get_status_by(instance_id_prefix=bad),
                 lambda: client.wait_for_completion(bad, 1)):
        with pytest.raises(perdure.InvalidArgumentError, match="control character"):
            await call()
    with pytest.raises(perdure.InvalidArgumentError, match="continuation token"):
        await client.get_status_by(continuation_token=bad)
    # An orchestrator sending to such an id fails itself, not the worker's commits.
    sender = await client.start_new("sends", input=bad)
    done = await client.wait_for_completion(sender, 10)
    assert done.runtime_status is S.Failed and "control character" in done.output
    assert (await client.wait_for_completion(iid, 10)).runtime_status is S.Completed
