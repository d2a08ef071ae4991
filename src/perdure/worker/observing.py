"""What a worker counts once a batch of steps has committed (see :mod:`perdure.observe`).

Kept out of the worker's loops so that they carry one call each; the figures
count committed work only, so a step that lost its lease counts as such and
nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from ..core.entities import is_entity_id
from ..core.history import HistoryEvent, TaskCompleted
from ..core.status import OrchestrationRuntimeStatus as Status
from ..observe import WorkerMetrics, fields
from ..store.base import ActivityTask, ActivityWorkItem, OrchestrationWorkItem
from .step import StepOutcome

log = logging.getLogger(__name__)

#: Failures the worker itself decides, by error type: the counter they go to.
_FORCED = {"PoisonMessageError", "NonDeterminismError", "UnknownFunctionError"}


def count_steps(metrics: WorkerMetrics, steps: Sequence[tuple[OrchestrationWorkItem, StepOutcome]],
                applied: Sequence[bool], now: datetime) -> None:
    """Count a committed batch: steps, starts, finishes with their durations, lost leases;
    log each finished execution (``info`` when it failed, else ``debug``)."""
    debug = log.isEnabledFor(logging.DEBUG)
    for (item, outcome), ok in zip(steps, applied, strict=True):
        if not ok:
            metrics.leases_lost["orchestration"] += 1
            continue
        metrics.steps += 1
        inst = item.instance
        if inst.runtime_status.is_terminal or is_entity_id(inst.instance_id):
            continue  # stale messages dropped, a rewind, an entity: no execution ends
        if inst.history_len == 0:
            metrics.orchestrations_started[inst.name] += 1
        commit = outcome.commit
        status = commit.runtime_status
        if not status.is_terminal and status is not Status.ContinuedAsNew:
            continue
        metrics.orchestrations_finished[(inst.name, status.value)] += 1
        metrics.orchestration_seconds[inst.name].observe(
            max(0.0, (now - inst.created_at).total_seconds()))
        failure = commit.failure
        if failure is not None and failure.error_type in _FORCED:
            _count_forced(metrics, failure.error_type)
        if debug or status is Status.Failed:
            log.log(logging.INFO if status is Status.Failed else logging.DEBUG,
                    "orchestration %s of instance %s ended %s%s", inst.name, inst.instance_id,
                    status.value, f": {failure.summary()}" if failure is not None else "",
                    extra=fields(inst.instance_id, inst.execution_id, orchestrator=inst.name))


def _count_forced(metrics: WorkerMetrics, error_type: str) -> None:
    if error_type == "PoisonMessageError":
        metrics.poison["orchestration"] += 1
    elif error_type == "NonDeterminismError":
        metrics.nondeterminism += 1
    else:
        metrics.unknown_functions["orchestrator"] += 1


def task_fields(task: ActivityTask) -> dict[str, object]:
    """The structured log fields of an activity task."""
    return fields(task.instance_id, task.execution_id, activity=task.name, task_id=task.task_id)


def activity_outcome(event: HistoryEvent) -> str:
    """``completed``, ``timed_out`` or ``failed``: the outcome label of an attempt."""
    if isinstance(event, TaskCompleted):
        return "completed"
    failure = getattr(event, "failure", None)
    if failure is not None and failure.error_type == "ActivityTimeoutError":
        return "timed_out"
    return "failed"


def count_activity_start(metrics: WorkerMetrics, item: ActivityWorkItem, now: datetime) -> None:
    """Observe how long a task waited between its creation and its start here."""
    if item.created_at is not None:
        metrics.schedule_to_start_seconds.observe(
            max(0.0, (now - item.created_at).total_seconds()))
