"""Run ``perdure serve dash_apps.py`` in a child process on a free port."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
APP = HERE / "dash_apps.py"


@contextmanager
def serve(store_url: str, *args: str) -> Iterator[str]:
    """``perdure serve dash_apps.py --port 0``; yields its base URL; SIGTERM at the end."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(
        [sys.executable, "-m", "perdure.cli", "serve", str(APP), "--store", store_url,
         "--port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        cwd=HERE, env=env)
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        url = None
        while url is None:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("perdure serve did not start")
            if select.select([process.stdout], [], [], 0.1)[0]:
                line = process.stdout.readline().decode()
                if line.startswith("perdure serving "):
                    url = line.split()[2].replace("127.0.0.1", "localhost")
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
