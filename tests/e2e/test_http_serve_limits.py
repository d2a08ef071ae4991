"""``perdure serve`` under slow clients (hardening #8): read deadlines and a connection limit."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from http_server import HERE, serve

import perdure

WEBHOOK = "/runtime/webhooks/durabletask"
HALF_SENT = 250


@contextmanager
def _sockets(url: str, count: int, first_bytes: bytes) -> Iterator[list[socket.socket]]:
    """``count`` connections to ``url`` that each sent ``first_bytes`` and then stall."""
    parts = urlsplit(url)
    opened: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
            if first_bytes:
                sock.sendall(first_bytes)
            opened.append(sock)
        yield opened
    finally:
        for sock in opened:
            sock.close()


def _closed_by_server(sock: socket.socket, wait: float) -> bool:
    """True when the server closed ``sock`` (EOF or reset) within ``wait`` seconds."""
    sock.settimeout(wait)
    try:
        while sock.recv(4096):
            pass  # a 408 before the close is fine
        return True
    except TimeoutError:
        return False
    except OSError:  # reset: closed too
        return True


def test_half_sent_requests_do_not_starve_a_normal_start(tmp_path: Path):
    store = f"sqlite:///{tmp_path / 'hub.db'}"
    with serve(HERE / "http_app.py", store, "--header-timeout", "2", "--max-connections", "100") \
            as url, httpx.Client(base_url=url, timeout=5) as http:
        half = (f"POST {WEBHOOK}/orchestrators/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "X-Slow: ").encode()
        with _sockets(url, HALF_SENT, half) as slow:
            # 250 stalled connections against a limit of 100: the oldest ones were
            # evicted to make room, and a normal client is served at once.
            started = time.monotonic()
            response = http.post(f"{WEBHOOK}/orchestrators/echo/normal?timeout=3", json=7)
            assert response.status_code == 200, response.text
            assert response.json() == 7
            assert time.monotonic() - started < 2.5
            # Every stalled connection is gone once the header deadline has passed.
            deadline = time.monotonic() + 6
            survivors = [s for s in slow
                         if not _closed_by_server(s, max(0.01, deadline - time.monotonic()))]
            assert survivors == []


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(tmp_path: Path):
    store = f"sqlite:///{tmp_path / 'hub.db'}"
    with serve(HERE / "http_app.py", store, "--header-timeout", "1") as url:
        with _sockets(url, 1, b"") as (silent,), _sockets(url, 1, b"GET / HTTP/1.1\r\n") \
                as (partial,):
            started = time.monotonic()
            assert _closed_by_server(silent, 5) and _closed_by_server(partial, 5)
            assert 0.5 < time.monotonic() - started < 3.5
            # A client that sent part of a request is told why.
        with _sockets(url, 1, b"GET / HTTP/1.1\r\n") as (partial,):
            partial.settimeout(5)
            assert partial.recv(100).startswith(b"HTTP/1.1 408 ")


def test_a_stalled_request_body_is_closed_after_the_body_timeout(tmp_path: Path):
    store = f"sqlite:///{tmp_path / 'hub.db'}"
    with serve(HERE / "http_app.py", store, "--body-timeout", "1") as url, \
            httpx.Client(base_url=url, timeout=5) as http:
        head = (f"POST {WEBHOOK}/orchestrators/echo/stalled HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n[1,").encode()
        with _sockets(url, 1, head) as (stalled,):
            started = time.monotonic()
            assert _closed_by_server(stalled, 5)
            assert 0.5 < time.monotonic() - started < 3.5
        # Nothing was started from the half body, and the server still serves.
        assert http.get(f"{WEBHOOK}/instances/stalled").status_code == 404


def test_past_the_limit_with_every_connection_busy_a_newcomer_gets_a_503(tmp_path: Path):
    from concurrent.futures import ThreadPoolExecutor

    store = f"sqlite:///{tmp_path / 'hub.db'}"
    with serve(HERE / "http_app.py", store, "--max-connections", "2") as url, \
            ThreadPoolExecutor(2) as pool:
        def wait(n: int) -> int:
            # Never approved: each holds its connection for the whole wait.
            return httpx.post(f"{url}{WEBHOOK}/orchestrators/approval/busy{n}?timeout=4",
                              timeout=30).status_code
        busy = [pool.submit(wait, n) for n in range(2)]
        # Both requests hold their connections once their instances exist (read from
        # the hub: the server has no connection left to answer a status query).
        hub = perdure.SyncClient(store)
        deadline = time.monotonic() + 20
        while any(hub.get_status(f"busy{n}") is None for n in range(2)):
            assert time.monotonic() < deadline, "the busy requests never arrived"
            time.sleep(0.02)
        hub.close()
        with _sockets(url, 1, b"") as (newcomer,):
            newcomer.settimeout(5)
            assert newcomer.recv(100).startswith(b"HTTP/1.1 503 ")
        assert [f.result() for f in busy] == [202, 202]


def test_limit_options_are_validated():
    import subprocess
    import sys

    for option in ("--max-connections", "--bulk-rate"):
        result = subprocess.run([sys.executable, "-m", "perdure.cli", "serve", "x.py",
                                 option, "0"], capture_output=True, cwd=HERE, timeout=30)
        assert result.returncode == 2 and option.encode() in result.stderr
