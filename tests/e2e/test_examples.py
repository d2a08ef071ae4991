"""Every example app runs its scenario end to end."""

from __future__ import annotations

import asyncio
from pathlib import Path

import perdure
from perdure import OrchestrationRuntimeStatus as S

EXAMPLES = Path(__file__).parents[2] / "examples"


async def run(tmp_path: Path, example: str, scenario):  # type: ignore[no-untyped-def]
    app = perdure.load_app(str(EXAMPLES / example))
    store = perdure.create_store(f"sqlite:///{tmp_path / 'hub.db'}")
    async with perdure.Worker(app, store):
        return await scenario(perdure.Client(store, app=app))


async def test_hello(tmp_path):
    async def scenario(client):
        iid = await client.start_new("hello_sequence")
        return await client.wait_for_completion(iid, 10)
    done = await run(tmp_path, "hello.py", scenario)
    assert done.output == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


async def test_fan_out_fan_in(tmp_path):
    async def scenario(client):
        return await client.wait_for_completion(
            await client.start_new("fan_out_fan_in", input=100), 10)
    assert (await run(tmp_path, "fan_out_fan_in.py", scenario)).output == \
        sum(i * i for i in range(100))


async def test_human_interaction_approved_and_escalated(tmp_path):
    async def scenario(client):
        await client.start_new("approval_workflow", "yes", {"order": 1})
        await client.raise_event("yes", "Approval", True)
        await client.start_new("approval_workflow", "late", {"order": 2, "timeout_seconds": 0.1})
        return [await client.wait_for_completion(i, 10) for i in ("yes", "late")]
    approved, late = await run(tmp_path, "human_interaction.py", scenario)
    assert approved.output == "approved"
    assert late.output == "order 2 escalated to a manager"


async def test_monitor_continues_as_new(tmp_path):
    async def scenario(client):
        iid = await client.start_new("job_monitor",
                                     input={"job": "j1", "checks_left": 3, "interval": 0.05})
        return await client.wait_for_completion(iid, 10)
    done = await run(tmp_path, "monitor.py", scenario)
    assert done.output == {"job": "j1", "last_status": "running"}
    assert done.custom_status == {"job": "j1", "status": "running", "checks_left": 1}


async def test_send_instance_info_publishes_the_payload(tmp_path):
    async def scenario(client):
        await client.start_new("publish_and_wait", "pub")
        await client.raise_event("pub", "Done", "thanks")
        return await client.wait_for_completion("pub", 10)
    done = await run(tmp_path, "send_instance_info.py", scenario)
    assert done.runtime_status is S.Completed and done.output["answer"] == "thanks"
    assert done.output["statusQueryGetUri"].endswith("/runtime/webhooks/durabletask/instances/pub")


async def test_entities_counter_and_transfers(tmp_path):
    async def scenario(client):
        await client.signal_entity(("Account", "alice"), "deposit", 100)
        ids = [await client.start_new("transfer", input={"from": "alice", "to": "bob",
                                                         "amount": 30}) for _ in range(4)]
        outputs = [(await client.wait_for_completion(i, 20)).output for i in ids]
        states = [await client.read_entity_state(("Account", who)) for who in ("alice", "bob")]
        for _ in range(100):  # the last signal may still be on its way
            if (await client.read_entity_state(("counter", "transfers")))[1] == 3:
                break
            await asyncio.sleep(0.02)
        return outputs, states, await client.read_entity_state(("counter", "transfers"))
    outputs, states, transfers = await run(tmp_path, "entities.py", scenario)
    assert sorted(o["ok"] for o in outputs) == [False, True, True, True]
    assert states == [(True, {"balance": 10}), (True, {"balance": 90})]
    assert transfers == (True, 3)


async def test_versioned_orders_old_and_new_instances(tmp_path):
    async def scenario(client):
        order = {"id": 7, "amount": 12}
        old = await client.start_new("place_order", "old", order, version="1.0")
        new = await client.start_new("place_order", "new", order)  # the app's 2.0
        return [await client.wait_for_completion(iid, 10) for iid in (old, new)]
    old, new = await run(tmp_path, "versioned_orders.py", scenario)
    assert old.output == {"version": "1.0",
                          "steps": ["charged 12 for order 7", "shipped order 7"]}
    assert new.output["version"] == "2.0" and new.version == "2.0"
    assert new.output["steps"][1] == "receipt for order 7 sent"
