"""SIGTERM with a ``wait…`` request in flight (hardening #11): a 202 check-status answer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from http_server import HERE, ROOT, _wait_for_banner, stop

WEBHOOK = "/runtime/webhooks/durabletask"


@pytest.mark.parametrize(("app", "path", "body"), [
    # The management API's synchronous start (?timeout=) ...
    (HERE / "http_app.py", f"{WEBHOOK}/orchestrators/approval/w1?timeout=60", None),
    # ... and a user route calling wait_for_completion_or_create_check_status_response.
    (ROOT / "examples" / "http_sync_start.py", "/orchestrators/slow_hello/wait?timeout=60", 60),
])
def test_sigterm_answers_an_in_flight_wait_with_the_check_status_202(tmp_path: Path, app, path,
                                                                     body):
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "perdure.cli", "serve", str(app), "--store",
             f"sqlite:///{tmp_path / 'hub.db'}", "--port", "0"],
            stdout=subprocess.PIPE, stderr=log, cwd=HERE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            url = _wait_for_banner(process, log, 20)
            with ThreadPoolExecutor(1) as pool, httpx.Client(base_url=url, timeout=30) as http:
                waiting = pool.submit(http.post, path, json=body)
                deadline = time.monotonic() + 10
                while not http.get(f"{WEBHOOK}/instances").json():
                    assert time.monotonic() < deadline, "the instance never started"
                    time.sleep(0.05)
                time.sleep(0.3)  # the wait is parked on the store by now
                stopped = time.monotonic()
                process.send_signal(signal.SIGTERM)
                response = waiting.result(timeout=20)
                assert time.monotonic() - stopped < 2.5  # not after the 5 s grace period
            assert response.status_code == 202, response.text
            payload = response.json()
            assert response.headers["location"] == payload["statusQueryGetUri"]
            assert payload["statusQueryGetUri"].startswith(f"{url}{WEBHOOK}/instances/")
            assert process.wait(15) == 0
        finally:
            stop(process)
