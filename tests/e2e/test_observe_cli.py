"""/metrics from real processes: ``perdure serve`` (and ``--metrics off``) and
``perdure worker --metrics-port``."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import httpx
from http_server import HERE, serve
from prometheus_client.parser import text_string_to_metric_families
from workers import stop

import perdure


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_serve_metrics_count_what_it_ran(tmp_path: Path) -> None:
    with serve(HERE / "http_app.py", f"sqlite:///{tmp_path / 'hub.db'}") as url, \
            httpx.Client(base_url=url, timeout=30) as http:
        started = http.post("/runtime/webhooks/durabletask/orchestrators/hello_sequence",
                            params={"waitForCompletionTimeout": "20"})
        assert started.status_code in (200, 201, 202), started.text
        status_url = started.json()["statusQueryGetUri"]
        while http.get(status_url).json()["runtimeStatus"] != "Completed":
            time.sleep(0.05)
        m = samples(http.get("/metrics").text)
    assert m[("perdure_orchestrations_finished_total",
              (("name", "hello_sequence"), ("status", "Completed")))] == 1
    assert m[("perdure_activity_runs_total",
              (("name", "say_hello"), ("outcome", "completed")))] == 3
    assert m[("perdure_instances", (("status", "Completed"), ("version", "")))] == 1


def test_serve_metrics_off(tmp_path: Path) -> None:
    with serve(HERE / "http_app.py", f"sqlite:///{tmp_path / 'hub.db'}", "--metrics", "off") \
            as url:
        assert httpx.get(f"{url}/metrics").status_code == 404


def _metrics_url(process: subprocess.Popen[bytes], timeout: float = 20.0) -> str:
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stderr], [], [], 0.1)
        if ready:
            line = process.stderr.readline().decode()
            if line.startswith("perdure metrics on "):
                return line.split()[3]
        assert process.poll() is None, "the worker exited"
    raise AssertionError("the worker printed no metrics URL")


def test_worker_metrics_port(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    env = {**os.environ, "CRASH_APP_LOG": str(tmp_path / "runs.log"), "CRASH_APP_SLEEP": "0",
           "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "perdure.cli", "worker", str(HERE / "crash_app.py"),
         "--store", url, "--metrics-port", "0"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        metrics_url = _metrics_url(process)
        client = perdure.SyncClient(url)
        try:
            instance_id = client.start_new("multi_step")
            client.wait_for_completion(instance_id, timeout=60)
        finally:
            client.close()
        m = samples(httpx.get(metrics_url).text)
    finally:
        stop(process)
    assert m[("perdure_orchestrations_started_total", (("name", "multi_step"),))] == 1
    assert m[("perdure_activity_runs_total", (("name", "work"), ("outcome", "completed")))] == 4
    assert m[("perdure_ready_tasks", ())] == 0
    assert process.returncode == 0


def test_worker_logs_json_lines_with_structured_fields(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "perdure.cli", "worker", str(HERE / "observe_app.py"),
             "--store", url, "--log-format", "json", "--log-level", "info"],
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.DEVNULL,
            stderr=log)
    try:
        client = perdure.SyncClient(url)
        try:
            instance_id = client.start_new("failing")
            status = client.wait_for_completion(instance_id, timeout=60)
            assert status.runtime_status.value == "Failed"
        finally:
            client.close()
    finally:
        stop(process)
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]  # each one JSON
    assert lines[0]["message"].startswith("perdure worker on ")
    failed = [r for r in lines if r.get("activity") == "boom"]
    assert failed and failed[0]["instance_id"] == instance_id
    assert failed[0]["task_id"] == 0 and failed[0]["level"] == "info"
    assert failed[0]["logger"] == "perdure.worker.worker"
    ended = [r for r in lines if r.get("orchestrator") == "failing"
             and "ended Failed" in r["message"]]
    assert ended and ended[0]["instance_id"] == instance_id and ended[0]["execution_id"]
    assert any(r.get("worker_id") and "started" in r["message"] for r in lines)
