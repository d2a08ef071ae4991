"""A perdure :class:`~perdure.App` built from a Durable Functions app module."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from ..app import App, Route
from ..core.errors import InvalidArgumentError
from . import executor as _executor
from .activity import wrap_activity
from .builtin import HTTP_ACTIVITY, http_activity
from .discovery import (
    ACTIVITY_TRIGGER,
    ENTITY_TRIGGER,
    HTTP_TRIGGER,
    ORCHESTRATION_TRIGGER,
    DiscoveredFunction,
    HostSettings,
    discover,
    find_function_register,
    read_host_json,
)
from .entity import wrap_entity
from .http_functions import ALL_METHODS, wrap_http_function

log = logging.getLogger(__name__)


@dataclass
class FunctionApp(App):
    """A perdure app hosting an unmodified Durable Functions app."""

    hub_name: str = "TestHubName"
    root: str = ""
    """The folder of ``function_app.py``."""
    skipped: list[str] = field(default_factory=list)
    """One line per function perdure does not run (its trigger is not supported)."""


def new_function_app(root: Path, settings: HostSettings) -> FunctionApp:
    """An empty app for the Functions app at ``root``, with the host's built-in activities."""
    app = FunctionApp(route_prefix=settings.route_prefix, hub_name=settings.hub_name,
                      root=str(root), version=settings.default_version,
                      version_match=settings.version_match,
                      version_failure=settings.version_failure)
    app.activity(http_activity, name=HTTP_ACTIVITY)
    return app


def defines_function_app(module: ModuleType) -> bool:
    """Whether ``module`` defines an Azure Functions app (a ``FunctionRegister``)."""
    return find_function_register(module) is not None


def app_from_module(module: ModuleType) -> FunctionApp:
    """The perdure app running ``module``'s orchestrators, activities and HTTP functions.

    Reads ``host.json`` beside the module (route prefix, hub name, versioning). Functions
    with other triggers are left out, each with one warning (also kept in
    :attr:`FunctionApp.skipped`).
    """
    register = find_function_register(module)
    if register is None:
        raise InvalidArgumentError(f"{module.__name__} defines no FunctionApp or DFApp")
    root = Path(getattr(module, "__file__", None) or ".").resolve().parent
    settings = read_host_json(root)
    app = new_function_app(root, settings)
    for function in discover(register):
        add_function(app, function)
    return app


def add_function(app: FunctionApp, function: DiscoveredFunction, *,
                 aliases: bool = True) -> None:
    """Register ``function`` on ``app`` by its trigger; skip it, with a warning, if perdure
    does not run that trigger. ``aliases``: also under the Python name (v2)."""
    if function.kind == ORCHESTRATION_TRIGGER:
        handle = function.user_function
        if not hasattr(handle, "orchestrator_function"):
            raise InvalidArgumentError(f"orchestrator {function.name!r} is not an SDK "
                                       "orchestrator (df.Orchestrator.create)")
        handle.__perdure_executor__ = _executor.DFOrchestrationExecutor
        app.orchestrator(handle, name=function.name)
        if aliases:
            _alias(app.orchestrators, function.name, handle.orchestrator_function)
    elif function.kind == ACTIVITY_TRIGGER:
        app.activity(wrap_activity(function.user_function, function.trigger.name,
                                   function.client_params, function.name, app.root,
                                   app.hub_name),
                     name=function.name)
        if aliases:
            _alias(app.activities, function.name, function.user_function)
    elif function.kind == HTTP_TRIGGER:
        _add_http(app, function)
    elif function.kind == ENTITY_TRIGGER:
        app.entity(wrap_entity(function.user_function, function.name), name=function.name)
    else:
        what = f"perdure does not run {function.kind!r} triggers"
        line = f"skipping function {function.name!r}: {what}"
        app.skipped.append(line)
        log.warning("%s", line)


def _alias(table: dict[str, Any], name: str, fn: Any) -> None:
    """Also register ``table[name]`` under ``fn``'s Python name: the SDK schedules a
    decorated function passed as such (``call_activity(say_hello)``) by that name,
    not by its ``function_name``."""
    python_name = getattr(fn, "__name__", None)
    if isinstance(python_name, str) and python_name and python_name not in table:
        table[python_name] = table[name]


def _add_http(app: FunctionApp, function: DiscoveredFunction) -> None:
    trigger: Any = function.trigger
    methods = trigger.methods
    names = ALL_METHODS if not methods else tuple(
        str(getattr(m, "value", m)).upper() for m in methods)
    level = getattr(trigger.auth_level, "value", trigger.auth_level) or "function"
    endpoint = wrap_http_function(function.user_function, trigger.name,
                                  function.client_params, function.name, app.root,
                                  function.out_params[0] if function.out_params else None,
                                  app.hub_name)
    app.routes.append(Route((trigger.route or function.name).strip("/"), names, endpoint,
                            str(level).lower()))
