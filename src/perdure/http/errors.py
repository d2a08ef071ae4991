"""Map perdure's exceptions to HTTP responses: the only place that knows status codes.

Error bodies follow the Durable Functions host: a JSON object with ``Message``
(what kind of problem), ``ExceptionMessage`` (the specific problem) and
``ExceptionType``. Responses for "not found" and "gone" have no body, as the
host sends them, because the ``azure-functions-durable`` client relies on that.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from starlette.responses import Response

from ..core.errors import (
    InstanceAlreadyExistsError,
    InstanceFinishedError,
    InstanceNotFoundError,
    InvalidArgumentError,
    InvalidInstanceStateError,
    OrchestrationTimeoutError,
    PerdureError,
    SerializationError,
    StoreUnavailableError,
    ValueTooLargeError,
)

log = logging.getLogger(__name__)

JSON_MEDIA_TYPE = "application/json; charset=utf-8"
BAD_ARGUMENTS = "One or more of the arguments submitted is incorrect"
INVALID_JSON = "Invalid JSON content"


class HttpError(Exception):
    """A request problem detected by the HTTP layer itself (not by the engine)."""

    def __init__(self, status_code: int, message: str, exception_message: str | None = None,
                 exception_type: str = "ArgumentException") -> None:
        super().__init__(exception_message or message)
        self.status_code = status_code
        self.message = message
        self.exception_message = exception_message
        self.exception_type = exception_type


def json_response(value: Any, status_code: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    """A JSON response with the host's content type (``application/json; charset=utf-8``)."""
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return Response(body.encode("utf-8"), status_code, headers, media_type=JSON_MEDIA_TYPE)


def empty_response(status_code: int, headers: dict[str, str] | None = None) -> Response:
    """A response without body and without ``Content-Type`` (the host's 202/404/410)."""
    return Response(None, status_code, headers)


def error_body(message: str, exception_message: str | None = None,
               exception_type: str | None = None) -> dict[str, Any]:
    """The host's error object: ``Message`` always, the exception fields when known."""
    body: dict[str, Any] = {"Message": message}
    if exception_message is not None:
        body["ExceptionMessage"] = exception_message
        body["ExceptionType"] = exception_type or "ArgumentException"
    return body


def bad_request(exception_message: str, message: str = BAD_ARGUMENTS) -> HttpError:
    """A 400 naming the problem."""
    return HttpError(400, message, exception_message)


def error_response(exc: BaseException) -> Response:
    """The response for an exception raised while serving a management request."""
    if isinstance(exc, HttpError):
        return json_response(error_body(exc.message, exc.exception_message, exc.exception_type),
                             exc.status_code)
    if isinstance(exc, InstanceNotFoundError):
        return empty_response(404)
    if isinstance(exc, InstanceFinishedError):
        return empty_response(410)
    if isinstance(exc, InstanceAlreadyExistsError | InvalidInstanceStateError):
        # The host answers 500 here; a conflict with the instance's state is a 409.
        return json_response(error_body("The instance's current state does not allow this",
                                         str(exc), type(exc).__name__), 409)
    if isinstance(exc, ValueTooLargeError):
        return json_response(error_body("Request entity too large", str(exc),
                                        type(exc).__name__), 413)
    if isinstance(exc, InvalidArgumentError | SerializationError):
        return json_response(error_body(BAD_ARGUMENTS, str(exc), type(exc).__name__), 400)
    if isinstance(exc, OrchestrationTimeoutError):
        return json_response(error_body("The operation timed out", str(exc),
                                        type(exc).__name__), 504)
    if isinstance(exc, StoreUnavailableError):
        log.error("task hub unavailable: %s", exc, exc_info=exc)
        return json_response(error_body("The task hub is unavailable; retry later",
                                        f"the task hub is unavailable: {exc.reason}",
                                        type(exc).__name__), 503, {"Retry-After": "10"})
    # Anything else is a bug or an unforeseen failure: its text ("disk I/O error",
    # a RecursionError, a SQL statement) is for the log, not for the client. The
    # id ties the answer to the log record.
    incident = secrets.token_hex(4)
    if isinstance(exc, PerdureError):
        log.warning("unmapped perdure error (error id %s): %s", incident, exc, exc_info=exc,
                    extra={"instance_id": getattr(exc, "instance_id", None)})
    else:
        log.error("error serving a request (error id %s)", incident, exc_info=exc)
    return json_response(error_body("Something went wrong while processing your request",
                                    f"an internal error occurred; see the server log "
                                    f"(error id {incident})", "InternalServerError"), 500)
