"""The ``App`` registry: the orchestrators, activities and HTTP routes of one module."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from .core.entity_batch import EntityFunction, class_entity
from .core.errors import AppLoadError, InvalidArgumentError, UnknownFunctionError
from .core.strict import StrictReplay
from .core.versions import VersionFailure, VersionMatch, check_version

#: The values of ``App.on_nondeterminism`` (and ``WorkerOptions.on_nondeterminism``).
ON_NONDETERMINISM = ("fail", "park")


def check_on_nondeterminism(value: str) -> str:
    """``value`` if it is ``"fail"`` or ``"park"``, else :class:`InvalidArgumentError`."""
    if value not in ON_NONDETERMINISM:
        raise InvalidArgumentError(f"on_nondeterminism must be 'fail' or 'park', got {value!r}")
    return value

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Route:
    """A user HTTP function registered with :meth:`App.route`."""

    path: str
    methods: tuple[str, ...]
    endpoint: Callable[..., Any]
    auth_level: str = "anonymous"


@dataclass
class App:
    """Registers orchestrator, activity and HTTP-triggered functions by name.

    ``route_prefix`` is the path prefix of user routes (``"api"`` by default,
    ``""`` for none), as in Azure Functions' ``host.json``.

    ``strict_replay`` makes replay stricter. By default, when an instance
    resumes, each action the code schedules must match the recorded one in
    kind and name (a call added, removed, renamed or reordered fails the
    instance with :class:`NonDeterminismError`); with ``strict_replay=True``
    an activity or sub-orchestration called with another input than the
    recorded one fails it too. The replay tools of :mod:`perdure.testing`
    (and ``perdure replay-check``) are strict for a strict app.

    ``version`` (e.g. ``"2.1"``) is stamped on every instance this app's
    clients start without a version of their own, and is the version of
    its workers: by default they run only instances of that version or
    older (see :class:`perdure.WorkerOptions`).

    ``on_nondeterminism`` says what a worker does when replay finds that the
    code no longer matches an instance's history: ``"fail"`` (the default)
    fails the instance; ``"park"`` leaves it Running, untouched, with the
    error in its status, until a worker starts again (fixed code deployed,
    or a rollback), which retries it.
    """

    route_prefix: str = "api"
    orchestrators: dict[str, Callable[..., Any]] = field(default_factory=dict)
    activities: dict[str, Callable[..., Any]] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    activity_timeouts: dict[str, float] = field(default_factory=dict)
    """Seconds an attempt of each activity may run (``@app.activity(timeout=...)``)."""
    strict_replay: bool = False
    """Whether replay also compares the inputs of activities and sub-orchestrations."""
    entities: dict[str, EntityFunction] = field(default_factory=dict)
    """Entity functions by name, lower-cased (entity names are case-insensitive)."""
    version: str | None = None
    """The app's orchestration version (``None``: unversioned)."""
    version_match: str | None = None
    """The default ``WorkerOptions.version_match`` of its workers (``None``: by version)."""
    version_failure: str | None = None
    """The default ``WorkerOptions.version_failure`` of its workers (``None``: leave)."""
    on_nondeterminism: str = "fail"
    """``"fail"`` or ``"park"``: what a worker does with an instance its code no longer replays."""

    def __post_init__(self) -> None:
        if self.version is not None:
            check_version(self.version)
        check_on_nondeterminism(self.on_nondeterminism)
        for kind, value in ((VersionMatch, self.version_match),
                            (VersionFailure, self.version_failure)):
            if value is not None and value not in {m.value for m in kind}:
                raise InvalidArgumentError(
                    f"{kind.__name__} must be one of "
                    f"{', '.join(repr(m.value) for m in kind)}, got {value!r}")

    def _register(self, table: dict[str, Callable[..., Any]], kind: str,
                  fn: Callable[..., Any], name: str | None) -> None:
        key = name or fn.__name__
        if not key:
            raise InvalidArgumentError(f"{kind} name must not be empty")
        if key in table and table[key] is not fn:
            raise InvalidArgumentError(f"{kind} {key!r} is already registered")
        table[key] = fn

    def orchestrator(self, fn: F | None = None, /, *, name: str | None = None) -> Any:
        """Register an orchestrator: a generator function (``yield``) or ``async def``.

        Use bare (``@app.orchestrator``) or with a name (``@app.orchestrator(name="x")``).
        """
        def register(f: F) -> F:
            self._register(self.orchestrators, "orchestrator", f, name)
            return f
        return register(fn) if fn is not None else register

    def activity(self, fn: F | None = None, /, *, name: str | None = None,
                 timeout: timedelta | float | None = None) -> Any:
        """Register an activity: a plain function (run in a thread pool) or ``async def``.

        Use bare (``@app.activity``) or with options (``@app.activity(name="x",
        timeout=30)``). ``timeout`` (seconds or a ``timedelta``) bounds each
        attempt: past it the attempt fails with :class:`ActivityTimeoutError`
        (retry policies apply); it overrides the worker's ``activity_timeout``.
        """
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        if seconds is not None and (isinstance(seconds, bool) or not 0 < seconds < float("inf")):
            raise InvalidArgumentError(f"activity timeout must be a positive number of seconds, "
                                       f"got {timeout!r}")

        def register(f: F) -> F:
            if inspect.isgeneratorfunction(f):
                raise InvalidArgumentError(f"activity {f.__name__!r} must not be a generator")
            self._register(self.activities, "activity", f, name)
            if seconds is not None:
                self.activity_timeouts[name or f.__name__] = float(seconds)
            return f
        return register(fn) if fn is not None else register

    def entity(self, fn: Any = None, /, *, name: str | None = None) -> Any:
        """Register an entity: a function ``(ctx: perdure.EntityContext)``, or a class
        whose public methods are its operations (see
        :func:`perdure.core.entity_batch.class_entity`).

        Use bare (``@app.entity``) or with a name (``@app.entity(name="Counter")``);
        names are case-insensitive. The decorated object is returned unchanged.
        """
        def register(f: Any) -> Any:
            if inspect.isclass(f):
                run = class_entity(f)
            elif inspect.isgeneratorfunction(f) or inspect.iscoroutinefunction(f):
                raise InvalidArgumentError(f"entity {f.__name__!r} must be a plain function "
                                           "(or a class): operations run to completion")
            elif callable(f):
                run = f
            else:
                raise InvalidArgumentError(f"@app.entity needs a function or a class, got {f!r}")
            key = (name or f.__name__).lower()
            if not key or "@" in key:
                raise InvalidArgumentError(f"entity name {key!r} must be non-empty, without '@'")
            known = self.entities.get(key)
            if known is not None and known is not run and \
                    getattr(known, "__perdure_class__", known) is not f:
                raise InvalidArgumentError(f"entity {key!r} is already registered")
            self.entities[key] = run
            return f
        return register(fn) if fn is not None else register

    def get_entity(self, name: str) -> EntityFunction | None:
        """The entity function registered as ``name`` (case-insensitive), or ``None``."""
        return self.entities.get(name.lower())

    def route(self, path: str, methods: Sequence[str] = ("GET",),
              auth_level: str = "anonymous") -> Callable[[F], F]:
        """Register an HTTP-triggered function under ``/{route_prefix}/{path}``.

        The function receives the Starlette request; a parameter annotated with
        ``perdure.Client`` (or named ``client``) receives the orchestration client.
        """
        if auth_level not in ("anonymous", "function", "admin"):
            raise InvalidArgumentError(f"auth_level must be anonymous, function or admin, "
                                       f"got {auth_level!r}")

        def register(f: F) -> F:
            self.routes.append(Route(path.strip("/"), tuple(m.upper() for m in methods), f,
                                     auth_level))
            return f
        return register

    def get_orchestrator(self, name: str) -> Callable[..., Any]:
        """The orchestrator registered as ``name``; :class:`UnknownFunctionError` otherwise.

        For a ``strict_replay`` app it comes wrapped in :class:`StrictReplay`,
        which tells the executor to compare inputs on replay.
        """
        try:
            fn = self.orchestrators[name]
        except KeyError:
            raise UnknownFunctionError("orchestrator", name, list(self.orchestrators)) from None
        return StrictReplay(fn) if self.strict_replay else fn

    def get_activity(self, name: str) -> Callable[..., Any]:
        """The activity registered as ``name``; :class:`UnknownFunctionError` otherwise."""
        try:
            return self.activities[name]
        except KeyError:
            raise UnknownFunctionError("activity", name, list(self.activities)) from None


def _load_error(spec: str, exc: Exception, app_file: str | None) -> AppLoadError:
    """``exc``, raised while importing the app, located at the line that failed.

    A syntax error knows its own file and line. Any other error is placed at
    the innermost frame of the app's own file (the user's line, even when a
    library it called raised), else at the innermost frame outside the import
    machinery and this module.
    """
    if isinstance(exc, SyntaxError):
        return AppLoadError(spec, f"SyntaxError: {exc.msg}", exc.filename, exc.lineno)
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__)
              if not frame.filename.startswith("<frozen") and frame.filename != __file__]
    candidates = [frame for frame in frames if frame.filename == app_file] or frames
    reason = f"{type(exc).__name__}: {exc}"
    if not candidates:
        return AppLoadError(spec, reason)
    return AppLoadError(spec, reason, candidates[-1].filename, candidates[-1].lineno)


def import_app_module(spec: str) -> ModuleType:
    """Import the module of ``path/to/file.py`` or ``module[:attr]``.

    A file is imported as a module named after it, with its folder on ``sys.path``
    so that it can import its neighbours. Code that fails to import (a syntax
    error, an exception at import time) raises :class:`AppLoadError` naming the
    file and line.
    """
    target = spec.partition(":")[0]
    if target.endswith(".py") or Path(target).is_file():
        path = Path(target).resolve()
        if not path.is_file():
            raise InvalidArgumentError(f"app file not found: {target}")
        sys.path.insert(0, str(path.parent))
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        if module_spec is None or module_spec.loader is None:
            raise InvalidArgumentError(f"cannot import {target}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[path.stem] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            # As a failed import does: no half-initialized module is left behind.
            if sys.modules.get(path.stem) is module:
                del sys.modules[path.stem]
            raise _load_error(spec, exc, str(path)) from exc
        return module
    try:
        return importlib.import_module(target)
    except ImportError as exc:
        raise InvalidArgumentError(f"cannot import app module {target!r}: {exc}") from None
    except Exception as exc:
        raise _load_error(spec, exc, None) from exc


def app_of_module(module: ModuleType, spec: str) -> App:
    """The :class:`App` of an imported module: ``attr`` of ``module:attr``, else the
    module's ``app`` or first ``App``."""
    attr = spec.partition(":")[2]
    if attr:
        app = getattr(module, attr, None)
    else:
        app = getattr(module, "app", None) or next(
            (v for v in vars(module).values() if isinstance(v, App)), None)
    if not isinstance(app, App):
        raise InvalidArgumentError(f"{spec} defines no perdure.App"
                                   + (f" named {attr!r}" if attr else ""))
    return app


def load_app(spec: str) -> App:
    """Load an :class:`App` from ``path/to/file.py`` or ``module:attr`` (attr defaults to ``app``).

    See :func:`import_app_module` for how the module is imported.
    """
    return app_of_module(import_app_module(spec), spec)
