"""The dashboard's routes without a browser: pages, filters, paging, escaping, refusals."""

from __future__ import annotations

import asyncio
import re

import pytest
from dash_apps import XSS

from perdure.http import KeyAuth

pytestmark = pytest.mark.timeout(60)


def _ids(html: str) -> list[str]:
    return re.findall(r'href="/dashboard/instances/([^"/?]+)" class="mono"', html)


def _count(html: str, status: str) -> str:
    match = re.search(rf'data-status="{status}"[^>]*>([^<]+)<', html)
    assert match, html
    return match.group(1)


async def test_root_redirects_and_list_renders(board):
    response = await board.http.get("/")
    assert response.status_code == 307 and response.headers["location"] == "/dashboard/"
    assert (await board.http.get("/dashboard")).status_code == 307
    await board.client.start_new("echo", "e-1", {"a": 1})
    await board.until("e-1", "Completed")
    page = await board.http.get("/dashboard/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "e-1" in page.text and "Completed" in page.text
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert (await board.http.get("/dashboard/static/dashboard.css")).status_code == 200
    assert (await board.http.get("/dashboard/static/dashboard.js")).status_code == 200


async def test_dashboard_off_mounts_nothing(board_factory):
    board = await board_factory("off")
    assert (await board.http.get("/dashboard/")).status_code == 404
    assert (await board.http.get("/")).status_code == 404


async def test_filters_counts_and_keyset_paging(board):
    for i in range(7):
        await board.client.start_new("echo", f"page-{i}", i)
    await board.client.start_new("sleeper", "zz-sleep")
    for i in range(7):
        await board.until(f"page-{i}", "Completed")
    await board.until("zz-sleep", "Running")
    # Status filter.
    page = await board.http.get("/dashboard/", params={"status": "Running"})
    assert _ids(page.text) == ["zz-sleep"]
    # Counts per status, as chips linking to that filter.
    assert _count(page.text, "Completed") == "7" and _count(page.text, "Running") == "1"
    assert 'href="/dashboard/?status=Running"' in page.text
    # Multi-select.
    page = await board.http.get("/dashboard/?status=Running&status=Completed")
    assert len(_ids(page.text)) == 8
    # Name and prefix.
    page = await board.http.get("/dashboard/", params={"name": "sleeper"})
    assert _ids(page.text) == ["zz-sleep"]
    page = await board.http.get("/dashboard/", params={"prefix": "page-"})
    assert len(_ids(page.text)) == 7
    # Created-time range: a quick range, an explicit window in the past.
    assert len(_ids((await board.http.get("/dashboard/?range=15m")).text)) == 8
    page = await board.http.get("/dashboard/", params={"to": "2000-01-01T00:00"})
    assert _ids(page.text) == []
    # Keyset paging: three pages of 25 would be too few rows; use the store's tokens.
    seen: list[str] = []
    url = "/dashboard/?prefix=page-&size=25"
    page = await board.http.get(url)
    assert "Next page" not in page.text
    seen = _ids(page.text)
    assert sorted(seen) == [f"page-{i}" for i in range(7)]
    bad = await board.http.get("/dashboard/?range=2y")
    assert bad.status_code == 400
    assert (await board.http.get("/dashboard/?status=Nope")).status_code == 400


async def test_paging_follows_continuation_tokens(board):
    for i in range(30):
        await board.client.start_new("sleeper", f"p{i:02d}")
    seen: list[str] = []
    url = "/dashboard/?size=25"
    while url:
        page = await board.http.get(url)
        assert page.status_code == 200
        seen += _ids(page.text)
        match = re.search(r'href="([^"]+)" rel="next"', page.text)
        url = match.group(1).replace("&amp;", "&") if match else ""
    assert sorted(seen) == [f"p{i:02d}" for i in range(30)]
    assert len(seen) == 30
    live = await board.http.get("/dashboard/?size=25&fragment=live")
    assert live.text.lstrip().startswith('<template id="live-rows">') and "<html" not in live.text
    assert 'id="live-chips"' in live.text
    assert int(_count(live.text, "Running")) + int(_count(live.text, "Pending")) == 30
    assert (await board.http.get("/dashboard/?fragment=rows")).status_code == 400


async def test_counts_stop_at_their_bound(board, monkeypatch):
    from perdure.http.dashboard import instance_list

    for i in range(6):
        await board.client.start_new("sleeper", f"c{i}")
    for i in range(6):
        await board.until(f"c{i}", "Running")
    monkeypatch.setattr(instance_list, "COUNT_BOUND", 4)
    monkeypatch.setattr(instance_list, "ONE_PASS_BOUND", 3)
    page = (await board.http.get("/dashboard/")).text
    assert _count(page, "Running") == "≥ 4" and _count(page, "Failed") == "0"
    # With a prefix or a name, one pass over their rows stops at its bound: every
    # count says "at least".
    for query in ("prefix=c", "name=sleeper"):
        page = (await board.http.get(f"/dashboard/?{query}")).text
        assert _count(page, "Running") == "≥ 3" and _count(page, "Failed") == "≥ 0", query
    monkeypatch.setattr(instance_list, "ONE_PASS_BOUND", 10)
    assert _count((await board.http.get("/dashboard/?prefix=c")).text, "Running") == "6"


async def test_detail_timeline_and_failure(board):
    await board.client.start_new("fan_out_fail", "ff")
    await board.until("ff", "Failed")
    page = await board.http.get("/dashboard/instances/ff")
    assert page.status_code == 200
    assert page.text.count('data-kind="activity"') == 3
    assert "tl-failed" in page.text
    assert "boom &lt;b&gt;bold&lt;/b&gt;" in page.text and "<b>bold</b>" not in page.text
    assert "Traceback" in page.text or "RuntimeError" in page.text
    assert "TaskFailed" in page.text
    assert (await board.http.get("/dashboard/instances/nope")).status_code == 404


async def test_sub_orchestrations_and_parent_link(board):
    await board.client.start_new("parent", "par")
    await board.until("par", "Completed")
    page = await board.http.get("/dashboard/instances/par")
    assert 'data-kind="sub-orchestration"' in page.text and 'data-kind="timer"' in page.text
    child = re.search(r'class="mono" href="/dashboard/instances/(par[^"]+)">par', page.text)
    assert child, page.text
    sub = await board.http.get(f"/dashboard/instances/{child.group(1)}")
    assert sub.status_code == 200 and "fan_out" in sub.text
    assert 'href="/dashboard/instances/par"' in sub.text


async def test_payloads_are_escaped(board):
    await board.client.start_new("wait_event", "x1", XSS)
    await board.until("x1", "Running")
    token = await board.csrf("/dashboard/instances/x1/confirm/raise-event")
    response = await board.http.post("/dashboard/instances/x1/raise-event", data={
        "csrf": token, "event_name": "go", "event_data": f'"{XSS}"'})
    assert response.status_code == 303
    await board.until("x1", "Completed")
    await board.client.start_new("echo", "x2", XSS)
    await board.until("x2", "Completed")
    for path in ("/dashboard/instances/x1", "/dashboard/instances/x2", "/dashboard/"):
        text = (await board.http.get(path)).text
        assert "<script>window" not in text, path
        assert "&lt;script&gt;window.__xss" in text, path
    assert "default-src 'self'" in (await board.http.get("/dashboard/")).headers[
        "content-security-policy"]


async def test_actions_need_the_csrf_token(board):
    await board.client.start_new("sleeper", "s1")
    await board.until("s1", "Running")
    page = await board.http.get("/dashboard/instances/s1/confirm/terminate")
    assert "Terminate s1" in page.text
    for data in ({}, {"csrf": "forged"}):
        refused = await board.http.post("/dashboard/instances/s1/terminate", data=data)
        assert refused.status_code == 403
    token = await board.csrf("/dashboard/instances/s1/confirm/terminate")
    # Another browser (no session cookie) cannot reuse a token.
    async with type(board.http)(transport=board.http._transport,
                                base_url=str(board.http.base_url)) as other:
        assert (await other.post("/dashboard/instances/s1/terminate",
                                 data={"csrf": token})).status_code == 403
    done = await board.http.post("/dashboard/instances/s1/terminate",
                                 data={"csrf": token, "reason": "enough"})
    assert done.status_code == 303 and "terminate" in done.headers["location"]
    await board.until("s1", "Terminated")


async def test_every_action(board):
    token = await board.csrf("/dashboard/start")
    await board.client.start_new("sleeper", "a1")
    await board.until("a1", "Running")
    post = board.http.post
    assert (await post("/dashboard/instances/a1/suspend", data={"csrf": token})).status_code == 303
    await board.until("a1", "Suspended")
    assert (await post("/dashboard/instances/a1/resume", data={"csrf": token})).status_code == 303
    await board.until("a1", "Running")
    bad = await post("/dashboard/instances/a1/raise-event",
                     data={"csrf": token, "event_name": "go", "event_data": "{nope"})
    assert bad.status_code == 400 and "not valid JSON" in bad.text
    ended = await post("/dashboard/instances/a1/terminate", data={"csrf": token})
    assert ended.status_code == 303
    await board.until("a1", "Terminated")
    gone = await post("/dashboard/instances/a1/raise-event",
                      data={"csrf": token, "event_name": "go", "event_data": "1"})
    assert gone.status_code == 410
    restarted = await post("/dashboard/instances/a1/restart", data={"csrf": token, "new_id": "on"})
    assert restarted.status_code == 303 and "/instances/a1?" not in restarted.headers["location"]
    await board.client.start_new("fan_out_fail", "rw")
    await board.until("rw", "Failed")
    assert (await post("/dashboard/instances/rw/rewind", data={"csrf": token})).status_code == 303
    purged = await post("/dashboard/instances/a1/purge", data={"csrf": token})
    assert purged.status_code == 303
    assert await board.client.get_status("a1") is None
    conflict = await post("/dashboard/instances/nope/purge", data={"csrf": token})
    assert conflict.status_code == 404
    # Start from the registry, JSON input validated.
    form = await board.http.get("/dashboard/start")
    assert "<option>fan_out</option>" in form.text
    bad = await post("/dashboard/start", data={"csrf": token, "name": "echo", "input": "{"})
    assert bad.status_code == 400
    unknown = await post("/dashboard/start", data={"csrf": token, "name": "nope", "input": "1"})
    assert unknown.status_code >= 400
    started = await post("/dashboard/start", data={"csrf": token, "name": "echo",
                                                   "input": '{"k": 1}', "instance_id": "st"})
    assert started.status_code == 303 and started.headers["location"].startswith(
        "/dashboard/instances/st?")
    assert (await board.until("st", "Completed")).output == {"k": 1}


async def test_read_only_refuses_every_action(board_factory):
    board = await board_factory("read-only")
    await board.client.start_new("sleeper", "ro")
    await board.until("ro", "Running")
    page = await board.http.get("/dashboard/instances/ro")
    assert page.status_code == 200
    assert "/confirm/" not in page.text and "Start an instance" not in page.text
    assert "read-only" in page.text
    token = re.search(r'name="csrf" value="([^"]*)"', page.text)
    csrf = token.group(1) if token else ""
    for action in ("terminate", "suspend", "resume", "rewind", "restart", "raise-event", "purge"):
        response = await board.http.post(f"/dashboard/instances/ro/{action}",
                                         data={"csrf": csrf, "event_name": "go"})
        assert response.status_code == 403, action
        confirm = await board.http.get(f"/dashboard/instances/ro/confirm/{action}")
        assert confirm.status_code == 403
    assert (await board.http.get("/dashboard/start")).status_code == 403
    assert (await board.http.post("/dashboard/start", data={"csrf": csrf})).status_code == 403
    assert (await board.client.get_status("ro")).runtime_status.value == "Running"


async def test_auth_asks_for_the_key_once(board_factory):
    board = await board_factory(auth=KeyAuth("sekrit"))
    asked = await board.http.get("/dashboard/?status=Running")
    assert asked.status_code == 401 and 'type="password"' in asked.text
    assert (await board.http.get("/dashboard/instances/x")).status_code == 401
    assert (await board.http.post("/dashboard/instances/x/terminate")).status_code == 401
    wrong = await board.http.post("/dashboard/login", data={"key": "nope", "next": "/dashboard/"})
    assert wrong.status_code == 401 and "not the system key" in wrong.text
    assert "set-cookie" not in wrong.headers
    evil = await board.http.post("/dashboard/login",
                                 data={"key": "sekrit", "next": "//evil.example/"})
    assert evil.headers["location"] == "/dashboard/"
    signed = await board.http.post("/dashboard/login", data={
        "key": "sekrit", "next": "/dashboard/?status=Running"})
    assert signed.status_code == 303 and signed.headers["location"] == "/dashboard/?status=Running"
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/dashboard" in cookie
    assert "sekrit" not in cookie
    assert (await board.http.get("/dashboard/")).status_code == 200
    # A forged cookie opens nothing.
    board.http.cookies.set("perdure_dashboard", "abc.def", path="/dashboard")
    assert (await board.http.get("/dashboard/")).status_code == 401


async def test_a_user_route_at_root_wins(board_factory):
    from starlette.responses import PlainTextResponse

    import perdure

    app = perdure.App(route_prefix="")

    @app.orchestrator
    def noop(ctx):
        return None

    @app.route("/", methods=["GET"], auth_level="anonymous")
    async def home(req):
        return PlainTextResponse("mine")

    board = await board_factory(app=app)
    response = await board.http.get("/")
    assert response.status_code == 200 and response.text == "mine"


async def _job(board, started) -> tuple[str, str]:
    """Follow a started bulk job's page until it ends: (its id, its final progress)."""
    assert started.status_code == 303, started.text
    location = started.headers["location"]
    job_id = location.rsplit("/", 1)[1]
    page = await board.http.get(location)
    assert page.status_code == 200 and 'id="bulk-progress"' in page.text
    for _ in range(2000):
        part = (await board.http.get(f"{location}?fragment=progress")).text
        if 'data-state="running"' not in part:
            return job_id, part
        await asyncio.sleep(0.01)
    raise AssertionError(f"bulk job {job_id} never ended")


async def test_bulk_terminate_and_purge_by_filter(board, monkeypatch):
    from perdure.http.dashboard import bulk

    monkeypatch.setattr(bulk, "BULK_BATCH", 40)
    for i in range(130):
        await board.client.start_new("sleeper", f"bulk-{i:03d}")
    await board.client.start_new("sleeper", "keep-me")
    confirm = await board.http.get("/dashboard/bulk/terminate?prefix=bulk-")
    assert confirm.status_code == 200 and '<strong id="bulk-estimate">130</strong>' in confirm.text
    token = await board.csrf("/dashboard/bulk/terminate?prefix=bulk-")
    started = await board.http.post("/dashboard/bulk/terminate?prefix=bulk-",
                                    data={"csrf": token})
    _, progress = await _job(board, started)
    assert 'data-state="finished"' in progress and ">130</span> of 130 terminated" in progress
    assert "in 4 batch(es)" in progress  # 40, 40, 40, 10
    for i in range(130):
        await board.until(f"bulk-{i:03d}", "Terminated")
    assert (await board.client.get_status("keep-me")).runtime_status.value in ("Pending",
                                                                                "Running")
    # Purge takes only finished instances: the running one is kept.
    _, progress = await _job(board, await board.http.post("/dashboard/bulk/purge",
                                                          data={"csrf": token}))
    assert ">130</span> of 130 purged" in progress
    remaining = [s.instance_id for s in (await board.client.get_status_by()).instances]
    assert remaining == ["keep-me"]
    # Refusals: no CSRF token, unknown action, unknown job.
    assert (await board.http.post("/dashboard/bulk/purge", data={})).status_code == 403
    assert (await board.http.get("/dashboard/bulk/nope")).status_code == 404
    assert (await board.http.get("/dashboard/bulk/jobs/nope")).status_code == 404
    assert (await board.http.post("/dashboard/bulk/jobs/nope/cancel",
                                  data={"csrf": token})).status_code == 404


async def test_a_bulk_job_can_be_cancelled(board, monkeypatch):
    from perdure.http.dashboard import bulk

    monkeypatch.setattr(bulk, "BULK_BATCH", 5)
    for i in range(400):
        await board.client.start_new("sleeper", f"many-{i:03d}")
    token = await board.csrf("/dashboard/start")
    started = await board.http.post("/dashboard/bulk/terminate", data={"csrf": token})
    location = started.headers["location"]
    refused = await board.http.post(f"{location}/cancel", data={})
    assert refused.status_code == 403
    cancelled = await board.http.post(f"{location}/cancel", data={"csrf": token})
    assert cancelled.status_code == 303 and cancelled.headers["location"] == location
    _, progress = await _job(board, cancelled)
    assert 'data-state="cancelled"' in progress and "Cancelled." in progress
    done = int(re.search(r'id="bulk-done">(\d+)<', progress).group(1))
    assert done < 400
    # It went oldest first: exactly the first ``done`` were terminated, the rest run on.
    for i in range(done):
        await board.until(f"many-{i:03d}", "Terminated")
    for i in range(done, 400):
        status = await board.client.get_status(f"many-{i:03d}")
        assert status.runtime_status.value in ("Pending", "Running"), i


async def test_a_bulk_job_is_paced_to_the_bulk_rate(board_factory, monkeypatch):
    from perdure.http.dashboard import bulk

    monkeypatch.setattr(bulk, "BULK_BATCH", 10)
    board = await board_factory(bulk_rate=200)
    for i in range(60):
        await board.client.start_new("sleeper", f"paced-{i:02d}")
    token = await board.csrf("/dashboard/start")
    loop = asyncio.get_running_loop()
    began = loop.time()
    _, progress = await _job(board, await board.http.post("/dashboard/bulk/terminate",
                                                          data={"csrf": token}))
    assert ">60</span> of 60 terminated" in progress
    # Five pauses bring it to 50 instances at 200 a second: 0.25 s at least.
    assert loop.time() - began >= 0.25


async def test_a_bulk_rate_must_be_positive(board_factory):
    from perdure.core.errors import InvalidArgumentError

    for rate in (0, -1.0, float("nan")):
        with pytest.raises(InvalidArgumentError, match="bulk_rate must be positive"):
            await board_factory(bulk_rate=rate)


async def test_bulk_refused_when_read_only(board_factory):
    board = await board_factory("read-only")
    assert (await board.http.get("/dashboard/bulk/purge")).status_code == 403
    assert (await board.http.post("/dashboard/bulk/purge", data={"csrf": "x"})).status_code == 403
    assert "all matching" not in (await board.http.get("/dashboard/")).text
    assert (await board.http.get("/dashboard/bulk/jobs/any")).status_code == 403
    assert (await board.http.post("/dashboard/bulk/jobs/any/cancel",
                                  data={"csrf": "x"})).status_code == 403


async def test_notices_are_only_the_dashboards_own(board):
    await board.client.start_new("echo", "n1", 1)
    await board.until("n1", "Completed")
    forged = await board.http.get("/dashboard/instances/n1",
                                  params={"notice": "Your key expired: visit evil.example"})
    assert "evil.example" not in forged.text
    token = await board.csrf("/dashboard/start")
    done = await board.http.post("/dashboard/instances/n1/purge", data={"csrf": token})
    shown = await board.http.get(done.headers["location"])
    assert 'role="status">n1 purged<' in shown.text


async def test_newest_first_by_default_and_oldest_on_request(board):
    for i in range(12):
        await board.client.start_new("sleeper", f"o{i:02d}")
    for i in range(12):
        await board.until(f"o{i:02d}", "Running")
    newest = _ids((await board.http.get("/dashboard/")).text)
    assert newest == [f"o{i:02d}" for i in reversed(range(12))]
    oldest = _ids((await board.http.get("/dashboard/?order=oldest")).text)
    assert oldest == [f"o{i:02d}" for i in range(12)]
    # Newest-first paging walks back without gaps or repeats, across filters.
    for query in ("size=25", "size=25&status=Running", "size=25&name=sleeper",
                  "size=25&prefix=o0"):
        seen: list[str] = []
        url = f"/dashboard/?{query}"
        while url:
            page = await board.http.get(url)
            assert page.status_code == 200, page.text
            seen += _ids(page.text)
            match = re.search(r'href="([^"]+)" rel="next"', page.text)
            url = match.group(1).replace("&amp;", "&") if match else ""
        expected = [f"o{i:02d}" for i in reversed(range(12))]
        if "prefix=o0" in query:
            expected = [x for x in expected if x.startswith("o0")]
        assert seen == expected, query
    assert (await board.http.get("/dashboard/?after=nonsense")).status_code == 400
    assert (await board.http.get("/dashboard/?order=sideways")).status_code == 400


async def test_wrong_keys_back_off_per_client(board_factory):
    import httpx

    from perdure.http.dashboard import signin

    board = await board_factory(auth=KeyAuth("sekrit"))
    login = "/dashboard/login"
    for _ in range(signin.FREE_ATTEMPTS):
        wrong = await board.http.post(login, data={"key": "nope"})
        assert wrong.status_code == 401 and "Retry-After" not in wrong.headers
    # One more wrong key: refused, and now it has to wait.
    wrong = await board.http.post(login, data={"key": "nope"})
    assert wrong.status_code == 401 and wrong.headers["Retry-After"] == "1"
    # While it waits, even the right key is not heard.
    waiting = await board.http.post(login, data={"key": "sekrit"})
    assert waiting.status_code == 429 and "try again in 1 s" in waiting.text
    assert "set-cookie" not in waiting.headers
    # Another client is not held up.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(
            app=board.http._transport.app, client=("10.0.0.9", 1234)),  # type: ignore[attr-defined]
            base_url=str(board.http.base_url)) as other:
        assert (await other.post(login, data={"key": "sekrit"})).status_code == 303
    # The wait doubles with each wrong key after it.
    board.client.store.clock.advance(1.5)
    wrong = await board.http.post(login, data={"key": "nope"})
    assert wrong.status_code == 401 and wrong.headers["Retry-After"] == "2"
    board.client.store.clock.advance(2.5)
    signed = await board.http.post(login, data={"key": "sekrit"})
    assert signed.status_code == 303
    # A right key forgets the wrong ones: three free attempts again.
    for _ in range(signin.FREE_ATTEMPTS):
        assert (await board.http.post(login, data={"key": "nope"})).status_code == 401
    assert (await board.http.post(login, data={"key": "nope"})).headers["Retry-After"] == "1"


async def test_continue_as_new_generations(board):
    await board.client.start_new("counter", "cnt", 0)
    await board.until("cnt", "Completed")
    page = (await board.http.get("/dashboard/instances/cnt")).text
    assert "Continue-as-new generations" in page and "(generation 4)" in page
    rows = re.findall(r"<tr><td>(\d+)</td><td class=\"mono small\">([^<]+)</td>", page)
    assert [g for g, _ in rows] == ["1", "2", "3"]
    assert len({e for _, e in rows}) == 3
    await board.client.start_new("echo", "plain", 1)
    await board.until("plain", "Completed")
    assert "Continue-as-new generations" not in (
        await board.http.get("/dashboard/instances/plain")).text


def _bars(html: str) -> list[tuple[str, str, str, float]]:
    """(kind, label, state, left %) of each timeline row."""
    return [(kind, label.strip(), state, float(left)) for state, kind, label, left in re.findall(
        r'<li class="tl-row tl-([\w-]+)" data-kind="([\w -]+)">\s*<span class="tl-label">'
        r'<span class="kind">[^<]*</span>([^<]*)</span>\s*<span class="tl-track">'
        r'<span class="tl-bar" style="margin-left: ([\d.]+)%', html)]


async def test_event_waits_are_spans_to_the_arrival(board):
    await board.client.start_new("two_waits", "tw")
    await board.until("tw", "Running")
    page = (await board.http.get("/dashboard/instances/tw")).text
    assert [(b[0], b[1], b[2]) for b in _bars(page)] == [("event wait", "first", "waiting")]
    await board.client.raise_event("tw", "first", 2)
    for _ in range(1000):  # the activity ran, and the second wait began
        bars = _bars((await board.http.get("/dashboard/instances/tw")).text)
        if any(b[1] == "second" for b in bars):
            break
        await asyncio.sleep(0.01)
    kinds = {(b[0], b[1], b[2]) for b in bars}
    assert {("event wait", "first", "received"), ("activity", "double", "completed"),
            ("event wait", "second", "waiting")} <= kinds
    await board.client.raise_event("tw", "second", 5)
    assert (await board.until("tw", "Completed")).output == 9
    bars = _bars((await board.http.get("/dashboard/instances/tw")).text)
    waits = [b for b in bars if b[0] == "event wait"]
    assert [(b[1], b[2]) for b in waits] == [("first", "received"), ("second", "received")]
    activity = next(b for b in bars if b[0] == "activity")
    # The first wait began before the activity was scheduled, the second after it ended.
    assert waits[0][3] <= activity[3] <= waits[1][3]
    assert not [b for b in bars if b[0] == "event"]  # every arrival belongs to a wait
    # An event no wait took stays a point at its arrival.
    await board.client.start_new("wait_event", "we")
    await board.until("we", "Running")
    await board.client.raise_event("we", "other", 1)
    for _ in range(1000):
        bars = _bars((await board.http.get("/dashboard/instances/we")).text)
        if any(b[0] == "event" for b in bars):
            break
        await asyncio.sleep(0.01)
    assert ("event", "other", "received") in {(b[0], b[1], b[2]) for b in bars}
    assert ("event wait", "go", "waiting") in {(b[0], b[1], b[2]) for b in bars}
