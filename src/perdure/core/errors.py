"""The perdure exception tree: one root, structured fields, no transport concerns.

Only the ``http`` layer maps these to status codes.
"""

from __future__ import annotations

from typing import Any


class PerdureError(Exception):
    """Root of every error perdure raises on purpose."""


class InvalidArgumentError(PerdureError, ValueError):
    """A caller passed a value perdure refuses (bad id, bad name, bad filter...)."""


class SerializationError(PerdureError, TypeError):
    """A value that must cross a durable boundary is not JSON-serializable, or is
    nested deeper than the depth limit."""


class ValueTooLargeError(SerializationError):
    """A JSON value (input, output, event data, result, custom status) exceeds the size limit."""

    def __init__(self, message: str, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class UnknownFunctionError(InvalidArgumentError):
    """An orchestrator or activity name that no app registered."""

    def __init__(self, kind: str, name: str, known: list[str] | None = None) -> None:
        hint = f"; known {kind}s: {', '.join(sorted(known))}" if known else ""
        super().__init__(f"unknown {kind} {name!r}{hint}")
        self.kind = kind
        self.name = name


class InstanceError(PerdureError):
    """An error about one orchestration instance."""

    def __init__(self, message: str, instance_id: str) -> None:
        super().__init__(message)
        self.instance_id = instance_id


class InstanceNotFoundError(InstanceError, LookupError):
    """No instance with this id exists in the task hub."""

    def __init__(self, instance_id: str) -> None:
        super().__init__(f"no orchestration instance with id {instance_id!r}", instance_id)


class InstanceAlreadyExistsError(InstanceError):
    """An instance with this id is Pending, Running or Suspended."""

    def __init__(self, instance_id: str, status: str) -> None:
        super().__init__(
            f"an orchestration instance with id {instance_id!r} already exists and is {status}",
            instance_id,
        )
        self.status = status


class InstanceFinishedError(InstanceError):
    """The instance has already finished (Completed, Failed or Terminated)."""

    def __init__(self, instance_id: str, status: str, operation: str) -> None:
        super().__init__(
            f"cannot {operation} instance {instance_id!r}: it is already {status}", instance_id
        )
        self.status = status
        self.operation = operation


class InvalidInstanceStateError(InstanceError):
    """The operation does not apply to the instance's current status."""

    def __init__(self, instance_id: str, status: str, operation: str) -> None:
        super().__init__(f"cannot {operation} instance {instance_id!r} while it is {status}",
                         instance_id)
        self.status = status
        self.operation = operation


class NonDeterminismError(PerdureError):
    """Replayed orchestrator code scheduled something other than what its history records."""


class EventTimeoutError(PerdureError, TimeoutError):
    """``wait_for_external_event`` timed out before the event arrived."""

    def __init__(self, name: str) -> None:
        super().__init__(f"timed out waiting for external event {name!r}")
        self.name = name


class ActivityTimeoutError(PerdureError, TimeoutError):
    """An activity attempt ran past its timeout; the attempt fails (retry policies apply)."""

    def __init__(self, name: str, timeout: float) -> None:
        super().__init__(f"activity {name!r} did not finish within its timeout of {timeout:g}s")
        self.name = name
        self.timeout = timeout


class OrchestrationTimeoutError(PerdureError, TimeoutError):
    """``wait_for_completion`` returned before the instance finished."""

    def __init__(self, instance_id: str, timeout: float) -> None:
        super().__init__(f"instance {instance_id!r} did not finish within {timeout:g}s")
        self.instance_id = instance_id


class TaskFailedError(PerdureError):
    """An activity or sub-orchestration failed; raised inside the orchestrator.

    ``details`` carries the original error type, message and traceback.
    """

    def __init__(self, message: str, details: Any) -> None:
        super().__init__(message)
        self.details = details

    @property
    def error_type(self) -> str:
        """The type name of the original error."""
        return str(self.details.error_type)


def _one_line(text: str) -> str:
    # Driver and parser messages span lines (libpq adds a tab-indented hint);
    # these errors end up as one line of a log or of the command line.
    return " ".join(text.split())


class AppLoadError(InvalidArgumentError):
    """An app's code failed to import: a syntax error, or an exception it raised.

    The message names the file and line that failed: ``cannot load app
    app.py: /path/app.py:3: SyntaxError: invalid syntax``.
    """

    def __init__(self, spec: str, reason: str, filename: str | None = None,
                 lineno: int | None = None) -> None:
        where = f"{filename}:{lineno}: " if filename and lineno else \
            f"{filename}: " if filename else ""
        super().__init__(_one_line(f"cannot load app {spec}: {where}{reason}"))
        self.spec = spec
        self.filename = filename
        self.lineno = lineno


class StoreOpenError(PerdureError):
    """The task hub could not be opened: an unreachable or unknown database, a path
    that is a directory, a file that is not a database..."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(_one_line(f"the task hub at {url} could not be opened: {reason}"))
        self.url = url
        self.reason = reason


class StoreSchemaError(PerdureError):
    """The task hub's schema is newer than this perdure knows: upgrade perdure."""

    def __init__(self, installed: int, known: int) -> None:
        super().__init__(f"the task hub's schema version {installed} is newer than this "
                         f"perdure's ({known}); upgrade perdure")
        self.installed = installed
        self.known = known


class StoreUnavailableError(PerdureError):
    """The task hub refused an operation for a cause outside perdure, which an operator
    must fix: a full disk, a read-only or deleted hub file, a read-only or overloaded
    database server. The operation wrote nothing; it may succeed once the cause is gone.

    ``reason`` says what is wrong in words fit for an HTTP client (no paths, no URL).
    """

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(_one_line(f"the task hub at {url} is unavailable: {reason}"))
        self.url = url
        self.reason = reason
