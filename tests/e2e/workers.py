"""Start and SIGKILL real worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent


def start_worker(store_url: str, env: dict[str, str], lease: float = 1.0,
                 app: str = "crash_app.py", max_activities: int = 16,
                 ) -> subprocess.Popen[bytes]:
    """``perdure worker`` in a child process.

    Its log goes to a file, not a pipe: nobody reads the pipe, and a worker
    logging through a database outage would fill it and block. A few
    activities at a time keep a run long enough to be killed in its middle.
    """
    with tempfile.TemporaryFile() as log:
        return subprocess.Popen(
            [sys.executable, "-m", "perdure.cli", "worker", str(HERE / app), "--store",
             store_url, "--lease", str(lease), "--max-activities", str(max_activities)],
            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=log)


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL: no cleanup, no lease release, no flush."""
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop politely (SIGINT), then make sure."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            kill(process)
