"""Finding a Durable Functions app's functions, and its ``host.json`` / ``local.settings.json``.

As the Functions worker indexes a v2 app: the module's single
``FunctionRegister`` (``df.DFApp``, ``func.FunctionApp`` with blueprints
registered, ...) and its ``get_functions()`` — which may be called only
once per app object, so the result is cached here.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from azure.functions import FunctionRegister

from ..core.errors import InvalidArgumentError

ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
ENTITY_TRIGGER = "entityTrigger"
HTTP_TRIGGER = "httpTrigger"
DURABLE_CLIENT = "durableClient"

_FUNCTIONS_CACHE = "_perdure_functions"


@dataclass(frozen=True, slots=True)
class HostSettings:
    """What perdure honours of ``host.json``."""

    route_prefix: str = "api"
    hub_name: str = "TestHubName"
    default_version: str | None = None
    """``extensions.durableTask.defaultVersion``: the app's version."""
    version_match: str | None = None
    """``versionMatchStrategy``, as perdure names it (``current-or-older``, ...)."""
    version_failure: str | None = None
    """``versionFailureStrategy``: ``leave`` (the host's ``Reject``) or ``fail``."""


@dataclass(frozen=True, slots=True)
class DiscoveredFunction:
    """One function of the app, classified by its trigger."""

    name: str
    """The registered name (``orchestration=``/``activity=`` of the trigger, else the
    function's name)."""
    kind: str
    """The trigger type (``orchestrationTrigger``, ``activityTrigger``, ``httpTrigger``…)."""
    user_function: Any
    trigger: Any
    client_params: list[str] = field(default_factory=list)
    """Parameters bound to a durable client."""
    out_params: list[str] = field(default_factory=list)
    """A named ``http`` output binding (v1), a ``func.Out`` parameter."""


def read_json(path: Path, what: str) -> Any:
    """The JSON of a settings file; :class:`InvalidArgumentError` naming it otherwise."""
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise InvalidArgumentError(f"cannot read {what} {path}: {exc}") from None


def _section(data: Any, key: str) -> dict[str, Any]:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


#: host.json's ``versionMatchStrategy`` and ``versionFailureStrategy`` values, by
#: their lower-cased names, as perdure's worker options name them.
_MATCH = {"none": "none", "strict": "strict", "currentorolder": "current-or-older"}
_FAILURE = {"reject": "leave", "fail": "fail"}


def _strategy(durable: dict[str, Any], key: str, names: dict[str, str], path: Path) -> str | None:
    value = durable.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or value.lower() not in names:
        raise InvalidArgumentError(f"{path}: extensions.durableTask.{key} {value!r} is not one "
                                   f"of {', '.join(sorted(names))} (any casing)")
    return names[value.lower()]


def read_host_json(root: Path) -> HostSettings:
    """``extensions.http.routePrefix`` (default ``api``), ``extensions.durableTask.hubName``,
    and the versioning of ``extensions.durableTask`` (``defaultVersion``,
    ``versionMatchStrategy``, ``versionFailureStrategy``)."""
    path = root / "host.json"
    if not path.is_file():
        return HostSettings()
    data = read_json(path, "host.json")
    extensions = _section(data, "extensions")
    http = _section(extensions, "http")
    durable = _section(extensions, "durableTask")
    prefix = http.get("routePrefix", "api")
    if not isinstance(prefix, str):
        raise InvalidArgumentError(f"{path}: extensions.http.routePrefix must be a string")
    hub = durable.get("hubName", "TestHubName")
    version = durable.get("defaultVersion")
    if version is not None and not isinstance(version, str):
        raise InvalidArgumentError(f"{path}: extensions.durableTask.defaultVersion must be a "
                                   "string")
    return HostSettings(route_prefix=prefix.strip("/"),
                        hub_name=hub if isinstance(hub, str) and hub else "TestHubName",
                        default_version=version or None,
                        version_match=_strategy(durable, "versionMatchStrategy", _MATCH, path),
                        version_failure=_strategy(durable, "versionFailureStrategy", _FAILURE,
                                                  path))


def apply_local_settings(root: Path) -> list[str]:
    """Put ``local.settings.json``'s ``Values`` into ``os.environ``, not overriding what is
    set; returns the names set."""
    path = root / "local.settings.json"
    if not path.is_file():
        return []
    data = read_json(path, "local.settings.json")
    values = data.get("Values") if isinstance(data, dict) else None
    if values is None:
        return []
    if not isinstance(values, dict):
        raise InvalidArgumentError(f"{path}: Values must be an object")
    added = []
    for name, value in values.items():
        if name not in os.environ and value is not None:
            os.environ[name] = value if isinstance(value, str) else json.dumps(value)
            added.append(name)
    return added


def find_function_register(module: ModuleType) -> FunctionRegister | None:
    """The module's one ``FunctionRegister``; ``None`` if it has none."""
    found = [value for value in vars(module).values() if isinstance(value, FunctionRegister)]
    unique = list({id(v): v for v in found}.values())
    if len(unique) > 1:
        raise InvalidArgumentError(f"{module.__name__} defines {len(unique)} function apps "
                                   "(FunctionApp/DFApp); a Functions app has exactly one")
    return unique[0] if unique else None


def _functions(register: FunctionRegister) -> list[Any]:
    cached = getattr(register, _FUNCTIONS_CACHE, None)
    if cached is None:
        try:
            cached = register.get_functions()
        except ValueError as exc:
            raise InvalidArgumentError(f"invalid function app: {exc}") from None
        setattr(register, _FUNCTIONS_CACHE, cached)
    return list(cached)


def discover(register: FunctionRegister) -> list[DiscoveredFunction]:
    """Every function of ``register``, classified by trigger, in registration order."""
    out: list[DiscoveredFunction] = []
    for function in _functions(register):
        trigger = function.get_trigger()
        kind = trigger.type
        name = function.get_function_name()
        if kind == ORCHESTRATION_TRIGGER:
            name = getattr(trigger, "orchestration", None) or name
        elif kind == ACTIVITY_TRIGGER:
            name = getattr(trigger, "activity", None) or name
        elif kind == ENTITY_TRIGGER:
            name = getattr(trigger, "entity_name", None) or name
        clients = [b.name for b in function.get_bindings() if b.type == DURABLE_CLIENT]
        out.append(DiscoveredFunction(name, kind, function.get_user_function(), trigger,
                                      clients))
    return out
