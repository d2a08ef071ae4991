"""A batch claimed too often without committing: its operations fail, its locks still apply."""

from __future__ import annotations

from datetime import UTC, datetime

from perdure.core.entities import REQUEST_EVENT, EntityRequest, EntityResponse, EntityState
from perdure.core.history import EventRaised, ExecutionStarted
from perdure.core.serialization import loads
from perdure.core.status import OrchestrationRuntimeStatus as Status
from perdure.store.base import InboxMessage, InstanceRecord, OrchestrationWorkItem
from perdure.worker.entity_step import poison_step

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_poisoned_batch_fails_its_operations_and_keeps_the_state():
    state = EntityState(True, "5").encode()
    record = InstanceRecord("@counter@k", "counter", "e", Status.Running, T0, T0,
                            custom_status=state)
    call = EntityRequest("op", "c1", parent="orch", parent_execution="x", operation="add",
                         input="1", signal=False)
    lock = EntityRequest("lock", "L", parent="orch2", lock_set=("@counter@k",))
    item = OrchestrationWorkItem(record, "token", 11, [
        InboxMessage(1, ExecutionStarted(name="counter", input=call.encode())),
        InboxMessage(2, EventRaised(name=REQUEST_EVENT, input=lock.encode()))])
    commit = poison_step(item)
    assert commit.consumed == [1, 2] and commit.history == []
    after = EntityState.decode(commit.custom_status)
    assert (after.exists, after.state, after.lock) == (True, "5", "orch2")
    answers = {m.event.name: m for m in commit.messages}  # type: ignore[attr-defined]
    failed = EntityResponse.from_value(loads(answers["c1"].event.input))
    assert failed.failure is not None and failed.failure.error_type == "PoisonMessageError"
    assert answers["c1"].execution_id == "x"
    assert "L" in answers  # the lock was granted
