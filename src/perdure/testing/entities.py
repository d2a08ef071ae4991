"""The harness's entities: in memory, each batch run by the worker's own entity step.

Requests sent to an entity (``@name@key``) wait in its inbox; :meth:`HarnessEntities.run`
applies them as a worker does (:func:`perdure.worker.entity_step.entity_step`) and
hands back the commits, whose answers, signals and starts the harness routes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..app import App
from ..core.entities import REQUEST_EVENT, EntityId, EntityRequest, EntityState
from ..core.history import EventRaised, HistoryEvent
from ..core.names import check_name
from ..core.serialization import dumps, loads
from ..core.status import OrchestrationRuntimeStatus as Status
from ..store.base import (
    InboxMessage,
    InstanceRecord,
    NewInstance,
    OrchestrationWorkItem,
    StepCommit,
)
from ..store.entities import entity_delivery
from ..worker.entity_step import entity_step


class HarnessEntities:
    """The entities of one harness: their stored state and their inboxes."""

    def __init__(self, app: App) -> None:
        self._app = app
        self._states: dict[str, str | None] = {}
        self._inboxes: dict[str, list[HistoryEvent]] = {}
        self._signals = 0

    def deliver(self, new: NewInstance) -> None:
        """Queue the request a step's start for entity ``new.instance_id`` carries."""
        self._inboxes.setdefault(new.instance_id, []).append(
            EventRaised(name=REQUEST_EVENT, input=new.input))

    def signal(self, entity_id: EntityId | str | tuple[str, str], operation: str,
               input: Any) -> None:
        """Queue a client's signal."""
        check_name(operation, "operation")
        self._signals += 1
        request = EntityRequest("op", f"harness-signal-{self._signals}", operation=operation,
                                input=dumps(input, "input"))
        self.deliver(entity_delivery(str(EntityId.of(entity_id)), request))

    @property
    def ready(self) -> bool:
        """Whether any entity has requests waiting."""
        return any(self._inboxes.values())

    def run(self, now: datetime) -> list[StepCommit]:
        """One batch on every entity with requests waiting."""
        commits = []
        for instance_id, events in list(self._inboxes.items()):
            if not events:
                continue
            self._inboxes[instance_id] = []
            entity = EntityId.parse(instance_id)
            record = InstanceRecord(instance_id, entity.name, "entity", Status.Running, now, now,
                                    custom_status=self._states.get(instance_id))
            item = OrchestrationWorkItem(record, "harness", 1, [
                InboxMessage(n, event) for n, event in enumerate(events)])
            commit = entity_step(item, self._app.get_entity(entity.name))
            self._states[instance_id] = commit.custom_status
            commits.append(commit)
        return commits

    def read(self, entity_id: EntityId | str | tuple[str, str]) -> tuple[bool, Any]:
        """``(exists, state)`` of an entity, as ``Client.read_entity_state`` answers."""
        state = EntityState.decode(self._states.get(str(EntityId.of(entity_id))))
        return (True, loads(state.state)) if state.exists else (False, None)


__all__ = ["HarnessEntities"]
