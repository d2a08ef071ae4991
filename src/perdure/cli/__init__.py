"""The ``perdure`` command line: serve, run workers, and manage instances.

Management commands talk to the task hub directly (``--store`` or
``PERDURE_STORE``), so they work whether or not a server is running. Output is
for humans by default and JSON with ``--json``; every error is one line on
stderr and a non-zero exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar

import click

from ..app import ON_NONDETERMINISM, App
from ..client import Client, OrchestrationStatus
from ..core.errors import InvalidArgumentError, PerdureError
from ..core.serialization import ValueLimits, set_value_limits, value_limits
from ..core.versions import VersionFailure, VersionMatch
from ..observe.logs import LOG_FORMATS, LOG_LEVELS, configure_logging
from ..observe.tracing import configure_from_env
from ..store import create_store, store_url_from_env
from ..worker import WorkerOptions
from .apps import load_any_app

T = TypeVar("T")

STORE_OPTION = click.option("--store", "store_url", envvar="PERDURE_STORE", default=None,
                            help="Task hub URL: sqlite:///path.db or postgresql://user@host/db "
                                 "(env PERDURE_STORE; default sqlite:///perdure.db).")
APP_OPTION = click.option("--app", "app_spec", envvar="PERDURE_APP", default=None,
                          help="App (path/to/file.py or module:attr) to check orchestrator "
                               "names against; default: names registered by workers.")
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


class ByteSize(click.ParamType[int]):
    """A size in bytes: ``4194304``, ``512KiB``, ``4MiB``, ``1GiB``."""

    name = "size"
    _units = {"gib": 1024**3, "mib": 1024**2, "kib": 1024, "b": 1}

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().lower()
        unit = next((u for u in self._units if text.endswith(u)), "")
        number, factor = text[:len(text) - len(unit)].strip(), self._units.get(unit, 1)
        try:
            size = int(float(number) * factor)
        except ValueError:
            size = 0
        if size < 1:
            self.fail(f"{value!r} is not a size (bytes, or a number with KiB, MiB or GiB)",
                      param, ctx)
        return size


WORKER_OPTIONS = (
    click.option("--lease", "lease_seconds", envvar="PERDURE_LEASE_SECONDS",
                 type=click.FloatRange(0.1, None), default=30.0, show_default=True,
                 help="Seconds before a dead worker's work is picked up again."),
    click.option("--step-timeout", type=click.FloatRange(0), default=10.0, show_default=True,
                 help="Seconds an orchestrator step may run without yielding before its "
                      "instance fails (0: no budget)."),
    click.option("--activity-timeout", type=click.FloatRange(0, min_open=True), default=None,
                 help="Seconds an activity attempt may run (default: no bound; "
                      "@app.activity(timeout=...) overrides it)."),
    click.option("--max-activities", type=click.IntRange(1, None), default=100,
                 show_default=True, help="Activities one worker runs at once."),
    click.option("--cache-mb", type=click.FloatRange(0), default=32.0, show_default=True,
                 help="Memory (estimated, MB) for the orchestrations kept in memory between "
                      "steps; the others are rebuilt by replay when they step again."),
    click.option("--max-value-size", type=ByteSize(), default="4MiB", show_default=True,
                 help="Largest JSON value stored: input, output, event, result, custom status."),
    click.option("--version", "worker_version", default=None,
                 help="The worker's orchestration version (default: the app's, "
                      "App(version=...))."),
    click.option("--version-match", type=click.Choice([m.value for m in VersionMatch]),
                 default=None,
                 help="Instances it runs by version (default: current-or-older with a "
                      "version, none without)."),
    click.option("--version-failure", type=click.Choice([f.value for f in VersionFailure]),
                 default=None,
                 help="An instance of a version it may not run: leave it for another "
                      "worker (the default), or fail it."),
    click.option("--on-nondeterminism", type=click.Choice(list(ON_NONDETERMINISM)),
                 default=None,
                 help="Code that no longer replays an instance's history: fail the instance, "
                      "or park it until a worker starts again (default: the app's, fail)."),
)


def _worker_options(fn: Callable[..., T]) -> Callable[..., T]:
    """Add the worker options to a command; it receives them as ``worker_options``."""
    @wraps(fn)
    def command(*args: Any, lease_seconds: float, step_timeout: float,
                activity_timeout: float | None, max_activities: int, cache_mb: float,
                max_value_size: int, worker_version: str | None, version_match: str | None,
                version_failure: str | None, on_nondeterminism: str | None,
                **kwargs: Any) -> T:
        set_value_limits(ValueLimits(max_bytes=max_value_size,
                                     max_depth=value_limits().max_depth))
        options = WorkerOptions(lease_seconds=lease_seconds,
                                step_timeout=step_timeout or None,
                                activity_timeout=activity_timeout,
                                max_concurrent_activities=max_activities,
                                cache_mb=cache_mb, version=worker_version,
                                version_match=version_match, version_failure=version_failure,
                                on_nondeterminism=on_nondeterminism)
        return fn(*args, worker_options=options, **kwargs)
    for option in reversed(WORKER_OPTIONS):
        command = option(command)
    return command


def _observability_options(fn: Callable[..., T]) -> Callable[..., T]:
    """Add ``--log-format`` and ``--log-level``; the command's records go to stderr so,
    and it receives both (``log_format``, ``log_level``). Traces go where the
    ``OTEL_*`` environment says (:func:`perdure.observe.tracing.configure_from_env`)."""
    @wraps(fn)
    def command(*args: Any, log_format: str, log_level: str, **kwargs: Any) -> T:
        configure_logging(log_format, log_level)
        try:
            configure_from_env(dict(os.environ))
        except PerdureError as exc:
            _fail(str(exc))
        return fn(*args, log_format=log_format, log_level=log_level, **kwargs)
    command = click.option(
        "--log-level", type=click.Choice(LOG_LEVELS), default="warning", show_default=True,
        envvar="PERDURE_LOG_LEVEL", help="The least severe records logged (env PERDURE_LOG_LEVEL).",
    )(command)
    return click.option(
        "--log-format", type=click.Choice(LOG_FORMATS), default="text", show_default=True,
        envvar="PERDURE_LOG_FORMAT",
        help="Log lines on stderr: text, or json (one object per line, with instance_id, "
             "execution_id, orchestrator, activity, task_id fields).")(command)


def banner_printer(log_format: str) -> Callable[[str], None]:
    """How a command prints its status lines on stderr: as they are, or with
    ``--log-format json`` as JSON objects (so that every stderr line is one)."""
    def echo(text: str) -> None:
        line = json.dumps({"level": "notice", "message": text}) if log_format == "json" \
            else text
        click.echo(line, err=True)
    return echo


def _fail(message: str) -> None:
    # One line, whatever the message: the README promises it, and scripts read it.
    click.echo(f"error: {' '.join(message.split())}", err=True)
    sys.exit(1)


def _command(fn: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., None]:
    """Run an async command body, turning perdure errors into one line and exit 1."""
    @wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            asyncio.run(fn(*args, **kwargs))
        except PerdureError as exc:
            _fail(str(exc))
        except (OSError, ValueError) as exc:
            _fail(str(exc))
    return run


async def _until_signal(body: Coroutine[Any, Any, None]) -> None:
    """Run ``body`` until SIGINT or SIGTERM, then let it clean up (finish in-flight work)."""
    task = asyncio.ensure_future(body)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


class _EchoWarnings(logging.Handler):
    """Prints the warnings of a library logger as ``warning: ...`` lines on stderr.

    The library configures no logging handlers; the command line is the
    application, and its user must see that, say, a name went unchecked.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"warning: {' '.join(record.getMessage().split())}", err=True)


@contextlib.contextmanager
def _echo_warnings(logger: logging.Logger) -> Iterator[None]:
    handler = _EchoWarnings()
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _parse_json(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgumentError(f"{what} is not valid JSON: {exc}") from None
    except RecursionError:  # json's decoder recurses once per level of [ or {
        raise InvalidArgumentError(f"{what} is nested too deeply to parse") from None


def _load(app_spec: str | None) -> App | None:
    return None if app_spec is None else load_any_app(app_spec)


def _load_or_exit(app_spec: str) -> App:
    try:
        return load_any_app(app_spec)
    except PerdureError as exc:
        _fail(str(exc))
        raise


#: Garbage collector thresholds of a serving process (CPython's default: 700, 10, 10).
#: The oldest generation is still collected every few million allocations
#: (CPython runs that collection only once the objects promoted since the last
#: one reach a quarter of those it holds, so its cost stays linear): with 50
#: there, cyclic garbage (every finished executor is a small cycle) piled up
#: for hours, a kilobyte per instance.
SERVING_GC_THRESHOLDS = (50_000, 20, 5)


def _tune_gc_for_serving() -> None:
    """Collect reference cycles less often in a long-running worker or server.

    A worker allocates fast and keeps thousands of live executors in memory;
    with the default thresholds the cycle collector ran every 700 allocations
    and traversed them over and over (about a sixth of a busy worker's CPU).
    Objects loaded so far (the app, perdure, its dependencies) are frozen out
    of collection altogether. Garbage cycles live a little longer: at most
    tens of thousands of objects.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_GC_THRESHOLDS)


async def _with_client(store_url: str | None, app_spec: str | None,
                       body: Callable[[Client], Awaitable[T]]) -> T:
    client = Client(create_store(store_url), app=_load(app_spec))
    try:
        return await body(client)
    finally:
        await client.close()


def _status_json(status: OrchestrationStatus) -> dict[str, Any]:
    # Imported here, as ``serve`` imports the server: management commands start
    # without loading Starlette and uvicorn (the http package imports them).
    from ..http.wire import status_json

    out = status_json(status)
    if status.failure_details is not None:
        out["failureDetails"] = status.failure_details.to_dict()
    return out


def _echo_status(status: OrchestrationStatus, as_json: bool) -> None:
    from ..http.wire import format_time

    if as_json:
        click.echo(json.dumps(_status_json(status)))
        return
    click.echo(f"{status.instance_id}  {status.name}  {status.runtime_status.value}")
    click.echo(f"  created {format_time(status.created_time)}  "
               f"updated {format_time(status.last_updated_time)}")
    if status.version:
        click.echo(f"  version {status.version}")
    if status.parked and status.failure_details is not None:
        click.echo(f"  parked: {status.failure_details.summary()}")
    for label, value in (("input", status.input), ("output", status.output),
                         ("custom status", status.custom_status)):
        if value is not None:
            click.echo(f"  {label}: {json.dumps(value)}")
    if status.history is not None:
        click.echo("  history:")
        for event in status.history:
            detail = {k: v for k, v in event.items() if k not in ("EventType", "Timestamp")}
            click.echo(f"    {event['Timestamp']}  {event['EventType']}  {json.dumps(detail)}")


@click.group()
@click.version_option(package_name="perdure")
def main() -> None:
    """perdure: durable orchestrations for Python."""


@main.command()
@click.argument("app_spec", metavar="APP")
@STORE_OPTION
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=7071, show_default=True, type=click.IntRange(0, 65535))
@click.option("--auth/--no-auth", default=None,
              help="Require keys (default: off on a loopback host, on elsewhere).")
@click.option("--key", "system_key", envvar="PERDURE_SYSTEM_KEY", default=None,
              help="The system key (env PERDURE_SYSTEM_KEY); implies --auth. "
                   "Default with --auth: a random key, printed.")
@click.option("--function-key", "function_keys", multiple=True,
              help="A key accepted by function-level routes (repeatable).")
@click.option("--no-worker", is_flag=True, help="Serve HTTP only (workers run elsewhere).")
@click.option("--allowed-host", "allowed_hosts", multiple=True,
              help="With keys off, a Host name (or NAME:PORT, *.DOMAIN, *) served besides "
                   "loopback ones (repeatable).")
@click.option("--header-timeout", default=10.0, show_default=True,
              type=click.FloatRange(0, min_open=True),
              help="Seconds a connection has to send its request headers.")
@click.option("--body-timeout", default=30.0, show_default=True,
              type=click.FloatRange(0, min_open=True),
              help="Seconds a request body may go without a byte.")
@click.option("--max-connections", default=None, type=click.IntRange(1, None),
              help="Open connections at most (default: 1000, fewer under a low open-file "
                   "limit).")
@click.option("--dashboard", type=click.Choice(["on", "read-only", "off"]), default="on",
              show_default=True,
              help="The operations dashboard at /dashboard/ (read-only: no actions).")
@click.option("--bulk-rate", default=2000.0, show_default=True,
              type=click.FloatRange(0, min_open=True),
              help="Instances a second a dashboard bulk terminate or purge handles at most.")
@click.option("--metrics", type=click.Choice(["on", "off"]), default="on", show_default=True,
              help="Prometheus metrics at /metrics (system key required when keys are on).")
@_worker_options
@_observability_options
def serve(app_spec: str, store_url: str | None, host: str, port: int, auth: bool | None,
          system_key: str | None, function_keys: tuple[str, ...], no_worker: bool,
          worker_options: WorkerOptions, allowed_hosts: tuple[str, ...], header_timeout: float,
          body_timeout: float, max_connections: int | None, dashboard: str,
          bulk_rate: float, metrics: str, log_format: str, log_level: str) -> None:
    """Run APP's worker and the HTTP API (default http://127.0.0.1:7071)."""
    from ..http.auth import KeyAuth

    try:  # before anything runs: an empty --key once served with a random, unprinted key
        KeyAuth(system_key, function_keys)
    except InvalidArgumentError as exc:
        _fail(f"--key/--function-key: {exc}")
    app = _load_or_exit(app_spec)
    from .serve import run_server

    _tune_gc_for_serving()
    if auth is False and system_key is not None:
        raise click.BadParameter("--key contradicts --no-auth")
    try:
        asyncio.run(run_server(app, create_store(store_url), host=host, port=port,
                               auth=True if system_key is not None else auth,
                               system_key=system_key, function_keys=function_keys,
                               worker=not no_worker,
                               worker_options=worker_options,
                               allowed_hosts=allowed_hosts, header_timeout=header_timeout,
                               body_timeout=body_timeout, max_connections=max_connections,
                               dashboard=dashboard, bulk_rate=bulk_rate,
                               metrics=metrics == "on",
                               log_level=log_level))
    except KeyboardInterrupt:
        pass
    except PerdureError as exc:
        _fail(str(exc))


@main.command()
@click.argument("app_spec", metavar="APP")
@STORE_OPTION
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Serve Prometheus metrics at http://HOST:PORT/metrics (0: a free port).")
@click.option("--metrics-host", default="127.0.0.1", show_default=True,
              help="Interface --metrics-port binds (0.0.0.0 for a remote Prometheus).")
@_worker_options
@_observability_options
def worker(app_spec: str, store_url: str | None, metrics_port: int | None, metrics_host: str,
           worker_options: WorkerOptions, log_format: str, log_level: str) -> None:
    """Run APP's orchestrators and activities (no HTTP API; /metrics with --metrics-port)."""
    app = _load_or_exit(app_spec)
    echo = banner_printer(log_format)
    echo(f"perdure worker on {store_url_from_env(store_url)}")
    options = worker_options
    _tune_gc_for_serving()
    from .serve import run_worker

    try:
        asyncio.run(_until_signal(run_worker(app, create_store(store_url), options,
                                             metrics_port=metrics_port, banner=echo,
                                             metrics_host=metrics_host)))
    except PerdureError as exc:
        _fail(str(exc))


@main.command()
@click.argument("name", required=False)
@click.option("--input", "input_json", default=None, help="Input as JSON.")
@click.option("--id", "instance_id", default=None, help="Instance id (default: random).")
@click.option("--payload", default=None,
              help='Output-binding form: {"FunctionName": ..., "Input": ..., "InstanceId": ...}.')
@click.option("--version", default=None,
              help="The instance's orchestration version (default: --app's version, else "
                   "none).")
@STORE_OPTION
@APP_OPTION
@JSON_OPTION
@_command
async def start(name: str | None, input_json: str | None, instance_id: str | None,
                payload: str | None, version: str | None, store_url: str | None,
                app_spec: str | None, as_json: bool) -> None:
    """Start orchestrator NAME (or --payload) and print the instance id."""
    if (name is None) == (payload is None):
        raise InvalidArgumentError("give either NAME or --payload")
    if payload is not None and version is not None:
        raise InvalidArgumentError("--version goes with NAME, not --payload")
    data = _parse_json(input_json, "--input")
    body = _parse_json(payload, "--payload")

    async def run(client: Client) -> str:
        if body is not None:
            return await client.start_new_from(body)
        assert name is not None
        return await client.start_new(name, instance_id, data, version)
    # Without --app and before any worker registered, the client accepts the
    # name unchecked and says so on its logger: show that line to the user.
    with _echo_warnings(logging.getLogger(Client.__module__)):
        started = await _with_client(store_url, app_spec, run)
    click.echo(json.dumps({"id": started}) if as_json else started)


@main.command()
@click.argument("instance_id")
@click.option("--history", is_flag=True, help="Include the execution history.")
@click.option("--history-output", is_flag=True, help="Include results in the history.")
@STORE_OPTION
@JSON_OPTION
@_command
async def status(instance_id: str, history: bool, history_output: bool, store_url: str | None,
                 as_json: bool) -> None:
    """Show an instance's status."""
    found = await _with_client(store_url, None, lambda c: c.get_status(
        instance_id, show_history=history or history_output, show_history_output=history_output))
    if found is None:
        _fail(f"no orchestration instance with id {instance_id!r}")
    else:
        _echo_status(found, as_json)


def _datetime(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgumentError(f"{value!r} is not an ISO 8601 date/time") from None


@main.command("list")
@click.option("--status", "statuses", multiple=True, help="Runtime status (repeatable).")
@click.option("--prefix", default=None, help="Instance id prefix.")
@click.option("--from", "created_from", default=None, help="Created at or after (ISO 8601).")
@click.option("--to", "created_to", default=None, help="Created at or before (ISO 8601).")
@click.option("--version", default=None,
              help="Only this orchestration version ('' for unversioned instances).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, None))
@STORE_OPTION
@JSON_OPTION
@_command
async def list_(statuses: tuple[str, ...], prefix: str | None, created_from: str | None,
                created_to: str | None, version: str | None, limit: int, store_url: str | None,
                as_json: bool) -> None:
    """List instances, oldest first."""
    from ..http.wire import format_time

    page = await _with_client(store_url, None, lambda c: c.get_status_by(
        _datetime(created_from), _datetime(created_to), list(statuses) or None, prefix,
        page_size=limit, version=version))
    if as_json:
        click.echo(json.dumps([_status_json(s) for s in page.instances]))
        return
    for s in page.instances:
        click.echo(f"{s.instance_id}  {s.name}  {s.runtime_status.value}  "
                   f"{format_time(s.created_time)}"
                   + (f"  version {s.version}" if s.version else "")
                   + ("  parked" if s.parked else ""))
    if page.continuation_token:
        click.echo(f"(more: {limit} shown)", err=True)


@main.command("raise-event")
@click.argument("instance_id")
@click.argument("event_name")
@click.option("--data", default=None, help="Event payload as JSON.")
@STORE_OPTION
@_command
async def raise_event(instance_id: str, event_name: str, data: str | None,
                      store_url: str | None) -> None:
    """Raise EVENT_NAME on an instance."""
    payload = _parse_json(data, "--data")
    await _with_client(store_url, None, lambda c: c.raise_event(instance_id, event_name, payload))
    click.echo(f"raised {event_name!r} on {instance_id}")


def _signal(name: str, verb: str, help_text: str) -> None:
    @main.command(name, help=help_text)
    @click.argument("instance_id")
    @click.option("--reason", default=None, help="Reason, recorded in history.")
    @STORE_OPTION
    @_command
    async def command(instance_id: str, reason: str | None, store_url: str | None) -> None:
        await _with_client(store_url, None,
                           lambda c: getattr(c, name)(instance_id, reason))
        click.echo(f"{verb} {instance_id}")


_signal("terminate", "terminating", "Terminate an instance at its next await point.")
_signal("suspend", "suspending", "Suspend an instance.")
_signal("resume", "resuming", "Resume a suspended instance.")
_signal("rewind", "rewinding", "Rewind a Failed instance: re-run its failed activities.")


@main.command()
@click.argument("instance_id", required=False)
@click.option("--from", "created_from", default=None, help="Purge instances created from.")
@click.option("--to", "created_to", default=None, help="... and up to (ISO 8601).")
@click.option("--status", "statuses", multiple=True,
              help="Only these statuses (Completed, Failed, Terminated).")
@STORE_OPTION
@JSON_OPTION
@_command
async def purge(instance_id: str | None, created_from: str | None, created_to: str | None,
                statuses: tuple[str, ...], store_url: str | None, as_json: bool) -> None:
    """Purge one finished instance, or every finished one matching the filters."""
    if instance_id is not None:
        count = await _with_client(store_url, None,
                                   lambda c: c.purge_instance_history(instance_id))
        if count == 0:
            _fail(f"no orchestration instance with id {instance_id!r}")
    else:
        if created_from is None and created_to is None and not statuses:
            raise InvalidArgumentError("give INSTANCE_ID, or filters (--from/--to/--status)")
        count = await _with_client(store_url, None, lambda c: c.purge_instance_history_by(
            _datetime(created_from), _datetime(created_to), list(statuses) or None))
    click.echo(json.dumps({"instancesDeleted": count}) if as_json else f"purged {count}")


@main.group()
def db() -> None:
    """Task hub schema management."""


@db.command()
@STORE_OPTION
@_command
async def migrate(store_url: str | None) -> None:
    """Create or migrate the task hub schema."""
    store = create_store(store_url)
    await store.open()
    await store.close()
    click.echo(f"task hub ready: {store_url_from_env(store_url)}")


from . import history as _history  # noqa: E402, F401 - registers ``perdure history``
from . import replay_check as _replay_check  # noqa: E402, F401 - and ``perdure replay-check``

if __name__ == "__main__":  # pragma: no cover
    main()
