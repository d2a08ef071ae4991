"""The OpenAPI 3.0 document of the management API, served at ``/openapi.json``.

Written by hand from the same table as the routes, so that it states what
the handlers do (status codes, bodies without content) rather than what a
generator could infer. The test suite runs schemathesis against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..core.status import OrchestrationRuntimeStatus
from .routes import CONTINUATION_HEADER, LEGACY_BASE, MAX_PAGE_SIZE, RPC_BASE, WEBHOOK_BASE

_REF = "#/components/"


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"{_REF}{kind}/{name}"}


def _json(schema: dict[str, Any], description: str,
          headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description,
                           "content": {"application/json": {"schema": schema}}}
    if headers:
        out["headers"] = headers
    return out


def _empty(description: str) -> dict[str, Any]:
    return {"description": description}


def _query(name: str, schema: dict[str, Any], description: str,
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema,
            "description": description}


def _path(name: str, description: str, schema: dict[str, Any] | None = None
          ) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True,
            "schema": schema or {"type": "string", "minLength": 1}, "description": description}


# Durable Functions' rule: no leading '@', no / \ # ?, no control characters, <= 256.
_ID_CHARS = r"/\\#?\u0000-\u001f\u007f-\u009f"
_ID_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 256,
              "pattern": f"^[^@{_ID_CHARS}][^{_ID_CHARS}]*$"}


# Event names and id prefixes: no control characters (both task hubs refuse them).
_NO_CONTROL = r"^[^\u0000-\u001f\u007f-\u009f]*$"
_EVENT_NAME = {"type": "string", "minLength": 1, "maxLength": 256, "pattern": _NO_CONTROL}

_BOOL = {"type": "boolean"}
_DATE = {"type": "string", "format": "date-time"}
_SECONDS = {"type": "number", "minimum": 0, "maximum": 3600}
_REASON = _query("reason", {"type": "string"}, "Free text recorded with the operation.")
_INSTANCE = _path("instanceId", "The instance id (at most 256 characters; no / \\ # ?, "
                  "control characters or leading @).", _ID_SCHEMA)
_STATUS_NAMES = [s.value for s in OrchestrationRuntimeStatus] + ["Canceled"]
_STATUS_FILTER = {**_query("runtimeStatus",
                           {"type": "array", "items": {"type": "string", "enum": _STATUS_NAMES}},
                           "Runtime statuses, comma-separated (the parameter may also be "
                           "repeated; names are matched in any casing, and Durable Task's "
                           "numbers 0-7 are accepted)."),
                  "style": "form", "explode": False}
_PURGE_STATUS_FILTER = {**_STATUS_FILTER, "schema": {
    "type": "array", "items": {"type": "string",
                               "enum": ["Completed", "Failed", "Terminated", "Canceled"]}},
    "description": "Finished statuses only (active instances are never purged); "
                   "comma-separated."}

_ERRORS = {
    "400": _json(_ref("schemas", "Error"), "Malformed request: bad id, unknown orchestrator, "
                 "invalid JSON body, bad date, bad parameter."),
    "401": _json(_ref("schemas", "Error"), "A key is required and was missing or wrong."),
    "413": _json(_ref("schemas", "Error"), "The request body is larger than 16 MiB."),
}
_NOT_FOUND = {"404": _empty("No such instance (no body).")}
_FORBIDDEN = _json(_ref("schemas", "Error"), "An instance token used for another operation, "
                   "or a restart token with restartWithNewInstanceId=true.")
_GONE = {"410": _empty("The instance has already finished (no body).")}
_CONFLICT = {"409": _json(_ref("schemas", "Error"),
                          "The instance's current state does not allow this.")}

_INSTANCE_LINKS = {
    name: {"operationId": target, "parameters": {"instanceId": "$response.body#/id"}}
    for name, target in (("GetStatus", "getStatus"), ("RaiseEvent", "raiseEvent"),
                         ("Terminate", "terminate"), ("Suspend", "suspend"),
                         ("Resume", "resume"), ("Rewind", "rewind"), ("Restart", "restart"),
                         ("Purge", "purgeInstance"))
}
_CREATED = {
    "202": {**_json(_ref("schemas", "CheckStatus"), "Started; the instance's management URLs.",
                    {"Location": {"schema": {"type": "string"},
                                  "description": "The statusQueryGetUri."},
                     "Retry-After": {"schema": {"type": "integer"}}}),
            "links": _INSTANCE_LINKS},
    "200": _json({}, "With timeout: the output of an instance that completed in time, or the "
                     "status object of one that failed or was terminated."),
}


def _schemas() -> dict[str, Any]:
    statuses = [s.value for s in OrchestrationRuntimeStatus]
    time = {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"}
    urls = ["statusQueryGetUri", "sendEventPostUri", "terminatePostUri", "rewindPostUri",
            "purgeHistoryDeleteUri", "restartPostUri", "suspendPostUri", "resumePostUri"]
    return {
        "Status": {
            "type": "object",
            "required": ["name", "instanceId", "runtimeStatus", "input", "customStatus",
                         "output", "createdTime", "lastUpdatedTime"],
            "properties": {
                "name": {"type": "string"},
                "instanceId": {"type": "string"},
                "runtimeStatus": {"type": "string", "enum": statuses},
                "input": {"description": "Any JSON value (null when showInput=false)."},
                "customStatus": {"description": "Any JSON value."},
                "output": {"description": "The result; the failure message of a Failed "
                                          "instance; the reason of a Terminated one."},
                "createdTime": time,
                "lastUpdatedTime": time,
                "version": {"type": "string", "description": "The orchestration version the "
                            "instance was started with (absent: unversioned)."},
                "parked": {"type": "object", "description": "Present while the instance is "
                           "parked: its code no longer replays its history.",
                           "properties": {"errorType": {"type": "string"},
                                          "errorMessage": {"type": "string"}}},
                "historyEvents": {"type": "array", "items": _ref("schemas", "HistoryEvent")},
            },
        },
        "HistoryEvent": {
            "type": "object",
            "required": ["EventType", "Timestamp"],
            "properties": {
                "EventType": {"type": "string"},
                "Timestamp": {"type": "string"},
                "FunctionName": {"type": "string"},
                "ScheduledTime": {"type": "string"},
            },
        },
        "CheckStatus": {
            "type": "object",
            "required": ["id", *urls],
            "properties": {"id": {"type": "string"},
                           **{u: {"type": "string"} for u in urls}},
        },
        "Purge": {
            "type": "object", "required": ["instancesDeleted"],
            "properties": {"instancesDeleted": {"type": "integer", "minimum": 1}},
        },
        "Error": {
            "type": "object", "required": ["Message"],
            "properties": {"Message": {"type": "string"},
                           "ExceptionMessage": {"type": "string"},
                           "ExceptionType": {"type": "string"}},
        },
    }


def openapi_document(orchestrators: Sequence[str] | None = None,
                     base: str = WEBHOOK_BASE) -> dict[str, Any]:
    """The OpenAPI 3.0.3 document of the management API under ``base``.

    ``orchestrators`` (the app's) become the enum of ``functionName``.
    """
    function_schema: dict[str, Any] = {"type": "string", "minLength": 1}
    if orchestrators:
        function_schema = {"type": "string", "enum": sorted(orchestrators)}
    function_name = _path("functionName", "A registered orchestrator.", function_schema)
    wait_params = [
        _query("timeout", _SECONDS, "Seconds to wait for the instance to finish."),
        _query("pollingInterval", _SECONDS, "Accepted for compatibility; the wait is woken by "
               "the completion itself."),
    ]
    version_param = _query("version", {"type": "string", "maxLength": 100,
                                       "pattern": _NO_CONTROL},
                           "The instance's orchestration version (default: the app's).")
    status_list = {"type": "array", "items": _ref("schemas", "Status")}
    paths: dict[str, Any] = {
        "/orchestrators/{functionName}": {"post": {
            "operationId": "startNew", "summary": "Start an instance with a random id.",
            "parameters": [function_name, *wait_params, version_param],
            "requestBody": {"required": False, "description": "The input (any JSON).",
                            "content": {"application/json": {"schema": {}}}},
            "responses": {**_CREATED, **_CONFLICT, **_ERRORS},
        }},
        "/orchestrators/{functionName}/{instanceId}": {"post": {
            "operationId": "startNewWithId", "summary": "Start an instance with this id.",
            "parameters": [function_name, _INSTANCE,
                           *wait_params, version_param],
            "requestBody": {"required": False, "description": "The input (any JSON).",
                            "content": {"application/json": {"schema": {}}}},
            "responses": {**_CREATED, **_CONFLICT, **_ERRORS},
        }},
        "/instances": {
            "get": {
                "operationId": "listInstances",
                "summary": "One page of instances, oldest first.",
                "parameters": [
                    _query("createdTimeFrom", _DATE, "Created at or after (ISO 8601)."),
                    _query("createdTimeTo", _DATE, "Created at or before (ISO 8601)."),
                    _STATUS_FILTER,
                    _query("instanceIdPrefix", {"type": "string", "pattern": _NO_CONTROL},
                           "Instance ids starting so (no control characters)."),
                    _query("version", {"type": "string", "maxLength": 100,
                                       "pattern": _NO_CONTROL},
                           "Only instances of this orchestration version (empty: unversioned)."),
                    _query("top", {"type": "integer", "minimum": 1},
                           f"Page size (default 100, at most {MAX_PAGE_SIZE})."),
                    _query("showInput", _BOOL, "Include inputs (default true)."),
                    {"name": CONTINUATION_HEADER, "in": "header", "required": False,
                     "schema": {"type": "string"}, "description": "From the previous page."},
                ],
                "responses": {
                    "200": _json(status_list, "The page.", {CONTINUATION_HEADER: {
                        "schema": {"type": "string"},
                        "description": "The next page's token; empty on the last page."}}),
                    **_ERRORS,
                },
            },
            "delete": {
                "operationId": "purgeInstances",
                "summary": "Purge finished instances matching the filter.",
                "parameters": [
                    _query("createdTimeFrom", _DATE, "Required.", required=True),
                    _query("createdTimeTo", _DATE, "Created at or before."),
                    _PURGE_STATUS_FILTER,
                ],
                "responses": {"200": _json(_ref("schemas", "Purge"), "How many were purged."),
                              "404": _empty("Nothing matched (no body)."), **_ERRORS},
            },
        },
        "/instances/{instanceId}": {
            "get": {
                "operationId": "getStatus", "summary": "An instance's status.",
                "parameters": [
                    _INSTANCE,
                    _query("showHistory", _BOOL, "Include historyEvents (default false)."),
                    _query("showHistoryOutput", _BOOL, "Include results in the history."),
                    _query("showInput", _BOOL, "Include the input (default true)."),
                    _query("returnInternalServerErrorOnFailure", _BOOL,
                           "Answer 500 for a Failed instance."),
                ],
                "responses": {
                    "200": _json(_ref("schemas", "Status"), "Finished."),
                    "202": _json(_ref("schemas", "Status"), "Pending, Running or Suspended.",
                                 {"Location": {"schema": {"type": "string"}},
                                  "Retry-After": {"schema": {"type": "integer"}}}),
                    "500": _json(_ref("schemas", "Status"), "Failed, with "
                                 "returnInternalServerErrorOnFailure=true."),
                    **_NOT_FOUND, **_ERRORS,
                },
            },
            "delete": {
                "operationId": "purgeInstance", "summary": "Purge a finished instance.",
                "parameters": [_INSTANCE],
                "responses": {"200": _json(_ref("schemas", "Purge"), "Purged."),
                              **_NOT_FOUND, **_CONFLICT, **_ERRORS},
            },
        },
        "/instances/{instanceId}/raiseEvent/{eventName}": {"post": {
            "operationId": "raiseEvent", "summary": "Send an event to an instance.",
            "parameters": [_INSTANCE, _path(
                "eventName", "The event name (at most 256 characters, no control characters).",
                _EVENT_NAME)],
            "requestBody": {"required": True, "description": "The event data (any JSON).",
                            "content": {"application/json": {"schema": {}}}},
            "responses": {"202": _empty("Accepted."), **_NOT_FOUND, **_GONE, **_ERRORS},
        }},
    }
    for operation, summary, codes in (
        ("terminate", "Terminate an instance.", {**_GONE}),
        ("suspend", "Suspend an instance.", {**_GONE, **_CONFLICT}),
        ("resume", "Resume a suspended instance.", {**_GONE, **_CONFLICT}),
        ("rewind", "Rewind a failed instance.", {**_GONE, **_CONFLICT}),
    ):
        paths[f"/instances/{{instanceId}}/{operation}"] = {"post": {
            "operationId": operation, "summary": summary, "parameters": [_INSTANCE, _REASON],
            "responses": {"202": _empty("Accepted."), **_NOT_FOUND, **codes, **_ERRORS},
        }}
    paths["/instances/{instanceId}/restart"] = {"post": {
        "operationId": "restart", "summary": "Start the instance's orchestrator again.",
        "parameters": [_INSTANCE, _query("restartWithNewInstanceId", _BOOL,
                                         "Use a new random id (default true)."), *wait_params],
        "responses": {**_CREATED, **_NOT_FOUND, **_CONFLICT, **_ERRORS},
    }}
    security: list[dict[str, list[str]]] = [{"code": []}, {"functionsKey": []}, {}]
    for path, item in paths.items():
        for op in item.values():
            op["security"] = security
            if "{instanceId}" in path:  # the routes that take instance tokens
                op["responses"]["403"] = _FORBIDDEN
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "perdure management API",
            "version": "1.0",
            "description": "The Durable Functions instance-management HTTP API. The same "
                           f"routes are served under {WEBHOOK_BASE}, {LEGACY_BASE} and "
                           f"{RPC_BASE}. With keys on, pass the system key (or, on an "
                           "instance's routes, that operation's token from its check-status "
                           "payload) as `code` or `x-functions-key`.",
        },
        "paths": {base + path: item for path, item in paths.items()},
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "code": {"type": "apiKey", "in": "query", "name": "code"},
                "functionsKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
            },
        },
    }
