"""Entities in the orchestration harness: calls, signals, locks, in memory."""

from __future__ import annotations

from pathlib import Path

import perdure
from perdure.testing import OrchestrationHarness

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_the_harness_runs_entities_and_critical_sections():
    app = perdure.load_app(str(EXAMPLES / "entities.py"))
    harness = OrchestrationHarness(app)
    order = {"from": "alice", "to": "bob", "amount": 30}
    assert harness.run("transfer", order).output == {"ok": False, "balance": 0}
    harness.signal_entity(("Account", "alice"), "deposit", 50)
    assert harness.run("transfer", order).output == {"ok": True, "balance": 20}
    assert harness.read_entity_state(("Account", "alice")) == (True, {"balance": 20})
    assert harness.read_entity_state(("account", "bob")) == (True, {"balance": 30})
    assert harness.read_entity_state(("counter", "transfers")) == (True, 1)
    assert harness.read_entity_state(("counter", "nobody")) == (False, None)


def test_calls_and_failed_operations():
    app = perdure.App()

    @app.entity
    def counter(ctx: perdure.EntityContext) -> None:
        if ctx.operation_name == "boom":
            raise ValueError("no")
        ctx.set_state(ctx.get_state(0) + (ctx.get_input() or 0))
        ctx.set_result(ctx.get_state())

    @app.orchestrator
    def orch(ctx: perdure.OrchestrationContext):
        ctx.signal_entity(("counter", "k"), "add", 2)
        first = yield ctx.call_entity(("counter", "k"), "add", 3)
        try:
            yield ctx.call_entity(("counter", "k"), "boom")
        except perdure.EntityOperationFailedError as exc:
            return [first, exc.details.message]

    harness = OrchestrationHarness(app)
    assert harness.run("orch").output == [5, "no"]
    assert harness.read_entity_state(("counter", "k")) == (True, 5)
