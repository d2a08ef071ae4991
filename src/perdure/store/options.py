"""Parsing of the options a store URL carries (``?busy_timeout=5&pool_max=20``)."""

from __future__ import annotations

from collections.abc import Mapping

from ..core.errors import InvalidArgumentError


def seconds_option(options: Mapping[str, str], name: str, default: float,
                   positive: bool = False) -> float:
    """A store URL option given in seconds: ``>= 0`` (or ``> 0`` when ``positive``)."""
    text = options.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value > 0 if positive else value >= 0):  # also rejects NaN
        raise InvalidArgumentError(f"{name} must be a number of seconds, got {text!r}")
    return value


def integer_option(options: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    """A store URL option given as an integer ``>= minimum``."""
    text = options.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise InvalidArgumentError(f"{name} must be an integer >= {minimum}, got {text!r}")
    return value


__all__ = ["integer_option", "seconds_option"]
