"""An app whose version comes from the environment, for two worker processes of
different versions on one task hub (``tests/e2e/test_rolling_deploy.py``).

Each live (not replayed) orchestrator step appends ``instance version pid`` to
``VERSIONS_APP_LOG``, so the test sees which process ran which instance.
"""

from __future__ import annotations

import os
import time

import perdure

app = perdure.App(version=os.environ["VERSIONS_APP_VERSION"])
LOG = os.environ["VERSIONS_APP_LOG"]
STEPS = 3


def _record(ctx: perdure.OrchestrationContext) -> None:
    if not ctx.is_replaying:
        with open(LOG, "a") as log:
            log.write(f"{ctx.instance_id} {ctx.version or '-'} {os.getpid()}\n")


@app.activity
def work(key: str) -> str:
    time.sleep(0.005)
    return key


@app.orchestrator
def versioned_job(ctx: perdure.OrchestrationContext):
    out = []
    for step in range(STEPS):
        _record(ctx)
        out.append((yield ctx.call_activity("work", f"{ctx.instance_id}:{step}")))
    _record(ctx)
    return {"version": ctx.version, "steps": out}
