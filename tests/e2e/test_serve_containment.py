"""A real `perdure serve` survives misbehaving user code and still stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from http_server import HERE, _wait_for_banner

BASE = "/runtime/webhooks/durabletask"


def wait_done(http: httpx.Client, iid: str, timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = http.get(f"{BASE}/instances/{iid}").json()
        if body["runtimeStatus"] not in ("Pending", "Running"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def test_bad_user_code_fails_its_instances_and_sigterm_still_stops_a_spinning_step(
        tmp_path: Path):
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "perdure.cli", "serve", str(HERE / "bad_app.py"),
             "--store", f"sqlite:///{tmp_path / 'hub.db'}", "--port", "0",
             "--step-timeout", "1.5"],
            stdout=subprocess.PIPE, stderr=log, cwd=HERE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            url = _wait_for_banner(process, log, 20)
            with httpx.Client(base_url=url, timeout=10) as http:
                def start(name: str) -> str:
                    response = http.post(f"{BASE}/orchestrators/{name}")
                    assert response.status_code == 202, response.text
                    return response.json()["id"]

                bad = {start(name): name for name in ("exits", "interrupts", "spins")}
                good = start("healthy")
                async_exit = start("calls_exits_async")
                assert wait_done(http, good)["output"] == "fine"
                assert wait_done(http, async_exit)["output"] == "SystemExit"
                for iid, name in bad.items():
                    body = wait_done(http, iid)
                    assert body["runtimeStatus"] == "Failed", body
                    assert f"Orchestrator function '{name}' failed" in body["output"]
                assert "did not yield within the step time budget" in \
                    wait_done(http, next(i for i, n in bad.items() if n == "spins"))["output"]
                # A spinning step holds the loop; SIGTERM still stops the server.
                start("spins")
                time.sleep(0.3)
                began = time.monotonic()
                process.send_signal(signal.SIGTERM)
                assert process.wait(15) == 0
                assert time.monotonic() - began < 10
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(5)
