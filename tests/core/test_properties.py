"""Properties over random delivery orders and batchings.

Every step goes through the Driver, so each example also checks that the
kept-alive executor and a full replay agree at every step.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from perdure.core.status import OrchestrationRuntimeStatus as Status

from .histories import Driver, activity, asyncified, completed, raised

FLAVORS = {"generator": lambda fn: fn, "async": asyncified}
FAST = settings(max_examples=150, derandomize=True, deadline=None)


def batches(draw: Any, items: list[Any]) -> list[list[Any]]:
    """Split ``items`` into consecutive non-empty batches at random cut points."""
    if len(items) <= 1:
        return [items] if items else []
    cuts = sorted(draw(st.sets(st.integers(1, len(items) - 1))))
    bounds = [0, *cuts, len(items)]
    return [items[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


# --- fan-out / fan-in ----------------------------------------------------------


def fan_in_all(ctx: Any) -> Any:
    tasks = [ctx.call_activity("square", i) for i in range(ctx.get_input())]
    results = yield ctx.task_all(tasks)
    return {"results": results, "sum": sum(results)}


def fan_in_one_by_one(ctx: Any) -> Any:
    tasks = [ctx.call_activity("square", i) for i in range(ctx.get_input())]
    results = []
    for task in tasks:
        results.append((yield task))
    return {"results": results, "sum": sum(results)}


@FAST
@given(data=st.data(), n=st.integers(1, 30),
       shape=st.sampled_from([fan_in_all, fan_in_one_by_one]),
       flavor=st.sampled_from(sorted(FLAVORS)))
def test_fan_out_fan_in_is_independent_of_delivery_order(
        data: Any, n: int, shape: Any, flavor: str) -> None:
    order = data.draw(st.permutations(range(n)), label="completion order")
    duplicates = data.draw(st.lists(st.sampled_from(range(n)), max_size=3), label="redelivered")
    deliveries = [completed(i, i * i) for i in order]
    # Redeliveries of a completion (with a wrong value) land anywhere after the original.
    for i in duplicates:
        first = deliveries.index(completed(i, i * i))
        deliveries.insert(data.draw(st.integers(first + 1, len(deliveries))), completed(i, -1))

    d = Driver(FLAVORS[flavor](shape))
    assert d.start(n).actions == [activity(i, "square", i) for i in range(n)]
    for batch in batches(data.draw, deliveries):
        assert d.step(*batch).actions == []

    assert d.status is Status.Completed
    assert d.output == {"results": [i * i for i in range(n)],
                        "sum": sum(i * i for i in range(n))}
    assert Counter(map(repr, d.all_actions())) == Counter(
        repr(activity(i, "square", i)) for i in range(n))


# --- external events: FIFO per name ----------------------------------------------

NAMES = ("a", "b", "c")


def waiter(ctx: Any) -> Any:
    """Waits in groups: each group's waits are pending together (``task_all``)."""
    received = []
    for group in ctx.get_input():
        waits = [ctx.wait_for_external_event(name) for name in group]
        received.extend((yield ctx.task_all(waits)))
    return received


@FAST
@given(data=st.data(), flavor=st.sampled_from(sorted(FLAVORS)))
def test_raised_events_reach_waits_in_fifo_order_per_name(data: Any, flavor: str) -> None:
    groups = data.draw(st.lists(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3),
                                min_size=1, max_size=6), label="wait groups")
    waits = [name for group in groups for name in group]
    extra = data.draw(st.lists(st.sampled_from(NAMES), max_size=3), label="unwaited events")
    names = data.draw(st.permutations(waits + extra), label="raise order")
    seen: Counter[str] = Counter()
    events = []
    for name in names:
        events.append(raised(name, f"{name}{seen[name]}"))
        seen[name] += 1

    # Some events arrive with ExecutionStarted, before any wait exists.
    early = data.draw(st.integers(0, len(events)), label="raised before start")
    d = Driver(FLAVORS[flavor](waiter))
    d.start(groups, *events[:early])
    for batch in batches(data.draw, events[early:]):
        d.step(*batch)

    # The k-th wait for a name gets the k-th event raised with that name.
    nth: Counter[str] = Counter()
    expected = []
    for name in waits:
        expected.append(f"{name}{nth[name]}")
        nth[name] += 1
    assert d.status is Status.Completed
    assert d.output == expected
