"""Which instances a worker runs, by version (DurableTask's ``VersioningOptions``).

A worker's version is its app's (``App(version=...)``) unless its options
name one. Under ``current-or-older`` (the default for a versioned worker) it
runs instances of its version and older, unversioned ones included; under
``strict`` only its own; under ``none`` every instance. What it may not run
it leaves alone (``leave``: the claim itself skips it, so an old worker never
leases newer work) or fails (``fail``: it claims the instance only to fail it
with a ``VersionMismatch`` error naming both versions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..app import App
from ..core.errors import InvalidArgumentError
from ..core.history import FailureDetails
from ..core.versions import (
    VersionFailure,
    VersionMatch,
    allowed_range,
    check_version,
    compare_versions,
    is_empty_version,
    mismatch_message,
)
from ..store.base import VersionFilter

if TYPE_CHECKING:
    from .worker import WorkerOptions


def _enum(kind: type[VersionMatch] | type[VersionFailure], value: object,
          what: str) -> VersionMatch | VersionFailure:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in kind)
        raise InvalidArgumentError(f"{what} must be one of {choices}, got {value!r}") from None


@dataclass(frozen=True, slots=True)
class Versioning:
    """A worker's version, match strategy and failure strategy, checked together."""

    version: str
    match: VersionMatch
    failure: VersionFailure

    @classmethod
    def of(cls, app: App, options: WorkerOptions) -> Versioning:
        """The versioning of a worker of ``app`` with ``options``; a match strategy
        other than ``none`` without a version is refused (``InvalidArgumentError``)."""
        version = options.version if options.version is not None else app.version
        version = "" if version is None else check_version(version)
        match = VersionMatch.NONE if is_empty_version(version) else VersionMatch.CURRENT_OR_OLDER
        wanted_match = options.version_match or app.version_match
        if wanted_match is not None:
            match = _enum(VersionMatch, wanted_match, "version_match")  # type: ignore[assignment]
        failure = _enum(VersionFailure, options.version_failure or app.version_failure
                        or VersionFailure.LEAVE, "version_failure")
        if match is not VersionMatch.NONE and is_empty_version(version):
            raise InvalidArgumentError(
                f"version match {match.value!r} needs a worker version: give the app one "
                "(App(version=...)) or the worker (--version / WorkerOptions.version)")
        return cls(version, match, failure)  # type: ignore[arg-type]

    def claim_filter(self) -> VersionFilter | None:
        """What the worker's claims pass the store: instances it may not run are never
        leased (``leave``); ``None`` when it claims every version."""
        if self.match is VersionMatch.NONE or self.failure is VersionFailure.FAIL:
            return None
        return VersionFilter.of(self.version, self.match)

    def runs(self, instance_version: str) -> bool:
        """Whether its claims may lease an instance of ``instance_version`` (as
        :meth:`claim_filter` decides in the store): every version unless it leaves
        the ones it may not run."""
        if self.claim_filter() is None:
            return True
        low, high = allowed_range(self.match)
        return low <= compare_versions(instance_version, self.version) <= high

    def mismatch(self, instance_version: str) -> FailureDetails | None:
        """The failure for an instance it claimed but may not run (``fail`` only)."""
        if self.match is VersionMatch.NONE or self.failure is not VersionFailure.FAIL:
            return None
        low, high = allowed_range(self.match)
        if low <= compare_versions(instance_version, self.version) <= high:
            return None
        return FailureDetails("VersionMismatch",
                              mismatch_message(self.match, instance_version, self.version))


__all__ = ["Versioning"]
