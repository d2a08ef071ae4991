"""The durable half of the blueprint app."""

import azure.durable_functions as df
import azure.functions as func

bp = df.Blueprint()


@bp.route(route="start/{functionName}", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client) -> func.HttpResponse:
    instance_id = await client.start_new(req.route_params["functionName"],
                                         client_input=req.get_json())
    return client.create_check_status_response(req, instance_id)


@bp.orchestration_trigger(context_name="context", orchestration="shout")
def shout_orchestrator(context: df.DurableOrchestrationContext):
    words = context.get_input()
    results = yield context.task_all([context.call_activity("upper", w) for w in words])
    return " ".join(results)


@bp.activity_trigger(input_name="word")
def upper(word: str) -> str:
    return word.upper()
