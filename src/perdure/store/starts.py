"""Starts handed over to an idle worker of the same process.

A client that starts an instance while a worker of its process idles would
otherwise commit the start, wake the worker, and wait for it to lease the
instance in a transaction of its own before the first step runs. A store that
hands starts over leases the new instance to that worker in the start's own
commit (a lease like a claim's: a fresh token, ``attempts`` 1) and gives it the
work item at once: one transaction fewer on every start of an idle hub, which
is most of a lone request's latency. Under load no worker idles, so starts go
to the backlog and are claimed in order, as before.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from ..core.status import OrchestrationRuntimeStatus
from .base import InboxMessage, InstanceRecord, NewInstance, OrchestrationWorkItem, StartTaker
from .codec import from_us, seconds_to_us, started_event, to_us


class StartLease(NamedTuple):
    """The lease a start's commit gives the instance for ``taker``."""

    taker: StartTaker
    lock_token: str
    #: When the lease ends, in the store's microseconds.
    expires: int


class HandsOverStarts:
    """The :class:`~perdure.store.base.Store` methods that keep the takers of starts,
    for both stores, and the lease a start asks of them."""

    _start_takers: tuple[StartTaker, ...] = ()

    def take_starts(self, taker: StartTaker) -> None:
        if taker not in self._start_takers:
            self._start_takers = (*self._start_takers, taker)

    def stop_taking_starts(self, taker: StartTaker) -> None:
        self._start_takers = tuple(t for t in self._start_takers if t is not taker)

    def _start_lease(self, new: NewInstance, now: int) -> StartLease | None:
        """The lease of the first taker that takes ``new`` now (``now`` in microseconds)."""
        for taker in self._start_takers:
            seconds = taker.lease_for(new)
            if seconds is not None:
                return StartLease(taker, os.urandom(16).hex(), now + seconds_to_us(seconds))
        return None


def started_item(new: NewInstance, lease: StartLease, now: int,
                 message_id: int) -> OrchestrationWorkItem:
    """The work item of ``new``, just created at ``now`` (microseconds) and leased by
    ``lease``, with its ``ExecutionStarted`` message (id ``message_id``): what a claim
    would have read back."""
    created = from_us(now) if new.created_at is None else from_us(to_us(new.created_at))
    record = InstanceRecord(new.instance_id, new.name, new.execution_id,
                            OrchestrationRuntimeStatus.Pending, created, from_us(now),
                            input=new.input, parent_instance_id=new.parent_instance_id,
                            version=new.version)
    message = InboxMessage(message_id, started_event(new, created), new.execution_id)
    return OrchestrationWorkItem(record, lease.lock_token, 1, [message])


__all__ = ["HandsOverStarts", "StartLease", "started_item"]
