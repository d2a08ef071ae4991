"""Schemathesis against a real ``perdure serve``: no 500, no response outside the schema.

Runs the schemathesis CLI (examples, coverage, fuzzing and stateful phases,
positive and negative data, every check) with a fixed seed and a bounded
number of examples per operation.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from http_server import HERE, serve

pytest.importorskip("schemathesis")

MAX_EXAMPLES = "10"


@pytest.mark.serial
def test_management_api_conforms_to_its_openapi_document(tmp_path: Path):
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    with serve(HERE / "schema_app.py", f"sqlite:///{tmp_path / 'hub.db'}") as url:
        run = subprocess.run(
            [cli, "--config-file", str(HERE / "schemathesis.toml"), "run",
             f"{url}/openapi.json", "--checks", "all",
             "--phases", "examples,coverage,fuzzing,stateful", "--mode", "all",
             "--max-examples", MAX_EXAMPLES, "--seed", "20261126",
             # One worker: hypothesis' source inspection is not thread-safe on 3.11.
             "--workers", "1", "--request-timeout", "15", "--no-color"],
            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    report = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    assert "generated," in run.stdout and " passed" in run.stdout, report
