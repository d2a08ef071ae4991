"""A function-chaining Durable Functions app, in the style of the SDK's samples-v2."""

import azure.durable_functions as df
import azure.functions as func

myApp = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@myApp.route(route="orchestrators/{functionName}")
@myApp.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client):
    function_name = req.route_params.get("functionName")
    instance_id = await client.start_new(function_name)
    return client.create_check_status_response(req, instance_id)


@myApp.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    first = yield context.call_activity("greet", "Tokyo")
    second = yield context.call_activity("greet", "Seattle")
    third = yield context.call_activity("greet", "London")
    return [first, second, third]


@myApp.activity_trigger(input_name="city")
def greet(city: str) -> str:
    return f"Hello {city}"
