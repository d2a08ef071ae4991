"""``perdure replay-check``: exit codes of the deploy gate, through the real command line."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import perdure

APP = '''
import perdure

app = perdure.App()


@app.activity
def {first}(x):
    return x


@app.orchestrator
def flow(ctx):
    x = yield ctx.call_activity("{first}", ctx.get_input(){extra})
    y = yield ctx.wait_for_external_event("go")
    return [x, y]


@app.orchestrator
def other(ctx):
    yield ctx.wait_for_external_event("never")
'''


def write_app(path: Path, first: str, extra: str = "") -> Path:
    path.write_text(APP.format(first=first, extra=extra))
    return path


def replay_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "perdure.cli", "replay-check", *args],
                          capture_output=True, text=True, timeout=60)


async def populate(app_path: Path, url: str) -> dict[str, list[object]]:
    app = perdure.load_app(str(app_path))
    store = perdure.create_store(url)
    client = perdure.Client(store, app=app)
    async with perdure.Worker(app, store):
        await client.start_new("flow", "f1", 1)
        await client.start_new("other", "o1")
        for _ in range(500):
            history = await client.export_history("f1")
            if any(type(e).__name__ == "TaskCompleted" for e in history.events):
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("flow never reached its wait")
        await client.start_new("flow", "done", 2)
        await client.raise_event("done", "go", 0)
        await client.wait_for_completion("done", 10)
    histories = {i: (await client.export_history(i)).to_dict()["events"]
                 for i in ("f1", "o1", "done")}
    await store.close()
    return histories


def test_exit_codes(tmp_path: Path, db_url: str):
    v1 = write_app(tmp_path / "app_v1.py", "fetch")
    v2 = write_app(tmp_path / "app_v2.py", "load")
    before = asyncio.run(populate(v1, db_url))

    ok = replay_check(str(v1), "--store", db_url)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines() == ["checked 2, compatible 2, incompatible 0"]

    bad = replay_check(str(v2), "--store", db_url)
    assert bad.returncode == 1, bad.stderr
    lines = bad.stdout.splitlines()
    assert lines[0] == "checked 2, compatible 1, incompatible 1"
    assert lines[1].startswith("  f1: instance 'f1' (orchestrator 'flow'): at position 0 "
                               "history expected call activity 'fetch', but the code tried "
                               "to call activity 'load'")

    as_json = replay_check(str(v2), "--store", db_url, "--json")
    assert as_json.returncode == 1
    summary = json.loads(as_json.stdout)
    assert summary["checked"] == 2 and summary["compatible"] == 1
    assert summary["incompatible"][0]["instanceId"] == "f1"
    assert summary["incompatible"][0]["position"] == 0

    only_other = replay_check(str(v2), "--store", db_url, "--name", "other")
    assert only_other.returncode == 0 and "checked 1, compatible 1" in only_other.stdout

    completed = replay_check(str(v2), "--store", db_url, "--status", "Completed")
    assert completed.returncode == 1 and "done" in completed.stdout
    assert replay_check(str(v1), "--store", db_url, "--status", "Completed").returncode == 0

    v3 = write_app(tmp_path / "app_v3.py", "fetch", extra=" + 1")  # another input
    assert replay_check(str(v3), "--store", db_url).returncode == 0
    strict = replay_check(str(v3), "--store", db_url, "--strict")
    assert strict.returncode == 1
    assert "with input 1, but the code passed input 2" in strict.stdout

    # Nothing was written: every history is as it was.
    after = asyncio.run(_histories(db_url))
    assert after == before


async def _histories(url: str) -> dict[str, list[object]]:
    store = perdure.create_store(url)
    client = perdure.Client(store)
    try:
        return {i: (await client.export_history(i)).to_dict()["events"]
                for i in ("f1", "o1", "done")}
    finally:
        await store.close()


def test_the_check_cannot_run(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    v1 = write_app(tmp_path / "app_v1.py", "fetch")
    missing = replay_check(str(tmp_path / "nope.py"), "--store", url)
    assert missing.returncode == 2 and missing.stderr.startswith("error: ")
    status = replay_check(str(v1), "--store", url, "--status", "Sleeping")
    assert status.returncode == 2 and "unknown runtime status 'Sleeping'" in status.stderr
    empty = replay_check(str(v1), "--store", url)
    assert empty.returncode == 0 and empty.stdout.startswith("checked 0")
