"""``perdure serve --dashboard on|read-only|off`` on a real server (no browser)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from dash_server import serve

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(("mode", "dashboard", "root"), [
    ((), 200, 307), (("--dashboard", "on"), 200, 307),
    (("--dashboard", "read-only"), 200, 307), (("--dashboard", "off"), 404, 404)])
def test_the_dashboard_option(tmp_path: Path, mode: tuple[str, ...], dashboard: int,
                              root: int) -> None:
    with serve(f"sqlite:///{tmp_path / 'hub.db'}", *mode) as url:
        assert httpx.get(f"{url}/dashboard/").status_code == dashboard
        response = httpx.get(f"{url}/")
        assert response.status_code == root
        if root == 307:
            assert response.headers["location"] == "/dashboard/"
        # The management API is there whatever the dashboard's mode.
        assert httpx.get(f"{url}/runtime/webhooks/durabletask/instances").status_code == 200
