"""Durable Functions apps of the v1 model: a folder of ``*/function.json`` functions.

Imported as the Functions worker does: a namespace package ``__app__`` whose
search path is the app's root, each function folder ``F`` a module
``__app__.F`` (or ``__app__.F.<script>`` for another ``scriptFile``), so that
relative imports (``from ..shared_code import x``) work; the root is on
``sys.path`` too. A function is named after its folder; its entry point is
``entryPoint``, else ``main``.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from typing import Any

from ..core.errors import AppLoadError, InvalidArgumentError
from .discovery import DURABLE_CLIENT, DiscoveredFunction, read_host_json, read_json
from .loader import FunctionApp, add_function, new_function_app

PACKAGE = "__app__"
_CLIENT_TYPES = (DURABLE_CLIENT, "orchestrationClient")


def is_v1_app(root: Path) -> bool:
    """Whether ``root`` holds v1 functions (``*/function.json``)."""
    return root.is_dir() and any(root.glob("*/function.json"))


class _Trigger:
    """A v1 trigger binding with the attribute names of the v2 decorators' triggers."""

    def __init__(self, binding: dict[str, Any], folder: str) -> None:
        self.type = binding.get("type")
        self.name = binding.get("name")
        self.route = binding.get("route") or folder
        methods = binding.get("methods")
        self.methods = [str(m).upper() for m in methods] if methods else None
        self.auth_level = str(binding.get("authLevel") or "function").lower()
        self.orchestration = self.activity = None


def _install_package(root: Path) -> None:
    # A fresh package: modules of an app loaded before must not shadow this one's.
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
        del sys.modules[name]
    spec = importlib.machinery.ModuleSpec(PACKAGE, None, is_package=True)
    spec.submodule_search_locations = [str(root)]
    sys.modules[PACKAGE] = importlib.util.module_from_spec(spec)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))


def _function(folder: Path) -> DiscoveredFunction:
    spec = read_json(folder / "function.json", "function.json")
    bindings = spec.get("bindings") if isinstance(spec, dict) else None
    if not isinstance(bindings, list):
        raise InvalidArgumentError(f"{folder / 'function.json'}: no bindings list")
    triggers = [b for b in bindings if isinstance(b, dict)
                and str(b.get("type", "")).endswith("Trigger")]
    if len(triggers) != 1:
        raise InvalidArgumentError(f"{folder / 'function.json'}: expected one trigger, "
                                   f"found {len(triggers)}")
    trigger = _Trigger(triggers[0], folder.name)
    script = str(spec.get("scriptFile") or "__init__.py")
    module_name = f"{PACKAGE}.{folder.name}"
    if Path(script).name != "__init__.py":
        module_name += f".{Path(script).stem}"
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise AppLoadError(str(folder), f"{type(exc).__name__}: {exc}") from exc
    entry = str(spec.get("entryPoint") or "main")
    fn = getattr(module, entry, None)
    if fn is None:
        raise InvalidArgumentError(f"{folder}: {module_name} has no {entry!r}")
    clients = [b["name"] for b in bindings if b.get("type") in _CLIENT_TYPES]
    outs = [b["name"] for b in bindings if b.get("type") == "http"
            and b.get("direction") == "out" and b.get("name") != "$return"]
    return DiscoveredFunction(folder.name, str(trigger.type), fn, trigger, clients, outs[:1])


def load_v1_app(root: Path) -> FunctionApp:
    """The perdure app running the v1 functions under ``root``."""
    root = root.resolve()
    _install_package(root)
    settings = read_host_json(root)
    app = new_function_app(root, settings)
    for folder in sorted(p for p in root.iterdir() if (p / "function.json").is_file()):
        # Named after its folder only; other triggers are skipped with a warning.
        add_function(app, _function(folder), aliases=False)
    return app
