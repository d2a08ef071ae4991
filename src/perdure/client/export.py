"""The lossless history export: an instance's stored events in perdure's own codec.

The history the HTTP API and ``perdure status --history`` show is Durable
Functions' display format, which drops step markers and task ids and so cannot
be replayed. A :class:`HistoryExport` keeps every stored event as the task hub
encodes it (:func:`perdure.core.history.event_to_dict`), inside a small
versioned envelope::

    {"format": "perdure-history", "version": 1, "instance_id": "...",
     "name": "orchestrator", "app_version": null, "execution_id": "...",
     "runtime_status": "Running", "events": [{"type": "OrchestratorStarted", ...}, ...]}

``perdure.testing.replay_histories`` replays such files against current code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import InvalidArgumentError
from ..core.history import ExecutionStarted, HistoryEvent, event_from_dict, event_to_dict

FORMAT = "perdure-history"
"""The ``format`` tag of an export envelope."""
FORMAT_VERSION = 1
"""The envelope version this perdure writes and reads."""


@dataclass(slots=True)
class HistoryExport:
    """One instance's stored history, as :meth:`perdure.Client.export_history` returns it."""

    instance_id: str
    """The exported instance."""
    name: str
    """The orchestrator's registered name."""
    events: list[HistoryEvent] = field(default_factory=list)
    """The events of the instance's current execution, in stored order."""
    app_version: str | None = None
    """The app version the instance ran under (``None``: unversioned)."""
    execution_id: str | None = None
    """The id of the exported execution (changes at each continue-as-new)."""
    runtime_status: str | None = None
    """The instance's runtime status when it was exported."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready envelope."""
        return {"format": FORMAT, "version": FORMAT_VERSION, "instance_id": self.instance_id,
                "name": self.name, "app_version": self.app_version,
                "execution_id": self.execution_id, "runtime_status": self.runtime_status,
                "events": [event_to_dict(e) for e in self.events]}

    def to_json(self) -> str:
        """The envelope as indented JSON text (one event per line is not promised)."""
        return json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any, source: str = "history export") -> HistoryExport:
        """Decode an envelope; :class:`InvalidArgumentError` names what is wrong with it."""
        if not isinstance(data, Mapping):
            raise InvalidArgumentError(f"{source}: expected a JSON object, got "
                                       f"{type(data).__name__}")
        if data.get("format") != FORMAT:
            raise InvalidArgumentError(
                f"{source}: not a perdure history export (format {data.get('format')!r}; "
                f"`perdure history export --format perdure` writes {FORMAT!r})")
        version = data.get("version")
        if version != FORMAT_VERSION:
            raise InvalidArgumentError(f"{source}: export format version {version!r} is not "
                                       f"supported (this perdure reads {FORMAT_VERSION})")
        raw = data.get("events")
        if not isinstance(raw, list):
            raise InvalidArgumentError(f"{source}: 'events' must be a list")
        events: list[HistoryEvent] = []
        for index, item in enumerate(raw):
            try:
                events.append(event_from_dict(item))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise InvalidArgumentError(
                    f"{source}: event {index} cannot be decoded: {exc!r}") from None
        instance_id = data.get("instance_id")
        if not isinstance(instance_id, str) or not instance_id:
            raise InvalidArgumentError(f"{source}: 'instance_id' must be a non-empty string")
        name = data.get("name")
        if not isinstance(name, str) or not name:
            started = next((e for e in events if isinstance(e, ExecutionStarted)), None)
            if started is None:
                raise InvalidArgumentError(f"{source}: no orchestrator 'name' and no "
                                           "ExecutionStarted event to take it from")
            name = started.name
        return cls(instance_id, name, events, _opt_str(data, "app_version", source),
                   _opt_str(data, "execution_id", source),
                   _opt_str(data, "runtime_status", source))

    @classmethod
    def from_json(cls, text: str, source: str = "history export") -> HistoryExport:
        """Decode envelope JSON text."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InvalidArgumentError(f"{source}: not JSON: {exc}") from None
        return cls.from_dict(data, source)

    @classmethod
    def load(cls, path: str | Path) -> HistoryExport:
        """Read an envelope from a file written by ``perdure history export``."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidArgumentError(f"cannot read history export {path}: "
                                       f"{exc.strerror or exc}") from None
        return cls.from_json(text, str(path))

    def save(self, path: str | Path) -> None:
        """Write the envelope to ``path``."""
        Path(path).write_text(self.to_json(), encoding="utf-8")


def _opt_str(data: Mapping[str, Any], key: str, source: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidArgumentError(f"{source}: {key!r} must be a string or null")
    return value
