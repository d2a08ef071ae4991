import azure.functions as func
from azure.durable_functions import DurableOrchestrationClient


async def main(req: func.HttpRequest, starter: str, message: func.Out[func.HttpResponse]):
    client = DurableOrchestrationClient(starter)
    instance_id = await client.start_new(req.route_params["functionName"])
    message.set(client.create_check_status_response(req, instance_id))
