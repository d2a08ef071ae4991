"""What every dashboard page shares: templates, the session, refusals, error pages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ...app import App
from ...core.errors import InvalidArgumentError
from ..auth import KeyAuth
from ..body import read_body
from ..check_status import HttpClient
from ..errors import error_response
from ..wire import format_time
from .filters import BASE
from .session import Sessions

MODES = ("on", "read-only", "off")
ACTION_LABELS = {"terminate": "Terminate", "suspend": "Suspend", "resume": "Resume",
                 "rewind": "Rewind", "restart": "Restart", "raise-event": "Raise event",
                 "purge": "Purge"}
#: Instances a second a bulk job handles at most, by default (``--bulk-rate``).
BULK_RATE = 2000.0
HERE = Path(__file__).parent
#: The pages' Content-Security-Policy: no script but the dashboard's own file.
CSP = ("default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'self'")


def pretty_json(value: Any) -> str:
    """Indented JSON for display (escaped by the template, never marked safe)."""
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)
    except (TypeError, ValueError):
        return repr(value)


def short(value: Any, limit: int = 80) -> str:
    """``value`` as one line of at most ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                           default=str)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def quote_id(instance_id: str) -> str:
    """An instance id as one path segment."""
    return quote(instance_id, safe="")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["json"] = pretty_json
    env.filters["short"] = short
    env.filters["time"] = lambda v: "" if v is None else format_time(v)
    return env


class Site:
    """The dashboard's shared state over one :class:`HttpClient` and :class:`KeyAuth`."""

    def __init__(self, app: App, client: HttpClient, auth: KeyAuth, mode: str = "on",
                 bulk_rate: float = BULK_RATE) -> None:
        if mode not in MODES:
            raise InvalidArgumentError(f"dashboard mode must be one of {', '.join(MODES)}, "
                                       f"got {mode!r}")
        if not bulk_rate > 0:
            raise InvalidArgumentError(f"bulk_rate must be positive, got {bulk_rate!r}")
        #: Instances a second a bulk job handles at most (``math.inf``: unpaced).
        self.bulk_rate = bulk_rate
        self.app = app
        self.client = client
        self.auth = auth
        self.read_only = mode == "read-only"
        self.sessions = Sessions(auth)
        self.env = _environment()

    def seconds(self) -> float:
        """The hub clock's time in seconds (what throttles and jobs measure by)."""
        return self.client.store.clock.now().timestamp()

    def render(self, request: Request, template: str, status_code: int = 200,
               sid: str | None = None, **context: Any) -> HTMLResponse:
        """A page; with keys off, a visitor without a session gets one."""
        new = sid is None and not self.auth.enabled
        if new:
            sid = self.sessions.new_session()
        body = self.env.get_template(template).render(
            base=BASE, read_only=self.read_only, auth_enabled=self.auth.enabled,
            csrf=self.sessions.csrf_token(sid) if sid else "", signed_in=sid is not None,
            actions=ACTION_LABELS, **context)
        response = HTMLResponse(body, status_code, headers={
            "Cache-Control": "no-store", "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"})
        if new and sid is not None:
            self.sessions.set_cookie(response, request, sid)
        return response

    def notice_query(self, text: str) -> str:
        """The query that shows ``text`` as the next page's notice (signed: a link from
        elsewhere cannot put words in the dashboard's mouth)."""
        return urlencode({"notice": text, "sig": self.sessions.mac("notice", text)[:24]})

    def notice(self, request: Request) -> str:
        """The request's notice, if the dashboard signed it."""
        text = request.query_params.get("notice", "")
        sig = request.query_params.get("sig", "")
        if text and self.sessions.mac_ok("notice", text, sig):
            return text
        return ""

    def session(self, request: Request) -> tuple[str | None, Response | None]:
        """The session id, or the sign-in page (keys on, no session)."""
        sid = self.sessions.session_id(request)
        if sid is None and self.auth.enabled:
            return None, self.render(request, "login.html", 401,
                                     next=local_next(request.url.path, request.url.query),
                                     wrong=False, wait=0)
        return sid, None

    def error(self, request: Request, exc: Exception, sid: str | None) -> HTMLResponse:
        """The error page of ``exc``, with the status code the management API gives it."""
        response = error_response(exc)
        message = str(exc) if response.status_code < 500 else \
            "the server could not do this; see its log"
        if response.status_code == 404:
            message = message or "no such instance"
        elif response.status_code == 410:
            message = message or "the instance has finished"
        return self.render(request, "error.html", response.status_code, sid=sid,
                           message=message)

    def refuse(self, request: Request, sid: str | None, code: int, message: str) -> Response:
        """An error page with ``message``."""
        return self.render(request, "error.html", code, sid=sid, message=message)

    def read_only_refusal(self, request: Request, sid: str | None) -> Response:
        """The 403 of every action in read-only mode."""
        return self.refuse(request, sid, 403, "the dashboard is read-only")

    def action_page(self, request: Request) -> tuple[str | None, Response | None]:
        """The session of a page that leads to an action, or its refusal: sign-in, or 403
        in read-only mode."""
        sid, refusal = self.session(request)
        if refusal is None and self.read_only:
            refusal = self.read_only_refusal(request, sid)
        return sid, refusal

    async def mutation(self, request: Request) -> tuple[str | None, dict[str, str],
                                                        Response | None]:
        """Checks every action: session, read-only mode, CSRF token; and its form."""
        sid, refusal = self.session(request)
        if refusal is not None:
            return None, {}, refusal
        if self.read_only:
            return sid, {}, self.read_only_refusal(request, sid)
        form = await read_form(request)
        if not self.sessions.csrf_ok(sid, form.get("csrf")):
            return sid, form, self.refuse(request, sid, 403,
                                          "the form has expired or did not come from this "
                                          "dashboard; reload the page")
        return sid, form, None


async def read_form(request: Request) -> dict[str, str]:
    """A urlencoded form body (size-limited as every body); the first value of each field."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return {}
    raw = await read_body(request, 1024 * 1024)
    out: dict[str, str] = {}
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return {}
    for key, value in pairs:
        out.setdefault(key, value)
    return out


def local_next(path: str, query: str = "") -> str:
    """A redirect target inside the dashboard only (never another site)."""
    target = path + (f"?{query}" if query else "")
    if not target.startswith(f"{BASE}/") or target.startswith("//") or "\\" in target \
            or target.startswith(f"{BASE}/login"):
        return f"{BASE}/"
    return target
