"""HttpSyncStart: start an orchestration over HTTP and wait for its result.

The seed article's synchronous start, with ``route_prefix=""`` so that the URL
is exactly the article's:

    perdure serve examples/http_sync_start.py
    curl -i -X POST "http://localhost:7071/orchestrators/hello_sequence/wait?timeout=2&retryInterval=0.5"

It answers 200 with ``["Hello Tokyo!", "Hello Seattle!", "Hello London!"]``
when the instance finishes within ``timeout`` seconds, and 202 with the
check-status payload (``statusQueryGetUri``, ``sendEventPostUri``, ...) when it
does not; try ``slow_hello``, which waits 5 seconds on a durable timer.
"""

from __future__ import annotations

import json
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

import perdure
from perdure.http import HttpClient

app = perdure.App(route_prefix="")


@app.activity
def say_hello(city: str) -> str:
    """Greet one city."""
    return f"Hello {city}!"


@app.orchestrator
def hello_sequence(ctx: perdure.OrchestrationContext):
    """Call ``say_hello`` for three cities in order and return the greetings."""
    out = []
    for city in ("Tokyo", "Seattle", "London"):
        out.append((yield ctx.call_activity("say_hello", city)))
    return out


@app.orchestrator
def slow_hello(ctx: perdure.OrchestrationContext):
    """Wait ``input`` seconds (default 5) on a durable timer, then greet."""
    seconds = ctx.get_input() or 5
    yield ctx.create_timer(ctx.current_utc_datetime + timedelta(seconds=seconds))
    return (yield ctx.call_activity("say_hello", "slowpoke"))


def _seconds(request: Request, name: str, default: float) -> float:
    value = request.query_params.get(name)
    try:
        return float(value) if value else default
    except ValueError:
        # perdure's errors map to status codes: this one is a 400 naming the problem.
        raise perdure.InvalidArgumentError(f"{name} must be a number of seconds") from None


@app.route("orchestrators/{function_name}/wait", methods=["POST"])
async def http_sync_start(req: Request, client: HttpClient, function_name: str) -> Response:
    """Start ``function_name`` with the request body as input; wait up to ``timeout`` s."""
    timeout = _seconds(req, "timeout", 10.0)
    retry_interval = _seconds(req, "retryInterval", 1.0)
    body = await req.body()
    try:
        data = json.loads(body) if body.strip() else None
    except ValueError:
        raise perdure.InvalidArgumentError("the request body is not valid JSON") from None
    instance_id = await client.start_new(function_name, None, data)
    return await client.wait_for_completion_or_create_check_status_response(
        req, instance_id, timeout=timeout, retry_interval=retry_interval)
