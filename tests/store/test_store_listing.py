"""What the dashboard reads: newest-first and name-filtered listings, prefix pages by
either plan, bounded counts per status, continue-as-new generations."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from perdure.core.errors import InvalidArgumentError
from perdure.core.status import OrchestrationRuntimeStatus as Status
from perdure.store import listing
from perdure.store.base import InstanceQuery, InstanceRecord, StatusCount, Store

from .helpers import claim_all, claim_one, event_message, new, step
from .test_store_queries import at, key, page_all

STATUSES = [Status.Running, Status.Completed, Status.Failed, Status.Pending]


async def populate(store: Store, count: int = 40) -> list[InstanceRecord]:
    """``count`` instances (two per timestamp), three names, four statuses, two prefixes."""
    for i in range(count):
        prefix = "a-" if i % 5 else "b-"
        await store.create_instance(new(f"{prefix}{i:03d}", ("x", "y", "z")[i % 3],
                                        created_at=at(i // 2)))
    items = await claim_all(store)
    await store.commit_steps([step(item, STATUSES[int(instance_id[-3:]) % 4])
                              for instance_id, item in sorted(items.items())])
    return await page_all(store, InstanceQuery(page_size=1000))


def where(everything: list[InstanceRecord], pred: Callable[[InstanceRecord], bool],
          newest_first: bool = False) -> list[str]:
    chosen = sorted((r for r in everything if pred(r)), key=key, reverse=newest_first)
    return [r.instance_id for r in chosen]


async def ids(store: Store, page_size: int = 3, **filters: object) -> list[str]:
    got = await page_all(store, InstanceQuery(page_size=page_size, **filters))  # type: ignore[arg-type]
    return [r.instance_id for r in got]


@pytest.mark.parametrize("page_size", [1, 3, 7, 40])
async def test_newest_first_pages_everything_once_in_reverse(store: Store,
                                                             page_size: int) -> None:
    everything = await populate(store)
    assert await ids(store, page_size, newest_first=True) == where(
        everything, lambda r: True, newest_first=True)


async def test_name_filter_either_way_and_with_the_other_filters(store: Store) -> None:
    everything = await populate(store)
    for newest in (False, True):
        assert await ids(store, name="y", newest_first=newest) == where(
            everything, lambda r: r.name == "y", newest)
        assert await ids(store, name="y", statuses=[Status.Failed, Status.Running],
                         created_from=at(3), created_to=at(15), newest_first=newest) == where(
            everything, lambda r: r.name == "y" and at(3) <= r.created_at <= at(15)
            and r.runtime_status in (Status.Failed, Status.Running), newest)
        assert await ids(store, name="nobody", newest_first=newest) == []
        assert await ids(store, statuses=[Status.Completed, Status.Pending],
                         newest_first=newest) == where(
            everything, lambda r: r.runtime_status in (Status.Completed, Status.Pending), newest)


@pytest.mark.parametrize("scan", [listing.PREFIX_SCAN, 4])
async def test_prefix_pages_by_every_plan(store: Store, scan: int,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """With a scan bound of 4 the ordered scan gives up: the scan from the newest
    (oldest) match answers, or else the prefix's key range."""
    monkeypatch.setattr(listing, "PREFIX_SCAN", scan)
    used: dict[str, int] = {"prefix_edge": 0, "prefix_range_keys": 0}
    for plan in used:
        def counted(*args: object, _plan: str = plan, _real: object = getattr(
                listing, plan)) -> object:
            used[_plan] += 1
            return _real(*args)  # type: ignore[operator]
        monkeypatch.setattr(listing, plan, counted)
    everything = await populate(store)
    for newest in (False, True):
        for prefix in ("b-", "a-", "a-01", "zz"):
            assert await ids(store, instance_id_prefix=prefix, newest_first=newest) == where(
                everything, lambda r, p=prefix: r.instance_id.startswith(p), newest), prefix
        assert await ids(store, instance_id_prefix="b-", name="x",
                         statuses=[Status.Running, Status.Completed], created_to=at(17),
                         newest_first=newest) == where(
            everything, lambda r: r.instance_id.startswith("b-") and r.name == "x"
            and r.runtime_status in (Status.Running, Status.Completed)
            and r.created_at <= at(17), newest)
        assert await ids(store, instance_id_prefix="b-", statuses=[]) == []
    if scan == 4:
        assert used["prefix_edge"] > 0 and used["prefix_range_keys"] > 0, used
    else:
        assert used == {"prefix_edge": 0, "prefix_range_keys": 0}


async def test_counts_per_status_exact_and_bounded(store: Store) -> None:
    everything = await populate(store)

    def expect(pred: Callable[[InstanceRecord], bool], bound: int) -> list[StatusCount]:
        out = []
        for status in Status:
            n = sum(1 for r in everything if r.runtime_status is status and pred(r))
            out.append(StatusCount(status, min(n, bound), n <= bound))
        return out

    assert await store.count_instances(InstanceQuery(), 100) == expect(lambda r: True, 100)
    assert await store.count_instances(InstanceQuery(), 5) == expect(lambda r: True, 5)
    assert [c for c in await store.count_instances(InstanceQuery(), 10)
            if c.status is Status.Running] == [StatusCount(Status.Running, 10, True)]
    def named(r: InstanceRecord) -> bool:
        return r.name == "z" and r.created_at <= at(12)
    assert await store.count_instances(InstanceQuery(name="z", created_to=at(12)),
                                       100) == expect(named, 100)
    # A name is one pass too, cut after the bound.
    bounded = await store.count_instances(InstanceQuery(name="z", created_to=at(12)), 2)
    truth = {c.status: c.count for c in expect(named, 100)}
    assert not any(c.exact for c in bounded) and sum(c.count for c in bounded) >= 2
    assert all(c.count <= min(truth[c.status], 2) for c in bounded)

    def prefixed(r: InstanceRecord) -> bool:
        return r.created_at >= at(4) and r.instance_id.startswith("a-") and r.name == "z"
    query = InstanceQuery(created_from=at(4), instance_id_prefix="a-", name="z")
    assert await store.count_instances(query, 100) == expect(prefixed, 100)
    # A prefix is one pass cut after the bound: every count says "at least".
    bounded = await store.count_instances(query, 3)
    truth = {c.status: c.count for c in expect(prefixed, 100)}
    assert not any(c.exact for c in bounded)
    assert all(c.count <= min(truth[c.status], 3) for c in bounded)
    assert sum(c.count for c in bounded) >= 3
    only = InstanceQuery(statuses=[Status.Failed, Status.Running, Status.Failed],
                         continuation_token=(await store.query_instances(
                             InstanceQuery(page_size=2))).continuation_token)
    assert await store.count_instances(only, 100) == [
        c for c in expect(lambda r: True, 100) if c.status in (Status.Running, Status.Failed)]
    assert await store.count_instances(InstanceQuery(statuses=[]), 100) == []
    for bound in (0, -1):
        with pytest.raises(InvalidArgumentError):
            await store.count_instances(InstanceQuery(), bound)


async def continue_as_new(store: Store, instance_id: str, execution_id: str,
                          input_text: str) -> None:
    item = await claim_one(store, instance_id)
    assert await store.commit_steps([step(item, Status.Running, history=[],
                                          new_execution_id=execution_id,
                                          input=input_text)]) == [True]
    # What makes it claimable again (the worker sends its new ExecutionStarted).
    await store.send_message(event_message(instance_id), operation="raise event",
                             allowed=set(Status))


async def test_generations_of_continue_as_new(store: Store) -> None:
    await store.create_instance(new("eternal", input='"gen 1"'))
    first = (await store.get_instance("eternal"))
    assert first is not None and await store.get_generations("eternal") == []
    long_input = '"' + "x" * 300 + '"'
    await continue_as_new(store, "eternal", "exec-g2", long_input)
    await continue_as_new(store, "eternal", "exec-g3", '"gen 3"')
    gens = await store.get_generations("eternal")
    assert [(g.generation, g.execution_id, g.input_preview) for g in gens] == [
        (1, first.execution_id, '"gen 1"'), (2, "exec-g2", long_input[:200])]
    assert gens[0].started_at == first.created_at
    assert gens[0].started_at <= gens[0].ended_at == gens[1].started_at <= gens[1].ended_at
    current = await store.get_instance("eternal")
    assert current is not None and current.execution_id == "exec-g3"
    # An ordinary step keeps the execution: no generation.
    item = await claim_one(store, "eternal")
    assert await store.commit_steps([step(item, Status.Completed)]) == [True]
    assert len(await store.get_generations("eternal")) == 2
    assert await store.get_generations("other") == []
    assert await store.purge_instance("eternal")
    assert await store.get_generations("eternal") == []


async def test_generations_keep_the_last_twenty(store: Store) -> None:
    await store.create_instance(new("long"))
    for n in range(2, 25):
        await continue_as_new(store, "long", f"exec-l{n}", f'"{n}"')
    gens = await store.get_generations("long")
    assert [g.generation for g in gens] == list(range(4, 24))
    assert gens[-1].execution_id == "exec-l23"
    # Replacing the finished instance (a restart with the same id) starts over.
    item = await claim_one(store, "long")
    assert await store.commit_steps([step(item, Status.Completed)]) == [True]
    await store.create_instance(new("long"))
    assert await store.get_generations("long") == []
