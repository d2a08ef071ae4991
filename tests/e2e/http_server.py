"""Run ``perdure serve`` in a child process on a free port."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

HERE = Path(__file__).parent
ROOT = HERE.parents[1]


@contextmanager
def serve(app: str | Path, store_url: str, *args: str,
          startup_timeout: float = 20.0) -> Iterator[str]:
    """Start ``perdure serve APP --port 0``; yield ``http://127.0.0.1:PORT``; stop it (SIGTERM)."""
    # The log goes to a file: a pipe nobody reads would block a chatty server.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "perdure.cli", "serve", str(app), "--store", store_url,
             "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=log, cwd=HERE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            yield _wait_for_banner(process, log, startup_timeout)
        finally:
            stop(process)


def _wait_for_banner(process: subprocess.Popen[bytes], log: IO[bytes], timeout: float) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            line = process.stdout.readline().decode()
            if line.startswith("perdure serving "):
                return line.split()[2]
        if process.poll() is not None:
            log.seek(0)
            err = log.read().decode()
            raise RuntimeError(f"perdure serve exited with {process.returncode}: {err}")
    raise RuntimeError("perdure serve did not start in time")


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, wait (then SIGKILL); returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return process.returncode
