"""Versions in the task hub: stored per instance, queried, and filtered in the claim SQL;
parked instances are skipped until unparked. Runs on every backend."""

from __future__ import annotations

import itertools

import pytest

from perdure.core.history import ExecutionStarted, FailureDetails
from perdure.core.status import OrchestrationRuntimeStatus as Status
from perdure.core.versions import VersionMatch, allowed_range, compare_versions
from perdure.store.base import InstanceQuery, Store, VersionFilter

from .helpers import LONG, claim_one, event_message, new, step

VERSIONS = ["", "1.0", "1.9", "1.10", "2.0", "2.0.0", "10", "9", "v2", "V2", "1.0a", "beta"]
WORKERS = ["1.0", "1.10", "2.0", "9", "v2", "zeta"]

_workers = itertools.count()


def worker() -> str:
    """A worker id of its own per claim (PostgreSQL's claim gates are per worker)."""
    return f"w{next(_workers)}"


async def _claimable(store: Store, versions: VersionFilter | None) -> set[str]:
    """The ids a claim under ``versions`` leases; released again afterwards. (A limit
    far above the instances: PostgreSQL divides new work among the live workers.)"""
    items = await store.claim_orchestrations(worker(), 10_000, LONG, versions=versions)
    for item in items:
        await store.release_orchestration(item.instance.instance_id, item.lock_token)
    return {item.instance.instance_id for item in items}


async def test_the_claim_sql_compares_versions_as_durabletask_does(store: Store) -> None:
    for index, version in enumerate(VERSIONS):
        await store.create_instance(new(f"i{index}", version=version))
    everything = {f"i{index}" for index in range(len(VERSIONS))}
    assert await _claimable(store, None) == everything
    for version, match in itertools.product(WORKERS, VersionMatch):
        low, high = allowed_range(match)
        expected = {f"i{index}" for index, v in enumerate(VERSIONS)
                    if low <= compare_versions(v, version) <= high}
        got = await _claimable(store, VersionFilter.of(version, match))
        assert got == expected, (version, match)


async def test_an_instance_keeps_its_version(store: Store) -> None:
    await store.create_instance(new("a", version="2.1"))
    record = await store.get_instance("a")
    assert record is not None and record.version == "2.1"
    item = await claim_one(store, "a")
    assert item.instance.version == "2.1"
    started = item.messages[0].event
    assert isinstance(started, ExecutionStarted) and started.version == "2.1"
    await store.create_instance(new("b"))
    unversioned = await store.get_instance("b")
    assert unversioned is not None and unversioned.version == ""


async def test_queries_filter_by_version(store: Store) -> None:
    for index, version in enumerate(["1.0", "2.0", "1.0", "", "1.0"]):
        await store.create_instance(new(f"i{index}", version=version))
    page = await store.query_instances(InstanceQuery(version="1.0", page_size=2))
    assert [r.instance_id for r in page.instances] == ["i0", "i2"]
    rest = await store.query_instances(InstanceQuery(
        version="1.0", page_size=2, continuation_token=page.continuation_token))
    assert [r.instance_id for r in rest.instances] == ["i4"]
    assert rest.continuation_token is None
    none = await store.query_instances(InstanceQuery(version=""))
    assert [r.instance_id for r in none.instances] == ["i3"]
    active = await store.query_instances(InstanceQuery(version="2.0",
                                                       statuses={Status.Pending}))
    assert [r.instance_id for r in active.instances] == ["i1"]
    drained = await store.query_instances(InstanceQuery(version="3.0"))
    assert drained.instances == []


async def test_a_parked_instance_is_not_claimed_until_unparked(store: Store) -> None:
    await store.create_instance(new("a"))
    item = await claim_one(store, "a")
    assert await store.commit_steps([step(item)]) == [True]
    await store.send_message(event_message("a"), operation="raise event", allowed=set(Status))
    item = await claim_one(store, "a")
    failure = FailureDetails("NonDeterminismError", "history expected A, the code scheduled B")
    assert await store.park_instance("a", item.lock_token, failure) is True
    assert await store.park_instance("a", item.lock_token, failure) is False  # lease gone
    record = await store.get_instance("a")
    assert record is not None and record.parked and record.failure == failure
    assert record.runtime_status is Status.Running
    # Parked: its message stays, yet no claim takes it, whatever arrives.
    await store.send_message(event_message("a", "more"), operation="raise event",
                             allowed=set(Status))
    assert await _claimable(store, None) == set()
    assert await store.unpark_instance("a") is True  # one by one (an explicit resume) ...
    assert await store.unpark_instance("a") is False
    assert await store.unpark_instance("ghost") is False
    item = await claim_one(store, "a")
    assert await store.park_instance("a", item.lock_token, failure) is True
    assert await store.unpark_instances() == 1  # ... or all at once (a worker starting)
    assert await store.unpark_instances() == 0
    again = await store.claim_orchestrations(worker(), 10, LONG)
    assert [i.instance.instance_id for i in again] == ["a"]
    assert [m.event.name for m in again[0].messages] == ["evt", "more"]  # type: ignore[attr-defined]
    # The next step that commits clears the error.
    assert await store.commit_steps([step(again[0])]) == [True]
    cleared = await store.get_instance("a")
    assert cleared is not None and not cleared.parked and cleared.failure is None


@pytest.mark.parametrize("version", ["1.0", "2.0"])
async def test_a_version_filter_leaves_the_rest_visible_to_others(store: Store,
                                                                  version: str) -> None:
    await store.create_instance(new("old", version="1.0"))
    await store.create_instance(new("new", version="2.0"))
    older = VersionFilter.of(version, VersionMatch.CURRENT_OR_OLDER)
    claimed = await store.claim_orchestrations(worker(), 10, LONG, versions=older)
    expected = {"old"} if version == "1.0" else {"old", "new"}
    assert {i.instance.instance_id for i in claimed} == expected
    rest = await store.claim_orchestrations(worker(), 10, LONG)
    assert {i.instance.instance_id for i in rest} == {"old", "new"} - expected
