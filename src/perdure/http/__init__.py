"""The HTTP face of perdure: the Durable Functions management API, user routes, keys.

``create_asgi_app(app, client)`` builds the ASGI application (for tests, or to
mount in another server); ``run_server`` is what ``perdure serve`` runs.
"""

from .auth import KeyAuth
from .server import create_asgi_app, protect, run_server

__all__ = ["KeyAuth", "create_asgi_app", "protect", "run_server"]
