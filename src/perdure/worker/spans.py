"""The spans of orchestration steps and activity runs (see :mod:`perdure.observe.tracing`).

Everything here runs only while tracing is on. Before a commit,
:func:`plan_step` gives the step's new activity tasks and sub-orchestrations
their trace parents and lists the spans the step completes; the worker
writes those out only if the commit applied. An activity's spans are written
once its result is delivered (:func:`activity_spans`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..core.history import EventSent, ExecutionStarted, TimerCreated
from ..core.status import OrchestrationRuntimeStatus as Status
from ..observe.tracing import (
    ATTR_EXECUTION_ID,
    ATTR_FIRE_AT,
    ATTR_INSTANCE_ID,
    ATTR_NAME,
    ATTR_STATUS,
    ATTR_TARGET_INSTANCE_ID,
    ATTR_TASK_ID,
    ATTR_TYPE,
    Parent,
    SpanRecord,
    parse_traceparent,
    span_id,
    to_ns,
    trace_id_of,
    traceparent,
)
from ..store.base import ActivityTask, OrchestrationWorkItem
from .step import StepOutcome


def _root(started: ExecutionStarted, instance_id: str, execution_id: str) -> Parent:
    """Where an execution's spans hang: its starter's span, or a trace of its own."""
    parent = parse_traceparent(started.trace_parent, started.trace_state)
    if parent is not None:
        return parent
    return Parent(trace_id_of(instance_id, execution_id), 0, True)


def plan_step(item: OrchestrationWorkItem, outcome: StepOutcome,
              started: ExecutionStarted | None, now: datetime) -> list[SpanRecord]:
    """Set the trace parents of what the step starts; the spans it completes."""
    inst = item.instance
    if started is None or inst.runtime_status.is_terminal:
        return []
    commit = outcome.commit
    execution = inst.execution_id
    root = _root(started, inst.instance_id, execution)
    if not root.sampled:
        return []
    tid, state = root.trace_id, root.trace_state
    orchestration = span_id(inst.instance_id, execution, "orchestration")
    for task in commit.activities:
        task.trace_parent = traceparent(tid, span_id(inst.instance_id, execution, "activity",
                                                     task.task_id))
    for child in commit.start_instances:
        child.trace_parent = traceparent(tid, span_id(
            inst.instance_id, execution, "sub-orchestration", child.parent_task_id or 0))
        child.trace_state = state
    base = {ATTR_INSTANCE_ID: inst.instance_id, ATTR_EXECUTION_ID: execution}
    at = to_ns(now)
    spans: list[SpanRecord] = []
    for event in commit.history:
        if isinstance(event, TimerCreated):
            spans.append(SpanRecord(
                f"orchestration:{started.name}:timer", "internal", tid,
                span_id(inst.instance_id, execution, "timer", event.task_id), orchestration,
                at, to_ns(event.fire_at), {**base, ATTR_TYPE: "timer", ATTR_NAME: started.name,
                                           ATTR_TASK_ID: event.task_id,
                                           ATTR_FIRE_AT: event.fire_at.isoformat()},
                trace_state=state))
        elif isinstance(event, EventSent):
            spans.append(SpanRecord(
                f"orchestration_event:{event.name}", "producer", tid,
                span_id(inst.instance_id, execution, "event", event.task_id), orchestration,
                at, at, {**base, ATTR_TYPE: "event", ATTR_NAME: event.name,
                         ATTR_TASK_ID: event.task_id, ATTR_TARGET_INSTANCE_ID: event.instance_id},
                trace_state=state))
    status = commit.runtime_status
    if status.is_terminal or status is Status.ContinuedAsNew:
        spans.extend(_execution_spans(started, root, inst.instance_id, execution, status,
                                      commit.failure.summary() if commit.failure else None, at))
    return spans


def _execution_spans(started: ExecutionStarted, root: Parent, instance_id: str,
                     execution: str, status: Status, failure: str | None,
                     end: int) -> list[SpanRecord]:
    """The execution's server span, and for a sub-orchestration its parent's client span."""
    attributes: dict[str, str | int] = {
        ATTR_TYPE: "orchestration", ATTR_NAME: started.name, ATTR_INSTANCE_ID: instance_id,
        ATTR_EXECUTION_ID: execution, ATTR_STATUS: status.value}
    start = to_ns(started.timestamp)
    error = failure or "failed" if status is Status.Failed else None
    spans = [SpanRecord(f"orchestration:{started.name}", "server", root.trace_id,
                        span_id(instance_id, execution, "orchestration"),
                        root.span_id or None, start, end, attributes, error, root.trace_state)]
    parent_id, parent_execution = started.parent_instance_id, started.parent_execution_id
    if parent_id is not None and parent_execution is not None and root.span_id \
            and started.parent_task_id is not None:
        spans.append(SpanRecord(
            f"orchestration:{started.name}", "client", root.trace_id, root.span_id,
            span_id(parent_id, parent_execution, "orchestration"), start, end,
            {**attributes, ATTR_TASK_ID: started.parent_task_id}, error, root.trace_state))
    return spans


@dataclass(slots=True)
class ActivityRun:
    """What an activity attempt's spans need, kept from its start to its delivery."""

    task: ActivityTask
    parent: Parent  # the orchestrator-side (client) span
    scheduled_ns: int
    start_ns: int
    end_ns: int = 0
    error: str | None = None

    @property
    def run_span(self) -> Parent:
        """The span the attempt runs inside (the user's own spans nest under it)."""
        task = self.task
        return Parent(self.parent.trace_id,
                      span_id(task.instance_id, task.execution_id, "activity-run", task.task_id),
                      True, self.parent.trace_state)


def activity_run(task: ActivityTask, scheduled: datetime | None, start_ns: int,
                 ) -> ActivityRun | None:
    """The record of an attempt starting now, if its task carries a sampled trace parent."""
    parent = parse_traceparent(task.trace_parent)
    if parent is None or not parent.sampled:
        return None
    return ActivityRun(task, parent, to_ns(scheduled) if scheduled else start_ns, start_ns)


def activity_spans(run: ActivityRun, delivered_ns: int) -> list[SpanRecord]:
    """The orchestrator-side client span (scheduled to delivered) and the server span of
    the attempt that delivered the result."""
    task = run.task
    attributes: dict[str, str | int] = {
        ATTR_TYPE: "activity", ATTR_NAME: task.name, ATTR_INSTANCE_ID: task.instance_id,
        ATTR_TASK_ID: task.task_id}
    tid, state = run.parent.trace_id, run.parent.trace_state
    return [
        SpanRecord(f"activity:{task.name}", "client", tid, run.parent.span_id,
                   span_id(task.instance_id, task.execution_id, "orchestration"),
                   run.scheduled_ns, delivered_ns, attributes, run.error, state),
        SpanRecord(f"activity:{task.name}", "server", tid, run.run_span.span_id,
                   run.parent.span_id, run.start_ns, run.end_ns, attributes, run.error, state),
    ]
