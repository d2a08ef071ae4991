"""Orchestration versions, compared the way DurableTask compares them.

An instance carries the version it was started with (``App(version=...)``,
``start_new(..., version=...)``); a worker with an app version claims only
instances its match strategy allows. Comparison follows DurableTask's
``TaskOrchestrationVersioningUtils.CompareVersions``:

1. an empty (or whitespace-only) version is older than any other; two empty
   versions are equal;
2. two versions that both parse as a .NET ``System.Version`` (2 to 4 dotted
   non-negative 32-bit integers, e.g. ``1.0``, ``2.10.3``) compare
   numerically, component by component, a missing component counting below
   0 (so ``1.0`` < ``1.0.0``);
3. anything else compares as text, ordinally, ignoring case.

The store cannot call Python while it claims, so each version is also kept as
a :class:`VersionKey`, two columns whose SQL comparison gives the same answer
(see :func:`compare_keys`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .errors import InvalidArgumentError
from .names import control_character

#: The longest version accepted (DurableTask stores versions in bounded columns too).
MAX_VERSION_LENGTH = 100

_WHITESPACE = " \t\n\v\f\r"
_INT32_MAX = 2**31 - 1
#: Digits of one encoded component: int32 max + 1 has ten.
_WIDTH = 10


class VersionMatch(Enum):
    """Which instances a versioned worker runs (DurableTask's ``VersionMatchStrategy``)."""

    NONE = "none"
    """Every instance, whatever its version."""
    STRICT = "strict"
    """Only instances of the worker's own version."""
    CURRENT_OR_OLDER = "current-or-older"
    """Instances of the worker's version or older (unversioned ones included)."""


class VersionFailure(Enum):
    """What a worker does with an instance it may not run (``VersionFailureStrategy``)."""

    LEAVE = "leave"
    """Leave it for a worker that may run it (DurableTask's ``Reject``); it is never
    even claimed."""
    FAIL = "fail"
    """Fail it with a ``VersionMismatch`` error naming both versions."""


def check_version(version: str) -> str:
    """``version`` if it is acceptable as an orchestration version, else
    :class:`InvalidArgumentError` (not text, too long, control characters)."""
    if not isinstance(version, str):
        raise InvalidArgumentError(f"version must be a string, got {type(version).__name__}")
    if len(version) > MAX_VERSION_LENGTH:
        raise InvalidArgumentError(
            f"version is {len(version)} characters long; at most {MAX_VERSION_LENGTH}")
    if control_character(version) is not None:
        raise InvalidArgumentError(f"version {version!r} contains a control character")
    return version


def _component(text: str) -> int | None:
    """One component as .NET's ``int.TryParse`` (``NumberStyles.Integer``) reads it:
    surrounding whitespace and a sign allowed, ASCII digits, within int32, not negative."""
    text = text.strip(_WHITESPACE)
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits or not all("0" <= ch <= "9" for ch in digits):
        return None
    value = int(digits)
    if text[:1] == "-":
        return 0 if value == 0 else None
    return value if value <= _INT32_MAX else None


def parse_dotnet_version(version: str) -> tuple[int, ...] | None:
    """``version`` as .NET's ``Version.TryParse`` would read it: 2 to 4 components,
    missing ones as -1; ``None`` when it does not parse."""
    parts = version.split(".")
    if not 2 <= len(parts) <= 4:
        return None
    values = [_component(part) for part in parts]
    if any(value is None for value in values):
        return None
    return tuple(v for v in values if v is not None) + (-1,) * (4 - len(parts))


def _fold(version: str) -> str:
    """Ordinal-ignore-case form: each character upper-cased where that keeps it one
    character (.NET's simple case mapping)."""
    return "".join(up if len(up := ch.upper()) == 1 else ch for ch in version)


def is_empty_version(version: str | None) -> bool:
    """Whether ``version`` counts as no version (``None``, empty or whitespace)."""
    return not version or not version.strip(_WHITESPACE)


@dataclass(frozen=True, slots=True)
class VersionKey:
    """A version as two sortable texts the store compares in SQL.

    ``fold`` is the case-folded version (``""``: unversioned); ``num`` the
    numeric parse as fixed-width digits (each component + 1, ten digits), or
    ``None`` when it does not parse. Texts compare by code point (SQLite's
    BINARY, PostgreSQL's ``COLLATE "C"``).
    """

    fold: str
    num: str | None

    def columns(self) -> tuple[str, str | None]:
        """The stored columns ``(version_fold, version_num)``."""
        return (self.fold, self.num)


def version_key(version: str | None) -> VersionKey:
    """The :class:`VersionKey` of ``version``."""
    if is_empty_version(version):
        return VersionKey("", None)
    assert version is not None
    parsed = parse_dotnet_version(version)
    num = None if parsed is None else ".".join(f"{v + 1:0{_WIDTH}d}" for v in parsed)
    return VersionKey(_fold(version), num)


def _sign(a: str, b: str) -> int:
    return (a > b) - (a < b)


def compare_keys(a: VersionKey, b: VersionKey) -> int:
    """-1, 0 or 1 as ``a`` is older than, the same as or newer than ``b``; the
    claim SQL of both stores computes exactly this."""
    if not a.fold or not b.fold:
        return int(bool(a.fold)) - int(bool(b.fold))
    if a.num is not None and b.num is not None:
        return _sign(a.num, b.num)
    return _sign(a.fold, b.fold)


def compare_versions(a: str | None, b: str | None) -> int:
    """DurableTask's ``CompareVersions(a, b)``: -1, 0 or 1 (see the module docstring)."""
    return compare_keys(version_key(a), version_key(b))


def allowed_range(match: VersionMatch) -> tuple[int, int]:
    """The comparisons ``compare_versions(instance, worker)`` a match strategy runs."""
    return {VersionMatch.NONE: (-1, 1), VersionMatch.STRICT: (0, 0),
            VersionMatch.CURRENT_OR_OLDER: (-1, 0)}[match]


def mismatch_message(match: VersionMatch, instance_version: str, worker_version: str) -> str:
    """The error a worker records when it fails an instance it may not run."""
    if match is VersionMatch.STRICT:
        return (f"The orchestration version '{instance_version}' does not match the worker "
                f"version '{worker_version}'.")
    return (f"The orchestration version '{instance_version}' is greater than the worker "
            f"version '{worker_version}'.")


__all__ = [
    "MAX_VERSION_LENGTH", "VersionFailure", "VersionKey", "VersionMatch", "allowed_range",
    "check_version", "compare_keys", "compare_versions", "is_empty_version",
    "mismatch_message", "parse_dotnet_version", "version_key",
]
