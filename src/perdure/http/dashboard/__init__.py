"""The operations dashboard: ``/dashboard/``, one more client of the management code paths.

Server-rendered (Jinja2, autoescaped) pages over the same :class:`HttpClient`
methods the management API's handlers call, behind the same keys: with keys
on, the page asks for the system key once and keeps a session cookie
(``HttpOnly``, ``SameSite=Strict``). Every form carries a CSRF token. In
``read-only`` mode every action is refused with 403 and no button is shown.
"""

from .site import BULK_RATE, MODES
from .views import Dashboard, dashboard_routes

__all__ = ["BULK_RATE", "MODES", "Dashboard", "dashboard_routes"]
