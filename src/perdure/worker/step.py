"""Turn one claimed work item into one :class:`StepCommit`.

Everything an orchestration step changes is decided here, from the instance
row, its new messages and its executor; the store then commits it atomically.
Nothing in this module does I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ..core.actions import CreateTimer, ScheduleActivity, ScheduleSubOrchestration, SendEvent
from ..core.entities import EntityRequest, is_entity_id
from ..core.errors import UnknownFunctionError
from ..core.executor import OrchestrationExecutor, ReplayResult
from ..core.history import (
    EventRaised,
    ExecutionCompleted,
    ExecutionRewound,
    ExecutionStarted,
    ExecutionTerminated,
    FailureDetails,
    HistoryEvent,
    OrchestratorStarted,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceCreated,
    SubOrchestrationInstanceFailed,
    TaskFailed,
    TaskScheduled,
    TimerFired,
)
from ..core.serialization import loads
from ..core.status import OrchestrationRuntimeStatus as Status
from ..store.base import (
    ActivityTask,
    InstanceRecord,
    Message,
    NewInstance,
    OrchestrationWorkItem,
    StepCommit,
)
from ..store.entities import entity_delivery


def new_execution_id() -> str:
    """A fresh, random execution id."""
    return uuid.uuid4().hex


def keep_state(item: OrchestrationWorkItem, consumed: list[int]) -> StepCommit:
    """A commit that consumes messages and changes nothing else (finished instances)."""
    inst = item.instance
    return StepCommit(inst.instance_id, item.lock_token, inst.runtime_status, consumed,
                      custom_status=inst.custom_status, output=inst.output,
                      failure=inst.failure)


def current_events(item: OrchestrationWorkItem) -> list[HistoryEvent]:
    """The events of the messages meant for the instance's current execution."""
    execution_id = item.instance.execution_id
    return [m.event for m in item.messages
            if m.execution_id is None or m.execution_id == execution_id]


@dataclass(slots=True)
class StepOutcome:
    """A commit, plus what the worker must remember if it applies."""

    commit: StepCommit
    history_len: int
    keep_executor: bool


def build_step(item: OrchestrationWorkItem, executor: OrchestrationExecutor,
               events: list[HistoryEvent], now: datetime,
               is_orchestrator: Callable[[str], bool]) -> StepOutcome:
    """Run the executor over ``events`` and describe everything the step changes."""
    opened = OrchestratorStarted(timestamp=now)
    result = executor.step([opened, *events])
    return step_commit(item, executor, result, events, now, is_orchestrator, opened)


def step_commit(item: OrchestrationWorkItem, executor: OrchestrationExecutor,
                result: ReplayResult, events: list[HistoryEvent], now: datetime,
                is_orchestrator: Callable[[str], bool],
                opened: OrchestratorStarted | None = None) -> StepOutcome:
    """The commit for an executed step (also used for forced failures); ``opened`` is
    the step's ``OrchestratorStarted`` when the executor already saw one."""
    inst = item.instance
    history: list[HistoryEvent] = [opened or OrchestratorStarted(timestamp=now), *events]
    commit = StepCommit(inst.instance_id, item.lock_token, result.status,
                        [m.id for m in item.messages], history,
                        custom_status=result.custom_status, output=result.output,
                        failure=result.failure)
    for action in result.actions:
        history.append(action.to_event(now))
        _route_action(commit, inst, action, is_orchestrator)
    if result.status.is_terminal or result.status is Status.ContinuedAsNew:
        _release_locks(commit, executor, sent=result.status in (Status.Completed,
                                                                 Status.ContinuedAsNew))
    if result.status.is_terminal:
        history.append(ExecutionCompleted(timestamp=now, status=result.status.value,
                                          result=result.output, failure=result.failure))
        _notify_parent(commit, executor, result)
        if result.status is Status.Terminated:
            reason = loads(result.output)
            for child in executor.open_sub_orchestrations():
                commit.messages.append(Message(child, ExecutionTerminated(
                    timestamp=now, reason=f"parent {inst.instance_id!r} terminated: {reason}")))
        return StepOutcome(commit, inst.history_len + len(history), keep_executor=False)
    if result.status is Status.ContinuedAsNew:
        return _continue_as_new(commit, executor, result, now)
    return StepOutcome(commit, inst.history_len + len(history), keep_executor=True)


def _route_action(commit: StepCommit, inst: InstanceRecord, action: Any,
                  is_orchestrator: Callable[[str], bool]) -> None:
    execution_id = inst.execution_id
    if isinstance(action, ScheduleActivity):
        commit.activities.append(ActivityTask(inst.instance_id, execution_id, action.task_id,
                                              action.name, action.input))
    elif isinstance(action, CreateTimer):
        commit.messages.append(Message(
            inst.instance_id, TimerFired(timestamp=action.fire_at, task_id=action.task_id,
                                         fire_at=action.fire_at),
            execution_id, visible_at=action.fire_at))
    elif isinstance(action, SendEvent) and is_entity_id(action.instance_id):
        _send_to_entity(commit, inst, action)
    elif isinstance(action, SendEvent):
        commit.messages.append(Message(action.instance_id,
                                       EventRaised(name=action.name, input=action.input)))
    elif isinstance(action, ScheduleSubOrchestration):
        if not is_orchestrator(action.name):
            error = UnknownFunctionError("orchestrator", action.name)
            commit.messages.append(Message(inst.instance_id, SubOrchestrationInstanceFailed(
                task_id=action.task_id, failure=FailureDetails.from_exception(error)),
                execution_id))
            return
        conflict = FailureDetails(
            "InstanceAlreadyExistsError",
            f"sub-orchestration instance {action.instance_id!r} already exists and is active")
        commit.start_instances.append(NewInstance(
            action.instance_id, action.name, new_execution_id(), action.input,
            parent_instance_id=inst.instance_id, parent_execution_id=execution_id,
            parent_task_id=action.task_id,
            version=inst.version if action.version is None else action.version,
            on_conflict=Message(inst.instance_id, SubOrchestrationInstanceFailed(
                task_id=action.task_id, failure=conflict), execution_id)))


def _send_to_entity(commit: StepCommit, inst: InstanceRecord, action: SendEvent) -> None:
    request = EntityRequest.decode(action.input)
    if request is None:  # a plain event sent to an entity id: the entity ignores it
        commit.messages.append(Message(action.instance_id,
                                       EventRaised(name=action.name, input=action.input)))
        return
    if request.parent == inst.instance_id:  # answers go to this execution only
        request = replace(request, parent_execution=inst.execution_id)
    commit.start_instances.append(entity_delivery(action.instance_id, request))


def _release_locks(commit: StepCommit, executor: OrchestrationExecutor, sent: bool) -> None:
    """Release the entity locks the ending execution may still hold."""
    for entity, request_id in executor.ctx.locks_to_release(actions_sent=sent):
        commit.start_instances.append(entity_delivery(entity, EntityRequest(
            "release", request_id, parent=commit.instance_id)))


def _notify_parent(commit: StepCommit, executor: OrchestrationExecutor,
                   result: ReplayResult) -> None:
    started = executor.started
    if started is None or started.parent_instance_id is None or started.parent_task_id is None:
        return
    task_id = started.parent_task_id
    event: HistoryEvent
    if result.status is Status.Completed:
        event = SubOrchestrationInstanceCompleted(task_id=task_id, result=result.output)
    else:
        failure = result.failure or FailureDetails(
            "OrchestrationTerminated", f"sub-orchestration terminated: {loads(result.output)}")
        event = SubOrchestrationInstanceFailed(task_id=task_id, failure=failure)
    commit.messages.append(Message(started.parent_instance_id, event,
                                   started.parent_execution_id))


def _continue_as_new(commit: StepCommit, executor: OrchestrationExecutor,
                     result: ReplayResult, now: datetime) -> StepOutcome:
    started = executor.started
    assert started is not None
    # Work that waits for a result belongs to the old execution; sent events still go.
    commit.activities.clear()
    commit.start_instances = [s for s in commit.start_instances if is_entity_id(s.instance_id)]
    commit.messages = [m for m in commit.messages if m.instance_id != commit.instance_id]
    commit.history = []
    commit.new_execution_id = new_execution_id()
    commit.input = result.output
    commit.output = None
    commit.messages.append(Message(commit.instance_id, ExecutionStarted(
        timestamp=now, name=started.name, input=result.output,
        parent_instance_id=started.parent_instance_id,
        parent_execution_id=started.parent_execution_id,
        parent_task_id=started.parent_task_id, trace_parent=started.trace_parent,
        trace_state=started.trace_state, version=started.version), commit.new_execution_id))
    commit.messages.extend(Message(commit.instance_id, e) for e in result.carryover)
    return StepOutcome(commit, 0, keep_executor=False)


def fail_step(item: OrchestrationWorkItem, executor: OrchestrationExecutor, now: datetime,
              failure: FailureDetails) -> StepOutcome:
    """Force the instance to Failed (poison work, unknown orchestrator, step timeout)."""
    # An executor that never processed ExecutionStarted does not know its name yet.
    executor.ctx.name = executor.ctx.name or item.instance.name
    executor.fail(failure)
    result = executor.result()
    return step_commit(item, executor, result, [], now, lambda _name: False)


def rewind_step(item: OrchestrationWorkItem, history: list[HistoryEvent], now: datetime,
                reason: str | None) -> StepOutcome:
    """Rewind a Failed instance: drop the failures of its final step and run them again.

    Failures handled in earlier steps (caught, or retried by a retry policy)
    stay in history, so replay still matches; the failed activities of the last
    step are scheduled again and failed sub-orchestrations are rewound too.
    """
    inst = item.instance
    last_step = max((i for i, e in enumerate(history) if isinstance(e, OrchestratorStarted)),
                    default=0)
    scheduled = {e.task_id: e for e in history if isinstance(e, TaskScheduled)}
    children = {e.task_id: e.instance_id for e in history
                if isinstance(e, SubOrchestrationInstanceCreated)}
    kept: list[HistoryEvent] = []
    commit = StepCommit(inst.instance_id, item.lock_token, Status.Running,
                        [m.id for m in item.messages], custom_status=inst.custom_status,
                        new_execution_id=inst.execution_id, input=inst.input)
    for index, event in enumerate(history):
        if isinstance(event, ExecutionCompleted):
            continue
        if index > last_step and isinstance(event, TaskFailed) and event.task_id in scheduled:
            task = scheduled[event.task_id]
            commit.activities.append(ActivityTask(inst.instance_id, inst.execution_id,
                                                  task.task_id, task.name, task.input))
            continue
        if index > last_step and isinstance(event, SubOrchestrationInstanceFailed) \
                and event.task_id in children:
            commit.messages.append(Message(children[event.task_id],
                                           ExecutionRewound(reason=reason)))
            continue
        kept.append(event)
    kept += [OrchestratorStarted(timestamp=now), ExecutionRewound(timestamp=now, reason=reason)]
    commit.history = kept
    return StepOutcome(commit, len(kept), keep_executor=False)
