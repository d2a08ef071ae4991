"""OpenTelemetry spans in Durable Task's conventions, emitted once their work committed.

Optional: without the OpenTelemetry SDK installed (or with no SDK tracer
provider configured) :func:`active` returns ``None`` and nothing else here
runs; that one check is the whole cost on the worker's hot path.

A durable instance runs over many steps, on any worker, replayed after a
crash; a span held open in memory would be lost or started twice. So spans
are written out whole, after the fact, with ids derived from the instance,
execution and task id (:func:`span_id`): a step that is replayed, or a worker
that crashes before its commit, never yields a second span, and a span's
children can name it before it exists. Only the caller's span (the
``traceparent`` of an HTTP start, the current span of ``Client.start_new``)
is a live one.
"""

from __future__ import annotations

import hashlib
import importlib
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from ..core.errors import InvalidArgumentError

T = TypeVar("T")

TRACER_NAME = "perdure"
#: The instrumentation scope of the spans written after the fact (derived ids).
DURABLE_TRACER_NAME = "perdure.durable"
# The attribute names of Durable Task's tracing schema (DurableTask.Core Schema.cs).
ATTR_TYPE = "durabletask.type"
ATTR_NAME = "durabletask.task.name"
ATTR_INSTANCE_ID = "durabletask.task.instance_id"
ATTR_EXECUTION_ID = "durabletask.task.execution_id"
ATTR_STATUS = "durabletask.task.status"
ATTR_TASK_ID = "durabletask.task.task_id"
ATTR_TARGET_INSTANCE_ID = "durabletask.event.target_instance_id"
ATTR_FIRE_AT = "durabletask.fire_at"

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS = timedelta(microseconds=1)


def span_id(instance_id: str, execution_id: str, role: str, task_id: int = -1) -> int:
    """The span id of ``role`` (``orchestration``, ``activity``, ``activity-run``, ...) of
    one execution's task: the same on every worker and every replay."""
    digest = hashlib.blake2b(f"{instance_id}\0{execution_id}\0{role}\0{task_id}".encode(),
                             digest_size=8).digest()
    return int.from_bytes(digest, "big") or 1


def trace_id_of(instance_id: str, execution_id: str) -> int:
    """The trace id of an execution started with no trace context."""
    digest = hashlib.blake2b(f"{instance_id}\0{execution_id}".encode(), digest_size=16).digest()
    return int.from_bytes(digest, "big") or 1


def traceparent(trace_id: int, parent_span_id: int) -> str:
    """A W3C ``traceparent`` header value (sampled)."""
    return f"00-{trace_id:032x}-{parent_span_id:016x}-01"


@dataclass(frozen=True, slots=True)
class Parent:
    """A parsed ``traceparent``: whose child a span is."""

    trace_id: int
    span_id: int
    sampled: bool
    trace_state: str | None = None


def parse_traceparent(value: str | None, trace_state: str | None = None) -> Parent | None:
    """A valid W3C ``traceparent`` (version 00) parsed; ``None`` for anything else."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None:
        return None
    trace, span, flags = (int(group, 16) for group in match.groups())
    if not trace or not span:
        return None
    return Parent(trace, span, bool(flags & 1), trace_state or None)


def to_ns(moment: datetime) -> int:
    """An aware datetime as nanoseconds since the epoch."""
    return (moment - _EPOCH) // _NS * 1000


@dataclass(slots=True)
class SpanRecord:
    """A finished span to write out: everything decided, ids included."""

    name: str
    kind: str  # "server", "client", "producer" or "internal"
    trace_id: int
    span_id: int
    parent_span_id: int | None
    start_ns: int
    end_ns: int
    attributes: dict[str, str | int] = field(default_factory=dict)
    error: str | None = None
    trace_state: str | None = None


class SpanWriter(Protocol):
    """What the worker and the client ask of the tracer (:class:`.otel.Tracer`)."""

    def emit(self, record: SpanRecord) -> None:
        """Write out ``record`` as an ended span with its own ids and times."""
        ...

    def producer(self, name: str, attributes: dict[str, str | int],
                 ) -> AbstractContextManager[tuple[str | None, str | None]]:
        """A live producer span as the current one, yielding its trace context."""
        ...


_active: SpanWriter | None = None


def _otel() -> Any:
    """:mod:`.otel`, imported on first use: only a process that uses OpenTelemetry pays
    for importing it (an optional dependency, not a layer: see that module)."""
    return importlib.import_module(f"{__package__}.otel")


def active() -> SpanWriter | None:
    """perdure's tracer when an OpenTelemetry SDK tracer provider is the global one
    (set by the user's code, or from ``OTEL_*`` by :func:`configure_from_env`).

    Cheap while tracing is off: a process that never imported ``opentelemetry``
    has no provider, and one with a provider set keeps it for good (OTel's rule).
    """
    global _active
    if _active is not None or "opentelemetry.trace" not in sys.modules:
        return _active
    try:
        _active = _otel().sdk_tracer()
    except ImportError:  # the API without the SDK: no spans
        return None
    return _active


@contextmanager
def remote_parent(header: str | None, state: str | None = None) -> Iterator[None]:
    """Make a caller's ``traceparent``/``tracestate`` the current context (an HTTP start)."""
    if header is None or active() is None or parse_traceparent(header) is None:
        yield
        return
    with _otel().attached(header, state):
        yield


def run_inside(parent: Parent, fn: Callable[[], T]) -> T:
    """Call ``fn`` with ``parent`` (an activity's run span) as the current span, so that
    spans the user's code starts nest under it (on whatever thread calls this)."""
    run: Callable[[Parent, Callable[[], T]], T] = _otel().run_inside
    return run(parent, fn)


def configure_from_env(environ: dict[str, str]) -> bool:
    """Install an SDK tracer provider from ``OTEL_TRACES_EXPORTER`` (``console`` or
    ``otlp``; ``OTEL_SERVICE_NAME``, ``OTEL_EXPORTER_OTLP_*`` and ``OTEL_BSP_*`` as the
    SDK reads them) unless one is set already; whether tracing is on."""
    exporters = [e.strip() for e in environ.get("OTEL_TRACES_EXPORTER", "").split(",")
                 if e.strip() and e.strip() != "none"]
    if not exporters or active() is not None:
        return active() is not None
    try:
        otel = _otel()
    except ImportError:
        raise InvalidArgumentError(
            "OTEL_TRACES_EXPORTER is set but the OpenTelemetry SDK is not installed: "
            "pip install 'perdure[tracing]'") from None
    otel.install(exporters, environ)
    return active() is not None
