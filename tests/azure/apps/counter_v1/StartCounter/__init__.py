import azure.functions as func
from azure.durable_functions import DurableOrchestrationClient


async def main(req: func.HttpRequest, starter: str) -> func.HttpResponse:
    client = DurableOrchestrationClient(starter)
    instance_id = await client.start_new("CounterOrchestration", None, req.params.get("key"))
    return client.create_check_status_response(req, instance_id)
