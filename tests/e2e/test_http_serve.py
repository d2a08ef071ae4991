"""``perdure serve`` as a real process: the seed's HTTP scenario, keys, clean shutdown."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
from http_server import HERE, ROOT, serve, stop

SEED_APP = ROOT / "examples" / "http_sync_start.py"
WEBHOOK = "/runtime/webhooks/durabletask"


def test_seed_http_sync_start_over_a_real_server(tmp_path: Path):
    with serve(SEED_APP, f"sqlite:///{tmp_path / 'hub.db'}") as url, \
            httpx.Client(base_url=url, timeout=10) as http:
        # The article's request, verbatim (on our port).
        response = http.post("/orchestrators/hello_sequence/wait?timeout=2&retryInterval=0.5")
        assert response.status_code == 200
        assert response.json() == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]

        started = time.perf_counter()
        response = http.post("/orchestrators/slow_hello/wait?timeout=2&retryInterval=0.5")
        assert 1.9 < time.perf_counter() - started < 3.5
        assert response.status_code == 202
        payload = response.json()
        assert response.headers["location"] == payload["statusQueryGetUri"]
        assert payload["statusQueryGetUri"].startswith(f"{url}{WEBHOOK}/instances/")
        status = http.get(payload["statusQueryGetUri"])
        assert status.status_code == 202 and status.json()["runtimeStatus"] == "Running"
        # The 1.x URLs of the article reach the same instance.
        legacy = payload["statusQueryGetUri"].replace(WEBHOOK,
                                                      "/admin/extensions/DurableTaskExtension")
        assert http.get(legacy).json()["instanceId"] == payload["id"]


def test_keys_on_a_real_server_and_clean_shutdown(tmp_path: Path):
    store = f"sqlite:///{tmp_path / 'hub.db'}"
    with serve(HERE / "http_app.py", store, "--key", "s3cret") as url, \
            httpx.Client(base_url=url, timeout=10) as http:
        assert http.post(f"{WEBHOOK}/orchestrators/echo/k1", json=1).status_code == 401
        response = http.post(f"{WEBHOOK}/orchestrators/echo/k1?code=s3cret", json=1)
        assert response.status_code == 202
        status_url = response.json()["statusQueryGetUri"]
        assert "code=i2." in status_url and "s3cret" not in status_url
        deadline = time.monotonic() + 10
        while http.get(status_url).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert http.get(status_url).json()["output"] == 1
        assert http.get(f"{WEBHOOK}/instances/other?code=" + status_url.split("code=")[1]
                        ).status_code == 401


def test_auth_without_a_key_prints_a_generated_one_and_sigterm_exits_cleanly(tmp_path: Path):
    process = subprocess.Popen(
        [sys.executable, "-m", "perdure.cli", "serve", str(HERE / "http_app.py"), "--store",
         f"sqlite:///{tmp_path / 'hub.db'}", "--port", "0", "--auth"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    banner = process.stdout.readline().decode()
    assert banner.startswith("perdure serving http://127.0.0.1:") and "keys required" in banner
    key = process.stderr.readline().decode().rsplit(" ", 1)[1].strip()
    url = banner.split()[2]
    assert httpx.get(f"{url}{WEBHOOK}/instances?code={key}").status_code == 200
    assert httpx.get(f"{url}{WEBHOOK}/instances").status_code == 401
    assert stop(process) == 0
