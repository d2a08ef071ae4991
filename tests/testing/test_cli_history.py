"""``perdure history export``: the lossless envelope, the df display format, errors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import perdure
from perdure.cli import main
from perdure.client import HistoryExport
from perdure.testing import replay_history

EXAMPLES = Path(__file__).parents[2] / "examples"
HELLO = str(EXAMPLES / "hello.py")

pytestmark = pytest.mark.sqlite_only


def finished_hello(url: str) -> None:
    async def go() -> None:
        app = perdure.load_app(HELLO)
        store = perdure.create_store(url)
        async with perdure.Worker(app, store):
            client = perdure.Client(store, app=app)
            await client.start_new("hello_sequence", "h1")
            await client.wait_for_completion("h1", 10)
    asyncio.run(go())


def test_history_export_formats(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    finished_hello(url)
    runner = CliRunner()
    result = runner.invoke(main, ["history", "export", "h1", "--store", url])
    assert result.exit_code == 0, result.output
    export = HistoryExport.from_json(result.stdout)
    assert export.name == "hello_sequence" and export.runtime_status == "Completed"
    assert replay_history(perdure.load_app(HELLO), export).compatible
    out = tmp_path / "h1.json"
    result = runner.invoke(main, ["history", "export", "h1", "--out", str(out), "--store", url])
    assert result.exit_code == 0 and f"exported h1 to {out}" in result.stderr
    assert HistoryExport.load(out).events == export.events
    result = runner.invoke(main, ["history", "export", "h1", "--format", "df", "--store", url])
    assert result.exit_code == 0
    df = json.loads(result.stdout)
    assert df["runtimeStatus"] == "Completed" and df["historyEvents"][0]["EventType"]
    for fmt in ("perdure", "df"):
        result = runner.invoke(main, ["history", "export", "nobody", "--format", fmt,
                                      "--store", url])
        assert result.exit_code == 1
        assert result.stderr.startswith("error: no orchestration instance with id 'nobody'")
