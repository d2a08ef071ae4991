"""Traces from real worker processes: a worker SIGKILLed mid-activity, another one
finishing the instance by replay, and no span twice (OTEL_TRACES_EXPORTER=console)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from http_server import HERE
from workers import kill, stop

import perdure


def start(url: str, out: Path, tmp_path: Path, sleep: float) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "console", "OTEL_BSP_SCHEDULE_DELAY": "50",
           "OTEL_SERVICE_NAME": "perdure-test", "OBSERVE_APP_LOG": str(tmp_path / "runs.log"),
           "OBSERVE_APP_SLEEP": str(sleep)}
    with open(out, "wb") as stdout:
        return subprocess.Popen(
            [sys.executable, "-m", "perdure.cli", "worker", str(HERE / "observe_app.py"),
             "--store", url, "--lease", "1"], env=env, stdout=stdout,
            stderr=subprocess.DEVNULL)


def spans_in(path: Path) -> list[dict[str, Any]]:
    """The console exporter's output: JSON objects one after the other."""
    text, decoder, out, at = path.read_text(), json.JSONDecoder(), [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            return out
        span, at = decoder.raw_decode(text, at)
        out.append(span)


def test_sigkill_mid_activity_then_replay_gives_each_span_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    first_out, second_out = tmp_path / "first.json", tmp_path / "second.json"
    client = perdure.SyncClient(url)
    try:
        first = start(url, first_out, tmp_path, sleep=30)
        instance_id = client.start_new("parent")
        deadline = time.monotonic() + 30
        while not (tmp_path / "runs.log").exists():  # the first activity is running
            assert time.monotonic() < deadline, "the activity never started"
            time.sleep(0.05)
        kill(first)
        second = start(url, second_out, tmp_path, sleep=0)
        try:
            status = client.wait_for_completion(instance_id, timeout=60)
        finally:
            stop(second)
    finally:
        client.close()
    assert status.output == ["PARENT", "CHILD"]
    runs = (tmp_path / "runs.log").read_text().split()[::2]
    assert runs.count("parent") == 2  # killed mid-run, run again by the second worker

    spans = spans_in(first_out) + spans_in(second_out)
    ids = [s["context"]["span_id"] for s in spans]
    assert len(ids) == len(set(ids)), "a span was emitted twice"
    names = sorted((s["name"], s["kind"]) for s in spans)
    assert names == sorted([
        ("orchestration:parent", "SpanKind.SERVER"),
        ("activity:work", "SpanKind.CLIENT"), ("activity:work", "SpanKind.SERVER"),
        ("orchestration:parent:timer", "SpanKind.INTERNAL"),
        ("orchestration:child", "SpanKind.CLIENT"), ("orchestration:child", "SpanKind.SERVER"),
        ("activity:work", "SpanKind.CLIENT"), ("activity:work", "SpanKind.SERVER"),
    ])
    assert len({s["context"]["trace_id"] for s in spans}) == 1
    assert all(s["resource"]["attributes"]["service.name"] == "perdure-test" for s in spans)
