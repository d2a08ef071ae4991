"""Hosting unmodified Azure Durable Functions Python apps (``perdure serve function_app.py``).

Both programming models: v2 (``function_app.py``) and v1 (``*/function.json``
folders, :func:`load_v1_app`). Needs ``azure-functions`` and
``azure-functions-durable`` (1.7 ≤ version < 2).
:func:`app_from_module` builds a perdure app from a ``function_app.py``
module: its orchestrators run through the SDK's own handler
(:class:`DFOrchestrationExecutor`), its activities and HTTP functions get
their inputs as the Functions host gives them, and durable clients reach
perdure's management API in-process (:func:`install_transport`).
"""

from __future__ import annotations

import importlib
from datetime import datetime

from .client import PRIVATE_HOST, binding_json, install_transport
from .discovery import HostSettings, apply_local_settings, read_host_json
from .executor import DFOrchestrationExecutor
from .loader import FunctionApp, app_from_module, defines_function_app
from .v1 import is_v1_app, load_v1_app

# The SDK parses every history timestamp with dateutil at every step (most of
# its cost); perdure writes each one itself, in ISO 8601, which the standard
# parser reads directly.
setattr(importlib.import_module(  # noqa: B010 - the SDK module's global
    "azure.durable_functions.models.history.HistoryEvent"), "dt_parse", datetime.fromisoformat)

__all__ = [
    "PRIVATE_HOST",
    "DFOrchestrationExecutor",
    "FunctionApp",
    "HostSettings",
    "app_from_module",
    "apply_local_settings",
    "binding_json",
    "defines_function_app",
    "install_transport",
    "is_v1_app",
    "load_v1_app",
    "read_host_json",
]
