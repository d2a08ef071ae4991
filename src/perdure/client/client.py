"""The orchestration client: start, query, signal and manage instances.

:class:`Client` is async; :class:`SyncClient` is its blocking facade, one
method per async one. Both talk to the task hub directly, so they work in the
serving process, in another process, or on another machine sharing the hub.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Collection, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, Self, TypeVar

from ..core.errors import (
    InstanceNotFoundError,
    InvalidArgumentError,
    OrchestrationTimeoutError,
    UnknownFunctionError,
)
from ..core.history import (
    EventRaised,
    ExecutionResumed,
    ExecutionRewound,
    ExecutionSuspended,
    ExecutionTerminated,
)
from ..core.names import check_instance_id, check_name, control_character, validate_instance_id
from ..core.serialization import dumps
from ..core.status import ACTIVE_STATUSES
from ..core.status import OrchestrationRuntimeStatus as Status
from ..core.versions import check_version
from ..observe import tracing
from ..store import create_store
from ..store.base import (
    Generation,
    HubStats,
    InstanceQuery,
    Message,
    NewInstance,
    StatusCount,
    Store,
)
from . import entities as _entities
from .entities import CleanEntityStorageResult, EntityPage, EntityRef
from .export import HistoryExport
from .ids import new_instance_id
from .status import OrchestrationStatus, StatusPage, history_to_df
from .urls import DEFAULT_BASE_URL, UrlQuery, management_urls, no_query

T = TypeVar("T")

GENERATION_CACHE_SIZE = 10_000


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidArgumentError(f"{name} must be a datetime, got {type(value).__name__}")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _statuses(value: Status | str | Collection[Status | str] | None
              ) -> frozenset[Status] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, Status | str) else list(value)
    return frozenset(s if isinstance(s, Status) else Status.parse(s) for s in items) or None


class Orchestrators(Protocol):
    """What the client asks of an app: the names of its orchestrators (``perdure.App`` is one).

    A protocol, so that the client layer does not depend on the app registry.
    """

    @property
    def orchestrators(self) -> Collection[str]:
        """The registered orchestrator names."""
        ...


class Client:
    """Manages orchestration instances in one task hub.

    ``app`` (or ``orchestrators``) tells which orchestrator names exist; without
    either, the names registered in the hub by its workers are used.
    ``base_url`` is where the HTTP API is served, for management URLs;
    ``url_query`` (:data:`UrlQuery`) adds their keys (the HTTP server sets it).
    ``version`` is stamped on instances started without a version of their
    own; by default the app's (``App(version=...)``), else none.
    """

    def __init__(self, store: Store | str | None = None, *, app: Orchestrators | None = None,
                 orchestrators: Collection[str] | None = None,
                 base_url: str = DEFAULT_BASE_URL,
                 url_query: UrlQuery | None = None, version: str | None = None) -> None:
        self.store: Store = store if store is not None and not isinstance(store, str) \
            else create_store(store)
        self._app = app
        self._orchestrators = orchestrators
        self.base_url = base_url.rstrip("/")
        self.url_query: UrlQuery = url_query or no_query
        # The creation time of instances this client started or read, so that the
        # synchronous payload builders can mint tokens bound to it without I/O.
        # Bounded (LRU); a lock because SyncClient.bound callers run in threads.
        self._generations: OrderedDict[str, datetime] = OrderedDict()
        self._generations_lock = threading.Lock()
        self._opened = False
        self._waits_interrupted = False  # set for good by interrupt_waits
        # An app is only known by its orchestrator names (Orchestrators); a
        # perdure.App also carries the version its instances are stamped with.
        default = version if version is not None else getattr(app, "version", None)
        self.version: str = "" if default is None else check_version(default)
        """The version instances started without one are stamped with (``""``: none)."""

    async def _open(self) -> Store:
        if not self._opened:
            await self.store.open()
            self._opened = True
        return self.store

    async def close(self) -> None:
        """Close the underlying store."""
        await self.store.close()

    async def __aenter__(self) -> Client:
        await self._open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _check_orchestrator(self, name: str) -> None:
        """Refuse a name that the app, the ``orchestrators`` list or the hub's workers lack.

        With neither an app nor a list, and no worker registered in the hub
        yet, the name is accepted unchecked, with a warning on this module's
        logger: work may be queued before any worker runs (and ``perdure
        start`` right after ``perdure worker app.py &`` must not lose the race
        with the worker's registration). A worker that claims an instance of
        an orchestrator it does not know fails it with UnknownFunctionError.
        """
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError("orchestrator name must be a non-empty string")
        if self._app is not None:
            known: Collection[str] = self._app.orchestrators
        elif self._orchestrators is not None:
            known = self._orchestrators
        else:
            known = await (await self._open()).known_orchestrators()
            if not known:
                logging.getLogger(__name__).warning(
                    "orchestrator %r was not checked: no app was given and no worker has "
                    "registered functions in this task hub yet", name)
                return
        if name not in known:
            raise UnknownFunctionError("orchestrator", name, list(known))

    # --- starting --------------------------------------------------------

    async def start_new(self, orchestrator_name: str, instance_id: str | None = None,
                        input: Any = None, version: str | None = None) -> str:
        """Start an instance; returns its id (a random 32-hex id when none is given).

        Durable when it returns. Refuses an unknown orchestrator, an invalid id,
        and an id whose instance is Pending, Running or Suspended
        (:class:`InstanceAlreadyExistsError`); a finished instance is replaced.
        The instance runs at ``version`` (default: the client's :attr:`version`),
        which decides which workers may run it.
        """
        return await self._create(orchestrator_name, instance_id, dumps(input, "input"),
                                  version)

    async def _create(self, name: str, instance_id: str | None, encoded_input: str | None,
                      version: str | None = None) -> str:
        instance_id = validate_instance_id(instance_id) if instance_id is not None \
            else new_instance_id()
        version = self.version if version is None else check_version(version)
        await self._check_orchestrator(name)
        store = await self._open()
        created_at = self.store.clock.now()
        new = NewInstance(instance_id, name, uuid.uuid4().hex, encoded_input,
                          created_at=created_at, version=version)
        tracer = tracing.active()
        if tracer is None:
            await store.create_instance(new)
        else:  # the caller's current span, if any, is the parent of the instance's spans
            with tracer.producer(f"create_orchestration:{name}", {
                    tracing.ATTR_TYPE: "orchestration", tracing.ATTR_NAME: name,
                    tracing.ATTR_INSTANCE_ID: instance_id}) as (parent, state):
                new.trace_parent, new.trace_state = parent, state
                await store.create_instance(new)
        self._learn(instance_id, created_at)
        return instance_id

    async def start_new_from(self, payload: Mapping[str, Any]) -> str:
        """Start from the output-binding form ``{"FunctionName", "Input", "InstanceId"}``."""
        if not isinstance(payload, Mapping):
            raise InvalidArgumentError("start payload must be a JSON object")
        name = payload.get("FunctionName")
        if not name:
            raise InvalidArgumentError("start payload needs a 'FunctionName'")
        return await self.start_new(name, payload.get("InstanceId") or None, payload.get("Input"))

    async def restart(self, instance_id: str, restart_with_new_instance_id: bool = True) -> str:
        """Start the instance's orchestrator again with its original input; returns the new id."""
        check_instance_id(instance_id)
        record = await (await self._open()).get_instance(instance_id)
        if record is None:
            raise InstanceNotFoundError(instance_id)
        return await self._create(record.name, None if restart_with_new_instance_id
                                  else instance_id, record.input, record.version)

    # --- querying --------------------------------------------------------

    async def get_status(self, instance_id: str, show_history: bool = False,
                         show_history_output: bool = False,
                         show_input: bool = True) -> OrchestrationStatus | None:
        """The instance's status, or ``None`` when it does not exist."""
        check_instance_id(instance_id)
        store = await self._open()
        record = await store.get_instance(instance_id)
        if record is None:
            return None
        self._learn(instance_id, record.created_at)
        status = OrchestrationStatus.from_record(record, show_input=show_input)
        if show_history:
            status.history = history_to_df(await store.get_history(instance_id),
                                           show_history_output=show_history_output,
                                           show_input=show_input)
        return status

    async def export_history(self, instance_id: str) -> HistoryExport:
        """The instance's stored history, lossless, in perdure's own event codec.

        Unlike ``get_status(show_history=True)`` (Durable Functions' display
        format) the export keeps step markers, task ids and every field, so
        :func:`perdure.testing.replay_history` can replay it against new code.
        Raises :class:`InstanceNotFoundError` when the instance does not exist.
        """
        check_instance_id(instance_id)
        store = await self._open()
        record = await store.get_instance(instance_id)
        if record is None:
            raise InstanceNotFoundError(instance_id)
        events = await store.get_history(instance_id)
        return HistoryExport(record.instance_id, record.name, events,
                             app_version=record.version or None,
                             execution_id=record.execution_id,
                             runtime_status=record.runtime_status.value)

    async def hub_stats(self) -> HubStats:
        """The task hub's gauges (instances per status, backlog and its age) for
        ``/metrics``; bounded index scans (see :meth:`Store.hub_stats`)."""
        return await (await self._open()).hub_stats()

    async def get_status_all(self) -> list[OrchestrationStatus]:
        """Every instance in the hub (without history), oldest first."""
        out: list[OrchestrationStatus] = []
        token: str | None = None
        while True:
            page = await self.get_status_by(page_size=1000, continuation_token=token)
            out.extend(page.instances)
            token = page.continuation_token
            if token is None:
                return out

    async def get_status_by(
        self, created_time_from: datetime | None = None, created_time_to: datetime | None = None,
        runtime_status: Status | str | Collection[Status | str] | None = None,
        instance_id_prefix: str | None = None, page_size: int = 100,
        continuation_token: str | None = None, show_input: bool = True, *,
        orchestrator_name: str | None = None, newest_first: bool = False,
        version: str | None = None,
    ) -> StatusPage:
        """One page of instances matching every given filter, oldest first (or
        ``newest_first``; a continuation token carries on in its page's order).

        ``version`` keeps the instances of exactly that version (``""``: the
        unversioned ones): when it finds none Pending, Running or Suspended, an
        old version has drained.
        """
        if not isinstance(page_size, int) or page_size < 1:
            raise InvalidArgumentError(f"page_size must be a positive integer, got {page_size!r}")
        query = self._query(created_time_from, created_time_to, runtime_status,
                            instance_id_prefix, orchestrator_name)
        if version is not None:
            query.version = check_version(version)
        if continuation_token is not None and not isinstance(continuation_token, str):
            raise InvalidArgumentError("continuation_token must be a string")
        query.page_size = page_size
        query.continuation_token = continuation_token or None
        query.newest_first = bool(newest_first)
        page = await (await self._open()).query_instances(query)
        return StatusPage([OrchestrationStatus.from_record(r, show_input=show_input)
                           for r in page.instances], page.continuation_token)

    async def count_by_status(
        self, created_time_from: datetime | None = None, created_time_to: datetime | None = None,
        instance_id_prefix: str | None = None, *, orchestrator_name: str | None = None,
        bound: int = 10_000,
    ) -> list[StatusCount]:
        """How many instances of each runtime status match the filters, each
        counted up to about ``bound`` (a count that stops there is not exact:
        see :meth:`perdure.store.base.Store.count_instances`)."""
        query = self._query(created_time_from, created_time_to, None, instance_id_prefix,
                            orchestrator_name)
        return await (await self._open()).count_instances(query, bound)

    async def get_generations(self, instance_id: str) -> list[Generation]:
        """The earlier executions kept of an instance that continued as new (the
        last 20), oldest first."""
        check_instance_id(instance_id)
        return await (await self._open()).get_generations(instance_id)

    def _query(self, created_time_from: datetime | None, created_time_to: datetime | None,
               runtime_status: Status | str | Collection[Status | str] | None,
               instance_id_prefix: str | None, orchestrator_name: str | None) -> InstanceQuery:
        """The checked filters of a listing or a count."""
        if orchestrator_name is not None and (not isinstance(orchestrator_name, str)
                                              or not orchestrator_name):
            raise InvalidArgumentError(f"orchestrator name {orchestrator_name!r} must be a "
                                       "non-empty string")
        if instance_id_prefix:
            if not isinstance(instance_id_prefix, str) or \
                    control_character(instance_id_prefix) is not None:
                raise InvalidArgumentError(f"instance id prefix {instance_id_prefix!r} must be a "
                                           "string without control characters")
        return InstanceQuery(_aware(created_time_from, "created_time_from"),
                             _aware(created_time_to, "created_time_to"),
                             _statuses(runtime_status), instance_id_prefix or None,
                             name=orchestrator_name)

    def interrupt_waits(self) -> None:
        """End every :meth:`wait_for_completion` in flight, and any later one, at once.

        Each raises :class:`OrchestrationTimeoutError`, as if its timeout had
        passed, so that the HTTP layer's
        ``wait_for_completion_or_create_check_status_response`` answers its 202
        check-status response. A server calls this when it
        starts shutting down, so that a long wait ends with a useful answer
        rather than being cut off. Call it on the loop the waits run on.
        """
        self._waits_interrupted = True
        self.store.wake_instance_waiters()

    async def wait_for_completion(self, instance_id: str,
                                  timeout: float | None = None) -> OrchestrationStatus:
        """Wait until the instance is Completed, Failed or Terminated; returns its status.

        Woken by the store's news that the instance finished (from this
        process, other processes' NOTIFY, or the SQLite change watcher); a
        re-read every few seconds is the last resort for news that was lost.
        Raises :class:`OrchestrationTimeoutError` after ``timeout`` seconds (or
        at once after :meth:`interrupt_waits`) and :class:`InstanceNotFoundError`
        for an unknown id.
        """
        store = await self._open()
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        # The store wakes the wait when the instance finishes, even while its
        # status was being read (``since``), and catches up on lost news by
        # itself: this re-read is only a last resort, so it is rare. A bare
        # store wait per round, no task: interrupt_waits wakes them all.
        poll = 1.0
        while True:
            since = time.monotonic()
            status = await self.get_status(instance_id)
            if status is None:
                raise InstanceNotFoundError(instance_id)
            if status.runtime_status.is_terminal:
                return status
            remaining = None if deadline is None else deadline - loop.time()
            if (remaining is not None and remaining <= 0) or self._waits_interrupted:
                raise OrchestrationTimeoutError(instance_id, timeout or 0.0)
            await store.wait_for_instance(instance_id, poll if remaining is None
                                          else min(poll, remaining), since)
            if self._waits_interrupted:
                raise OrchestrationTimeoutError(instance_id, timeout or 0.0)
            poll = min(poll * 2, 10.0)

    # --- signalling ------------------------------------------------------

    async def _send(self, instance_id: str, event: Any, operation: str,
                    allowed: Collection[Status]) -> None:
        check_instance_id(instance_id)
        await (await self._open()).send_message(Message(instance_id, event),
                                                operation=operation, allowed=allowed)

    async def raise_event(self, instance_id: str, event_name: str, event_data: Any = None) -> None:
        """Deliver event ``event_name``; kept in order until the orchestrator waits for it.

        :class:`InstanceNotFoundError` for an unknown instance,
        :class:`InstanceFinishedError` for a finished one.
        """
        check_name(event_name, "event")
        event = EventRaised(name=event_name, input=dumps(event_data, "event data"))
        await self._send(instance_id, event, "raise an event to", ACTIVE_STATUSES)

    async def terminate(self, instance_id: str, reason: str | None = None) -> None:
        """Terminate at the next await point; running sub-orchestrations are terminated too."""
        await self._send(instance_id, ExecutionTerminated(reason=_reason(reason)), "terminate",
                         ACTIVE_STATUSES)

    async def suspend(self, instance_id: str, reason: str | None = None) -> None:
        """Pause the instance; events that arrive meanwhile wait for :meth:`resume`."""
        await self._send(instance_id, ExecutionSuspended(reason=_reason(reason)), "suspend",
                         (Status.Pending, Status.Running, Status.ContinuedAsNew))

    async def resume(self, instance_id: str, reason: str | None = None) -> None:
        """Resume a suspended instance, or retry a parked one (its code no longer
        replayed it: the next worker to claim it tries again)."""
        check_instance_id(instance_id)
        if await (await self._open()).unpark_instance(instance_id):
            return
        await self._send(instance_id, ExecutionResumed(reason=_reason(reason)), "resume",
                         (Status.Suspended,))

    async def rewind(self, instance_id: str, reason: str | None = None) -> None:
        """Make a Failed instance run its failed activities again and carry on."""
        await self._send(instance_id, ExecutionRewound(reason=_reason(reason)), "rewind",
                         (Status.Failed,))

    # --- entities --------------------------------------------------------

    @property
    def entity_names(self) -> Collection[str] | None:
        """The entity names (lower-cased) of the client's app; ``None`` when not known."""
        entities = getattr(self._app, "entities", None)
        return None if entities is None else list(entities)

    async def signal_entity(self, entity_id: EntityRef, operation_name: str,
                            operation_input: Any = None) -> None:
        """Queue an operation for an entity (created if absent); durable when it returns."""
        await _entities.signal_entity(await self._open(), entity_id, operation_name,
                                      operation_input)

    async def read_entity_state(self, entity_id: EntityRef) -> tuple[bool, Any]:
        """``(exists, state)`` of an entity."""
        return await _entities.read_entity_state(await self._open(), entity_id)

    async def list_entities(self, name: str | None = None, *, prefix: str = "",
                            fetch_state: bool = False, include_deleted: bool = False,
                            last_modified_from: datetime | None = None,
                            last_modified_to: datetime | None = None, page_size: int = 100,
                            continuation_token: str | None = None) -> EntityPage:
        """One page of entities (see :func:`perdure.client.entities.list_entities`)."""
        return await _entities.list_entities(
            await self._open(), name, prefix=prefix, fetch_state=fetch_state,
            include_deleted=include_deleted,
            last_modified_from=_aware(last_modified_from, "last_modified_from"),
            last_modified_to=_aware(last_modified_to, "last_modified_to"),
            page_size=page_size, continuation_token=continuation_token)

    async def clean_entity_storage(self, remove_empty_entities: bool = True,
                                   release_orphaned_locks: bool = True,
                                   ) -> CleanEntityStorageResult:
        """Remove empty entities and release locks of orchestrations that have ended."""
        return await _entities.clean_entity_storage(await self._open(), remove_empty_entities,
                                                    release_orphaned_locks)

    # --- purging ---------------------------------------------------------

    async def purge_instance_history(self, instance_id: str) -> int:
        """Delete a finished instance and its history; returns 1, or 0 if it did not exist."""
        check_instance_id(instance_id)
        deleted = int(await (await self._open()).purge_instance(instance_id))
        self._forget(instance_id)
        return deleted

    async def purge_instance_history_by(
        self, created_time_from: datetime | None = None, created_time_to: datetime | None = None,
        runtime_status: Status | str | Collection[Status | str] | None = None,
    ) -> int:
        """Delete finished instances matching the filters, in batches; returns how many."""
        statuses = _statuses(runtime_status)
        if statuses is not None and not all(s.is_terminal for s in statuses):
            raise InvalidArgumentError("only Completed, Failed and Terminated instances can be "
                                       "purged")
        return await (await self._open()).purge_instances(
            _aware(created_time_from, "created_time_from"),
            _aware(created_time_to, "created_time_to"), statuses)

    # --- HTTP helpers ----------------------------------------------------

    def _learn(self, instance_id: str, created_at: datetime) -> None:
        with self._generations_lock:
            self._generations[instance_id] = created_at
            self._generations.move_to_end(instance_id)
            while len(self._generations) > GENERATION_CACHE_SIZE:
                self._generations.popitem(last=False)

    def _forget(self, instance_id: str) -> None:
        with self._generations_lock:
            self._generations.pop(instance_id, None)

    async def instance_generation(self, instance_id: str) -> datetime | None:
        """The instance's current generation (its ``created_at``), read from the hub;
        ``None`` when it does not exist. Management tokens are bound to it."""
        record = await (await self._open()).get_instance(instance_id)
        if record is None:
            self._forget(instance_id)
            return None
        self._learn(instance_id, record.created_at)
        return record.created_at

    def create_http_management_payload(self, instance_id: str,
                                       base_url: str | None = None) -> dict[str, str]:
        """The management URLs of an instance (Durable Functions' ``HttpManagementPayload``).

        With keys on, each URL carries a token for its own operation, bound to
        the instance's generation as this client last saw it (it started the
        instance, or read its status); for an instance it has not seen this
        raises :class:`InvalidArgumentError`: use :meth:`http_management_payload`.
        """
        with self._generations_lock:
            generation = self._generations.get(instance_id)
        payload = self._payload(instance_id, base_url, generation)
        if payload is None:
            raise InvalidArgumentError(
                f"the management URLs of instance {instance_id!r} carry tokens bound to its "
                "creation, which this client has not seen (it neither started nor read the "
                "instance); use 'await client.http_management_payload(instance_id)', which "
                "reads it")
        return payload

    async def http_management_payload(self, instance_id: str,
                                      base_url: str | None = None) -> dict[str, str]:
        """:meth:`create_http_management_payload` for any instance: with keys on it reads
        the instance's current generation first (:class:`InstanceNotFoundError` if none)."""
        payload = self._payload(instance_id, base_url, None)
        if payload is not None:  # keys off: nothing to read
            return payload
        generation = await self.instance_generation(instance_id)
        if generation is None:
            raise InstanceNotFoundError(instance_id)
        payload = self._payload(instance_id, base_url, generation)
        assert payload is not None, "url_query needs more than the generation"
        return payload

    def _payload(self, instance_id: str, base_url: str | None,
                 generation: datetime | None) -> dict[str, str] | None:
        return management_urls(base_url or self.base_url, instance_id, self.url_query,
                               generation)

    def blocking(self, loop: asyncio.AbstractEventLoop) -> SyncClient:
        """A blocking facade over this client, whose store lives on ``loop``.

        For code running in another thread than ``loop`` (a plain activity, a
        plain HTTP function): see :meth:`SyncClient.bound`.
        """
        return SyncClient.bound(self, loop)


def _reason(reason: Any) -> str | None:
    if reason is None or isinstance(reason, str):
        return reason
    raise InvalidArgumentError(f"reason must be a string, got {type(reason).__name__}")


class SyncClient:
    """A blocking :class:`Client`: the same methods, each run to completion.

    Built from a store (or URL) it runs a private event loop in a daemon
    thread; :meth:`bound` wraps a client living on another thread's loop.
    """

    client: Client
    """The async client whose coroutines this facade runs."""

    def __init__(self, store: Store | str | None = None, **client_options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = threading.Thread(
            target=self._loop.run_forever, name="perdure-sync-client", daemon=True)
        self._thread.start()
        self.client = self.run(self._make(store, client_options))

    @staticmethod
    async def _make(store: Store | str | None, options: dict[str, Any]) -> Client:
        return Client(store, **options)

    @classmethod
    def bound(cls, client: Client, loop: asyncio.AbstractEventLoop) -> Self:
        """A blocking facade over ``client``, whose store lives on ``loop``."""
        self = cls.__new__(cls)
        self._loop, self._thread, self.client = loop, None, client
        return self

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` (a coroutine of :attr:`client`) on the client's loop, blocking."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            raise RuntimeError("SyncClient called from its own event loop; use Client instead")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    # One blocking method per public coroutine of Client, written out so that
    # type checkers see them (tests/client/test_sync_client.py keeps the lists equal).

    def start_new(self, orchestrator_name: str, instance_id: str | None = None,
                  input: Any = None, version: str | None = None) -> str:
        """See :meth:`Client.start_new`."""
        return self.run(self.client.start_new(orchestrator_name, instance_id, input, version))

    def start_new_from(self, payload: Mapping[str, Any]) -> str:
        """See :meth:`Client.start_new_from`."""
        return self.run(self.client.start_new_from(payload))

    def restart(self, instance_id: str, restart_with_new_instance_id: bool = True) -> str:
        """See :meth:`Client.restart`."""
        return self.run(self.client.restart(instance_id, restart_with_new_instance_id))

    def get_status(self, instance_id: str, show_history: bool = False,
                   show_history_output: bool = False,
                   show_input: bool = True) -> OrchestrationStatus | None:
        """See :meth:`Client.get_status`."""
        return self.run(self.client.get_status(instance_id, show_history, show_history_output,
                                               show_input))

    def export_history(self, instance_id: str) -> HistoryExport:
        """See :meth:`Client.export_history`."""
        return self.run(self.client.export_history(instance_id))

    def hub_stats(self) -> HubStats:
        """See :meth:`Client.hub_stats`."""
        return self.run(self.client.hub_stats())

    def get_status_all(self) -> list[OrchestrationStatus]:
        """See :meth:`Client.get_status_all`."""
        return self.run(self.client.get_status_all())

    def get_status_by(
        self, created_time_from: datetime | None = None, created_time_to: datetime | None = None,
        runtime_status: Status | str | Collection[Status | str] | None = None,
        instance_id_prefix: str | None = None, page_size: int = 100,
        continuation_token: str | None = None, show_input: bool = True, *,
        orchestrator_name: str | None = None, newest_first: bool = False,
        version: str | None = None,
    ) -> StatusPage:
        """See :meth:`Client.get_status_by`."""
        return self.run(self.client.get_status_by(
            created_time_from, created_time_to, runtime_status, instance_id_prefix, page_size,
            continuation_token, show_input, orchestrator_name=orchestrator_name,
            newest_first=newest_first, version=version))

    def count_by_status(
        self, created_time_from: datetime | None = None, created_time_to: datetime | None = None,
        instance_id_prefix: str | None = None, *, orchestrator_name: str | None = None,
        bound: int = 10_000,
    ) -> list[StatusCount]:
        """See :meth:`Client.count_by_status`."""
        return self.run(self.client.count_by_status(
            created_time_from, created_time_to, instance_id_prefix,
            orchestrator_name=orchestrator_name, bound=bound))

    def get_generations(self, instance_id: str) -> list[Generation]:
        """See :meth:`Client.get_generations`."""
        return self.run(self.client.get_generations(instance_id))

    def wait_for_completion(self, instance_id: str,
                            timeout: float | None = None) -> OrchestrationStatus:
        """See :meth:`Client.wait_for_completion`."""
        return self.run(self.client.wait_for_completion(instance_id, timeout))

    def raise_event(self, instance_id: str, event_name: str, event_data: Any = None) -> None:
        """See :meth:`Client.raise_event`."""
        self.run(self.client.raise_event(instance_id, event_name, event_data))

    def terminate(self, instance_id: str, reason: str | None = None) -> None:
        """See :meth:`Client.terminate`."""
        self.run(self.client.terminate(instance_id, reason))

    def suspend(self, instance_id: str, reason: str | None = None) -> None:
        """See :meth:`Client.suspend`."""
        self.run(self.client.suspend(instance_id, reason))

    def resume(self, instance_id: str, reason: str | None = None) -> None:
        """See :meth:`Client.resume`."""
        self.run(self.client.resume(instance_id, reason))

    def rewind(self, instance_id: str, reason: str | None = None) -> None:
        """See :meth:`Client.rewind`."""
        self.run(self.client.rewind(instance_id, reason))

    def signal_entity(self, entity_id: EntityRef, operation_name: str,
                      operation_input: Any = None) -> None:
        """See :meth:`Client.signal_entity`."""
        self.run(self.client.signal_entity(entity_id, operation_name, operation_input))

    def read_entity_state(self, entity_id: EntityRef) -> tuple[bool, Any]:
        """See :meth:`Client.read_entity_state`."""
        return self.run(self.client.read_entity_state(entity_id))

    def list_entities(self, name: str | None = None, *, prefix: str = "",
                      fetch_state: bool = False, include_deleted: bool = False,
                      last_modified_from: datetime | None = None,
                      last_modified_to: datetime | None = None, page_size: int = 100,
                      continuation_token: str | None = None) -> EntityPage:
        """See :meth:`Client.list_entities`."""
        return self.run(self.client.list_entities(
            name, prefix=prefix, fetch_state=fetch_state, include_deleted=include_deleted,
            last_modified_from=last_modified_from, last_modified_to=last_modified_to,
            page_size=page_size, continuation_token=continuation_token))

    def clean_entity_storage(self, remove_empty_entities: bool = True,
                             release_orphaned_locks: bool = True) -> CleanEntityStorageResult:
        """See :meth:`Client.clean_entity_storage`."""
        return self.run(self.client.clean_entity_storage(remove_empty_entities,
                                                         release_orphaned_locks))

    def purge_instance_history(self, instance_id: str) -> int:
        """See :meth:`Client.purge_instance_history`."""
        return self.run(self.client.purge_instance_history(instance_id))

    def purge_instance_history_by(
        self, created_time_from: datetime | None = None, created_time_to: datetime | None = None,
        runtime_status: Status | str | Collection[Status | str] | None = None,
    ) -> int:
        """See :meth:`Client.purge_instance_history_by`."""
        return self.run(self.client.purge_instance_history_by(
            created_time_from, created_time_to, runtime_status))

    def instance_generation(self, instance_id: str) -> datetime | None:
        """See :meth:`Client.instance_generation`."""
        return self.run(self.client.instance_generation(instance_id))

    def http_management_payload(self, instance_id: str,
                                base_url: str | None = None) -> dict[str, str]:
        """See :meth:`Client.http_management_payload`."""
        return self.run(self.client.http_management_payload(instance_id, base_url))

    def create_http_management_payload(self, instance_id: str,
                                       base_url: str | None = None) -> dict[str, str]:
        """See :meth:`Client.create_http_management_payload`."""
        return self.client.create_http_management_payload(instance_id, base_url)

    def close(self) -> None:
        """Close the store and stop the private loop."""
        if self._thread is not None:
            self.run(self.client.close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._thread = None

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
