"""Observability that the worker, client and server share: counters, trace context, logs.

This package imports only the standard library and :mod:`perdure.core`
(OpenTelemetry, optional, is imported lazily by :mod:`.tracing` when it is
installed): the worker imports it on its hot path.
"""

from __future__ import annotations

from .logs import FIELDS, JsonFormatter, TextFormatter, configure_logging, fields
from .metrics import DURATION_BUCKETS, Histogram, WorkerMetrics

__all__ = ["DURATION_BUCKETS", "FIELDS", "Histogram", "JsonFormatter", "TextFormatter",
           "WorkerMetrics", "configure_logging", "fields"]
