"""The command line: every management command, human and JSON output, one-line errors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import perdure
from perdure.cli import main

EXAMPLES = Path(__file__).parents[2] / "examples"


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
    (("start", "nope"), "unknown orchestrator 'nope'"),
    (("start", "hello_sequence", "--input", "{bad"), "--input is not valid JSON"),
    (("start", "--payload", '{"Input": 1}'), "FunctionName"),
    (("status", "ghost"), "no orchestration instance with id 'ghost'"),
    (("raise-event", "ghost", "E"), "no orchestration instance with id 'ghost'"),
    (("terminate", "ghost"), "no orchestration instance"),
    (("rewind", "ghost"), "no orchestration instance"),
    (("purge", "ghost"), "no orchestration instance"),
    (("list", "--status", "Sleeping"), "unknown runtime status 'Sleeping'"),
    (("start", "hello_sequence", "--id", "a/b"), "not allowed"),
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
