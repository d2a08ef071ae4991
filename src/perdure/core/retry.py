"""Retry policies for activities and sub-orchestrations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from .errors import InvalidArgumentError


def _seconds(value: timedelta | float | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@dataclass(frozen=True, slots=True, init=False)
class RetryOptions:
    """How to retry a failed task: exponential backoff between durable timers.

    ``first_retry_interval`` and the other intervals accept a ``timedelta`` or
    seconds. ``max_number_of_attempts`` counts the first attempt.
    """

    first_retry_interval: float
    max_number_of_attempts: int
    backoff_coefficient: float
    max_retry_interval: float | None
    retry_timeout: float | None

    def __init__(
        self,
        first_retry_interval: timedelta | float,
        max_number_of_attempts: int,
        backoff_coefficient: float = 1.0,
        max_retry_interval: timedelta | float | None = None,
        retry_timeout: timedelta | float | None = None,
    ) -> None:
        first = _seconds(first_retry_interval)
        if first is None or first <= 0:
            raise InvalidArgumentError("first_retry_interval must be positive")
        if max_number_of_attempts < 1:
            raise InvalidArgumentError("max_number_of_attempts must be at least 1")
        if backoff_coefficient < 1:
            raise InvalidArgumentError("backoff_coefficient must be at least 1")
        object.__setattr__(self, "first_retry_interval", first)
        object.__setattr__(self, "max_number_of_attempts", max_number_of_attempts)
        object.__setattr__(self, "backoff_coefficient", float(backoff_coefficient))
        object.__setattr__(self, "max_retry_interval", _seconds(max_retry_interval))
        object.__setattr__(self, "retry_timeout", _seconds(retry_timeout))

    def next_delay(self, attempt: int, elapsed: float) -> float | None:
        """Seconds to wait after failed attempt number ``attempt`` (1-based), or None to give up."""
        if attempt >= self.max_number_of_attempts:
            return None
        delay = self.first_retry_interval * self.backoff_coefficient ** (attempt - 1)
        if self.max_retry_interval is not None:
            delay = min(delay, self.max_retry_interval)
        if self.retry_timeout is not None and elapsed + delay > self.retry_timeout:
            return None
        return delay
