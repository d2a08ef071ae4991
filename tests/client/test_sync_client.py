"""SyncClient: one blocking method per coroutine of Client, visible to type checkers."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import perdure

SRC = Path(__file__).resolve().parents[2] / "src"


def _coroutines(cls: type) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(fn) for name, fn in inspect.getmembers(cls)
            if not name.startswith("_") and inspect.iscoroutinefunction(fn)}


def test_every_coroutine_of_the_client_has_its_blocking_twin() -> None:
    # close() is the one exception: the facade's close also stops its private loop.
    coroutines = {name: sig for name, sig in _coroutines(perdure.Client).items()
                  if name != "close"}
    for name, signature in coroutines.items():
        twin = getattr(perdure.SyncClient, name, None)
        assert twin is not None and not inspect.iscoroutinefunction(twin), name
        assert inspect.signature(twin).parameters == signature.parameters, name
        assert twin.__doc__, name


def test_the_blocking_client_works(tmp_path: Path) -> None:
    app = perdure.App()

    @app.orchestrator
    def idle(ctx: perdure.OrchestrationContext):  # never runs: no worker here
        yield ctx.wait_for_external_event("go")

    with perdure.SyncClient(f"sqlite:///{tmp_path / 'hub.db'}", app=app) as client:
        instance_id = client.start_new("idle", "one", {"n": 1})
        status = client.get_status(instance_id)
        assert status is not None and status.input == {"n": 1}
        client.terminate(instance_id, "done")
        assert [s.instance_id for s in client.get_status_by(page_size=5).instances] == ["one"]


SNIPPET = """
    from perdure import SyncClient

    client = SyncClient("sqlite:///x.db")
    reveal_type(client.start_new("hello"))
    reveal_type(client.get_status("id"))
    reveal_type(client.purge_instance_history_by())
    client.raise_event("id")
"""


def test_mypy_sees_the_blocking_methods(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    source = tmp_path / "snippet.py"
    source.write_text(textwrap.dedent(SNIPPET))
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n")
    # In a subprocess: mypy raises the recursion limit of the process it runs in.
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--config-file",
         str(config), "--cache-dir", str(tmp_path / ".mypy_cache"), str(source)],
        env={**os.environ, "MYPYPATH": str(SRC)},  # this tree's perdure, not an installed one
        capture_output=True, text=True, timeout=300)
    out, err = done.stdout, done.stderr
    lines = [line.split(": ", 1)[1] for line in out.splitlines() if ": " in line]
    assert lines == [
        'note: Revealed type is "str"',
        'note: Revealed type is "perdure.client.status.OrchestrationStatus | None"',
        'note: Revealed type is "int"',
        'error: Missing positional argument "event_name" in call to "raise_event" of '
        '"SyncClient"  [call-arg]',
    ], out + err
