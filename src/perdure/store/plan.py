"""The commit plan: which steps of a batch apply, and the rows they write.

Both dialects read (and lock) the leases of a batch's instances first, hand
them to :func:`plan_commit`, and write the plan's rows kind by kind with
set-based statements.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .base import NewInstance, StepCommit, UnclaimedStep
from .codec import (
    Lease,
    MessageRow,
    TaskRow,
    Unclaimed,
    encode_event,
    encode_events,
    encode_failure,
    message_row,
    seconds_to_us,
    status_of,
    task_row,
)
from .rules import wakes_waiters

#: The instance row update of an applied step, as SQLite binds it:
#: ``(new_execution_id, input, runtime_status, custom_status, output, failure,
#: updated_at, history_len, instance_id)``. Written rows are plain tuples (see
#: :data:`~perdure.store.codec.MessageRow`).
StepUpdate = tuple[str | None, str | None, str, str | None, str | None, str | None,
                   int | None, int, str]

#: One step's history row to insert: ``(instance_id, seq, events)``, ``seq`` the
#: position of its first event and ``events`` a JSON array (see
#: :func:`~perdure.store.codec.encode_events`).
HistoryRow = tuple[str, int, str]


#: A commit's lease of activity tasks: (worker id, at most how many, lease in microseconds).
TaskLease = tuple[str, int, int]


def task_lease(worker_id: str, limit: int, lease_seconds: float) -> TaskLease | None:
    """The :data:`TaskLease` of a ``commit_steps_and_claim`` call (``None``: lease nothing)."""
    return (worker_id, limit, seconds_to_us(lease_seconds)) if limit > 0 else None


@dataclass(slots=True)
class CommitPlan:
    """The rows a batch of :class:`StepCommit` writes, decided from the leases read first.

    Steps own distinct instances, so writing kind by kind equals applying them
    one by one, except that every step's own update precedes every step's side
    effects (as if those steps had committed first). ``changed`` lists the
    instances their waiters should read again after the commit (see
    :func:`~perdure.store.rules.wakes_waiters`); a store appends the
    sub-orchestrations it creates.
    """

    applied: list[bool] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    resets: list[str] = field(default_factory=list)
    history: list[HistoryRow] = field(default_factory=list)
    updates: list[StepUpdate] = field(default_factory=list)
    #: ``(message id, instance_id)``
    consumed: list[tuple[int, str]] = field(default_factory=list)
    #: ``(task id,)``: the tasks of handed-over activity results the steps consumed
    finished_tasks: list[tuple[int]] = field(default_factory=list)
    tasks: list[TaskRow] = field(default_factory=list)
    messages: list[MessageRow] = field(default_factory=list)
    starts: list[NewInstance] = field(default_factory=list)

    @property
    def tasks_added(self) -> bool:
        """Whether the batch creates activity tasks."""
        return bool(self.tasks)

    @property
    def messages_added(self) -> bool:
        """Whether the batch sends messages or starts instances."""
        return bool(self.messages or self.starts)


def plan_commit(steps: Sequence[StepCommit],
                leases: Mapping[str, Lease],
                now: int | None) -> CommitPlan:
    """Decide which steps apply and the rows they write.

    ``leases`` maps each instance id to its lease as read (and locked) in the
    committing transaction. A step
    applies when its token is the current lease; a second step for the same
    lease in one batch does not. ``now`` fills the ``updated_at``, task and
    message timestamps (``None``: the store fills them in SQL).
    """
    plan = CommitPlan()
    used: set[str] = set()
    for step in steps:
        lease = leases.get(step.instance_id)
        ok = (lease is not None and lease.lock_token is not None
              and lease.lock_token == step.lock_token and step.instance_id not in used)
        plan.applied.append(ok)
        if not ok or lease is None:
            continue
        used.add(step.instance_id)  # a second step for one instance cannot reuse the lease
        seq = lease.history_len
        if step.new_execution_id is not None:
            plan.resets.append(step.instance_id)
            seq = 0
        if step.history:
            plan.history.append((step.instance_id, seq,
                                 encode_events([encode_event(e) for e in step.history])))
        status = status_of(step.runtime_status).value
        plan.updates.append((step.new_execution_id, step.input, status, step.custom_status,
                             step.output, encode_failure(step.failure), now,
                             seq + len(step.history), step.instance_id))
        for msg_id in step.consumed:  # < 0: a handed-over result (see InboxMessage)
            if msg_id > 0:
                plan.consumed.append((msg_id, step.instance_id))
            else:
                plan.finished_tasks.append((-msg_id,))
        plan.tasks.extend(task_row(task, now) for task in step.activities)
        plan.messages.extend(message_row(message, now) for message in step.messages)
        plan.starts.extend(step.start_instances)
        if wakes_waiters(status, lease.runtime_status):
            plan.changed.append(step.instance_id)
    # Starts lock the rows of the ids they target: in id order, so that two commits
    # (steps signalling the same entities) cannot deadlock. The sort is stable: the
    # requests a batch sends one entity keep their order.
    plan.starts.sort(key=_target)
    return plan


def unclaimed_leases(steps: Sequence[UnclaimedStep], instances: Mapping[str, Unclaimed],
                     tokens: Mapping[int, str]) -> dict[str, Lease]:
    """The leases under which steps run without a claim apply (see
    :meth:`~perdure.store.base.Store.commit_unclaimed_steps`), for :func:`plan_commit`.

    ``instances`` holds the steps' instances a claim would take with an empty inbox,
    ``tokens`` the current lease tokens of their results' tasks. A step whose instance
    is there, at its execution and history length, and whose results all still hold
    their tasks gets the lease it would have claimed: its own token.
    """
    leases: dict[str, Lease] = {}
    for step in steps:
        row = instances.get(step.commit.instance_id)
        if row is not None and row.execution_id == step.execution_id \
                and row.history_len == step.history_len \
                and all(tokens.get(r.id) == r.lock_token for r in step.results):
            leases[row.instance_id] = Lease(row.instance_id, step.commit.lock_token,
                                            row.runtime_status, row.history_len)
    return leases


def _target(new: NewInstance) -> str:
    return new.instance_id


__all__ = ["CommitPlan", "HistoryRow", "StepUpdate", "TaskLease", "plan_commit", "task_lease",
           "unclaimed_leases"]
