"""An activity that publishes its orchestration's management URLs (the seed's SendInstanceInfo).

An activity asks for its context by annotating a parameter with
``perdure.ActivityContext``; the context reaches the orchestration client.
"""

import perdure

app = perdure.App()

# Stands in for the seed's Cosmos DB collection of payloads.
PUBLISHED: dict[str, dict] = {}


@app.activity
def send_instance_info(ctx: perdure.ActivityContext) -> dict:
    """Build the instance's HTTP management payload and publish it."""
    payload = ctx.create_http_management_payload(ctx.instance_id)
    PUBLISHED[ctx.instance_id] = {"Payload": payload, "id": ctx.instance_id}
    return payload


@app.orchestrator
def publish_and_wait(ctx: perdure.OrchestrationContext):
    """Publish the payload, then wait for someone to use its sendEventPostUri."""
    payload = yield ctx.call_activity("send_instance_info")
    answer = yield ctx.wait_for_external_event("Done")
    return {"statusQueryGetUri": payload["statusQueryGetUri"], "answer": answer}
