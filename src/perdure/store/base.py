"""The task hub protocol: every durable state transition perdure makes.

A store is a narrow set of async methods. Each one is a single atomic
transition, so the worker and the client never hold a transaction open across
user code. Both the SQLite and the PostgreSQL task hubs implement it and pass
one behavioural conformance suite (``tests/store``).

Vocabulary:

* **instance row**: one orchestration instance (name, status, input, output,
  custom status, timestamps, lease, current ``execution_id``).
* **history**: the events of the instance's current execution, in order.
* **inbox**: messages addressed to an instance, each carrying one history
  event (a raised event, an activity result, a timer firing, a terminate
  request...). A message may carry an ``execution_id``; it is then only meant
  for that execution (stale results after continue-as-new are dropped by the
  worker). A message is *visible* once ``visible_at`` has passed (timers).
* **activity task**: a unit of activity work, claimed under a lease.
* **lease**: ``lock_token`` + expiry on an instance or activity task. A claim
  takes a fresh token; a commit made with a token that is no longer current
  changes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from ..core.history import FailureDetails, HistoryEvent
from ..core.status import OrchestrationRuntimeStatus
from ..core.versions import VersionKey, VersionMatch, allowed_range, version_key
from .clock import Clock

WorkKind = Literal["orchestration", "activity"]


@dataclass(slots=True)
class InstanceRecord:
    """The stored state of one orchestration instance."""

    instance_id: str
    name: str
    execution_id: str
    runtime_status: OrchestrationRuntimeStatus
    created_at: datetime
    updated_at: datetime
    input: str | None = None
    output: str | None = None
    custom_status: str | None = None
    failure: FailureDetails | None = None
    parent_instance_id: str | None = None
    history_len: int = 0
    version: str = ""
    """The orchestration version it was started with (``""``: unversioned)."""

    @property
    def parked(self) -> bool:
        """Whether a worker parked it: Running with a failure recorded (its code
        no longer replays its history; see ``App.on_nondeterminism``)."""
        return self.runtime_status is OrchestrationRuntimeStatus.Running \
            and self.failure is not None


@dataclass(slots=True)
class NewInstance:
    """An instance to create, Pending, with its ``ExecutionStarted`` message.

    ``on_conflict`` (used for sub-orchestrations) is enqueued instead of
    raising when an active instance already holds the id.
    """

    instance_id: str
    name: str
    execution_id: str
    input: str | None = None
    parent_instance_id: str | None = None
    parent_execution_id: str | None = None
    parent_task_id: int | None = None
    created_at: datetime | None = None
    on_conflict: Message | None = None
    trace_parent: str | None = None
    """The caller's W3C ``traceparent`` (and ``trace_state``), kept in ``ExecutionStarted``."""
    trace_state: str | None = None
    version: str = ""


@dataclass(slots=True)
class Message:
    """A history event addressed to an instance's inbox."""

    instance_id: str
    event: HistoryEvent
    execution_id: str | None = None
    visible_at: datetime | None = None


@dataclass(slots=True)
class InboxMessage:
    """A message as read back from an inbox; ``id`` orders arrival.

    An activity result handed over by :meth:`Store.complete_activities_and_claim`
    is in no inbox: its ``id`` is the negated id of its activity task, and the
    step that consumes it deletes that task.
    """

    id: int
    event: HistoryEvent
    execution_id: str | None = None


@dataclass(slots=True)
class OrchestrationWorkItem:
    """A claimed instance with every message visible at claim time."""

    instance: InstanceRecord
    lock_token: str
    attempts: int
    messages: list[InboxMessage]


def handed_over_tasks(items: Iterable[OrchestrationWorkItem]) -> list[int]:
    """The activity tasks whose results were handed over to ``items`` (see
    :class:`InboxMessage`)."""
    return [-message.id for item in items for message in item.messages if message.id < 0]


@dataclass(slots=True)
class ActivityTask:
    """An activity invocation to run for task ``task_id`` of an instance's execution."""

    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None = None
    trace_parent: str | None = None
    """The W3C ``traceparent`` the activity's spans descend from (tracing on)."""


@dataclass(slots=True)
class ActivityWorkItem:
    """A claimed activity task."""

    id: int
    lock_token: str
    attempts: int
    task: ActivityTask
    created_at: datetime | None = None
    """When the task was created (a claim from :meth:`Store.claim_activities`
    tells; a task leased by the commit that created it has ``None``)."""


@dataclass(slots=True)
class ActivityResult:
    """The outcome of a claimed activity: delete the task, deliver ``message``."""

    id: int
    lock_token: str
    message: Message


@dataclass(slots=True)
class StepCommit:
    """Everything one orchestration step changes, committed all or nothing.

    The commit applies only while ``lock_token`` is still the instance's lease.
    ``history`` is appended to the current execution's history; when
    ``new_execution_id`` is set (continue-as-new, rewind), the old history is
    deleted first, and the instance takes the new execution id and ``input``.
    """

    instance_id: str
    lock_token: str
    runtime_status: OrchestrationRuntimeStatus
    consumed: list[int] = field(default_factory=list)
    history: list[HistoryEvent] = field(default_factory=list)
    custom_status: str | None = None
    output: str | None = None
    failure: FailureDetails | None = None
    new_execution_id: str | None = None
    input: str | None = None
    activities: list[ActivityTask] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    start_instances: list[NewInstance] = field(default_factory=list)
    parked: bool = False
    """Park the instance: no claim takes it until :meth:`Store.unpark_instances`
    (a Running step with ``failure`` set, nothing consumed, no history)."""


@dataclass(slots=True)
class UnclaimedStep:
    """A step a worker ran without claiming its instance (see
    :meth:`Store.commit_unclaimed_steps`): the executor it kept from the
    instance's last step here, on the handed-over ``results`` of activities it ran."""

    commit: StepCommit
    #: The execution and history length the step ran on: those of the last step
    #: this worker committed for the instance.
    execution_id: str
    history_len: int
    results: list[ActivityResult]


@dataclass(slots=True)
class InstanceQuery:
    """A filter over instances; ``None`` fields do not filter."""

    created_from: datetime | None = None
    created_to: datetime | None = None
    statuses: Collection[OrchestrationRuntimeStatus] | None = None
    instance_id_prefix: str | None = None
    page_size: int = 100
    continuation_token: str | None = None
    #: Only instances of this orchestrator name.
    name: str | None = None
    #: Newest first (descending ``(created_at, instance_id)``); a token then
    #: carries on below its position.
    newest_first: bool = False
    version: str | None = None
    """Only instances of exactly this version (``""``: unversioned ones)."""


@dataclass(frozen=True, slots=True)
class VersionFilter:
    """Which versions a claim may take: those whose comparison with ``worker``
    (:func:`~perdure.core.versions.compare_keys`) lies in ``low..high``."""

    worker: VersionKey
    low: int
    high: int

    @classmethod
    def of(cls, version: str, match: VersionMatch) -> VersionFilter:
        """The filter of a worker of ``version`` under ``match``."""
        return cls(version_key(version), *allowed_range(match))

    def params(self) -> tuple[str, str | None, int, int]:
        """The claim SQL's version parameters: fold, num, low, high."""
        return (self.worker.fold, self.worker.num, self.low, self.high)


#: The parameters of a claim that takes every version.
ANY_VERSION = ("", None, -1, 1)


#: Where the counts of :meth:`Store.hub_stats` stop: a scrape reads at most
#: this many index entries per figure, however large the task hub.
HUB_STATS_CAP = 100_000


@dataclass(slots=True)
class HubStats:
    """The task hub's gauges, read at scrape time (``/metrics``).

    ``instances`` counts by (status, version; ``""`` for none), only the pairs
    that have instances. Counts stop at ``cap`` per status: a status whose
    versions add up to it has at least that many.
    The ages are in seconds, of the oldest visible inbox message and of the
    oldest claimable activity task (``None`` when there is none).
    """

    instances: dict[tuple[OrchestrationRuntimeStatus, str], int]
    ready_instances: int
    ready_tasks: int
    oldest_message_age: float | None
    oldest_task_age: float | None
    cap: int


@dataclass(slots=True)
class InstancePage:
    """One page of a query; ``continuation_token`` is ``None`` on the last page."""

    instances: list[InstanceRecord]
    continuation_token: str | None = None


@dataclass(frozen=True, slots=True)
class StatusCount:
    """How many instances of one status match a filter: exactly ``count``, or
    (``exact`` false) at least ``count``: the count stopped at its bound."""

    status: OrchestrationRuntimeStatus
    count: int
    exact: bool


@dataclass(frozen=True, slots=True)
class Generation:
    """One earlier execution of an instance that continued as new."""

    #: 1 for the first execution; the current one is the last kept plus one.
    generation: int
    execution_id: str
    started_at: datetime
    #: When it continued as new.
    ended_at: datetime
    #: The first 200 characters of the input it ran with (JSON text, cut).
    input_preview: str | None


class StartTaker(Protocol):
    """A worker of this process that takes the instances this process creates while
    it idles: each is leased to it by the start's own commit and handed over at once,
    so the step that starts it needs no claim of its own (see :meth:`Store.take_starts`)."""

    worker_id: str

    def lease_for(self, new: NewInstance) -> float | None:
        """The seconds to lease ``new`` to this worker for; ``None`` when it takes no
        start now (busy, stopping, or not of a version it runs)."""
        ...

    def take(self, item: OrchestrationWorkItem) -> bool:
        """Run the first step of ``item``, created and leased to this worker just now;
        ``False`` when it no longer can (it began to stop while the start committed):
        the store then gives the lease up."""
        ...


class Store(Protocol):
    """The task hub. Every method is one atomic transition unless it says otherwise."""

    url: str
    clock: Clock
    """The time leases, timers and visibility are measured by (see :mod:`.clock`)."""

    async def open(self) -> None:
        """Connect, and create or migrate the schema (idempotent)."""

    async def close(self) -> None:
        """Release connections; the store is unusable afterwards."""

    # --- client side -------------------------------------------------------

    async def create_instance(self, new: NewInstance) -> None:
        """Insert a Pending instance and its ``ExecutionStarted`` message, atomically.

        A finished instance with the same id is replaced (its history, inbox and
        tasks deleted). An active one raises ``InstanceAlreadyExistsError``.
        """

    def take_starts(self, taker: StartTaker) -> None:
        """Offer ``taker`` the instances :meth:`create_instance` creates from now on.

        Before each start the store asks the takers in turn for a lease; the first
        that gives one gets the instance leased in the start's own transaction and
        handed over after it commits (the others find it leased, like any claimed
        instance; a taker that fails to run it leaves it to its lease's expiry). A
        store may hand none over: a taker must also claim as usual.
        """
        ...

    def stop_taking_starts(self, taker: StartTaker) -> None:
        """Offer ``taker`` no more starts."""
        ...

    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        """The instance row, or ``None``."""

    async def get_history(self, instance_id: str) -> list[HistoryEvent]:
        """The current execution's history in order (empty when unknown)."""

    async def get_histories(self, instance_ids: Sequence[str]) -> dict[str, list[HistoryEvent]]:
        """:meth:`get_history` of several instances in one read (a worker rebuilding
        the executors of a batch); every id is a key, an unknown one maps to ``[]``."""

    async def query_instances(self, query: InstanceQuery) -> InstancePage:
        """One page of instances ordered by (created_at, instance_id), keyset paged.

        Filters combine with AND; ``created_from`` and ``created_to`` are
        inclusive; the id prefix compares code points. ``newest_first``
        reverses the order. Raises ``InvalidArgumentError`` for
        ``page_size < 1`` or a malformed token.
        """

    async def count_instances(self, query: InstanceQuery, bound: int,
                              ) -> list[StatusCount]:
        """Per status (``query.statuses``, else every status, in declaration
        order), how many instances match the rest of ``query`` (its token and
        page size are ignored), reading about ``bound`` rows per status at
        most: a count that stopped there is not exact and says "at least"
        (at most ``bound``). With a name or an id prefix the count is one
        pass over its rows, cut after ``bound`` of them: then no count of it
        is exact.
        Raises ``InvalidArgumentError`` for ``bound < 1``.
        """

    async def get_generations(self, instance_id: str) -> list[Generation]:
        """The kept earlier executions of an instance that continued as new
        (the last 20 at most), oldest first; ``[]`` when there are none."""

    async def send_message(
        self, message: Message, *, operation: str,
        allowed: Collection[OrchestrationRuntimeStatus],
    ) -> None:
        """Enqueue a client message if the instance's status is in ``allowed``.

        Raises ``InstanceNotFoundError`` for an unknown instance,
        ``InstanceFinishedError`` when it is finished and finished is not
        allowed, ``InvalidInstanceStateError`` otherwise. Check and insert are
        one transaction.
        """

    async def purge_instance(self, instance_id: str) -> bool:
        """Delete a finished instance with its history, inbox and tasks.

        ``False`` when it does not exist; ``InvalidInstanceStateError`` when active.
        """

    async def delete_idle_entity(self, instance_id: str, custom_status: str | None) -> bool:
        """Delete an entity's instance if its inbox is empty and its stored state is still
        ``custom_status`` (as the caller read it); whether it was deleted. One transaction:
        a request racing the delete is either seen (nothing deleted) or creates it anew."""

    async def purge_instances(
        self, created_from: datetime | None, created_to: datetime | None,
        statuses: Collection[OrchestrationRuntimeStatus] | None, batch_size: int = 500,
    ) -> int:
        """Purge matching finished instances in batches of one transaction each.

        Returns how many were purged; a crash mid-way keeps the batches done.
        Active instances are never purged, whatever ``statuses`` says.
        """

    async def register_functions(self, orchestrators: Sequence[str],
                                 activities: Sequence[str]) -> None:
        """Record the function names a worker serves (idempotent)."""

    async def known_orchestrators(self) -> set[str]:
        """Every orchestrator name any worker has registered in this task hub."""

    async def hub_stats(self, cap: int = HUB_STATS_CAP) -> HubStats:
        """Instances per status, the backlog of ready instances and tasks, and the
        age of the oldest ready message and task, by index scans of at most
        ``cap`` rows each (read-only; a consistent snapshot is not promised)."""

    # --- worker side -------------------------------------------------------

    async def claim_orchestrations(
        self, worker_id: str, limit: int, lease_seconds: float, backlog: int | None = None,
        versions: VersionFilter | None = None,
    ) -> list[OrchestrationWorkItem]:
        """Lease up to ``limit`` instances that have visible inbox messages.

        Started instances come first (activity results, timers, events,
        sub-orchestration starts, oldest first); the room left goes to the
        backlog of new instances clients started, at most ``backlog`` of them
        (``None``: no bound), so a started instance runs to its end before
        the backlog is opened further.

        Skips instances leased by others until their lease expires, parked
        instances, and (given ``versions``) instances of versions it does not
        allow, which are never leased, so they cost a claim nothing. Each claim
        takes a fresh ``lock_token`` and increments the instance's attempts.
        Each item carries the instance's visible messages in arrival order (at
        most ``MAX_MESSAGES_PER_CLAIM`` of :mod:`perdure.store.rules`).
        """

    async def commit_steps(self, steps: Sequence[StepCommit]) -> list[bool]:
        """Apply each step whose lease still holds; one transaction for all.

        Returns, per step, whether it was applied. A step whose lease was lost
        changes nothing. Applying resets the instance's attempts, releases its
        lease, and creates activity tasks, messages and instances; a message to
        an instance that does not exist is dropped.
        """

    async def commit_steps_and_claim(
        self, steps: Sequence[StepCommit], worker_id: str, limit: int, lease_seconds: float,
    ) -> tuple[list[bool], list[ActivityWorkItem]]:
        """:meth:`commit_steps`, and in the same transaction lease up to ``limit``
        activity tasks to ``worker_id`` as :meth:`claim_activities` does (the
        tasks these steps create, or any claimable ones): spares the committing
        worker a claim and a wake-up for work it is about to run. A store may
        lease fewer, or none."""

    #: Whether :meth:`commit_unclaimed_steps` can apply steps (``False``: it applies
    #: none, and a worker hands every result over with a claim instead).
    commits_unclaimed_steps: bool

    async def commit_unclaimed_steps(
        self, steps: Sequence[UnclaimedStep], worker_id: str, limit: int, lease_seconds: float,
    ) -> tuple[list[bool], list[ActivityWorkItem]]:
        """:meth:`commit_steps_and_claim` for steps run without a claim, each on its
        results (their tasks are deleted by it, as by a handed-over step).

        A step applies only where a claim would have handed its worker exactly what
        it ran on: the instance unleased, not parked, at the step's execution and
        history length, nothing visible in its inbox, and each result's task still
        leased by that result's token. A step that does not apply changes nothing:
        its results are still to be completed (by
        :meth:`complete_activities_and_claim`). One transaction; spares the step
        of an activity's result a claim of its own. A store whose
        :attr:`commits_unclaimed_steps` is ``False`` applies none.
        """

    async def park_instance(self, instance_id: str, lock_token: str,
                            failure: FailureDetails) -> bool:
        """Park an instance this lease holds: Running, ``failure`` recorded, every
        message kept, the lease released, and no claim takes it until
        :meth:`unpark_instances`. ``False`` (nothing changed) when the lease was lost."""

    async def unpark_instance(self, instance_id: str) -> bool:
        """Make one parked instance claimable again; whether it was parked."""

    async def unpark_instances(self) -> int:
        """Make every parked instance claimable again (a worker starting: new code
        may replay them); returns how many were parked."""

    async def release_orchestration(self, instance_id: str, lock_token: str) -> None:
        """Give up a lease without committing; the messages stay for a later claim."""

    async def claim_activities(
        self, worker_id: str, limit: int, lease_seconds: float,
    ) -> list[ActivityWorkItem]:
        """Lease up to ``limit`` visible activity tasks, counting an attempt each."""

    async def complete_activities(self, results: Sequence[ActivityResult]) -> list[bool]:
        """Delete each task whose lease still holds and deliver its message; one transaction.

        A result whose message targets an instance that no longer exists still
        completes its task; the message is dropped.
        """

    async def complete_activities_and_claim(
        self, results: Sequence[ActivityResult], worker_id: str, lease_seconds: float,
        versions: VersionFilter | None = None,
    ) -> tuple[list[bool], list[OrchestrationWorkItem]]:
        """:meth:`complete_activities`, except that the results of instances it can
        lease to ``worker_id`` (as :meth:`claim_orchestrations` would: unleased, not
        parked, of an allowed version) are handed over instead of delivered.

        Each such instance comes back as a work item with its visible messages
        and, after them, its handed-over results (see :class:`InboxMessage`). Their
        tasks stay, under the activities' leases, until the step consuming them
        commits and deletes them; a step that never commits leaves them to expire
        and run again, so nothing is lost. One transaction. A store may hand over
        nothing and return no items.
        """

    async def renew_activity_leases(
        self, items: Sequence[tuple[int, str]], lease_seconds: float,
    ) -> None:
        """Extend the leases ``(id, lock_token)`` still held."""

    async def next_wakeup(self) -> datetime | None:
        """The earliest future ``visible_at`` among inbox messages (durable timers)."""

    async def wait_for_work(self, kind: WorkKind, timeout: float) -> None:
        """Return when work of ``kind`` may be ready, or after ``timeout`` seconds."""

    def wake_instance_waiters(self) -> None:
        """Wake every :meth:`wait_for_instance` of this process at once (each caller
        re-reads what it waits for); a server shutting down ends its waits so."""
        ...

    async def wait_for_instance(self, instance_id: str, timeout: float,
                                since: float | None = None) -> None:
        """Return when the instance may have finished (Completed, Failed,
        Terminated), been created anew or purged; or after ``timeout``.

        With ``since`` (a ``time.monotonic()`` reading taken before the caller
        last read the instance), return at once if that may have happened since.
        """
