"""Entities in the pure core: ids, the batch function and the orchestration side."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from perdure.core.actions import SendEvent
from perdure.core.entities import (
    EntityId,
    EntityRequest,
    EntityResponse,
    EntityState,
    is_entity_id,
)
from perdure.core.entity_batch import EntityContext, class_entity, run_batch
from perdure.core.errors import InvalidArgumentError
from perdure.core.history import EventRaised, FailureDetails
from perdure.core.serialization import dumps, loads
from perdure.core.status import OrchestrationRuntimeStatus as Status

from .histories import T0, Driver, raised

COUNTER = EntityId("Counter", "k")


def counter(ctx: EntityContext) -> Any:
    value = ctx.get_state(0)
    if ctx.operation_name == "add":
        ctx.set_state(value + ctx.get_input())
        ctx.signal_entity(("log", "k"), "append", value)
    elif ctx.operation_name == "boom":
        ctx.set_state(-1)
        ctx.signal_entity(("log", "k"), "append", "never")
        ctx.start_new_orchestration("never")
        raise ValueError("boom")
    elif ctx.operation_name == "delete":
        ctx.delete_state()
    return value


def op(operation: str, value: Any = None, *, parent: str | None = None,
       call: bool = False, rid: str = "r") -> EntityRequest:
    return EntityRequest("op", rid, parent=parent, parent_execution="e" if parent else None,
                         operation=operation, input=dumps(value), signal=not call)


def ids() -> Any:
    counter_ = itertools.count()
    return lambda: f"id{next(counter_)}"


# --- ids ---------------------------------------------------------------------


def test_entity_ids_are_case_insensitive_in_their_name_only():
    assert str(EntityId("Counter", "Key@1")) == "@counter@Key@1"
    assert EntityId.parse("@counter@Key@1") == EntityId("COUNTER", "Key@1")
    assert EntityId.of(("a", "b")) == EntityId.of("@a@b") == EntityId("A", "b")
    assert is_entity_id("@a@b") and not is_entity_id("@@b") and not is_entity_id("ab")


@pytest.mark.parametrize("name,key", [("", "k"), ("n", ""), ("a@b", "k"), ("n", "k\n"),
                                      ("n", "k" * 300)])
def test_bad_entity_ids_are_refused(name, key):
    with pytest.raises(InvalidArgumentError):
        EntityId(name, key)


def test_not_an_entity_id():
    with pytest.raises(InvalidArgumentError):
        EntityId.parse("plain")
    with pytest.raises(InvalidArgumentError):
        EntityId.of(42)  # type: ignore[arg-type]


# --- the batch ----------------------------------------------------------------


def test_operations_apply_in_order_in_one_batch():
    result = run_batch(counter, COUNTER, EntityState(), [op("add", i) for i in range(1, 11)],
                       ids())
    assert result.state.exists and loads(result.state.state) == 55
    assert result.operations == 10 and result.failed == 0
    assert [loads(s.request.input) for s in result.signals] == [
        sum(range(1, i)) for i in range(1, 11)]
    assert result.answers == []  # signals get no answer


def test_a_failed_operation_rolls_back_only_itself_and_answers_its_caller():
    requests = [op("add", 5), op("boom", parent="orch", call=True, rid="c1"),
                op("add", 1, parent="orch", call=True, rid="c2")]
    result = run_batch(counter, COUNTER, EntityState(), requests, ids())
    assert loads(result.state.state) == 6
    assert result.failed == 1 and result.starts == []
    assert [loads(s.request.input) for s in result.signals] == [0, 5]  # not "never"
    failed, ok = result.answers
    assert failed.request_id == "c1" and failed.execution_id == "e"
    assert failed.response.failure is not None and failed.response.failure.message == "boom"
    assert ok.response == EntityResponse(result=dumps(5))


def test_state_given_is_not_modified_and_deletion():
    state = EntityState(True, dumps(3))
    result = run_batch(counter, COUNTER, state, [op("delete")], ids())
    assert state == EntityState(True, dumps(3))
    assert not result.state.exists and result.state.is_empty
    assert EntityState.decode(result.state.encode()) == result.state


def test_an_unknown_entity_fails_its_operations():
    result = run_batch(None, COUNTER, EntityState(), [op("add", 1, parent="o", call=True)],
                       ids())
    assert result.failed == 1 and not result.state.exists
    failure = result.answers[0].response.failure
    assert failure is not None and failure.error_type == "UnknownFunctionError"


def test_an_unserializable_result_fails_the_operation():
    def bad(ctx: EntityContext) -> None:
        ctx.set_state(1)
        ctx.set_result(object())
    result = run_batch(bad, COUNTER, EntityState(), [op("x", parent="o", call=True)], ids())
    assert not result.state.exists and result.failed == 1


def test_a_lock_queues_other_callers_until_released():
    lock = EntityRequest("lock", "L", parent="A", parent_execution="ea",
                         lock_set=(str(COUNTER),))
    result = run_batch(counter, COUNTER, EntityState(), [
        lock, op("add", 1, parent="B", call=True, rid="b1"), op("add", 10, parent="A",
                                                                 call=True, rid="a1")], ids())
    state = result.state
    assert (state.lock, state.lock_id) == ("A", "L")
    assert [r.id for r in state.queue] == ["b1"]  # B waits; A's call went through
    assert loads(state.state) == 10
    assert [a.request_id for a in result.answers] == ["L", "a1"]
    # A wrong release changes nothing; the holder's lets B in.
    after = run_batch(counter, COUNTER, state, [
        EntityRequest("release", "other", parent="A"),
        EntityRequest("release", "L", parent="B"),
    ], ids())
    assert after.state.lock == "A" and len(after.state.queue) == 1
    released = run_batch(counter, COUNTER, after.state,
                         [EntityRequest("release", "L", parent="A")], ids())
    assert released.state.lock is None and released.state.queue == []
    assert loads(released.state.state) == 11
    assert [a.request_id for a in released.answers] == ["b1"]


def test_a_lock_request_moves_along_its_sorted_lock_set():
    lock_set = ("@a@1", "@b@1")
    result = run_batch(counter, EntityId("a", "1"), EntityState(),
                       [EntityRequest("lock", "L", parent="A", lock_set=lock_set)], ids())
    assert result.answers == []
    (moved,) = result.signals
    assert moved.target == "@b@1" and moved.request.position == 1
    last = run_batch(counter, EntityId("b", "1"), EntityState(), [moved.request], ids())
    assert [a.request_id for a in last.answers] == ["L"]


def test_a_release_removes_a_lock_request_still_waiting():
    state = EntityState(lock="B", lock_id="LB",
                        queue=[EntityRequest("lock", "LA", parent="A", lock_set=(str(COUNTER),))])
    result = run_batch(counter, COUNTER, state,
                       [EntityRequest("release", "LA", parent="A"),
                        EntityRequest("release", "LB", parent="B")], ids())
    assert result.state.lock is None and result.state.queue == [] and result.answers == []


def test_a_release_that_overtakes_its_lock_request_keeps_it_from_being_granted():
    """The orchestration ended while its lock request travelled: the release reached
    this entity first, so the request, when it comes, is dropped, not granted."""
    lock = EntityRequest("lock", "L", parent="A", lock_set=(str(COUNTER),))
    early = run_batch(counter, COUNTER, EntityState(),
                      [EntityRequest("release", "L", parent="A")], ids())
    assert early.state.lock is None and early.state.released == ["A L"]
    stored = EntityState.decode(early.state.encode())  # survives the row
    late = run_batch(counter, COUNTER, stored, [lock, op("add", 1, parent="B", call=True)],
                     ids())
    assert late.state.lock is None and late.state.released == []
    assert [a.request_id for a in late.answers] != ["L"] and loads(late.state.state) == 1
    # A lock request that was not released is granted as ever.
    again = run_batch(counter, COUNTER, late.state,
                      [EntityRequest("lock", "L2", parent="A", lock_set=(str(COUNTER),))], ids())
    assert again.state.lock == "A"


def test_remembered_releases_are_bounded():
    state = EntityState()
    for n in range(40):
        state = run_batch(counter, COUNTER, state,
                          [EntityRequest("release", f"L{n}", parent="A")], ids()).state
    assert state.released == [f"A L{n}" for n in range(24, 40)]


def test_class_entities():
    class Cart:
        def __init__(self) -> None:
            self.items: list[str] = []

        def add(self, item: str) -> int:
            self.items.append(item)
            return len(self.items)

        def clear(self) -> None:
            self.items = []

        def _private(self) -> None:
            raise AssertionError("not an operation")

    run = class_entity(Cart)
    result = run_batch(run, EntityId("cart", "1"), EntityState(), [
        op("add", "x", parent="o", call=True, rid="1"), op("ADD", "y", parent="o", call=True,
                                                           rid="2"),
        op("_private", parent="o", call=True, rid="3"), op("missing", parent="o", call=True,
                                                           rid="4"),
    ], ids())
    assert loads(result.state.state) == {"items": ["x", "y"]}
    assert [loads(a.response.result) for a in result.answers[:2]] == [1, 2]
    assert all(a.response.failure is not None for a in result.answers[2:])
    deleted = run_batch(run, EntityId("cart", "1"), result.state, [op("delete")], ids())
    assert not deleted.state.exists


# --- the orchestration side -------------------------------------------------------


def _requests(actions: list[Any]) -> list[tuple[str, EntityRequest]]:
    out = []
    for action in actions:
        assert isinstance(action, SendEvent)
        request = EntityRequest.decode(action.input)
        assert request is not None
        out.append((action.instance_id, request))
    return out


def _answer(request: EntityRequest, result: Any = None,
            failure: FailureDetails | None = None) -> EventRaised:
    response = EntityResponse(dumps(result), failure)
    return EventRaised(timestamp=T0, name=request.id, input=response.encode())


def test_call_entity_returns_the_result_and_raises_the_error(flavor):
    def orch(ctx):
        first = yield ctx.call_entity(COUNTER, "add", 1)
        try:
            yield ctx.call_entity("@counter@k", "boom")
        except Exception as exc:  # noqa: BLE001
            return [first, type(exc).__name__, exc.details.message]

    driver = Driver(flavor(orch))
    ((target, request),) = _requests(driver.start().actions)
    assert target == "@counter@k" and request.operation == "add" and not request.signal
    assert request.parent == "inst-1" and loads(request.input) == 1
    ((_, second),) = _requests(driver.step(_answer(request, 0)).actions)
    driver.step(_answer(second, failure=FailureDetails("ValueError", "boom")))
    assert driver.status is Status.Completed
    assert driver.output == [0, "EntityOperationFailedError", "boom"]


def test_critical_sections_lock_in_order_and_release_on_exit(flavor):
    def orch(ctx):
        with (yield ctx.lock([("b", "1"), ("a", "1"), ("b", "1")])) as section:
            inside = ctx.critical_section is section
            yield ctx.call_entity(("a", "1"), "get")
        return [inside, ctx.critical_section is None]

    driver = Driver(flavor(orch))
    ((target, lock),) = _requests(driver.start().actions)
    assert target == "@a@1" and lock.kind == "lock" and lock.lock_set == ("@a@1", "@b@1")
    ((_, call),) = _requests(driver.step(_answer(lock)).actions)
    released = _requests(driver.step(_answer(call, 3)).actions)
    assert [(t, r.kind, r.id) for t, r in released] == [
        ("@a@1", "release", lock.id), ("@b@1", "release", lock.id)]
    assert driver.output == [True, True]
    assert driver.live.ctx.locks_to_release(actions_sent=True) == []


def test_an_execution_that_fails_in_a_section_owes_its_releases(flavor):
    def orch(ctx):
        with (yield ctx.lock([("a", "1")])):
            raise RuntimeError("inside")

    driver = Driver(flavor(orch))
    ((_, lock),) = _requests(driver.start().actions)
    driver.step(_answer(lock))
    assert driver.status is Status.Failed and driver.last.actions == []
    assert driver.live.ctx.locks_to_release(actions_sent=False) == [("@a@1", lock.id)]


def test_locking_rules(flavor):
    def nested(ctx):
        with (yield ctx.lock([("a", "1")])):
            yield ctx.lock([("b", "1")])

    def outside(ctx):
        with (yield ctx.lock([("a", "1")])):
            yield ctx.call_entity(("b", "1"), "get")

    for orch in (nested, outside):
        driver = Driver(flavor(orch))
        ((_, lock),) = _requests(driver.start().actions)
        driver.step(_answer(lock))
        assert driver.status is Status.Failed
        assert driver.last.failure is not None
        assert driver.last.failure.error_type == "LockingRulesError"
        # Terminated or failed while waiting for a lock: the request is released too.
    waiting = Driver(flavor(lambda ctx: (yield ctx.lock([("a", "1")]))))
    ((_, lock),) = _requests(waiting.start().actions)
    assert waiting.live.ctx.locks_to_release(actions_sent=False) == [("@a@1", lock.id)]


def test_an_event_sent_just_before_returning_replays_quietly(flavor):
    def orch(ctx):
        value = yield ctx.wait_for_external_event("go")
        ctx.send_event("other", "done", value)
        return value

    driver = Driver(flavor(orch))
    driver.start()
    driver.step(raised("go", 7))  # the driver replays the finished history: no mismatch
    assert driver.status is Status.Completed and driver.output == 7
