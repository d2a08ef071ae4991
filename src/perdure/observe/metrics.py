"""The counters a worker keeps for ``/metrics``: plain ints, dicts and bucket lists.

Counting happens on the worker's hot path, so it is an integer increment, or a
``bisect`` and two increments for a histogram observation; nothing locks,
allocates a label set or formats anything. A Prometheus collector
(:mod:`perdure.http.metrics`) reads these at scrape time and turns them into
metric families. Everything is touched from the worker's event loop thread
only.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

#: Upper bounds (seconds) of the duration histograms' buckets; ``+Inf`` is implied.
DURATION_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0)


class Histogram:
    """Observations counted per bucket (not cumulative), with their sum."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...] = DURATION_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        """Count one observation (Prometheus buckets are ``le``: bounds are inclusive)."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, int]]:
        """``(le, count)`` pairs as Prometheus exposes them, ``+Inf`` last."""
        out: list[tuple[str, int]] = []
        running = 0
        for bound, count in zip((*map(repr, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out


def _histograms() -> defaultdict[str, Histogram]:
    return defaultdict(Histogram)


def _counts() -> defaultdict[str, int]:
    return defaultdict(int)


def _pair_counts() -> defaultdict[tuple[str, str], int]:
    return defaultdict(int)


def _no_slots() -> int:
    return 0


@dataclass(slots=True, eq=False)
class WorkerMetrics:
    """What one worker counts. Keys are label values: names, statuses, outcomes, kinds."""

    orchestrations_started: defaultdict[str, int] = field(default_factory=_counts)
    """First steps of an execution, by orchestrator name."""
    orchestrations_finished: defaultdict[tuple[str, str], int] = field(
        default_factory=_pair_counts)
    """Executions that ended, by (name, final status); ``ContinuedAsNew`` included."""
    steps: int = 0
    """Orchestration steps committed."""
    replays: int = 0
    """Steps that rebuilt their executor from the history (no current one in memory)."""
    step_seconds: Histogram = field(default_factory=Histogram)
    """Time to run one step (replay included), user code and all."""
    commit_seconds: Histogram = field(default_factory=Histogram)
    """Time of one batch commit (the transaction of a claimed batch's steps)."""
    orchestration_seconds: defaultdict[str, Histogram] = field(default_factory=_histograms)
    """Creation to finish of an instance's execution, by orchestrator name."""
    activity_runs: defaultdict[tuple[str, str], int] = field(default_factory=_pair_counts)
    """Activity attempts finished here, by (name, outcome: completed/failed/timed_out)."""
    activity_seconds: defaultdict[str, Histogram] = field(default_factory=_histograms)
    """Run time of an activity attempt, by name."""
    schedule_to_start_seconds: Histogram = field(default_factory=Histogram)
    """From an activity task's creation (or its last lease's expiry) to its start here."""
    poison: defaultdict[str, int] = field(default_factory=_counts)
    """Work given up after too many claims, by kind (orchestration/activity)."""
    nondeterminism: int = 0
    """Instances failed by a replay that did not match their history."""
    unknown_functions: defaultdict[str, int] = field(default_factory=_counts)
    """Work naming no function of the app, by kind (orchestrator/activity)."""
    leases_lost: defaultdict[str, int] = field(default_factory=_counts)
    """Commits refused because another worker took the lease, by kind."""
    slots_in_use: Callable[[], int] = _no_slots
    """Activity slots held now (set by the worker; read at scrape time)."""
    slots: int = 0
    """Activity slots in all (``max_concurrent_activities``)."""
