"""App(strict_replay=True): a worker's replay also compares activity and sub-orchestration
inputs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import perdure
from perdure.core.strict import StrictReplay
from perdure.testing import OrchestrationHarness, ReplayMismatchError, replay_history

S = perdure.OrchestrationRuntimeStatus


def make_app(bump: int = 0, strict: bool = False) -> perdure.App:
    app = perdure.App(strict_replay=strict)

    @app.activity
    def echo(x: Any) -> Any:
        return x

    @app.orchestrator
    def flow(ctx: perdure.OrchestrationContext) -> Any:
        x = yield ctx.call_activity("echo", {"n": ctx.get_input() + bump, "k": [1]})
        y = yield ctx.wait_for_external_event("go")
        return [x, y]
    return app


async def run_after_redeploy(hub_factory: Any,
                             new_code: perdure.App) -> perdure.OrchestrationStatus:
    hub = await hub_factory(make_app())
    await hub.client.start_new("flow", "i1", 1)
    for _ in range(500):
        history = await hub.store.get_history("i1")
        if any(type(e).__name__ == "TaskCompleted" for e in history):
            break
        await asyncio.sleep(0.02)
    await hub.restart_worker(new_code)  # a fresh executor replays the history
    await hub.client.raise_event("i1", "go", 2)
    return await hub.client.wait_for_completion("i1", 10)


async def test_the_default_accepts_a_changed_input(hub_factory):
    done = await run_after_redeploy(hub_factory, make_app(bump=1))
    assert done.runtime_status is S.Completed and done.output == [{"n": 1, "k": [1]}, 2]


async def test_strict_replay_fails_the_instance(hub_factory):
    done = await run_after_redeploy(hub_factory, make_app(bump=1, strict=True))
    assert done.runtime_status is S.Failed
    assert done.failure_details is not None
    assert done.failure_details.error_type == "NonDeterminismError"
    assert "at position 0 history expected call activity 'echo' with input" in \
        done.failure_details.message
    assert 'but the code passed input {"n":2,"k":[1]}' in done.failure_details.message


async def test_strict_replay_accepts_the_same_input(hub_factory):
    done = await run_after_redeploy(hub_factory, make_app(strict=True))
    assert done.runtime_status is S.Completed


@pytest.mark.sqlite_only
def test_a_strict_app_makes_the_tools_strict():
    app = make_app(strict=True)
    assert isinstance(app.get_orchestrator("flow"), StrictReplay)
    assert not isinstance(make_app().get_orchestrator("flow"), StrictReplay)
    history = OrchestrationHarness(make_app()).start("flow", 1).result.history
    assert replay_history(make_app(bump=1), history).compatible
    with pytest.raises(ReplayMismatchError, match="passed input") as info:
        replay_history(make_app(bump=1, strict=True), history)
    assert info.value.position == 0
