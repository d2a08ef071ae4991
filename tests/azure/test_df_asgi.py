"""``func.AsgiFunctionApp``: an ASGI app (here Starlette) behind one catch-all HTTP function,
which gets a ``func.Context`` as the Functions worker passes it."""

from __future__ import annotations

from pathlib import Path

import httpx

import perdure
from perdure.cli.apps import load_any_app
from perdure.http import HttpClient, create_asgi_app


async def test_an_asgi_function_app(tmp_path: Path) -> None:
    app = load_any_app(str(Path(__file__).parent / "apps" / "asgi"))
    [route] = app.routes
    assert route.path == "{*route}"
    store = perdure.create_store(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        asgi = create_asgi_app(app, HttpClient(store, app=app))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi),
                                     base_url="http://localhost") as http:
            response = await http.get("/api/hello/world")
        assert response.status_code == 200
        assert response.json() == {"path": "/api/hello/world", "name": "world"}
    finally:
        await store.close()
