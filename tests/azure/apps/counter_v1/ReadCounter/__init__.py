import json

import azure.functions as func
from azure.durable_functions import DurableOrchestrationClient
from azure.durable_functions.models.utils.entity_utils import EntityId


async def main(req: func.HttpRequest, starter: str) -> func.HttpResponse:
    client = DurableOrchestrationClient(starter)
    name, key = req.route_params["entityName"], req.route_params["entityKey"]
    if req.method == "POST":
        await client.signal_entity(EntityId(name, key), "add", int(req.params["amount"]))
        return func.HttpResponse(status_code=202)
    response = await client.read_entity_state(EntityId(name, key))
    if not response.entity_exists:
        return func.HttpResponse("Entity not found", status_code=404)
    return func.HttpResponse(json.dumps({"entity": name, "key": key,
                                         "state": response.entity_state}))
