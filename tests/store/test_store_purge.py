"""purge_instances: filters, batches, and never an active instance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from perdure.core.errors import InvalidArgumentError
from perdure.core.status import OrchestrationRuntimeStatus as Status
from perdure.store.base import InstanceQuery, Store

from .helpers import claim_all, new, step

T0 = datetime(2025, 1, 1, tzinfo=UTC)


async def populate(store: Store, plan: dict[str, tuple[int, Status]]) -> None:
    """Create each instance at ``T0 + minutes`` and commit it to its status."""
    for instance_id, (minutes, _) in plan.items():
        await store.create_instance(new(instance_id, created_at=T0 + timedelta(minutes=minutes)))
    items = await claim_all(store)
    await store.commit_steps([step(items[i], status) for i, (_, status) in plan.items()])


async def remaining(store: Store) -> set[str]:
    page = await store.query_instances(InstanceQuery(page_size=1000))
    return {r.instance_id for r in page.instances}


async def test_only_finished_instances_are_purged(store: Store) -> None:
    plan = {"c": (0, Status.Completed), "f": (1, Status.Failed), "t": (2, Status.Terminated),
            "r": (3, Status.Running), "s": (4, Status.Suspended),
            "n": (5, Status.ContinuedAsNew)}
    await populate(store, plan)
    await store.create_instance(new("p"))
    assert await store.purge_instances(None, None, None) == 3
    assert await remaining(store) == {"r", "s", "n", "p"}
    assert await store.get_history("c") == []
    assert await store.purge_instances(None, None, None) == 0


async def test_status_filter(store: Store) -> None:
    await populate(store, {"c": (0, Status.Completed), "f": (1, Status.Failed),
                           "r": (2, Status.Running)})
    assert await store.purge_instances(None, None, [Status.Running, Status.Pending]) == 0
    assert await store.purge_instances(None, None, [Status.Failed, Status.Running]) == 1
    assert await remaining(store) == {"c", "r"}
    assert await store.purge_instances(None, None, []) == 0


async def test_created_range_is_inclusive(store: Store) -> None:
    await populate(store, {f"i{m}": (m, Status.Completed) for m in range(6)})
    count = await store.purge_instances(T0 + timedelta(minutes=1), T0 + timedelta(minutes=3),
                                        None)
    assert count == 3
    assert await remaining(store) == {"i0", "i4", "i5"}
    assert await store.purge_instances(T0 + timedelta(minutes=5), None, None) == 1
    assert await store.purge_instances(None, T0, None) == 1
    assert await remaining(store) == {"i4"}


@pytest.mark.parametrize("batch_size", [1, 3, 7, 8, 500])
async def test_batches(store: Store, batch_size: int) -> None:
    plan = {f"i{m}": (m, Status.Completed) for m in range(7)}
    plan["active"] = (3, Status.Running)
    await populate(store, plan)
    assert await store.purge_instances(None, None, None, batch_size=batch_size) == 7
    assert await remaining(store) == {"active"}


async def test_batch_size_must_be_positive(store: Store) -> None:
    with pytest.raises(InvalidArgumentError):
        await store.purge_instances(None, None, None, batch_size=0)
