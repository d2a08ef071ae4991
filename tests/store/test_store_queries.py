"""query_instances: filters, keyset paging, argument errors."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from perdure.core.errors import InvalidArgumentError
from perdure.core.status import OrchestrationRuntimeStatus as Status
from perdure.store.base import InstanceQuery, InstanceRecord, Store

from .helpers import claim_all, new, step

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def page_all(store: Store, query: InstanceQuery) -> list[InstanceRecord]:
    """Follow continuation tokens to the end, checking each page's size."""
    out: list[InstanceRecord] = []
    pages = 0
    while True:
        page = await store.query_instances(query)
        pages += 1
        assert len(page.instances) <= query.page_size
        out.extend(page.instances)
        if page.continuation_token is None:
            return out
        assert len(page.instances) == query.page_size
        query.continuation_token = page.continuation_token
        assert pages < 1000


async def populate(store: Store) -> None:
    """Instances at several times (with ties), statuses and id prefixes."""
    # created_at minute = i // 3, so three instances share each timestamp.
    for i in range(24):
        prefix = ("job-", "jobs-", "other-")[i % 3]
        await store.create_instance(new(f"{prefix}{i:02d}", created_at=at(i // 3)))
    items = await claim_all(store)
    statuses = [Status.Running, Status.Completed, Status.Failed, Status.Pending]
    steps = []
    for instance_id, item in sorted(items.items()):
        status = statuses[int(instance_id[-2:]) % 4]
        steps.append(step(item, status))
    await store.commit_steps(steps)


def key(rec: InstanceRecord) -> tuple[datetime, str]:
    return rec.created_at, rec.instance_id


async def test_empty(store: Store) -> None:
    page = await store.query_instances(InstanceQuery())
    assert page.instances == [] and page.continuation_token is None


@pytest.mark.parametrize("page_size", [1, 5, 7, 24, 100])
async def test_paging_covers_everything_once_in_order(store: Store, page_size: int) -> None:
    await populate(store)
    got = await page_all(store, InstanceQuery(page_size=page_size))
    ids = [r.instance_id for r in got]
    assert len(ids) == 24 and len(set(ids)) == 24
    assert [key(r) for r in got] == sorted(key(r) for r in got)


async def test_last_full_page_has_no_token(store: Store) -> None:
    await populate(store)
    page = await store.query_instances(InstanceQuery(page_size=24))
    assert len(page.instances) == 24 and page.continuation_token is None


async def test_filters(store: Store) -> None:
    await populate(store)
    everything = await page_all(store, InstanceQuery(page_size=100))

    async def ids(**filters: object) -> list[str]:
        got = await page_all(store, InstanceQuery(page_size=4, **filters))  # type: ignore[arg-type]
        return [r.instance_id for r in got]

    def expect(pred: object) -> list[str]:
        return [r.instance_id for r in everything if pred(r)]  # type: ignore[operator]

    assert await ids(statuses={Status.Completed}) == expect(
        lambda r: r.runtime_status is Status.Completed)
    assert await ids(statuses=[Status.Failed, Status.Pending]) == expect(
        lambda r: r.runtime_status in (Status.Failed, Status.Pending))
    assert await ids(statuses=[]) == []
    assert await ids(created_from=at(2), created_to=at(4)) == expect(
        lambda r: at(2) <= r.created_at <= at(4))
    assert await ids(created_from=at(7)) == expect(lambda r: r.created_at >= at(7))
    assert await ids(created_to=at(0)) == expect(lambda r: r.created_at <= at(0))
    assert await ids(instance_id_prefix="job-") == expect(
        lambda r: r.instance_id.startswith("job-"))
    assert await ids(instance_id_prefix="job") == expect(
        lambda r: r.instance_id.startswith("job"))
    assert await ids(instance_id_prefix="zzz") == []
    assert await ids(instance_id_prefix="jobs-", statuses={Status.Running, Status.Failed},
                     created_from=at(1), created_to=at(6)) == expect(
        lambda r: r.instance_id.startswith("jobs-")
        and r.runtime_status in (Status.Running, Status.Failed) and at(1) <= r.created_at <= at(6))


async def test_prefix_is_not_a_pattern(store: Store) -> None:
    for instance_id in ("a%b", "a_b", "axb", "a\uffffz", "a\U0010ffff", "b"):
        await store.create_instance(new(instance_id))

    async def ids(prefix: str) -> set[str]:
        page = await store.query_instances(InstanceQuery(instance_id_prefix=prefix))
        return {r.instance_id for r in page.instances}

    assert await ids("a%") == {"a%b"}
    assert await ids("a_") == {"a_b"}
    assert await ids("a\uffff") == {"a\uffffz"}
    assert await ids("a\U0010ffff") == {"a\U0010ffff"}
    assert await ids("a") == {"a%b", "a_b", "axb", "a\uffffz", "a\U0010ffff"}


async def test_record_fields(store: Store) -> None:
    await store.create_instance(new("a", "name-a", input='"i"', created_at=at(0)))
    [rec] = (await store.query_instances(InstanceQuery())).instances
    assert rec == await store.get_instance("a")


async def test_page_size_must_be_positive(store: Store) -> None:
    for size in (0, -1):
        with pytest.raises(InvalidArgumentError):
            await store.query_instances(InstanceQuery(page_size=size))


@pytest.mark.parametrize("token", [
    "garbage!", "", "e30", base64.urlsafe_b64encode(b'["x", "y"]').decode(),
    base64.urlsafe_b64encode(b"[1]").decode(), base64.urlsafe_b64encode(b"\xff\xfe").decode(),
])
async def test_malformed_token(store: Store, token: str) -> None:
    await store.create_instance(new("a"))
    with pytest.raises(InvalidArgumentError):
        await store.query_instances(InstanceQuery(continuation_token=token))


async def test_token_survives_changes_between_pages(store: Store) -> None:
    for i in range(6):
        await store.create_instance(new(f"i{i}", created_at=at(i)))
    first = await store.query_instances(InstanceQuery(page_size=3))
    assert first.continuation_token is not None
    await store.create_instance(new("early", created_at=at(-1)))  # before the cursor
    await store.create_instance(new("late", created_at=at(99)))  # after it
    rest = await page_all(store, InstanceQuery(page_size=3,
                                               continuation_token=first.continuation_token))
    assert [r.instance_id for r in rest] == ["i3", "i4", "i5", "late"]
