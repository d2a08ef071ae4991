"""The OpenTelemetry side of :mod:`.tracing`: imported only once OpenTelemetry is in use.

Importing the SDK costs a few hundred milliseconds; :mod:`.tracing` imports
this module only when the process has imported ``opentelemetry`` itself (it
set up a tracer provider) or asked for tracing by ``OTEL_TRACES_EXPORTER``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ..core.errors import InvalidArgumentError
from .tracing import DURABLE_TRACER_NAME, TRACER_NAME, Parent, SpanRecord

T = TypeVar("T")

_KINDS = {"server": SpanKind.SERVER, "client": SpanKind.CLIENT,
          "producer": SpanKind.PRODUCER, "internal": SpanKind.INTERNAL}


class _GivenIds(IdGenerator):
    """Hands out the ids :meth:`Tracer.emit` sets just before it starts a span."""

    def __init__(self) -> None:
        self.span = 1
        self.trace = 1

    def generate_span_id(self) -> int:
        return self.span

    def generate_trace_id(self) -> int:
        return self.trace


class Tracer:
    """perdure's spans through an SDK tracer provider (see :func:`.tracing.active`)."""

    def __init__(self, provider: TracerProvider) -> None:
        self._ids = _GivenIds()
        # The SDK's Tracer takes its ids from this public attribute. The provider keeps
        # one tracer per scope name: this scope is perdure's alone, so every other
        # tracer (perdure's live one included) keeps its random ids.
        self._given = provider.get_tracer(DURABLE_TRACER_NAME)
        self._given.id_generator = self._ids  # type: ignore[attr-defined]
        self._live = provider.get_tracer(TRACER_NAME)

    def emit(self, record: SpanRecord) -> None:
        """Write out ``record`` as an ended span with its own ids and times."""
        parent = otel_context.Context()
        if record.parent_span_id is not None:
            parent = _context_of(Parent(record.trace_id, record.parent_span_id, True,
                                        record.trace_state), remote=True)
        self._ids.trace, self._ids.span = record.trace_id, record.span_id
        span = self._given.start_span(record.name, context=parent, kind=_KINDS[record.kind],
                                      attributes=record.attributes, start_time=record.start_ns)
        if record.error is not None:
            span.set_status(Status(StatusCode.ERROR, record.error))
        span.end(end_time=max(record.end_ns, record.start_ns))

    @contextmanager
    def producer(self, name: str, attributes: dict[str, str | int],
                 ) -> Iterator[tuple[str | None, str | None]]:
        """A live producer span as the current one; yields its ``(traceparent,
        tracestate)`` to store with what it produces."""
        with self._live.start_as_current_span(name, kind=SpanKind.PRODUCER,
                                              attributes=attributes):
            carrier: dict[str, str] = {}
            TraceContextTextMapPropagator().inject(carrier)
            yield carrier.get("traceparent"), carrier.get("tracestate")


def sdk_tracer() -> Tracer | None:
    """A :class:`Tracer` on the global provider, if that is an SDK provider."""
    provider = otel_trace.get_tracer_provider()
    return Tracer(provider) if isinstance(provider, TracerProvider) else None


def _context_of(parent: Parent, remote: bool = False) -> Any:
    state = TraceState.from_header([parent.trace_state]) if parent.trace_state else None
    return otel_trace.set_span_in_context(NonRecordingSpan(SpanContext(
        parent.trace_id, parent.span_id, is_remote=remote,
        trace_flags=TraceFlags(TraceFlags.SAMPLED), trace_state=state)))


@contextmanager
def attached(header: str, state: str | None) -> Iterator[None]:
    """A caller's ``traceparent``/``tracestate`` as the current context."""
    carrier = {"traceparent": header, **({"tracestate": state} if state else {})}
    token = otel_context.attach(TraceContextTextMapPropagator().extract(carrier))
    try:
        yield
    finally:
        otel_context.detach(token)


def run_inside(parent: Parent, fn: Callable[[], T]) -> T:
    """Call ``fn`` with ``parent`` as the current span."""
    token = otel_context.attach(_context_of(parent))
    try:
        return fn()
    finally:
        otel_context.detach(token)


def install(exporters: list[str], environ: dict[str, str]) -> None:
    """Set a global SDK provider exporting to ``exporters`` (``console``, ``otlp``)."""
    provider = TracerProvider(resource=Resource.create())
    for name in exporters:
        if name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        elif name == "otlp":
            provider.add_span_processor(BatchSpanProcessor(_otlp_exporter(environ)))
        else:
            raise InvalidArgumentError(f"OTEL_TRACES_EXPORTER={name!r} is not supported "
                                       "(use console or otlp)")
    otel_trace.set_tracer_provider(provider)


def _otlp_exporter(environ: dict[str, str]) -> Any:
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                           environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"))
    flavour = "grpc" if protocol == "grpc" else "http"
    try:  # an optional package of its own (opentelemetry-exporter-otlp)
        module = importlib.import_module(
            f"opentelemetry.exporter.otlp.proto.{flavour}.trace_exporter")
    except ImportError:
        raise InvalidArgumentError(
            "OTEL_TRACES_EXPORTER=otlp needs the OTLP exporter: pip install "
            "opentelemetry-exporter-otlp") from None
    return module.OTLPSpanExporter()
