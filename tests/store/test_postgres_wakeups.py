"""The PostgreSQL wake-up pieces, one by one (no server, but for the listener and
the store without wake-ups at the end)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from perdure.core.status import OrchestrationRuntimeStatus as Status
from perdure.store.postgres import PostgresStore
from perdure.store.postgres.wakeups import NullWakeups, Wakeups
from perdure.store.postgres.wakeups.announcing import Announcer
from perdure.store.postgres.wakeups.channels import Channels
from perdure.store.postgres.wakeups.gates import Gates
from perdure.store.postgres.wakeups.instances import InstanceCheck
from perdure.store.postgres.wakeups.listening import Listener
from perdure.store.postgres.wakeups.registry import Registry, Targets
from perdure.store.signals import Signals

from .helpers import LONG, claim_one, new, step
from .pg import DATABASE_URL, drop_schema, hub_url, postgres

CH = Channels.for_schema("hub", "me")


class FakeRun:
    """Stands in for the store's ``_run``: records calls, answers from a table."""

    def __init__(self, **answers: Any) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.answers = answers
        self.fail = False

    async def __call__(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((fn.__name__, args))
        if self.fail:
            raise OSError("down")
        answer = self.answers.get(fn.__name__)
        return answer(*args) if callable(answer) else answer

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [args for called, args in self.calls if called == name]


# --- channels ---------------------------------------------------------------------


def test_channels_decode_what_they_encode() -> None:
    assert CH.work_kind(CH.orchestration, "other|") == "orchestration"
    assert CH.work_kind(CH.activity, "other|") == "activity"
    assert CH.work_kind(CH.orchestration, "me|") is None  # its own broadcast
    assert CH.work_kind(CH.direct(), "a") == "activity"
    assert CH.work_kind(CH.direct(), "?") is None
    other = Channels.for_schema("hub", "other")
    [payload] = other.instance_payloads(["a", "b"])
    assert CH.changed_ids(payload) == ["a", "b"]
    assert CH.changed_ids(CH.instance_payloads(["a"])[0]) == []  # its own
    assert CH.changed_ids("other|not json") is None
    payloads = CH.instance_payloads([f"{i:0>100}" for i in range(200)])
    assert len(payloads) > 1 and all(len(p.encode()) < 8000 for p in payloads)
    assert sum(len(json.loads(p.partition("|")[2])) for p in payloads) == 200


# --- gates ------------------------------------------------------------------------


def test_a_gate_closes_until_a_wake_up_or_its_horizon() -> None:
    gates = Gates(poll_interval=10)
    mark = gates.mark("orchestration")
    gates.close("orchestration", "w1", mark, None)
    assert gates.is_closed("orchestration", "w1")
    assert not gates.is_closed("orchestration", "w2") and not gates.is_closed("activity", "w1")
    gates.open("activity")
    assert gates.is_closed("orchestration", "w1")
    gates.open("orchestration")
    assert not gates.is_closed("orchestration", "w1")
    gates.close("orchestration", "w1", mark, None)  # a wake-up came during the claim
    assert not gates.is_closed("orchestration", "w1")
    gates.close("orchestration", "w1", gates.mark("orchestration"), 0.0)  # due now
    assert not gates.is_closed("orchestration", "w1")
    gates.close("orchestration", "w1", gates.mark("orchestration"), 60.0)
    gates.open_at("orchestration", 0.0)  # a timer falls due
    assert not gates.is_closed("orchestration", "w1")


def test_gates_stay_open_without_a_poll_interval() -> None:
    gates = Gates(poll_interval=0)
    assert not gates.enabled
    gates.close("activity", "w", gates.mark("activity"), None)
    assert not gates.is_closed("activity", "w")


def test_the_timer_is_remembered_until_a_wake_up() -> None:
    gates = Gates(poll_interval=10)
    now = 1_000_000
    assert gates.timer(now) == (False, None)
    gates.remember_timer(gates.mark("orchestration"), time.monotonic(), now + 5_000_000)
    assert gates.timer(now) == (True, now + 5_000_000)
    assert gates.timer(now + 6_000_000) == (False, None)  # it fell due
    gates.open("orchestration")
    assert gates.timer(now) == (False, None)
    stale = gates.mark("orchestration") - 1
    gates.remember_timer(stale, time.monotonic(), None)  # read across a wake-up
    assert gates.timer(now) == (False, None)


# --- announcing -------------------------------------------------------------------


async def test_announcements_are_batched_and_addressed() -> None:
    run = FakeRun()
    announcer = Announcer(CH, run)
    announcer.work("orchestration", {"me", "p2"})  # not to itself
    announcer.work("orchestration", {"p2"})  # once per round
    announcer.work("activity", set())  # this process only: nothing sent
    announcer.work("activity", None)
    announcer.instances(["i1"])
    await announcer.stop()
    [(notes,)] = run.named("notify")
    assert notes == [(CH.direct("p2"), "o"), (CH.activity, "me|"),
                     (CH.instances, 'me|["i1"]')]
    run.fail = True
    announcer.work("activity", None)
    await announcer.stop()  # a failed round is logged, not raised


# --- registry and targets ------------------------------------------------------------


async def test_the_registry_and_targets() -> None:
    run = FakeRun(live_workers={"w2": "p2", "w3": "p3"})
    registry = Registry("me", run)
    targets = Targets(registry)
    assert targets.any_worker() is None  # nothing read yet (a refresh starts)
    await registry.refresh()
    await registry.worker_seen("w1")
    await registry.worker_seen("w1")
    assert run.named("register_workers") == [(["w1"], "me")]
    assert targets.any_worker() in ({"me"}, {"p2"}, {"p3"})
    assert targets.owners(["w1", "w2"]) == {"me", "p2"}
    assert targets.owners(["w2", None]) is None and targets.owners(["gone"]) is None
    assert targets.share(10) == 4  # 10 over 3 live workers, rounded up
    targets.activity_room(3)
    assert targets.take_activity_room(2) and not targets.take_activity_room(2)
    await registry.stop()
    assert run.named("unregister_workers") == [(["w1"],)]


# --- the lost-NOTIFY check -------------------------------------------------------------


async def test_the_check_wakes_waiters_of_changed_instances() -> None:
    run = FakeRun(changed_instances=lambda ids, since: (list(ids), 7))
    signals = Signals()
    check = InstanceCheck(signals, run, 0.01)
    check.start()
    await asyncio.wait_for(signals.wait_for_instance("a", 5), 5)
    await check.stop()
    assert run.named("changed_instances")[0] == ([], None)
    assert (["a"], 7) in run.named("changed_instances")


# --- the facades ----------------------------------------------------------------------


async def test_null_wakeups_only_wake_this_process() -> None:
    wakeups = NullWakeups(FakeRun())
    fetched: list[bool] = []

    async def fetch(measure: bool) -> tuple[list[int], float | None]:
        fetched.append(measure)
        return [], 1.0

    for _ in range(2):
        assert await wakeups.claim("orchestration", "w", 10, fetch) == []
    assert fetched == [False, False]  # never gated, never measuring
    assert await wakeups.claim("orchestration", "w", 0, fetch) == []
    before = time.monotonic()
    wakeups.committed(["i"], 1, False, True)
    await asyncio.wait_for(wakeups.wait_for_work("activity", 5), 1)
    await asyncio.wait_for(wakeups.wait_for_work("orchestration", 5), 1)
    await asyncio.wait_for(wakeups.wait_for_instance("i", 5, since=before), 1)
    await wakeups.stop()


async def test_wakeups_without_listen_never_gate() -> None:
    run = FakeRun(live_workers={})
    wakeups = Wakeups("postgresql://unused", CH, run, listen=False, poll_interval=10,
                      coalesce=0)
    await wakeups.start(1)
    fetched: list[bool] = []

    async def fetch(measure: bool) -> tuple[list[int], float | None]:
        fetched.append(measure)
        return [], None

    for _ in range(2):
        await wakeups.claim("activity", "w", 10, fetch)
    assert fetched == [False, False]
    wakeups.activity_room(5)
    wakeups.committed([], 3, False, False)  # room for them here: no NOTIFY
    wakeups.committed([], 3, True, True)  # no room left: every process is woken
    await wakeups.stop()
    assert run.named("notify") == [([(CH.activity, "me|"), (CH.orchestration, "me|")],)]


# --- against the server ------------------------------------------------------------------


@postgres
async def test_the_listener_hears_and_reports_gaps() -> None:
    channel = f"perdure_test_{uuid.uuid4().hex[:8]}"
    heard: list[tuple[str, str]] = []
    gaps: list[bool] = []
    listener = Listener(DATABASE_URL, [channel], lambda c, p: heard.append((c, p)),
                        lambda: gaps.append(True), name="test listener")
    listener.start()
    await listener.wait_ready(10)
    assert listener.connected and gaps == []  # a first connection loses nothing
    async with await psycopg.AsyncConnection.connect(DATABASE_URL, autocommit=True) as conn:
        await conn.execute("SELECT pg_notify(%s, 'hello')", (channel,))
    deadline = time.monotonic() + 5
    while not heard and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert heard == [(channel, "hello")]
    await listener.stop()
    assert not listener.connected


@pytest.fixture
async def null_store() -> AsyncIterator[PostgresStore]:
    schema = f"test_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(hub_url(schema))
    store._wakeups = NullWakeups(store._run)
    await store.open()
    yield store
    await store.close()
    await drop_schema(schema)


@postgres
async def test_a_store_without_wakeups_still_works(null_store: PostgresStore) -> None:
    store = null_store
    await store.create_instance(new("a"))
    item = await claim_one(store, "a")
    waiter = asyncio.ensure_future(store.wait_for_instance("a", 5))
    await asyncio.sleep(0.02)
    assert await store.commit_steps([step(item, Status.Completed)]) == [True]
    await asyncio.wait_for(waiter, 1)
    assert (await store.claim_orchestrations("w", 10, LONG)) == []
