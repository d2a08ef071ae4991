"""The check-status helpers of HTTP functions, on a client made for them.

``perdure.Client`` carries no transport. The server hands user routes (and
uses itself) an :class:`HttpClient`: the same client plus Durable Functions'
``create_check_status_response`` and
``wait_for_completion_or_create_check_status_response``, which answer with
Starlette responses. Plain (``def``) routes get its blocking twin,
:class:`SyncHttpClient`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..client import Client, Orchestrators, SyncClient
from ..core.errors import InvalidArgumentError, OrchestrationTimeoutError
from ..core.status import OrchestrationRuntimeStatus as Status
from .wire import status_json

_MEDIA_TYPE = "application/json; charset=utf-8"


def check_status_response(client: Client, request: Request, instance_id: str) -> Response:
    """202 with the management URLs of an instance, built from ``request``'s scheme and host.

    The response carries ``Location`` (the status URL) and ``Retry-After: 10``,
    as in Durable Functions.
    """
    origin = f"{request.url.scheme}://{request.url.netloc}"
    payload = client.create_http_management_payload(instance_id, origin)
    return JSONResponse(payload, 202, {"Location": payload["statusQueryGetUri"],
                                       "Retry-After": "10"}, media_type=_MEDIA_TYPE)


async def wait_or_check_status_response(
    client: Client, request: Request, instance_id: str, timeout: float = 10.0,
    retry_interval: float = 1.0, return_internal_server_error_on_failure: bool = False,
) -> Response:
    """See :meth:`HttpClient.wait_for_completion_or_create_check_status_response`."""
    for value, what in ((timeout, "timeout"), (retry_interval, "retry_interval")):
        if not isinstance(value, int | float) or not 0 <= value < float("inf"):
            raise InvalidArgumentError(f"{what} must be a non-negative number of seconds, "
                                       f"got {value!r}")
    if retry_interval > timeout:
        raise InvalidArgumentError(f"retry_interval ({retry_interval:g}s) must not exceed "
                                   f"timeout ({timeout:g}s)")
    try:
        status = await client.wait_for_completion(instance_id, timeout)
    except OrchestrationTimeoutError:
        return check_status_response(client, request, instance_id)
    if status.runtime_status is Status.Completed:
        return JSONResponse(status.output, 200, media_type=_MEDIA_TYPE)
    code = 500 if status.runtime_status is Status.Failed \
        and return_internal_server_error_on_failure else 200
    return JSONResponse(status_json(status), code, media_type=_MEDIA_TYPE)


class HttpClient(Client):
    """A :class:`~perdure.Client` with the check-status helpers of Durable Functions.

    What HTTP functions receive (annotate a parameter ``perdure.http.HttpClient``,
    or ``perdure.Client``), and what the management API uses.
    """

    @classmethod
    def like(cls, client: Client, app: Orchestrators) -> HttpClient:
        """An HTTP client on ``client``'s store, base URL and URL keys, for ``app``."""
        if isinstance(client, HttpClient):
            return client
        return cls(client.store, app=app, base_url=client.base_url, url_query=client.url_query,
                   version=client.version or None)

    def create_check_status_response(self, request: Request, instance_id: str) -> Response:
        """202 with the management URLs of an instance, built from ``request``'s scheme and host.

        ``request`` is a Starlette (or FastAPI) request; the response carries
        ``Location`` (the status URL) and ``Retry-After: 10``, as in Durable Functions.
        """
        return check_status_response(self, request, instance_id)

    async def wait_for_completion_or_create_check_status_response(
        self, request: Request, instance_id: str, timeout: float = 10.0,
        retry_interval: float = 1.0, return_internal_server_error_on_failure: bool = False,
    ) -> Response:
        """Wait up to ``timeout`` seconds: 200 with the output if the instance completed,
        200 with the status object if it failed or was terminated (500 for a failure when
        ``return_internal_server_error_on_failure``), else the 202 check-status response.

        Returns as soon as the instance finishes; ``retry_interval`` (which must
        not exceed ``timeout``) is kept for Durable Functions compatibility.
        """
        return await wait_or_check_status_response(
            self, request, instance_id, timeout, retry_interval,
            return_internal_server_error_on_failure)


class SyncHttpClient(SyncClient):
    """A blocking :class:`HttpClient`, for plain (``def``) HTTP functions."""

    def create_check_status_response(self, request: Request, instance_id: str) -> Response:
        """See :meth:`HttpClient.create_check_status_response`."""
        return check_status_response(self.client, request, instance_id)

    def wait_for_completion_or_create_check_status_response(
        self, request: Request, instance_id: str, timeout: float = 10.0,
        retry_interval: float = 1.0, return_internal_server_error_on_failure: bool = False,
    ) -> Response:
        """See :meth:`HttpClient.wait_for_completion_or_create_check_status_response`."""
        return self.run(wait_or_check_status_response(
            self.client, request, instance_id, timeout, retry_interval,
            return_internal_server_error_on_failure))
