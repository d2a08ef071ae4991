"""The executors a worker keeps in memory between steps, bounded by their estimated size.

An executor kept here runs its instance's next step without replaying the
history. The bound is in bytes, not in executors: one orchestration that
gathered megabytes of results weighs as much as thousands of small ones. The
estimate is what measurement shows an executor holds: a fixed part (the
generator frame, the context, its tables) and the values it decoded from the
events it consumed, which the orchestrator may keep in its locals.
When the budget is exceeded the least recently stepped executors go first;
an instance whose executor went is rebuilt by replay if it steps again.

An executor is a web of reference cycles (its context, generator and tasks
point at each other), so dropping one frees nothing until the cycle collector
runs; one that was kept long (an instance waiting for an event) is in the
oldest generation, which CPython collects rarely (100,000 waiting instances
once left 150 MB of evicted executors behind). So the cache takes apart every
executor it drops (:meth:`~perdure.core.executor.OrchestrationExecutor.discard`),
and reference counting frees it at once. Only one evicted while a batch in
flight may still drive it is left whole, to the collector: the cache runs a
full collection once it has left as many of those as
:data:`EVICTIONS_PER_COLLECTION` (or half its size). Full collections every
few thousand evictions had taken a twelfth of a worker releasing waiting
instances.
"""

from __future__ import annotations

import gc
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace

from ..core.executor import OrchestrationExecutor
from ..core.history import HistoryEvent
from ..core.status import OrchestrationRuntimeStatus
from ..store.base import InstanceRecord

#: What keeping one more executor costs the process (bytes): tracemalloc counts
#: about 4 KB for a small orchestration's executor and generator, the process's
#: RSS grows by about 7 KB per executor kept (allocator overhead included).
EXECUTOR_BYTES = 8192
#: The bookkeeping one consumed event leaves behind (a resolved task, a list slot).
EVENT_BYTES = 64
#: Decoded values weigh more than their JSON text (objects, boxed numbers): a margin.
PAYLOAD_FACTOR = 3

#: The fewest executors left whole (evicted mid-step) between two collections.
EVICTIONS_PER_COLLECTION = 1000

#: The history length of a cached executor whose step has not committed yet.
STEPPING = -1


def payload_bytes(events: Iterable[HistoryEvent]) -> int:
    """The estimated memory the values carried by ``events`` take once decoded."""
    total = 0
    for event in events:
        total += EVENT_BYTES
        for name in _payload_fields(type(event)):
            text = getattr(event, name)
            if text is not None:
                total += PAYLOAD_FACTOR * len(text)
    return total


_PAYLOADS: dict[type[HistoryEvent], tuple[str, ...]] = {}


def _payload_fields(cls: type[HistoryEvent]) -> tuple[str, ...]:
    """The fields of an event type that carry JSON values (looked up once per type)."""
    names = _PAYLOADS.get(cls)
    if names is None:
        names = _PAYLOADS[cls] = tuple(f.name for f in fields(cls)
                                       if f.name in ("input", "result"))
    return names


@dataclass(slots=True)
class CachedExecutor:
    """An executor, the execution it runs and the committed history it matches."""

    executor: OrchestrationExecutor
    execution_id: str
    history_len: int  # of the committed history the executor matches; STEPPING: none yet
    size: int = EXECUTOR_BYTES  # estimated bytes
    #: The instance as its last committed step left it (``None`` while stepping).
    instance: InstanceRecord | None = None

    def current_instance(self) -> InstanceRecord | None:
        """The instance as this executor's last committed step left it; ``None``
        while a step is in flight."""
        return None if self.history_len == STEPPING else self.instance


class ExecutorCache:
    """A least-recently-stepped map of instance id to :class:`CachedExecutor`,
    holding at most ``budget_bytes`` of estimated executor memory (0: none kept)."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self.size = 0  # estimated bytes held
        self._entries: OrderedDict[str, CachedExecutor] = OrderedDict()
        self._evicted = 0  # left whole since the last collection

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, instance_id: object) -> bool:
        return instance_id in self._entries

    def get(self, instance_id: str) -> CachedExecutor | None:
        """The entry of ``instance_id``, if any (its recency is unchanged)."""
        return self._entries.get(instance_id)

    def begin_step(self, instance_id: str, executor: OrchestrationExecutor,
                   execution_id: str, replayed: Iterable[HistoryEvent] = ()) -> None:
        """Hold ``executor`` for a step in flight: stale (:data:`STEPPING`) until
        :meth:`committed` says the step's commit applied. A new executor weighs
        what the history it was rebuilt from (``replayed``) carried."""
        old = self._remove(instance_id, keep=executor)
        size = old.size if old is not None and old.executor is executor \
            else EXECUTOR_BYTES + payload_bytes(replayed)
        self._entries[instance_id] = CachedExecutor(executor, execution_id, STEPPING, size)
        self.size += size

    def committed(self, instance_id: str, history_len: int, events: Iterable[HistoryEvent],
                  ran_on: InstanceRecord | None = None,
                  status: OrchestrationRuntimeStatus | None = None) -> None:
        """The step of ``instance_id`` committed, adding ``events`` to its history:
        the entry is current again, heavier by what they carried; then the least
        recently stepped entries go until the budget holds. With ``ran_on`` (the
        instance the step ran on) and the ``status`` it left, the entry keeps the
        instance as the step left it, for a next step run without a claim."""
        entry = self._entries.get(instance_id)
        if entry is None:
            return
        grown = payload_bytes(events)
        entry.history_len = history_len
        entry.instance = None if ran_on is None or status is None else \
            replace(ran_on, runtime_status=status, history_len=history_len)
        entry.size += grown
        self.size += grown
        self._entries.move_to_end(instance_id)
        self._shrink()

    def pop(self, instance_id: str) -> None:
        """Forget ``instance_id``'s executor (finished, failed to commit, or stale),
        taking it apart."""
        self._remove(instance_id)

    def _remove(self, instance_id: str,
                keep: OrchestrationExecutor | None = None) -> CachedExecutor | None:
        """Remove the entry, taking its executor apart unless it is ``keep``."""
        entry = self._entries.pop(instance_id, None)
        if entry is not None:
            self.size -= entry.size
            if entry.executor is not keep:
                entry.executor.discard()
        return entry

    def _shrink(self) -> None:
        while self.size > self.budget_bytes and self._entries:
            _, entry = self._entries.popitem(last=False)
            self.size -= entry.size
            if entry.history_len == STEPPING:  # a batch in flight may still drive it
                self._evicted += 1
            else:
                entry.executor.discard()
        if self._evicted >= max(EVICTIONS_PER_COLLECTION, len(self._entries) // 2):
            self._evicted = 0
            gc.collect()
