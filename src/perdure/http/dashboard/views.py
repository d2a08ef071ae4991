"""The dashboard's routes: the instance list, an instance's detail, actions, starting."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ...app import App
from ...core.errors import InvalidArgumentError
from ...core.status import OrchestrationRuntimeStatus as Status
from ..auth import KeyAuth, generation_us
from ..body import read_body
from ..check_status import HttpClient
from ..errors import error_response
from ..wire import format_time
from .session import Sessions
from .timeline import build_timeline

MODES = ("on", "read-only", "off")
BASE = "/dashboard"
PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
COUNT_CAP = 100
NAME_SCAN_PAGES = 20
QUICK_RANGES = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
RANGE_LABELS = {"15m": "Last 15 min", "1h": "Last hour", "1d": "Last day"}
SUB_ORCHESTRATIONS_SHOWN = 100
NEWEST_WINDOWS = 48
_ONE_US = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BULK_BATCH = 100
BULK_STATUSES = {
    "terminate": (Status.Pending, Status.Running, Status.Suspended, Status.ContinuedAsNew),
    "purge": (Status.Completed, Status.Failed, Status.Terminated),
}
ACTIONS = ("terminate", "suspend", "resume", "rewind", "restart", "raise-event", "purge")
ACTION_LABELS = {"terminate": "Terminate", "suspend": "Suspend", "resume": "Resume",
                 "rewind": "Rewind", "restart": "Restart", "raise-event": "Raise event",
                 "purge": "Purge"}
_HERE = Path(__file__).parent


def pretty_json(value: Any) -> str:
    """Indented JSON for display (escaped by the template, never marked safe)."""
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)
    except (TypeError, ValueError):
        return repr(value)


def short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                           default=str)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_HERE / "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["json"] = pretty_json
    env.filters["short"] = short
    env.filters["time"] = lambda v: "" if v is None else format_time(v)
    return env


@dataclass
class Filters:
    """The list's filters, as read from (and written back to) the URL."""

    statuses: list[Status] = field(default_factory=list)
    name: str = ""
    prefix: str = ""
    created_from: datetime | None = None
    created_to: datetime | None = None
    quick: str = ""
    size: int = DEFAULT_PAGE_SIZE
    after: str = ""
    raw_from: str = ""
    raw_to: str = ""
    oldest_first: bool = False
    before: tuple[int, str] | None = None
    raw_before: str = ""
    span: int = 0

    @classmethod
    def parse(cls, request: Request, now: datetime) -> Filters:
        query = request.query_params
        statuses = []
        for text in query.getlist("status"):
            if text:
                status = Status.parse(text)
                if status not in statuses:
                    statuses.append(status)
        out = cls(statuses=statuses, name=query.get("name", "").strip(),
                  prefix=query.get("prefix", "").strip(), after=query.get("after", ""),
                  oldest_first=query.get("order", "") == "oldest")
        if query.get("order", "") not in ("", "newest", "oldest"):
            raise InvalidArgumentError("order must be newest or oldest")
        before = query.get("before", "")
        if before:
            us, dot, instance_id = before.partition(".")
            if not dot or not us.lstrip("-").isdigit():
                raise InvalidArgumentError(f"malformed position {before!r}")
            out.before = (int(us), instance_id)
            out.raw_before = before
        span = query.get("span", "")
        if span:
            if not span.isdigit() or int(span) < 1:
                raise InvalidArgumentError(f"span must be a positive number of microseconds, "
                                           f"got {span!r}")
            out.span = int(span)
        out.quick = query.get("range", "")
        if out.quick:
            if out.quick not in QUICK_RANGES:
                raise InvalidArgumentError(f"range must be one of {', '.join(QUICK_RANGES)}")
            out.created_from = now - QUICK_RANGES[out.quick]
        out.raw_from, out.raw_to = query.get("from", ""), query.get("to", "")
        if out.raw_from and not out.quick:
            out.created_from = _parse_time(out.raw_from, "from")
        if out.raw_to:
            out.created_to = _parse_time(out.raw_to, "to")
        size = query.get("size", "")
        if size:
            if not size.isdigit() or int(size) not in PAGE_SIZES:
                raise InvalidArgumentError(f"size must be one of {PAGE_SIZES}")
            out.size = int(size)
        return out

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        """The URL query for these filters, with ``changes`` applied (``None`` drops)."""
        values: dict[str, Any] = {
            "status": [s.value for s in self.statuses], "name": self.name,
            "prefix": self.prefix, "range": self.quick,
            "from": "" if self.quick else self.raw_from, "to": self.raw_to,
            "size": "" if self.size == DEFAULT_PAGE_SIZE else str(self.size), "after": "",
            "order": "oldest" if self.oldest_first else "", "before": "", "span": "",
        }
        values.update(changes)
        out: list[tuple[str, str]] = []
        for key, value in values.items():
            for item in value if isinstance(value, list) else [value]:
                if item:
                    out.append((key, str(item)))
        return out

    def url(self, **changes: Any) -> str:
        query = urlencode(self.params(**changes))
        return f"{BASE}/" + (f"?{query}" if query else "")


def _parse_time(text: str, what: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgumentError(f"'{what}' must be a date and time (ISO 8601), "
                                   f"got {text!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class Dashboard:
    """The dashboard over one :class:`HttpClient` and :class:`KeyAuth`."""

    def __init__(self, app: App, client: HttpClient, auth: KeyAuth, mode: str = "on") -> None:
        if mode not in MODES:
            raise InvalidArgumentError(f"dashboard mode must be one of {', '.join(MODES)}, "
                                       f"got {mode!r}")
        self.app = app
        self.client = client
        self.auth = auth
        self.read_only = mode == "read-only"
        self.sessions = Sessions(auth)
        self.env = _environment()

    def routes(self) -> list[BaseRoute]:
        return [
            Route(BASE, self.to_index, methods=["GET"]),
            Route(f"{BASE}/", self.index, methods=["GET"]),
            Route(f"{BASE}/login", self.login, methods=["GET", "POST"]),
            Route(f"{BASE}/logout", self.logout, methods=["POST"]),
            Route(f"{BASE}/start", self.start, methods=["GET", "POST"]),
            Route(f"{BASE}/bulk/{{action}}", self.bulk, methods=["GET", "POST"]),
            Route(f"{BASE}/instances/{{instance_id}}", self.detail, methods=["GET"]),
            Route(f"{BASE}/instances/{{instance_id}}/confirm/{{action}}", self.confirm,
                  methods=["GET"]),
            Route(f"{BASE}/instances/{{instance_id}}/{{action}}", self.act, methods=["POST"]),
            Mount(f"{BASE}/static", StaticFiles(directory=_HERE / "static"), name="static"),
        ]

    # --- rendering and sessions -------------------------------------------

    def _render(self, request: Request, template: str, status_code: int = 200,
                sid: str | None = None, **context: Any) -> HTMLResponse:
        new = sid is None and not self.auth.enabled
        if new:
            sid = self.sessions.new_session()
        body = self.env.get_template(template).render(
            base=BASE, read_only=self.read_only, auth_enabled=self.auth.enabled,
            csrf=self.sessions.csrf_token(sid) if sid else "", signed_in=sid is not None,
            actions=ACTION_LABELS, **context)
        response = HTMLResponse(body, status_code, headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                       "frame-ancestors 'none'; "
                                       "base-uri 'none'; form-action 'self'",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"})
        if new and sid is not None:
            self.sessions.set_cookie(response, request, sid)
        return response

    def _notice_query(self, text: str) -> str:
        """The query that shows ``text`` as the next page's notice (signed: a link from
        elsewhere cannot put words in the dashboard's mouth)."""
        return urlencode({"notice": text, "sig": self.sessions.mac("notice", text)[:24]})

    def _notice(self, request: Request) -> str:
        text = request.query_params.get("notice", "")
        sig = request.query_params.get("sig", "")
        if text and self.sessions.mac_ok("notice", text, sig):
            return text
        return ""

    def _session(self, request: Request) -> tuple[str | None, Response | None]:
        """The session id, or the login page (keys on, no session)."""
        sid = self.sessions.session_id(request)
        if sid is None and self.auth.enabled:
            return None, self._render(request, "login.html", 401,
                                      next=_local_next(request.url.path, request.url.query),
                                      wrong=False)
        return sid, None

    def _error(self, request: Request, exc: Exception, sid: str | None) -> HTMLResponse:
        response = error_response(exc)
        message = str(exc) if response.status_code < 500 else \
            "the server could not do this; see its log"
        if response.status_code == 404:
            message = message or "no such instance"
        elif response.status_code == 410:
            message = message or "the instance has finished"
        return self._render(request, "error.html", response.status_code, sid=sid,
                            message=message)

    def _action_page(self, request: Request) -> tuple[str | None, Response | None]:
        """The session of a page that leads to an action, or its refusal: sign-in, or 403
        in read-only mode."""
        sid, refusal = self._session(request)
        if refusal is None and self.read_only:
            refusal = self._read_only(request, sid)
        return sid, refusal

    def _read_only(self, request: Request, sid: str | None) -> Response:
        return self._render(request, "error.html", 403, sid=sid,
                            message="the dashboard is read-only")

    async def _mutation(self, request: Request) -> tuple[str | None, dict[str, str] | None,
                                                         Response | None]:
        """Checks every action: session, CSRF token, read-only mode."""
        sid, refusal = self._session(request)
        if refusal is not None:
            return None, None, refusal
        if self.read_only:
            return sid, None, self._read_only(request, sid)
        form = await _form(request)
        if not self.sessions.csrf_ok(sid, form.get("csrf")):
            return sid, None, self._render(request, "error.html", 403, sid=sid,
                                           message="the form has expired or did not come "
                                                   "from this dashboard; reload the page")
        return sid, form, None

    # --- sign-in ------------------------------------------------------------

    async def to_index(self, request: Request) -> Response:
        return RedirectResponse(f"{BASE}/", 307)

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            return self._render(request, "login.html", sid=self.sessions.session_id(request),
                                next=_local_next(request.query_params.get("next", "")),
                                wrong=False)
        form = await _form(request)
        key, target = form.get("key"), _local_next(form.get("next", ""))
        if not self.auth.enabled:
            return RedirectResponse(target, 303)
        if not isinstance(key, str) or not self.auth.is_system_key(key):
            return self._render(request, "login.html", 401, next=target, wrong=True)
        response = RedirectResponse(target, 303)
        self.sessions.set_cookie(response, request, self.sessions.new_session())
        return response

    async def logout(self, request: Request) -> Response:
        sid = self.sessions.session_id(request)
        form = await _form(request)
        if not self.sessions.csrf_ok(sid, form.get("csrf")):
            return self._render(request, "error.html", 403, sid=sid,
                                message="the form did not come from this dashboard")
        response = RedirectResponse(f"{BASE}/login", 303)
        self.sessions.clear_cookie(response)
        return response

    # --- the list -----------------------------------------------------------

    async def index(self, request: Request) -> Response:
        sid, refusal = self._session(request)
        if refusal is not None:
            return refusal
        now = self.client.store.clock.now()
        try:
            filters = Filters.parse(request, now)
            fragment = request.query_params.get("fragment") == "rows"
            rows, next_url = await self._list_page(filters, now)
            counts = {} if fragment else await self._counts(filters)
        except Exception as exc:  # noqa: BLE001 - every error becomes a page
            return self._error(request, exc, sid)
        return self._render(request, "rows.html" if fragment else "list.html", sid=sid,
                            filters=filters, rows=rows, next_url=next_url, counts=counts,
                            statuses=list(Status), ranges=RANGE_LABELS, sizes=PAGE_SIZES,
                            orchestrators=sorted(self.app.orchestrators),
                            notice=self._notice(request))

    async def _list_page(self, filters: Filters, now: datetime) -> tuple[list[Any], str | None]:
        """The list's page and the query for the next one (``None``: last page)."""
        if filters.oldest_first:
            rows, token = await self._page(filters)
            return rows, None if token is None else filters.url(after=token)
        rows, position, span = await self._newest_page(filters, now)
        return rows, None if position is None else filters.url(before=position, span=span)

    async def _newest_page(self, filters: Filters,
                           now: datetime) -> tuple[list[Any], str | None, str]:
        """Newest first, keyset-paged below ``filters.before`` by time windows.

        The task hub pages oldest first only, so this walks back from the top
        in windows of creation time, each served by the hub's own keyset query
        (an index range, never an offset): a window holding more rows than
        one page is halved, one holding fewer is taken whole and the next,
        older one doubled. The position of the last row shown is the cursor
        (with the window width reached, when the windows ran out first).
        """
        size = filters.size
        upper = filters.created_to
        skip: tuple[int, str] | None = None
        if filters.before is not None:
            skip = filters.before
            cursor = _from_us(skip[0])
            upper = cursor if upper is None else min(upper, cursor)
        # The oldest page first: when everything that matches fits on it, that is
        # the answer (reversed); else its first row is where the windows stop.
        oldest = await self.client.get_status_by(
            filters.created_from, upper, filters.statuses or None, filters.prefix or None,
            page_size=size + 1, show_input=False)
        if not oldest.instances:
            return [], None, ""
        if oldest.continuation_token is None:
            found = sorted((s for s in oldest.instances if _keep(s, skip, filters.name)),
                           key=_position, reverse=True)
            if len(found) <= size:
                return found, None, ""
            last = found[size - 1]
            return found[:size], f"{generation_us(last.created_time)}.{last.instance_id}", ""
        floor = oldest.instances[0].created_time
        top = upper or now
        width = timedelta(microseconds=filters.span) if filters.span else timedelta(minutes=1)
        rows: list[Any] = []
        exhausted = False
        for _ in range(NEWEST_WINDOWS):
            low = max(top - width, floor)
            page = await self.client.get_status_by(
                low, upper, filters.statuses or None, filters.prefix or None,
                page_size=size + 1, show_input=False)
            if page.continuation_token is not None and width > _ONE_US:
                width = max(width / 2, _ONE_US)
                continue
            found = [s for s in page.instances if _keep(s, skip, filters.name)]
            found.sort(key=_position, reverse=True)
            rows.extend(found)
            if low <= floor:
                exhausted = True
                break
            if len(rows) > size:
                break
            upper = top = low - _ONE_US
            width *= 2
        if len(rows) > size:
            last = rows[size - 1]
            return rows[:size], f"{generation_us(last.created_time)}.{last.instance_id}", ""
        if exhausted:
            return rows, None, ""
        # Out of windows before the page filled (a rare name, say): carry on below
        # the windows searched (every row shown is above ``top``, none below it
        # seen), from the width reached, so that the next page gets further.
        return rows, f"{generation_us(top) + 1}.", str(width // _ONE_US)

    async def _page(self, filters: Filters) -> tuple[list[Any], str | None]:
        """One page, keyset-paged on the store's continuation tokens.

        The store filters by time, status and prefix; the name is filtered
        here, scanning at most a few store pages (asking for no more than are
        still missing, so that no row is skipped behind a token).
        """
        token: str | None = filters.after or None
        rows: list[Any] = []
        for _ in range(NAME_SCAN_PAGES if filters.name else 1):
            page = await self.client.get_status_by(
                filters.created_from, filters.created_to, filters.statuses or None,
                filters.prefix or None, page_size=filters.size - len(rows),
                continuation_token=token, show_input=False)
            rows.extend(s for s in page.instances if not filters.name or s.name == filters.name)
            token = page.continuation_token
            if token is None or len(rows) >= filters.size:
                break
        return rows, token

    async def _counts(self, filters: Filters) -> dict[str, str]:
        """Instances per status under the time and prefix filters (capped, shown as N+)."""
        out: dict[str, str] = {}
        for status in Status:
            page = await self.client.get_status_by(
                filters.created_from, filters.created_to, [status], filters.prefix or None,
                page_size=COUNT_CAP, show_input=False)
            n = len(page.instances)
            out[status.value] = f"{n}+" if page.continuation_token else str(n)
        return out

    # --- one instance -------------------------------------------------------

    async def detail(self, request: Request) -> Response:
        sid, refusal = self._session(request)
        if refusal is not None:
            return refusal
        instance_id = request.path_params["instance_id"]
        try:
            status = await self.client.get_status(instance_id, show_history=True,
                                                  show_history_output=True)
            if status is None:
                return self._render(request, "error.html", 404, sid=sid,
                                    message=f"no instance {instance_id!r}")
            export = await self.client.export_history(instance_id)
            timeline = build_timeline(export.events, self.client.store.clock.now())
            execution_id = export.execution_id
            subs: list[tuple[str, str, Any]] = []
            for bar in timeline.bars:
                if bar.instance_id is not None and len(subs) < SUB_ORCHESTRATIONS_SHOWN:
                    sub = await self.client.get_status(bar.instance_id, show_input=False)
                    subs.append((bar.instance_id, bar.label, sub))
        except Exception as exc:  # noqa: BLE001 - every error becomes a page
            return self._error(request, exc, sid)
        return self._render(request, "detail.html", sid=sid, s=status, timeline=timeline,
                            execution_id=execution_id, subs=subs,
                            available=_available(status.runtime_status),
                            notice=self._notice(request))

    async def confirm(self, request: Request) -> Response:
        sid, refusal = self._session(request)
        if refusal is not None:
            return refusal
        action = request.path_params["action"]
        if action not in ACTIONS:
            return self._render(request, "error.html", 404, sid=sid, message="no such action")
        if self.read_only:
            return self._read_only(request, sid)
        instance_id = request.path_params["instance_id"]
        return self._render(request, "confirm.html", sid=sid, instance_id=instance_id,
                            action=action, label=ACTION_LABELS[action], error="",
                            event_name="", event_data="null")

    async def act(self, request: Request) -> Response:
        action = request.path_params["action"]
        instance_id = request.path_params["instance_id"]
        sid, form, refusal = await self._mutation(request)
        if refusal is not None:
            return refusal
        assert form is not None
        if action not in ACTIONS:
            return self._render(request, "error.html", 404, sid=sid, message="no such action")
        reason = str(form.get("reason") or "") or None
        target = instance_id
        try:
            if action == "raise-event":
                name = str(form.get("event_name") or "").strip()
                raw = str(form.get("event_data") or "")
                try:
                    data = json.loads(raw) if raw.strip() else None
                except ValueError as exc:
                    return self._render(request, "confirm.html", 400, sid=sid,
                                        instance_id=instance_id, action=action,
                                        label=ACTION_LABELS[action],
                                        error=f"the event data is not valid JSON: {exc}",
                                        event_name=name, event_data=raw)
                await self.client.raise_event(instance_id, name, data)
                done = f"event {name!r} raised"
            elif action == "restart":
                target = await self.client.restart(
                    instance_id, restart_with_new_instance_id=form.get("new_id") == "on")
                done = f"restarted as {target}"
            elif action == "purge":
                if not await self.client.purge_instance_history(instance_id):
                    return self._render(request, "error.html", 404, sid=sid,
                                        message=f"no instance {instance_id!r}")
                return RedirectResponse(
                    f"{BASE}/?" + self._notice_query(f"{instance_id} purged"), 303)
            else:
                method = {"terminate": self.client.terminate, "suspend": self.client.suspend,
                          "resume": self.client.resume, "rewind": self.client.rewind}[action]
                await method(instance_id, reason)
                done = f"{ACTION_LABELS[action].lower()} requested"
        except Exception as exc:  # noqa: BLE001 - every error becomes a page
            return self._error(request, exc, sid)
        return RedirectResponse(f"{BASE}/instances/{_quote(target)}?"
                                + self._notice_query(done), 303)

    # --- bulk actions by filter ---------------------------------------------

    async def bulk(self, request: Request) -> Response:
        """Terminate or purge everything the list's filter matches, a batch per request.

        The confirmation page names the filter and a lower bound of the count;
        each POST handles one batch of at most ``BULK_BATCH`` instances through
        the same client methods, and answers a progress page whose form (sent
        again by the page's script until cancelled) carries on after the last
        handled instance, by the store's continuation token.
        """
        action = request.path_params["action"]
        form: dict[str, str] = {}
        if request.method == "GET":
            sid, refusal = self._action_page(request)
            if refusal is not None:
                return refusal
        else:
            sid, posted, refusal = await self._mutation(request)
            if refusal is not None:
                return refusal
            form = posted or {}
        if action not in BULK_STATUSES:
            return self._render(request, "error.html", 404, sid=sid, message="no such action")
        try:
            filters = Filters.parse(request, self.client.store.clock.now())
        except Exception as exc:  # noqa: BLE001 - every error becomes a page
            return self._error(request, exc, sid)
        narrowed = _bulk_filters(filters, action)
        context = {"action": action, "label": ACTION_LABELS[action], "filters": filters,
                   "narrowed": narrowed}
        if request.method == "GET":
            matched = 0
            if narrowed.statuses:
                rows, token = await self._page(dataclasses.replace(narrowed, size=BULK_BATCH))
                matched = len(rows)
            estimate = f"at least {matched}" if matched and token else str(matched)
            return self._render(request, "bulk.html", sid=sid, stage="confirm",
                                estimate=estimate, done=0, batch=0, next_url="", **context)
        done = int(form.get("done", "0")) if form.get("done", "0").isdigit() else 0
        batch = 0
        token = None
        if narrowed.statuses:
            try:
                rows, token = await self._page(dataclasses.replace(narrowed, size=BULK_BATCH))
            except Exception as exc:  # noqa: BLE001 - every error becomes a page
                return self._error(request, exc, sid)
            for status in rows:
                try:
                    if action == "terminate":
                        await self.client.terminate(status.instance_id, "bulk terminate "
                                                    "from the dashboard")
                        batch += 1
                    else:
                        batch += await self.client.purge_instance_history(status.instance_id)
                except Exception:  # noqa: BLE001, S112 - finished or gone meanwhile: skip
                    continue
        next_url = f"{BASE}/bulk/{action}?" + urlencode(filters.params(after=token)) \
            if token else ""
        return self._render(request, "bulk.html", sid=sid, stage="running" if token else "done",
                            estimate="", done=done + batch, batch=batch, next_url=next_url,
                            **context)

    # --- starting -----------------------------------------------------------

    async def start(self, request: Request) -> Response:
        orchestrators = sorted(self.app.orchestrators)
        if request.method == "GET":
            sid, refusal = self._action_page(request)
            if refusal is not None:
                return refusal
            return self._render(request, "start.html", sid=sid, orchestrators=orchestrators,
                                error="", chosen="", input_text="null", instance_id="")
        sid, form, refusal = await self._mutation(request)
        if refusal is not None:
            return refusal
        assert form is not None
        name = str(form.get("name") or "")
        raw = str(form.get("input") or "")
        wanted = str(form.get("instance_id") or "").strip() or None

        def again(code: int, error: str) -> Response:
            return self._render(request, "start.html", code, sid=sid,
                                orchestrators=orchestrators, error=error, chosen=name,
                                input_text=raw, instance_id=wanted or "")
        try:
            data = json.loads(raw) if raw.strip() else None
        except ValueError as exc:
            return again(400, f"the input is not valid JSON: {exc}")
        try:
            new_id = await self.client.start_new(name, wanted, data)
        except Exception as exc:  # noqa: BLE001 - shown on the form
            code = error_response(exc).status_code
            return again(code, str(exc) if code < 500 else "the server could not start it")
        return RedirectResponse(f"{BASE}/instances/{_quote(new_id)}?"
                                + self._notice_query("started"), 303)


async def _form(request: Request) -> dict[str, str]:
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


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _position(status: Any) -> tuple[int, str]:
    return generation_us(status.created_time), status.instance_id


def _keep(status: Any, below: tuple[int, str] | None, name: str) -> bool:
    """Whether a row belongs on a newest-first page: under the cursor, of the name."""
    if name and status.name != name:
        return False
    return below is None or _position(status) < below


def _bulk_filters(filters: Filters, action: str) -> Filters:
    """``filters`` narrowed to the statuses ``action`` applies to (none: nothing matches)."""
    allowed = BULK_STATUSES[action]
    wanted = [st for st in (filters.statuses or allowed) if st in allowed]
    return dataclasses.replace(filters, statuses=wanted)


def _available(status: Status) -> list[str]:
    """The actions that make sense for an instance in ``status``."""
    if status is Status.Suspended:
        return ["resume", "terminate", "raise-event", "restart"]
    if status.is_terminal:
        return (["rewind"] if status is Status.Failed else []) + ["restart", "purge"]
    return ["terminate", "suspend", "raise-event", "restart"]


def _quote(instance_id: str) -> str:
    return quote(instance_id, safe="")


def _local_next(path: str, query: str = "") -> str:
    """A redirect target inside the dashboard only (never another site)."""
    target = path + (f"?{query}" if query else "")
    if not target.startswith(f"{BASE}/") or target.startswith("//") or "\\" in target \
            or target.startswith(f"{BASE}/login"):
        return f"{BASE}/"
    return target


def dashboard_routes(app: App, client: HttpClient, auth: KeyAuth,
                     mode: str = "on") -> list[BaseRoute]:
    """The dashboard's routes under ``/dashboard`` (none for ``mode="off"``)."""
    if mode == "off":
        return []
    return Dashboard(app, client, auth, mode).routes()
