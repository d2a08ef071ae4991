"""The HTTP face of perdure: the Durable Functions management API, user routes, keys.

``create_asgi_app(app, client)`` builds the ASGI application (for tests, or to
mount in another server); :class:`HttpServer` serves it, and ``perdure serve``
runs one beside a worker. HTTP functions receive an :class:`HttpClient`: a
``perdure.Client`` with the Durable Functions check-status helpers.
"""

from .auth import KeyAuth
from .check_status import HttpClient, SyncHttpClient
from .server import HttpServer, create_asgi_app, protect
from .wire import format_time, status_json

__all__ = ["HttpClient", "HttpServer", "KeyAuth", "SyncHttpClient", "create_asgi_app",
           "format_time", "protect", "status_json"]
