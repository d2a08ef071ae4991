"""The client's entity operations: signal, read, list and clean entities.

Each takes the client's (open) store; :class:`perdure.Client` exposes them as
methods. An entity's state is read from its instance row, where its worker
stores it (see :mod:`perdure.core.entities`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..core.entities import EntityId, EntityRequest, EntityState
from ..core.errors import InvalidArgumentError
from ..core.names import check_name
from ..core.serialization import dumps, loads
from ..core.status import TERMINAL_STATUSES
from ..store.base import InstanceQuery, InstanceRecord, Store
from ..store.entities import entity_delivery

EntityRef = EntityId | str | tuple[str, str]


@dataclass(frozen=True, slots=True)
class EntityMetadata:
    """One entity as listed: its id, when it last changed, its state (if fetched)."""

    entity_id: EntityId
    last_modified: datetime
    state: Any = None
    locked_by: str | None = None
    backlog: int = 0
    """Requests waiting for the entity's lock."""


@dataclass(slots=True)
class EntityPage:
    """One page of :func:`list_entities`; ``continuation_token`` is ``None`` on the last."""

    entities: list[EntityMetadata] = field(default_factory=list)
    continuation_token: str | None = None


@dataclass(frozen=True, slots=True)
class CleanEntityStorageResult:
    """What :func:`clean_entity_storage` did."""

    empty_entities_removed: int = 0
    orphaned_locks_released: int = 0


async def signal_entity(store: Store, entity_id: EntityRef, operation: str,
                        input: Any = None) -> None:
    """Queue ``operation`` for an entity, creating it if absent; durable when it returns."""
    target = EntityId.of(entity_id)
    check_name(operation, "operation")
    request = EntityRequest("op", uuid.uuid4().hex, operation=operation,
                            input=dumps(input, "input"))
    await store.create_instance(entity_delivery(str(target), request))


def _state_of(record: InstanceRecord | None) -> EntityState | None:
    if record is None or record.runtime_status in TERMINAL_STATUSES:
        return None
    return EntityState.decode(record.custom_status)


async def read_entity_state(store: Store, entity_id: EntityRef) -> tuple[bool, Any]:
    """``(exists, state)``: whether the entity has state, and that state."""
    state = _state_of(await store.get_instance(str(EntityId.of(entity_id))))
    if state is None or not state.exists:
        return False, None
    return True, loads(state.state)


async def list_entities(store: Store, name: str | None = None, *, prefix: str = "",
                        fetch_state: bool = False, include_deleted: bool = False,
                        last_modified_from: datetime | None = None,
                        last_modified_to: datetime | None = None,
                        page_size: int = 100, continuation_token: str | None = None,
                        ) -> EntityPage:
    """One page of entities (of ``name``, whose keys start with ``prefix``).

    Entities whose state was deleted are left out unless ``include_deleted``;
    a page may therefore hold fewer than ``page_size`` entities and still
    have a continuation token.
    """
    if name is not None:
        id_prefix = str(EntityId(name, "x"))[:-1] + prefix
    elif prefix:
        raise InvalidArgumentError("list_entities: a key prefix needs an entity name")
    else:
        id_prefix = "@"
    page = await store.query_instances(InstanceQuery(
        instance_id_prefix=id_prefix, page_size=page_size,
        continuation_token=continuation_token))
    out = EntityPage(continuation_token=page.continuation_token)
    for record in page.instances:
        state = _state_of(record)
        if state is None or (not state.exists and not include_deleted):
            continue
        if last_modified_from is not None and record.updated_at < last_modified_from:
            continue
        if last_modified_to is not None and record.updated_at > last_modified_to:
            continue
        out.entities.append(EntityMetadata(
            EntityId.parse(record.instance_id), record.updated_at,
            loads(state.state) if fetch_state and state.exists else None,
            state.lock, len(state.queue)))
    return out


async def clean_entity_storage(store: Store, remove_empty: bool = True,
                               release_orphaned_locks: bool = True,
                               ) -> CleanEntityStorageResult:
    """Remove entities with no state (nothing queued, no lock) and release locks held
    by orchestrations that have finished or no longer exist."""
    removed = released = 0
    token: str | None = None
    while True:
        page = await store.query_instances(InstanceQuery(
            instance_id_prefix="@", page_size=500, continuation_token=token))
        for record in page.instances:
            state = EntityState.decode(record.custom_status)
            if remove_empty and state.is_empty and record.custom_status is not None \
                    and await store.delete_idle_entity(record.instance_id,
                                                       record.custom_status):
                removed += 1
            elif release_orphaned_locks and state.lock is not None and state.lock_id is not None:
                holder = await store.get_instance(state.lock)
                if holder is None or holder.runtime_status in TERMINAL_STATUSES:
                    await store.create_instance(entity_delivery(record.instance_id, EntityRequest(
                        "release", state.lock_id, parent=state.lock)))
                    released += 1
        token = page.continuation_token
        if token is None:
            return CleanEntityStorageResult(removed, released)


__all__ = [
    "CleanEntityStorageResult", "EntityMetadata", "EntityPage", "EntityRef",
    "clean_entity_storage", "list_entities", "read_entity_state", "signal_entity",
]
