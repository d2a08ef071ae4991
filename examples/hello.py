"""Hello sequence: three activities called one after another.

    perdure serve examples/hello.py
    perdure start hello_sequence
"""

import perdure

app = perdure.App()


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
