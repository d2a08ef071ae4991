"""``/metrics``: the Prometheus text format, from a worker's counters and the task hub.

The worker counts in plain ints and bucket lists (:mod:`perdure.observe`);
this module turns them into metric families when Prometheus scrapes, and reads
the task hub's gauges then, with bounded SQL (:meth:`perdure.Client.hub_stats`).
Names follow Prometheus' conventions: ``perdure_`` prefix, ``_total`` for
counters, base units (``_seconds``). docs/operations.md lists them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from ..client import Client, HubStats
from ..core.status import OrchestrationRuntimeStatus
from ..observe import Histogram, WorkerMetrics

log = logging.getLogger(__name__)

STATUSES = tuple(OrchestrationRuntimeStatus)


def _counter(name: str, doc: str, labels: list[str],
             values: Iterable[tuple[tuple[str, ...], float]]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for label_values, value in values:
        family.add_metric(list(label_values), value)
    return family


def _histogram(name: str, doc: str, labels: list[str],
               values: Iterable[tuple[tuple[str, ...], Histogram]]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=labels)
    for label_values, histogram in values:
        family.add_metric(list(label_values), histogram.cumulative(), histogram.total)
    return family


def worker_families(m: WorkerMetrics) -> Iterator[Metric]:
    """The metric families of one worker's counters (copied first: the loop may count on)."""
    yield _counter("perdure_orchestrations_started_total",
                   "Orchestration executions started (first step committed), by name.",
                   ["name"], [((k,), v) for k, v in list(m.orchestrations_started.items())])
    yield _counter("perdure_orchestrations_finished_total",
                   "Orchestration executions ended, by name and final status.",
                   ["name", "status"], list(m.orchestrations_finished.items()))
    yield _counter("perdure_orchestration_steps_total", "Orchestration steps committed.",
                   [], [((), m.steps)])
    yield _counter("perdure_orchestration_replays_total",
                   "Steps that rebuilt their executor from history (executor cache misses).",
                   [], [((), m.replays)])
    yield _histogram("perdure_orchestration_step_duration_seconds",
                     "Time to run one orchestration step, replay included.",
                     [], [((), m.step_seconds)])
    yield _histogram("perdure_orchestration_commit_duration_seconds",
                     "Time to commit one batch of steps (one transaction).",
                     [], [((), m.commit_seconds)])
    yield _histogram("perdure_orchestration_duration_seconds",
                     "Instance creation to the end of an execution, by name.",
                     ["name"], [((k,), v) for k, v in list(m.orchestration_seconds.items())])
    yield _counter("perdure_activity_runs_total",
                   "Activity attempts run, by name and outcome (completed, failed, timed_out).",
                   ["name", "outcome"], list(m.activity_runs.items()))
    yield _histogram("perdure_activity_duration_seconds", "Run time of an activity attempt.",
                     ["name"], [((k,), v) for k, v in list(m.activity_seconds.items())])
    yield _histogram("perdure_activity_schedule_to_start_seconds",
                     "From an activity task's creation to the start of an attempt.",
                     [], [((), m.schedule_to_start_seconds)])
    yield _counter("perdure_poison_total",
                   "Work given up after too many claims, by kind (orchestration, activity).",
                   ["kind"], [((k,), v) for k, v in list(m.poison.items())])
    yield _counter("perdure_nondeterminism_total",
                   "Instances failed because a replay did not match their history.",
                   [], [((), m.nondeterminism)])
    yield _counter("perdure_unknown_function_total",
                   "Work naming a function the app does not have, by kind.",
                   ["kind"], [((k,), v) for k, v in list(m.unknown_functions.items())])
    yield _counter("perdure_lease_lost_total",
                   "Commits refused because the lease had passed to another worker, by kind.",
                   ["kind"], [((k,), v) for k, v in list(m.leases_lost.items())])
    yield GaugeMetricFamily("perdure_activity_slots_in_use", "Activity slots held now.",
                            value=m.slots_in_use())
    yield GaugeMetricFamily("perdure_activity_slots", "Activity slots in all.", value=m.slots)


def hub_families(stats: HubStats | None) -> Iterator[Metric]:
    """The task hub's gauges; ``perdure_hub_up`` says whether they could be read."""
    yield GaugeMetricFamily("perdure_hub_up", "1 if the task hub answered this scrape.",
                            value=0 if stats is None else 1)
    if stats is None:
        return
    instances = GaugeMetricFamily(
        "perdure_instances",
        f"Instances by runtime status and version (counts stop at {stats.cap} a status).",
        labels=["status", "version"])
    seen = {status for status, _ in stats.instances}
    for (status, version), count in sorted(stats.instances.items()):
        instances.add_metric([status.value, version], count)
    for status in STATUSES:  # every status has a series, 0 when it has no instances
        if status not in seen:
            instances.add_metric([status.value, ""], 0)
    yield instances
    yield GaugeMetricFamily("perdure_ready_instances",
                            "Instances with messages ready to process.",
                            value=stats.ready_instances)
    yield GaugeMetricFamily("perdure_ready_tasks", "Activity tasks ready to be claimed.",
                            value=stats.ready_tasks)
    yield GaugeMetricFamily("perdure_oldest_ready_message_age_seconds",
                            "Age of the oldest message ready to process (0: none).",
                            value=stats.oldest_message_age or 0.0)
    yield GaugeMetricFamily("perdure_oldest_ready_task_age_seconds",
                            "Age of the oldest activity task ready to be claimed (0: none).",
                            value=stats.oldest_task_age or 0.0)


class _Snapshot(Collector):
    def __init__(self, worker: WorkerMetrics | None, stats: HubStats | None) -> None:
        self.worker, self.stats = worker, stats

    def collect(self) -> Iterable[Metric]:
        if self.worker is not None:
            yield from worker_families(self.worker)
        yield from hub_families(self.stats)


class MetricsSource:
    """What ``/metrics`` serves: a worker's counters (if one runs here) and the hub's gauges."""

    def __init__(self, client: Client, worker: WorkerMetrics | None = None) -> None:
        self.client = client
        self.worker = worker

    async def render(self) -> bytes:
        """The Prometheus text exposition of every metric, read now."""
        try:
            stats: HubStats | None = await self.client.hub_stats()
        except Exception:  # noqa: BLE001 - a scrape reports the hub down, it does not fail
            log.warning("/metrics: the task hub's gauges could not be read", exc_info=True)
            stats = None
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Snapshot(self.worker, stats))
        return generate_latest(registry)

    async def endpoint(self, request: Request) -> Response:
        """The Starlette endpoint."""
        return Response(await self.render(), media_type=CONTENT_TYPE_LATEST)
