"""Giving a hosted Durable Functions app's clients perdure's management API, in-process.

The SDK's ``DurableOrchestrationClient`` speaks HTTP to ``rpcBaseUrl``;
:func:`attach_durable_clients` routes those calls to a management-only ASGI
app on the process's own client (the same handlers the server runs), in
``perdure serve`` and in ``perdure worker`` alike. The CLI composes it,
being the one layer that knows both ``perdure.http`` and ``perdure.azure``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..app import App
from ..client import Client

if TYPE_CHECKING:  # the SDK is imported only for a Functions app
    from ..azure.client import InProcessTransport


def is_function_app(app: App) -> bool:
    """Whether ``app`` hosts a Durable Functions app (without importing the SDK)."""
    return type(app).__module__.startswith("perdure.azure")


def attach_durable_clients(app: App, client: Client) -> InProcessTransport:
    """Install the in-process transport for ``app``'s durable clients; returns it
    (``aclose()`` it on shutdown)."""
    from ..azure import PRIVATE_HOST, install_transport
    from ..http import create_asgi_app

    management = App(route_prefix=app.route_prefix, orchestrators=app.orchestrators,
                     activities=app.activities)
    return install_transport(create_asgi_app(management, client,
                                             allowed_hosts=[PRIVATE_HOST]), client)
