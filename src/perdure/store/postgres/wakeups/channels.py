"""The NOTIFY channels of one PostgreSQL task hub, and their payloads."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ...base import WorkKind

#: A NOTIFY payload must stay under 8000 bytes.
_PAYLOAD_LIMIT = 7000
#: A direct wake-up's payload: the kind of work, in one letter.
KIND_CODES: dict[WorkKind, str] = {"orchestration": "o", "activity": "a"}
CODE_KINDS: dict[str, WorkKind] = {code: kind for kind, code in KIND_CODES.items()}


@dataclass(frozen=True, slots=True)
class Channels:
    """The NOTIFY channels of one task hub, and this process's origin tag.

    ``tag`` names the hub (its schema, or a digest of a long or unusual
    name: channel names are identifiers of at most 63 bytes). Broadcast
    payloads start with the origin, so a process skips its own.
    """

    tag: str
    origin: str

    @classmethod
    def for_schema(cls, schema: str, origin: str) -> Channels:
        """The channels of the hub in ``schema``, for the process tagged ``origin``."""
        tag = schema
        if not re.fullmatch(r"[a-z0-9_]{1,24}", schema):
            tag = "h" + hashlib.sha1(schema.encode()).hexdigest()[:16]
        return cls(tag, origin)

    @property
    def orchestration(self) -> str:
        """Broadcast: orchestration work may be ready."""
        return f"perdure_{self.tag}_orch"

    @property
    def activity(self) -> str:
        """Broadcast: activity work may be ready."""
        return f"perdure_{self.tag}_act"

    @property
    def instances(self) -> str:
        """Instances changed status (payload: their ids)."""
        return f"perdure_{self.tag}_inst"

    def broadcast(self, kind: WorkKind) -> str:
        """The broadcast channel of ``kind``."""
        return self.orchestration if kind == "orchestration" else self.activity

    def direct(self, origin: str | None = None) -> str:
        """The channel of one process (payload: the kind of work)."""
        return f"perdure_{self.tag}_to_{origin or self.origin}"

    def instance_payloads(self, instance_ids: Iterable[str]) -> list[str]:
        """``origin|["id", ...]`` payloads, each under the NOTIFY size limit."""
        payloads: list[str] = []
        batch: list[str] = []
        size = 0
        for instance_id in instance_ids:
            cost = len(instance_id.encode()) * 2 + 8
            if batch and size + cost > _PAYLOAD_LIMIT:
                payloads.append(self._encode(batch))
                batch, size = [], 0
            batch.append(instance_id)
            size += cost
        if batch:
            payloads.append(self._encode(batch))
        return payloads

    def work_kind(self, channel: str, payload: str) -> WorkKind | None:
        """The kind of work a notification announces; ``None`` when it is this
        process's own broadcast (its waiters were woken when it committed) or unknown."""
        if channel == self.orchestration or channel == self.activity:
            if payload.partition("|")[0] == self.origin:
                return None
            return "orchestration" if channel == self.orchestration else "activity"
        return CODE_KINDS.get(payload)  # our own channel: the payload is the kind

    def changed_ids(self, payload: str) -> list[str] | None:
        """The instance ids of a status notification (``[]`` for this process's
        own), or ``None`` when the payload cannot be read (any instance may have changed)."""
        origin, _, rest = payload.partition("|")
        if origin == self.origin:
            return []
        try:
            ids: list[str] = json.loads(rest)
        except ValueError:
            return None
        return ids

    def _encode(self, ids: list[str]) -> str:
        return f"{self.origin}|{json.dumps(ids, separators=(',', ':'))}"
