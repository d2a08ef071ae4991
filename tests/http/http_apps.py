"""The app served by the HTTP tests: a little of everything the management API touches."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

import perdure

BASE = "/runtime/webhooks/durabletask"
ORIGIN = "http://localhost:7071"

app = perdure.App()

calls: dict[str, int] = {}
_lock = threading.Lock()


def count(name: str) -> int:
    with _lock:
        calls[name] = calls.get(name, 0) + 1
        return calls[name]


@app.activity
def say_hello(city: str) -> str:
    return f"Hello {city}!"


@app.activity
def fail_once(key: str) -> str:
    if count(f"fail_once:{key}") == 1:
        raise ValueError(f"first attempt of {key} fails")
    return f"{key} ok"


@app.activity
def always_fail(message: str) -> None:
    raise RuntimeError(message)


@app.orchestrator
def hello_sequence(ctx: perdure.OrchestrationContext):
    out = []
    for city in ("Tokyo", "Seattle", "London"):
        out.append((yield ctx.call_activity("say_hello", city)))
    return out


@app.orchestrator
def echo(ctx: perdure.OrchestrationContext):
    return ctx.get_input()


@app.orchestrator
def sleeper(ctx: perdure.OrchestrationContext):
    """Wait ``input`` seconds (default 30) on a durable timer."""
    yield ctx.create_timer(ctx.current_utc_datetime + timedelta(seconds=ctx.get_input() or 30))
    return "woke"


@app.orchestrator
def approval(ctx: perdure.OrchestrationContext):
    """Wait for the ``Approval`` event and return its data."""
    ctx.set_custom_status({"waiting": "Approval"})
    return (yield ctx.wait_for_external_event("Approval"))


@app.orchestrator
def flaky(ctx: perdure.OrchestrationContext):
    """Fails on its first run; a rewind makes it succeed."""
    return (yield ctx.call_activity("fail_once", ctx.instance_id))


@app.orchestrator
def broken(ctx: perdure.OrchestrationContext):
    yield ctx.call_activity("always_fail", "boom")


# --- user routes (prefix "api") ----------------------------------------------


@app.route("start/{name}", methods=["POST"])
async def start(req: Request, client: perdure.Client, name: str) -> Response:
    body = await req.body()
    instance_id = await client.start_new(name, None, body.decode() or None)
    return client.create_check_status_response(req, instance_id)


@app.route("sync/{name}", methods=["POST"])
def sync_start(req: Request, client: perdure.SyncClient, name: str) -> dict[str, Any]:
    """A plain ``def`` gets a blocking client."""
    instance_id = client.start_new(name, None, "sync")
    return {"id": instance_id, "status": client.wait_for_completion(instance_id, 10).output}


@app.route("items/{item_id:int}/{detail?}", methods=["GET"])
async def item(req: Request, item_id: int, detail: str | None = None) -> JSONResponse:
    return JSONResponse({"item_id": item_id, "detail": detail, "params": req.path_params})


@app.route("returns/{kind}")
async def returns(req: Request, kind: str) -> Any:
    return {"none": None, "text": "plain", "bytes": b"\x00\x01", "json": {"a": [1, 2]},
            "response": Response("raw", 418)}[kind]


@app.route("boom/{kind}")
async def boom(kind: str) -> Any:
    if kind == "perdure":
        raise perdure.InvalidArgumentError("you asked for it")
    raise RuntimeError("user bug")


@app.route("levels/function", auth_level="function")
async def function_level(req: Request) -> str:
    return "function ok"


@app.route("levels/admin", auth_level="admin")
async def admin_level(req: Request) -> str:
    return "admin ok"
