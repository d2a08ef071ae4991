"""An entity for the crash tests: each applied operation is logged with its pid."""

import os
import time

import perdure

app = perdure.App()


@app.entity
def tally(ctx: perdure.EntityContext) -> None:
    """Appends each input to its state; slow, so that a batch can be killed in its middle."""
    seen = ctx.get_state(list)
    if ctx.operation_name == "read":
        ctx.set_result(seen)
        return
    time.sleep(float(os.environ.get("ENTITY_APP_SLEEP", "0.01")))
    with open(os.environ["ENTITY_APP_LOG"], "a") as log:
        log.write(f"{ctx.get_input()} {os.getpid()}\n")
    ctx.set_state([*seen, ctx.get_input()])


@app.orchestrator
def read_tally(ctx: perdure.OrchestrationContext):
    return (yield ctx.call_entity(perdure.EntityId("tally", ctx.get_input()), "read"))
