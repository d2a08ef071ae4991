"""A Durable Functions app exercising what perdure hosts, written as the SDK samples are."""

import json
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func
from shared_classes import Point

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=10, max_number_of_attempts=3)
attempts: dict[str, int] = {}


# --- HTTP functions ---------------------------------------------------------------


@app.route(route="orchestrators/{functionName}/{instanceId?}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    body = req.get_body()
    instance_id = await client.start_new(req.route_params["functionName"],
                                         req.route_params.get("instanceId"),
                                         json.loads(body) if body else None)
    return client.create_check_status_response(req, instance_id)


@app.route(route="versioned/{functionName}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_versioned(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    instance_id = await client.start_new(req.route_params["functionName"],
                                         version=req.params.get("version"))
    return client.create_check_status_response(req, instance_id)


@app.route(route="wait/{functionName}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_and_wait(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    instance_id = await client.start_new(req.route_params["functionName"], None,
                                         req.get_json())
    return await client.wait_for_completion_or_create_check_status_response(
        req, instance_id, timeout_in_milliseconds=10000, retry_interval_in_milliseconds=50)


@app.route(route="approve/{instanceId}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def approve(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> str:
    await client.raise_event(req.route_params["instanceId"], "Approval", True)
    status = await client.get_status(req.route_params["instanceId"])
    return status.runtime_status.value


@app.route(route="echo/{id:int}/{*rest}", methods=["GET", "PUT"])
def echo(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    headers = {"Set-Cookie": "a=1", "X-Function": context.function_name}
    response = func.HttpResponse(json.dumps({
        "method": req.method, "url": req.url, "params": dict(req.params),
        "route": dict(req.route_params), "body": req.get_body().decode(),
        "header": req.headers.get("x-test"), "invocation": bool(context.invocation_id),
    }), status_code=201, mimetype="application/json", headers=headers)
    response.headers.add("Set-Cookie", "b=2")
    return response


@app.route(route="point", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_with_a_point(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    instance_id = await client.start_new("point_input", client_input=Point(3, 4))
    return client.create_check_status_response(req, instance_id)


@app.route(route="nothing")
def nothing(req: func.HttpRequest) -> None:
    return None


@app.route(route="text")
async def text(req: func.HttpRequest) -> str:
    return "plain words"


@app.route(route="broken")
def broken(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("the function's own bug")


# --- orchestrators ------------------------------------------------------------------


@app.orchestration_trigger(context_name="context")
def points(context: df.DurableOrchestrationContext):
    point = yield context.call_activity("shift", Point(1, 2))
    moved = yield context.call_activity("shift_async", point)
    return [moved.x, moved.y]


@app.orchestration_trigger(context_name="context")
def point_input(context: df.DurableOrchestrationContext):
    point: Point = context.get_input()
    echoed = yield context.call_activity("same", point)
    return [point.x, point.y, type(echoed).__name__]


@app.orchestration_trigger(context_name="context")
def retrying(context: df.DurableOrchestrationContext):
    key = context.instance_id
    value = yield context.call_activity_with_retry("flaky", RETRY, key)
    context.set_custom_status("retried")
    return value


@app.orchestration_trigger(context_name="context")
def exhausted(context: df.DurableOrchestrationContext):
    yield context.call_activity_with_retry("always_fails", RETRY, None)


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    a = yield context.call_sub_orchestrator("child", "one")
    b = yield context.call_sub_orchestrator("child", "two", instance_id=f"{context.instance_id}-b")
    return [a, b]


@app.orchestration_trigger(context_name="context")
def versions(context: df.DurableOrchestrationContext):
    own = yield context.call_sub_orchestrator("which_version")
    pinned = yield context.call_sub_orchestrator("which_version", version="0.9")
    return [context.version, own, pinned]


@app.orchestration_trigger(context_name="context")
def which_version(context: df.DurableOrchestrationContext):
    return context.version


@app.orchestration_trigger(context_name="context")
def child(context: df.DurableOrchestrationContext):
    word = context.get_input()
    return (yield context.call_activity("shout", word))


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    seconds = context.get_input() or 60
    timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=seconds))
    event = context.wait_for_external_event("Approval")
    winner = yield context.task_any([event, timer])
    if winner == event:
        timer.cancel()
        return "approved"
    return "timed out"


@app.orchestration_trigger(context_name="context")
def monitor(context: df.DurableOrchestrationContext):
    round_ = context.get_input() or 0
    context.set_custom_status({"round": round_})
    if round_ >= 3:
        return round_
    yield context.create_timer(context.current_utc_datetime + timedelta(milliseconds=10))
    context.continue_as_new(round_ + 1)


@app.orchestration_trigger(context_name="context")
def fragile(context: df.DurableOrchestrationContext):
    first = yield context.call_activity("fails_once", context.instance_id)
    return first


@app.orchestration_trigger(context_name="context")
def retry_twice(context: df.DurableOrchestrationContext):
    twice = df.RetryOptions(first_retry_interval_in_milliseconds=10, max_number_of_attempts=2)
    return (yield context.call_activity_with_retry("flaky", twice, context.instance_id))


@app.orchestration_trigger(context_name="context")
def who(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("whoami", "me"))


@app.orchestration_trigger(context_name="context")
def fetch(context: df.DurableOrchestrationContext):
    response = yield context.call_http("PUT", context.get_input(), content={"a": 1},
                                       headers={"x-test": "from-call-http"})
    return [response["statusCode"], json.loads(response["content"])]


@app.orchestration_trigger(context_name="context")
def management(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("payload", context.instance_id))


# --- activities ---------------------------------------------------------------------


@app.activity_trigger(input_name="point")
def shift(point: Point) -> Point:
    return Point(point.x + 10, point.y + 10)


@app.activity_trigger(input_name="point")
async def shift_async(point: Point) -> Point:
    return Point(point.x * 2, point.y * 2)


@app.activity_trigger(input_name="payload")
def same(payload):
    return payload


@app.activity_trigger(input_name="key")
def flaky(key: str) -> str:
    attempts[key] = attempts.get(key, 0) + 1
    if attempts[key] < 3:
        raise ValueError(f"attempt {attempts[key]} fails")
    return f"ok after {attempts[key]}"


@app.activity_trigger(input_name="caller")
async def whoami(caller: str, context: func.Context) -> list:
    return [caller, context.function_name, bool(context.invocation_id)]


@app.activity_trigger(input_name="key")
def fails_once(key: str) -> str:
    attempts[key] = attempts.get(key, 0) + 1
    if attempts[key] == 1:
        raise ValueError("first time")
    return "second time"


@app.activity_trigger(input_name="unused")
def always_fails(unused) -> None:
    raise ValueError("never works")


@app.activity_trigger(input_name="word")
def shout(word: str) -> str:
    return word.upper() + "!"


@app.activity_trigger(input_name="instance")
@app.durable_client_input(client_name="client")
async def payload(instance: str, client: df.DurableOrchestrationClient) -> str:
    status = await client.get_status(instance)
    links = client.create_http_management_payload(instance)
    return f"{status.runtime_status.value} {links['statusQueryGetUri']}"
