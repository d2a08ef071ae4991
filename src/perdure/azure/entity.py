"""Durable Functions entities (``@app.entity_trigger``, ``df.Entity.create``) as perdure entities.

The SDK's entity handle takes the host's batch JSON (the entity's id, its
state and a list of operations) and answers the new state and one result per
operation. perdure hands it one operation at a time, so that an operation that
raises rolls back its own state change, as every perdure entity does (the SDK
itself would carry a failed operation's changes on to the next one).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..core.entity_batch import EntityContext, EntityFunction
from ..core.errors import PerdureError


class EntityOperationError(PerdureError):
    """A Durable Functions entity operation raised; the message is the SDK's ``str(exc)``."""


def wrap_entity(handle: Callable[[Any], str], name: str) -> EntityFunction:
    """An entity function running the SDK entity ``handle`` (``Entity.create(fn)``)."""
    if not hasattr(handle, "entity_function"):
        raise PerdureError(f"entity {name!r} is not an SDK entity (df.Entity.create)")

    def run(ctx: EntityContext) -> None:
        request = {"self": {"name": ctx.entity_name, "key": ctx.entity_key},
                   "state": ctx.state_json, "exists": ctx.has_state,
                   # The host's operation input: a JSON string holding JSON text.
                   "batch": [{"name": ctx.operation_name,
                              "input": json.dumps(ctx.input_json or "null")}]}
        out = json.loads(handle(json.dumps(request)))
        (result,) = out["results"]
        if result.get("isError"):
            message = result.get("result")
            raise EntityOperationError(json.loads(message) if message else "operation failed")
        if out.get("entityExists"):
            state = out.get("entityState")
            ctx.set_state(None if state is None else json.loads(state))
        else:
            ctx.delete_state()
        value = result.get("result")
        ctx.set_result(None if value is None else json.loads(value))

    run.__name__ = name
    return run


__all__ = ["EntityOperationError", "wrap_entity"]
