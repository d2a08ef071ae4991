"""The management URLs of an instance (Durable Functions' ``HttpManagementPayload``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import quote

DEFAULT_BASE_URL = "http://localhost:7071"
WEBHOOK_PATH = "/runtime/webhooks/durabletask"

UrlQuery = Callable[[str, str, datetime | None], str | None]
"""``url_query(instance_id, operation, generation)``: the query string that opens
``operation`` (``read``, ``raiseEvent``, ``terminate``, …) of the instance created at
``generation`` (its ``created_at``, ``None`` when the client does not know it);
``None`` when it cannot be built without the generation."""

# Which operation each URL of the payload performs (see perdure.http.auth.OPERATIONS).
_PAYLOAD_OPERATIONS = ("read", "raiseEvent", "terminate", "rewind", "purge", "restart",
                       "suspend", "resume")


def no_query(instance_id: str, operation: str, generation: datetime | None) -> str:
    """The :data:`UrlQuery` of a server without keys: no query string at all."""
    return ""


def management_urls(base_url: str, instance_id: str, url_query: UrlQuery,
                    generation: datetime | None) -> dict[str, str] | None:
    """The nine management URLs of an instance served at ``base_url``.

    ``None`` when ``url_query`` needs the instance's generation and was given none.
    """
    base = base_url.rstrip("/") + WEBHOOK_PATH
    prefix = f"{base}/instances/{quote(instance_id, safe='')}"
    queries: dict[str, str] = {}
    for operation in _PAYLOAD_OPERATIONS:
        query = url_query(instance_id, operation, generation)
        if query is None:
            return None
        queries[operation] = query

    def q(operation: str, first: str = "") -> str:
        parts = [part for part in (first, queries[operation]) if part]
        return "?" + "&".join(parts) if parts else ""
    reason = "reason={text}"
    # With keys on, the restart URL restarts in place: a restart token cannot
    # start an instance under a new id (that needs the system key).
    restart = q("restart", "restartWithNewInstanceId=false" if queries["restart"] else "")
    return {
        "id": instance_id,
        "statusQueryGetUri": f"{prefix}{q('read')}",
        "sendEventPostUri": f"{prefix}/raiseEvent/{{eventName}}{q('raiseEvent')}",
        "terminatePostUri": f"{prefix}/terminate{q('terminate', reason)}",
        "rewindPostUri": f"{prefix}/rewind{q('rewind', reason)}",
        "purgeHistoryDeleteUri": f"{prefix}{q('purge')}",
        "restartPostUri": f"{prefix}/restart{restart}",
        "suspendPostUri": f"{prefix}/suspend{q('suspend', reason)}",
        "resumePostUri": f"{prefix}/resume{q('resume', reason)}",
    }
