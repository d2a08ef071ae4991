"""Loading APP for the CLI: a perdure app, or an Azure Durable Functions app.

``APP`` may be a perdure module (``app.py``, ``module:attr``), or a Functions
app: its ``function_app.py`` or the folder holding one. A Functions app is
recognised by what the module defines (a ``FunctionRegister`` such as
``df.DFApp``); a folder of ``*/function.json`` functions is a v1 app. Either
way ``local.settings.json``'s ``Values`` are put into the environment before
the app is imported.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..app import App, app_of_module, import_app_module

FUNCTION_APP_FILE = "function_app.py"


def _function_app_root(target: str) -> Path | None:
    path = Path(target)
    if path.is_dir():
        return path if (path / FUNCTION_APP_FILE).is_file() else None
    if path.is_file() and (path.name == FUNCTION_APP_FILE or (path.parent / "host.json").is_file()):
        return path.parent
    return None


def _is_v1_folder(target: str) -> bool:
    path = Path(target)
    return path.is_dir() and not (path / FUNCTION_APP_FILE).is_file() \
        and any(path.glob("*/function.json"))


def _warn_skipped(app: App) -> App:
    for line in getattr(app, "skipped", ()):
        click.echo(f"warning: {line}", err=True)
    return app


def load_any_app(spec: str) -> App:
    """The app of ``spec``; prints one ``warning:`` line per function it cannot run."""
    target, _, attr = spec.partition(":")
    if _is_v1_folder(target):
        from ..azure import apply_local_settings, load_v1_app

        apply_local_settings(Path(target))
        return _warn_skipped(load_v1_app(Path(target)))
    root = _function_app_root(target)
    if root is not None and Path(target).is_dir():
        spec = str(root / FUNCTION_APP_FILE)
        target = spec
    if root is not None:
        try:
            from ..azure import apply_local_settings
        except ImportError:  # the SDK is missing: the import below says what is wrong
            pass
        else:
            apply_local_settings(root)
    module = import_app_module(spec)
    if not attr and "azure.functions" in sys.modules:
        from ..azure import app_from_module, defines_function_app

        if defines_function_app(module):
            return _warn_skipped(app_from_module(module))
    return app_of_module(module, spec)
