"""The Durable Functions status payload: camelCase fields, second-precision times.

The client returns :class:`~perdure.client.OrchestrationStatus` values; this is
how they look on the wire (the management API, the check-status helpers, and
``perdure status --json``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..client import OrchestrationStatus


def format_time(value: datetime) -> str:
    """``yyyy-MM-ddTHH:mm:ssZ``, as Durable Functions writes status times."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def status_json(status: OrchestrationStatus) -> dict[str, Any]:
    """The Durable Functions status payload of ``status`` (``historyEvents`` when it has one)."""
    out: dict[str, Any] = {
        "name": status.name, "instanceId": status.instance_id,
        "runtimeStatus": status.runtime_status.value, "input": status.input,
        "customStatus": status.custom_status, "output": status.output,
        "createdTime": format_time(status.created_time),
        "lastUpdatedTime": format_time(status.last_updated_time),
    }
    # perdure's additions, present only when they say something: a DF app's
    # unversioned instances get Durable Functions' payload, field for field.
    if status.version:
        out["version"] = status.version
    if status.parked and status.failure_details is not None:
        out["parked"] = {"errorType": status.failure_details.error_type,
                         "errorMessage": status.failure_details.message}
    if status.history is not None:
        out["historyEvents"] = status.history
    return out
