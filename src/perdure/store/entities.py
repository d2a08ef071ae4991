"""How requests reach entities: a request to an entity creates it when absent.

An entity's instance is created by the first request it receives (that
request rides in its ``ExecutionStarted``); later ones are appended to its
inbox, in order. Both go through ``create_instance`` (or a step's
``start_instances``), whose ``on_conflict`` message makes "create, or enqueue
if it exists" one atomic transition in both stores.
"""

from __future__ import annotations

import uuid

from ..core.entities import REQUEST_EVENT, EntityId, EntityRequest
from ..core.history import EventRaised
from .base import Message, NewInstance


def entity_delivery(target: str, request: EntityRequest) -> NewInstance:
    """The start that delivers ``request`` to entity ``target`` (``@name@key``)."""
    entity = EntityId.parse(target)
    payload = request.encode()
    return NewInstance(target, entity.name, uuid.uuid4().hex, payload,
                       on_conflict=Message(target, EventRaised(name=REQUEST_EVENT,
                                                               input=payload)))


__all__ = ["entity_delivery"]
