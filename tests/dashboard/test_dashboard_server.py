"""The dashboard's routes without a browser: pages, filters, paging, escaping, refusals."""

from __future__ import annotations

import re

import pytest
from dash_apps import XSS

from perdure.http import KeyAuth

pytestmark = pytest.mark.timeout(60)


def _ids(html: str) -> list[str]:
    return re.findall(r'href="/dashboard/instances/([^"/?]+)" class="mono"', html)


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
    assert re.search(r"Completed <span class=\"count\">7</span>", page.text)
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
    rows = await board.http.get("/dashboard/?size=25&fragment=rows")
    assert rows.text.lstrip().startswith("<tr>") and "<html" not in rows.text


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


async def test_bulk_terminate_and_purge_by_filter(board):
    for i in range(130):
        await board.client.start_new("sleeper", f"bulk-{i:03d}")
    await board.client.start_new("sleeper", "keep-me")
    for i in (0, 129):
        await board.until(f"bulk-{i:03d}", "Running")
    confirm = await board.http.get("/dashboard/bulk/terminate?prefix=bulk-")
    assert confirm.status_code == 200 and "at least 100" in confirm.text
    token = await board.csrf("/dashboard/bulk/terminate?prefix=bulk-")
    url = "/dashboard/bulk/terminate?prefix=bulk-"
    done = ""
    batches = 0
    while url:
        response = await board.http.post(url, data={"csrf": token, "done": done or "0"})
        assert response.status_code == 200
        batches += 1
        match = re.search(r'<form method="post" action="([^"]+)" data-auto-continue', response.text)
        url = match.group(1).replace("&amp;", "&") if match else ""
        done_match = re.search(r'name="done" value="(\d+)"', response.text)
        done = done_match.group(1) if done_match else done
    assert batches == 2 and "130 instance(s) terminated" in response.text
    for i in (0, 64, 129):
        await board.until(f"bulk-{i:03d}", "Terminated")
    assert (await board.client.get_status("keep-me")).runtime_status.value == "Running"
    # Purge takes only finished instances: the running one is kept.
    purge = await board.http.post("/dashboard/bulk/purge?size=200",
                                  data={"csrf": token, "done": "0"})
    while "data-auto-continue" in purge.text:
        match = re.search(r'action="([^"]+)" data-auto-continue', purge.text)
        assert match
        purge = await board.http.post(match.group(1).replace("&amp;", "&"),
                                      data={"csrf": token, "done": "0"})
    for i in range(130):
        if await board.client.get_status(f"bulk-{i:03d}") is not None:
            await board.until(f"bulk-{i:03d}", "Terminated")
    leftover = (await board.http.post("/dashboard/bulk/purge",
                                      data={"csrf": token, "done": "0"})).text
    assert "Finished" in leftover
    remaining = [s.instance_id for s in (await board.client.get_status_by()).instances]
    assert remaining == ["keep-me"]
    # Refusals: no CSRF token, read-only, unknown action.
    assert (await board.http.post("/dashboard/bulk/purge", data={})).status_code == 403
    assert (await board.http.get("/dashboard/bulk/nope")).status_code == 404


async def test_bulk_refused_when_read_only(board_factory):
    board = await board_factory("read-only")
    assert (await board.http.get("/dashboard/bulk/purge")).status_code == 403
    assert (await board.http.post("/dashboard/bulk/purge", data={"csrf": "x"})).status_code == 403
    assert "all matching" not in (await board.http.get("/dashboard/")).text


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
    assert (await board.http.get("/dashboard/?before=nonsense")).status_code == 400
    assert (await board.http.get("/dashboard/?order=sideways")).status_code == 400


async def test_newest_first_carries_on_when_out_of_windows(board, monkeypatch):
    from perdure.http.dashboard import views

    for i in range(30):  # more than a page: the oldest page alone cannot answer
        await board.client.start_new("echo" if i % 10 else "sleeper", f"w{i:02d}")
    # Two windows per page at most: pages come back short, but complete in order.
    monkeypatch.setattr(views, "NEWEST_WINDOWS", 2)
    seen: list[str] = []
    url = "/dashboard/?name=sleeper&size=25"
    for _ in range(200):
        page = await board.http.get(url)
        seen += _ids(page.text)
        match = re.search(r'href="([^"]+)" rel="next"', page.text)
        if not match:
            break
        url = match.group(1).replace("&amp;", "&")
    assert seen == ["w20", "w10", "w00"]
