"""Durable Functions activities as perdure activities.

The input arrives and the result leaves encoded exactly as on Azure: the
SDK's ``ActivityTriggerConverter`` decodes the scheduled input (custom
classes with ``to_json``/``from_json`` included, a non-JSON string passed
raw) and encodes the return value.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from typing import Any

from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from ..worker import ActivityContext
from .client import binding_json
from .context import FunctionContext


def decode_input(value: Any) -> Any:
    """An activity's input as the Functions worker decodes it."""
    text = json.dumps(value)
    return ActivityTriggerConverter.decode(meta.Datum(text, "json"), trigger_metadata=None)


def encode_output(value: Any) -> Any:
    """An activity's return value as the host records it (then decoded to a plain value)."""
    datum = ActivityTriggerConverter.encode(value, expected_type=None)
    return json.loads(datum.value)


def wrap_activity(fn: Callable[..., Any], input_name: str, client_params: list[str],
                  function_name: str, directory: str,
                  hub_name: str = "TestHubName") -> Callable[..., Any]:
    """A perdure activity calling ``fn`` with ``input_name=`` the decoded input.

    Durable-client parameters get the binding JSON (the SDK's middleware turns
    it into a ``DurableOrchestrationClient``); a ``context`` parameter gets a
    ``func.Context``.
    """
    wants_context = "context" in inspect.signature(fn).parameters and \
        "context" != input_name and "context" not in client_params

    def arguments(value: Any, ctx: ActivityContext) -> dict[str, Any]:
        kwargs: dict[str, Any] = {input_name: decode_input(value)}
        for name in client_params:
            kwargs[name] = binding_json(ctx.client, hub_name)
        if wants_context:
            kwargs["context"] = FunctionContext(function_name, directory)
        return kwargs

    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def run_async(value: Any, ctx: ActivityContext) -> Any:
            return encode_output(await fn(**arguments(value, ctx)))
        run_async.__annotations__ = {"value": "Any", "ctx": ActivityContext, "return": "Any"}
        del run_async.__wrapped__
        return run_async

    @functools.wraps(fn)
    def run(value: Any, ctx: ActivityContext) -> Any:
        result = fn(**arguments(value, ctx))
        if inspect.isawaitable(result):
            raise TypeError(f"activity {function_name!r} returned an awaitable; "
                            "declare it async def")
        return encode_output(result)
    run.__annotations__ = {"value": "Any", "ctx": ActivityContext, "return": "Any"}
    del run.__wrapped__
    return run
