"""Structured log fields, and the formatters ``perdure serve/worker --log-format`` installs.

The library only attaches fields to its records (``extra=``, named by
:data:`FIELDS`); handlers are the application's business, here the CLI's.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

#: The structured fields perdure's records carry, when they apply.
FIELDS: tuple[str, ...] = ("instance_id", "execution_id", "orchestrator", "activity",
                           "task_id", "worker_id")

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")


def fields(instance_id: str, execution_id: str | None = None, *,
           orchestrator: str | None = None, activity: str | None = None,
           task_id: int | None = None) -> dict[str, Any]:
    """The ``extra`` of a record about one instance (``None`` fields left out)."""
    out: dict[str, Any] = {"instance_id": instance_id}
    for key, value in (("execution_id", execution_id), ("orchestrator", orchestrator),
                       ("activity", activity), ("task_id", task_id)):
        if value is not None:
            out[key] = value
    return out


def _present(record: logging.LogRecord) -> dict[str, Any]:
    return {key: record.__dict__[key] for key in FIELDS
            if record.__dict__.get(key) is not None}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the structured fields,
    and the formatted exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_present(record),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value ...``, the traceback on the lines below."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging API
        """The message line with the structured fields appended."""
        line = super().formatMessage(record)
        extra = " ".join(f"{key}={value}" for key, value in _present(record).items())
        return f"{line} {extra}" if extra else line


def configure_logging(log_format: str = "text", level: str = "warning") -> logging.Handler:
    """Send every record at ``level`` or above to stderr in ``log_format`` (an application's
    call: ``perdure serve`` and ``perdure worker`` make it). Returns the handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_perdure", False)]:
        root.removeHandler(old)
    handler._perdure = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
