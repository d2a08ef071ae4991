"""The replay core is pure: the standard library only, no I/O layers, no asyncio."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "src" / "perdure" / "core"

FORBIDDEN_LAYERS = ("perdure.store", "perdure.worker", "perdure.client", "perdure.http",
                    "perdure.app", "perdure.cli")
# Not even indirectly: no event loop, no randomness, no I/O, no third-party driver.
FORBIDDEN_MODULES = ("asyncio", "random", "secrets", "socket", "sqlite3", "subprocess",
                     "psycopg", "psycopg_pool", "starlette", "uvicorn", "httpx", "click")
# Not directly from core code (``logging`` itself uses ``threading``, and that is fine).
FORBIDDEN_DIRECT = (*FORBIDDEN_MODULES, "threading", "time", "os", "concurrent")

# ``perdure/__init__.py`` re-exports the other layers; load ``perdure.core`` without it,
# as a package stub, so that only what the core itself needs gets imported.
PROBE = """
import importlib, json, sys, types
pkg = types.ModuleType("perdure")
pkg.__path__ = [sys.argv[1]]
sys.modules["perdure"] = pkg
before = set(sys.modules)
import perdure.core
for name in list(sys.modules):
    if name.startswith("perdure.core."):
        importlib.import_module(name)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_importing_perdure_core_pulls_in_no_other_layer_and_no_asyncio() -> None:
    out = subprocess.run([sys.executable, "-I", "-c", PROBE, str(CORE.parent)],
                         capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out)
    assert "perdure.core.executor" in loaded  # the probe really imported the core
    offenders = [m for m in loaded
                 if m.startswith(FORBIDDEN_LAYERS)
                 or m.split(".")[0] in FORBIDDEN_MODULES]
    assert offenders == []


def test_core_modules_import_only_the_standard_library_and_each_other() -> None:
    modules = sorted(CORE.glob("*.py"))
    assert len(modules) >= 8
    bad = []
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level == 1:
                    continue  # a sibling core module
                if node.level > 1:
                    bad.append(f"{path.name}: relative import out of core")
                    continue
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top == "__future__":
                    continue
                if top not in sys.stdlib_module_names or top in FORBIDDEN_DIRECT:
                    bad.append(f"{path.name}: import {name}")
    assert bad == []
