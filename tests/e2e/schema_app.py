"""The app behind the schemathesis run.

Every orchestrator finishes within 0.2 s, so that generated ``timeout``
values never hold a request for long; none fails, because
``returnInternalServerErrorOnFailure=true`` on a Failed instance is a 500 by
design (Durable Functions' opt-in), which the server-error check would report.
The failure paths are covered by tests/http.
"""

from __future__ import annotations

import perdure

app = perdure.App()


@app.activity
def say_hello(city: str) -> str:
    return f"Hello {city}!"


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
def brief_wait(ctx: perdure.OrchestrationContext):
    """Running for up to 0.2 s: a target for events, suspend, resume, terminate."""
    try:
        return (yield ctx.wait_for_external_event("go", timeout=0.2))
    except perdure.EventTimeoutError:
        return "no event"
