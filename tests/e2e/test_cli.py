"""The command line: every management command, human and JSON output, one-line errors."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from store.pg import SERVER as PG_SERVER
from store.pg import postgres

import perdure
from perdure import cli as cli_module
from perdure.cli import main

EXAMPLES = Path(__file__).parents[2] / "examples"
HELLO = str(EXAMPLES / "hello.py")


@pytest.fixture
def cli(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    runner = CliRunner()

    def run(*args: str, ok: bool = True) -> tuple[int, str, str]:
        result = runner.invoke(main, [*args, "--store", url])
        if ok:
            assert result.exit_code == 0, (result.output, result.stderr)
        return result.exit_code, result.stdout, result.stderr
    run.url = url  # type: ignore[attr-defined]
    return run


def run_worker_until_done(url: str, app_path: Path,
                          instance_id: str) -> perdure.OrchestrationStatus:
    async def go() -> perdure.OrchestrationStatus:
        app = perdure.load_app(str(app_path))
        store = perdure.create_store(url)
        async with perdure.Worker(app, store):
            return await perdure.Client(store, app=app).wait_for_completion(instance_id, 10)
    return asyncio.run(go())


def test_start_status_list_and_purge(cli):
    hello = str(EXAMPLES / "hello.py")
    _, out, _ = cli("start", "hello_sequence", "--app", hello, "--id", "h1", "--input", '"x"')
    assert out.strip() == "h1"
    _, out, _ = cli("status", "h1")
    assert "h1  hello_sequence  Pending" in out
    done = run_worker_until_done(cli.url, EXAMPLES / "hello.py", "h1")
    assert done.output == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    _, out, _ = cli("status", "h1", "--json", "--history-output")
    status = json.loads(out)
    assert status["runtimeStatus"] == "Completed" and status["historyEvents"][1]["Result"]
    _, out, _ = cli("list", "--status", "Completed", "--json")
    assert [s["instanceId"] for s in json.loads(out)] == ["h1"]
    _, out, _ = cli("list")
    assert "h1  hello_sequence  Completed" in out
    _, out, _ = cli("purge", "h1", "--json")
    assert json.loads(out) == {"instancesDeleted": 1}


def test_payload_start_and_signals(cli):
    human = str(EXAMPLES / "human_interaction.py")
    payload = json.dumps({"FunctionName": "approval_workflow", "InstanceId": "order-42",
                          "Input": {"order": 42}})
    _, out, _ = cli("start", "--payload", payload, "--app", human)
    assert out.strip() == "order-42"
    cli("suspend", "order-42", "--reason", "wait")
    code, _, err = cli("resume", "order-42", ok=False)  # still Pending: nothing ran yet
    assert code == 1 and "while it is Pending" in err
    cli("raise-event", "order-42", "Approval", "--data", "true")
    cli("terminate", "order-42", "--reason", "done here")
    history = asyncio.run(_history(cli.url, "order-42"))
    assert history == []  # nothing ran yet: the requests wait in the inbox


async def _history(url: str, instance_id: str) -> list[object]:
    store = perdure.create_store(url)
    await store.open()
    try:
        return await store.get_history(instance_id)
    finally:
        await store.close()


@pytest.mark.parametrize("args,message", [
    (("start", "nope", "--app", HELLO), "unknown orchestrator 'nope'"),
    (("start", "hello_sequence", "--input", "{bad"), "--input is not valid JSON"),
    (("start", "--payload", '{"Input": 1}'), "FunctionName"),
    (("status", "ghost"), "no orchestration instance with id 'ghost'"),
    (("raise-event", "ghost", "E"), "no orchestration instance with id 'ghost'"),
    (("terminate", "ghost"), "no orchestration instance"),
    (("rewind", "ghost"), "no orchestration instance"),
    (("purge", "ghost"), "no orchestration instance"),
    (("list", "--status", "Sleeping"), "unknown runtime status 'Sleeping'"),
    (("start", "hello_sequence", "--id", "a/b"), "not allowed"),
    (("start", "hello_sequence", "--version", "1\t0"), "control character"),
    (("start", "--payload", '{"FunctionName": "x"}', "--version", "1"), "goes with NAME"),
    (("list", "--version", "x" * 101), "at most 100"),
    (("worker", HELLO, "--version-match", "strict"), "needs a worker version"),
])
def test_errors_are_one_line_and_exit_nonzero(cli, args, message):
    code, out, err = cli(*args, ok=False)
    assert code != 0
    text = (err or out).strip()
    assert message in text, text
    assert len(text.splitlines()) <= 2  # click usage errors add one "Usage:" line at most


def test_bad_store_url_is_one_line(cli):
    result = CliRunner().invoke(main, ["list", "--store", "mysql://x"])
    assert result.exit_code != 0 and "unsupported store URL" in result.stderr


def test_purge_by_filter(cli):
    hello = str(EXAMPLES / "hello.py")
    cli("start", "hello_sequence", "--app", hello, "--id", "old")
    run_worker_until_done(cli.url, EXAMPLES / "hello.py", "old")
    code, _, err = cli("purge", ok=False)
    assert code == 1 and "give INSTANCE_ID, or filters" in err
    _, out, _ = cli("purge", "--to", "2000-01-01T00:00:00Z")
    assert out.strip() == "purged 0"
    _, out, _ = cli("purge", "--to", "2999-01-01T00:00:00Z", "--json")
    assert json.loads(out) == {"instancesDeleted": 1}


def test_db_migrate(cli):
    _, out, _ = cli("db", "migrate")
    assert "task hub ready" in out


def test_serving_processes_collect_cycles_less_often() -> None:
    """perdure worker / serve raise the cycle collector's thresholds and freeze what
    is loaded at start (a busy worker spent about a sixth of its CPU collecting)."""
    import gc

    from perdure import cli

    before = gc.get_threshold()
    try:
        cli._tune_gc_for_serving()
        assert gc.get_threshold() == cli.SERVING_GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


# --- bad input: one line on stderr, never a traceback ------------------------

UNREACHABLE_PG = "postgresql://postgres@127.0.0.1:1/perdure?connect_timeout=2"
UNKNOWN_PG = f"{PG_SERVER}/perdure_no_such_database"
SQLITE_HUB = "sqlite:///{tmp}/hub.db"

#: case id: (argv, the text its one error line must contain); {tmp} and {busy_port}
#: are filled in by the bad_inputs fixture.
BAD_INPUTS: dict[str, tuple[list[str], str]] = {
    "list-store-is-a-directory": (
        ["list", "--store", "sqlite:///{tmp}/a-directory"], "could not be opened: Is a directory"),
    "list-store-is-not-a-database": (
        ["list", "--store", "sqlite:///{tmp}/notes.txt"],
        "could not be opened: file is not a database"),
    "migrate-store-is-not-a-database": (
        ["db", "migrate", "--store", "sqlite:///{tmp}/notes.txt"], "file is not a database"),
    "start-store-is-a-directory": (
        ["start", "hello_sequence", "--app", HELLO, "--store", "sqlite:///{tmp}/a-directory"],
        "Is a directory"),
    "list-unreachable-postgres": (["list", "--store", UNREACHABLE_PG], "could not be opened"),
    "list-unknown-postgres": (["list", "--store", UNKNOWN_PG], "perdure_no_such_database"),
    "migrate-unknown-postgres": (["db", "migrate", "--store", UNKNOWN_PG],
                                 "perdure_no_such_database"),
    "worker-unknown-postgres": (["worker", HELLO, "--store", UNKNOWN_PG],
                                "perdure_no_such_database"),
    "serve-unreachable-postgres": (["serve", HELLO, "--port", "0", "--store", UNREACHABLE_PG],
                                   "could not be opened"),
    "worker-app-syntax-error": (["worker", "{tmp}/syntax_error_app.py", "--store", SQLITE_HUB],
                                "syntax_error_app.py:3: SyntaxError"),
    "start-app-syntax-error": (["start", "x", "--app", "{tmp}/syntax_error_app.py",
                                "--store", SQLITE_HUB], "syntax_error_app.py:3: SyntaxError"),
    "serve-app-raises-on-import": (["serve", "{tmp}/raising_app.py", "--store", SQLITE_HUB],
                                   "raising_app.py:4: RuntimeError: no configuration"),
    "serve-unresolvable-host": (["serve", HELLO, "--host", "no-such-host.invalid",
                                 "--store", SQLITE_HUB], "cannot listen on no-such-host.invalid"),
    "serve-port-in-use": (["serve", HELLO, "--port", "{busy_port}", "--store", SQLITE_HUB],
                          "cannot listen on 127.0.0.1:{busy_port}"),
    "start-deeply-nested-input": (["start", "hello_sequence", "--app", HELLO, "--input",
                                   "[" * 100_000, "--store", SQLITE_HUB],
                                  "--input is nested too deeply"),
    "start-deeply-nested-payload": (["start", "--payload", "[" * 100_000, "--store", SQLITE_HUB],
                                    "--payload is nested too deeply"),
}


@pytest.fixture
def bad_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The files and the busy port the BAD_INPUTS cases refer to."""
    (tmp_path / "a-directory").mkdir()
    (tmp_path / "notes.txt").write_text("these are notes, not a database\n" * 100)
    (tmp_path / "syntax_error_app.py").write_text(
        "import perdure\napp = perdure.App()\ndef broken(:\n    pass\n")
    (tmp_path / "raising_app.py").write_text(
        "import perdure\napp = perdure.App()\n\nraise RuntimeError('no configuration')\n")
    # serve in this process must not retune its garbage collector
    monkeypatch.setattr(cli_module, "_tune_gc_for_serving", lambda: None)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield {"tmp": str(tmp_path), "busy_port": str(busy.getsockname()[1])}


@pytest.mark.parametrize("case", [pytest.param(case, marks=postgres) if "unknown-postgres" in case
                                  else case for case in BAD_INPUTS])
def test_bad_input_is_one_error_line_not_a_traceback(case: str,
                                                     bad_inputs: dict[str, str]) -> None:
    argv, expected = BAD_INPUTS[case]
    result = CliRunner().invoke(main, [arg.format(**bad_inputs) for arg in argv])
    # CliRunner swallows an uncaught exception (which would print a traceback);
    # only a clean exit leaves a SystemExit here.
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines()
             if not line.startswith("perdure worker on ")]  # the worker's start banner
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and expected.format(**bad_inputs) in lines[0], lines[0]


def test_app_load_error_names_the_file_and_line(tmp_path: Path) -> None:
    app_file = tmp_path / "raising_on_import.py"
    app_file.write_text("import perdure\napp = perdure.App()\nraise KeyError('DATABASE_URL')\n")
    with pytest.raises(perdure.InvalidArgumentError) as caught:
        perdure.load_app(str(app_file))
    error = caught.value
    assert (error.filename, error.lineno) == (str(app_file), 3)  # type: ignore[attr-defined]
    assert str(error) == (f"cannot load app {app_file}: {app_file}:3: KeyError: 'DATABASE_URL'")
    assert "raising_on_import" not in sys.modules  # no half-imported module is left behind


# --- keys --------------------------------------------------------------------


def test_empty_key_is_refused_before_anything_starts(tmp_path: Path) -> None:
    """--key '' used to serve with a random key it never printed: every request got 401."""
    hub = tmp_path / "hub.db"
    done = subprocess.run(
        [sys.executable, "-m", "perdure.cli", "serve", HELLO, "--port", "0", "--key", "",
         "--store", f"sqlite:///{hub}"],
        capture_output=True, text=True, timeout=20)
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "error: --key/--function-key: keys must be non-empty printable strings without spaces"]
    assert not hub.exists()  # nothing was opened, let alone served


def test_run_server_refuses_an_empty_key(tmp_path: Path) -> None:
    from perdure.cli.serve import run_server

    store = perdure.create_store(f"sqlite:///{tmp_path / 'hub.db'}")
    with pytest.raises(perdure.InvalidArgumentError, match="non-empty"):
        asyncio.run(asyncio.wait_for(
            run_server(perdure.load_app(HELLO), store, port=0, system_key=""), 10))
    assert not (tmp_path / "hub.db").exists()


# --- starting before any worker registered ------------------------------------


def test_start_before_any_worker_is_queued_with_a_warning(cli) -> None:
    """`perdure start NAME` right after `perdure worker app.py &` must not lose the race
    with the worker's registration: the name is queued unchecked, with a warning."""
    code, out, err = cli("start", "hello_sequence", "--id", "early", "--input", '"x"')
    assert code == 0 and out.strip() == "early"
    assert err.splitlines() == [
        "warning: orchestrator 'hello_sequence' was not checked: no app was given and no "
        "worker has registered functions in this task hub yet"]
    done = run_worker_until_done(cli.url, EXAMPLES / "hello.py", "early")
    assert done.runtime_status is perdure.OrchestrationRuntimeStatus.Completed
    # Once a worker has registered its names, they are checked again.
    code, _, err = cli("start", "nope", ok=False)
    assert code == 1 and "unknown orchestrator 'nope'; known orchestrators:" in err
    _, _, err = cli("start", "hello_sequence")
    assert err == ""


def test_a_hub_newer_than_this_perdure_is_one_line(tmp_path: Path) -> None:
    import sqlite3

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    assert CliRunner().invoke(main, ["db", "migrate", "--store", url]).exit_code == 0
    with sqlite3.connect(tmp_path / "hub.db") as conn:
        conn.execute("INSERT INTO schema_version VALUES (999, 'future', 0)")
    result = CliRunner().invoke(main, ["list", "--store", url])
    assert isinstance(result.exception, SystemExit) and result.exit_code == 1, \
        repr(result.exception)
    lines = result.stderr.strip().splitlines()
    from importlib import resources

    from perdure.store.migrate import load_migrations

    known = len(load_migrations(resources.files("perdure.store.sqlite").joinpath("migrations")))
    assert lines == ["error: the task hub's schema version 999 is newer than this perdure's "
                     f"({known}); upgrade perdure"], lines


VERSIONED = str(EXAMPLES / "versioned_orders.py")


def test_versions_on_the_command_line(cli):
    order = json.dumps({"id": 1, "amount": 5})
    cli("start", "place_order", "--app", VERSIONED, "--id", "o1", "--input", order)
    cli("start", "place_order", "--app", VERSIONED, "--id", "o2", "--input", order,
        "--version", "1.0")
    cli("start", "place_order", "--app", VERSIONED, "--id", "o3", "--input", order,
        "--version", "")  # explicitly unversioned
    _, out, _ = cli("status", "o2")
    assert "  version 1.0" in out
    _, out, _ = cli("status", "o1", "--json")
    assert json.loads(out)["version"] == "2.0"
    _, out, _ = cli("list", "--version", "1.0")
    assert [line.split()[0] for line in out.splitlines()] == ["o2"]
    assert "version 1.0" in out
    _, out, _ = cli("list", "--version", "", "--json")
    assert [s["instanceId"] for s in json.loads(out)] == ["o3"]
    _, out, _ = cli("list", "--version", "9.9")
    assert out == ""  # drained (or never started)


def test_status_shows_a_parked_instance(cli):
    cli("start", "hello_sequence", "--app", HELLO, "--id", "p1")

    async def park() -> None:
        store = perdure.create_store(cli.url)
        await store.open()
        try:
            [item] = await store.claim_orchestrations("w", 1, 30)
            await store.park_instance("p1", item.lock_token, perdure.FailureDetails(
                "NonDeterminismError", "at position 0 history expected 'a'"))
        finally:
            await store.close()
    asyncio.run(park())
    _, out, _ = cli("status", "p1")
    assert "Running" in out and "  parked: NonDeterminismError: at position 0" in out
    _, out, _ = cli("status", "p1", "--json")
    assert json.loads(out)["parked"]["errorType"] == "NonDeterminismError"
    _, out, _ = cli("list")
    assert "p1  hello_sequence  Running" in out and out.rstrip().endswith("parked")
