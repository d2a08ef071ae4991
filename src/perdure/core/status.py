"""Runtime status of an orchestration instance."""

from __future__ import annotations

from enum import StrEnum


class OrchestrationRuntimeStatus(StrEnum):
    """The runtime status of an instance, named as in Durable Functions.

    A ``StrEnum``: ``str(status)`` and f-strings give the bare name
    (``"Running"``), and a member compares equal to its name.
    """

    Pending = "Pending"
    Running = "Running"
    Completed = "Completed"
    ContinuedAsNew = "ContinuedAsNew"
    Failed = "Failed"
    Terminated = "Terminated"
    Suspended = "Suspended"

    @property
    def is_terminal(self) -> bool:
        """True once the instance has finished and will not run again by itself."""
        return self in TERMINAL_STATUSES

    @classmethod
    def parse(cls, text: str) -> OrchestrationRuntimeStatus:
        """Parse a status name case-insensitively, with a clear error."""
        for status in cls:
            if status.value.lower() == text.strip().lower():
                return status
        from .errors import InvalidArgumentError

        names = ", ".join(s.value for s in cls)
        raise InvalidArgumentError(f"unknown runtime status {text!r}; expected one of {names}")


TERMINAL_STATUSES = frozenset(
    {
        OrchestrationRuntimeStatus.Completed,
        OrchestrationRuntimeStatus.Failed,
        OrchestrationRuntimeStatus.Terminated,
    }
)
ACTIVE_STATUSES = frozenset(
    {
        OrchestrationRuntimeStatus.Pending,
        OrchestrationRuntimeStatus.Running,
        OrchestrationRuntimeStatus.Suspended,
        OrchestrationRuntimeStatus.ContinuedAsNew,
    }
)
