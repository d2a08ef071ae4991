"""One step of an entity: apply its queued requests and commit, without history.

The batch runs in :func:`perdure.core.entity_batch.run_batch`; this module
turns a claimed entity instance into that call and its result into one
:class:`StepCommit`: the new entity state (in the instance row: no history is
appended, so storage stays O(1) in the operations processed), the dequeue of
every request read, the answers to callers, the signals to other entities and
the orchestrations started. All of it commits in one transaction, under the
instance's lease, so a crash mid-batch applies none of it and the next claim
runs the same requests again from the same state.
"""

from __future__ import annotations

import logging
import uuid

from ..core.entities import REQUEST_EVENT, EntityId, EntityRequest, EntityState
from ..core.entity_batch import EntityContext, EntityFunction, OperationWatch, run_batch
from ..core.errors import PerdureError
from ..core.history import EventRaised, ExecutionStarted
from ..core.status import OrchestrationRuntimeStatus as Status
from ..store.base import Message, NewInstance, OrchestrationWorkItem, StepCommit
from ..store.entities import entity_delivery

log = logging.getLogger(__name__)

#: The event an entity sends itself when an orchestration it starts is refused
#: (its id is taken by an active instance); the entity ignores it.
START_REFUSED_EVENT = "perdure.start-refused"


def requests_of(item: OrchestrationWorkItem) -> list[EntityRequest]:
    """The entity requests among a claim's messages, in arrival order."""
    requests: list[EntityRequest] = []
    for message in item.messages:
        event = message.event
        request = None
        if isinstance(event, ExecutionStarted):
            request = EntityRequest.decode(event.input)
        elif isinstance(event, EventRaised) and event.name == REQUEST_EVENT:
            request = EntityRequest.decode(event.input)
        if request is not None:
            requests.append(request)
        elif not (isinstance(event, EventRaised) and event.name == START_REFUSED_EVENT):
            log.warning("entity %s ignored a %s message", item.instance.instance_id,
                        type(event).__name__, extra={"instance_id": item.instance.instance_id})
    return requests


def entity_step(item: OrchestrationWorkItem, entity: EntityFunction | None,
                watch: OperationWatch | None = None) -> StepCommit:
    """The commit of one batch on the claimed entity ``item``; ``watch`` (the worker's step
    watchdog) bounds each operation: one that overruns fails, and the batch goes on."""
    inst = item.instance
    entity_id = EntityId.parse(inst.instance_id)
    if entity is None:
        log.warning("no entity %r is registered: its operations fail", entity_id.name,
                    extra={"instance_id": inst.instance_id})
    result = run_batch(entity, entity_id, EntityState.decode(inst.custom_status),
                       requests_of(item), lambda: uuid.uuid4().hex, watch)
    commit = StepCommit(inst.instance_id, item.lock_token, Status.Running,
                        [m.id for m in item.messages], custom_status=result.state.encode())
    for answer in result.answers:
        commit.messages.append(Message(answer.instance_id, EventRaised(
            name=answer.request_id, input=answer.response.encode()), answer.execution_id))
    for signal in result.signals:
        commit.start_instances.append(entity_delivery(signal.target, signal.request))
    for start in result.starts:
        commit.start_instances.append(NewInstance(
            start.instance_id, start.name, uuid.uuid4().hex, start.input,
            on_conflict=Message(inst.instance_id, EventRaised(
                name=START_REFUSED_EVENT, input=None))))
    return commit


class PoisonMessageError(PerdureError):
    """An entity's batch was claimed too often without committing; its operations fail."""


def poison_step(item: OrchestrationWorkItem) -> StepCommit:
    """Give up on a batch claimed too often without committing (the worker crashed on it,
    or its commit kept failing): every operation of it fails with
    :class:`PoisonMessageError` (callers get the error) and changes nothing; lock
    requests and releases still apply."""
    inst = item.instance
    log.error("entity %s: a batch was claimed %d times without committing; its operations "
              "fail", inst.instance_id, item.attempts)

    def refuse(ctx: EntityContext) -> None:
        raise PoisonMessageError(
            f"entity {inst.instance_id!r} could not apply operation {ctx.operation_name!r}: "
            f"its batch was claimed {item.attempts} times without committing")
    return entity_step(item, refuse)


__all__ = ["START_REFUSED_EVENT", "PoisonMessageError", "entity_step", "poison_step",
           "requests_of"]
