"""The dashboard in real headless Chromium (Debian's package, driven by Playwright).

Each test runs ``perdure serve`` on a fresh task hub in a child process, once
on SQLite and once on PostgreSQL (skipped where its server is unreachable),
and drives its pages as a person would: every check waits for the state it
expects (Playwright's ``expect``), none sleeps and then looks. Skipped, in
one line, where ``/usr/bin/chromium`` (``apt-get install -y chromium``) is
missing.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from dash_server import serve
from psycopg import sql
from store import pg

CHROMIUM = "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip(f"browser tests need {CHROMIUM} (apt-get install -y chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
APP = HERE / "dash_apps.py"
XSS = "<script>window.__xss = 1</script>"
BASE = "/runtime/webhooks/durabletask"
# The README's picture: PERDURE_DASHBOARD_SCREENSHOT=docs/dashboard.png refreshes it.
SCREENSHOT = os.environ.get("PERDURE_DASHBOARD_SCREENSHOT")

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pg.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh task hub: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    schema = f"dash_{uuid.uuid4().hex[:12]}"
    try:
        yield pg.hub_url(schema)
    finally:
        # Synchronously: Playwright's sync API keeps an event loop running here.
        with psycopg.connect(pg.DATABASE_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(schema)))


@pytest.fixture
def server(store_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """``perdure serve`` on the hub (extra arguments by indirect parametrization)."""
    args = getattr(request, "param", ())
    with serve(store_url, *args) as url:
        yield url


def start(url: str, name: str, instance_id: str, data: Any = None,
          key: str | None = None) -> None:
    headers = {"x-functions-key": key} if key else {}
    response = httpx.post(f"{url}{BASE}/orchestrators/{name}/{instance_id}", json=data,
                          headers=headers)
    assert response.status_code == 202, response.text


def until(url: str, instance_id: str, status: str, key: str | None = None) -> None:
    headers = {"x-functions-key": key} if key else {}
    deadline = time.monotonic() + 60  # a step creating a thousand children, under load
    while time.monotonic() < deadline:
        got = httpx.get(f"{url}{BASE}/instances/{instance_id}", headers=headers)
        if got.status_code in (200, 202) and got.json()["runtimeStatus"] == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"{instance_id} never reached {status}")


def test_list_and_filters(server: str, page: Any) -> None:
    for i in range(3):
        start(server, "echo", f"done-{i}", i)
    start(server, "sleeper", "sleepy")
    until(server, "done-2", "Completed")
    until(server, "sleepy", "Running")
    page.goto(f"{server}/")
    assert page.url.endswith("/dashboard/")
    rows = page.locator("#rows tr")
    sync_api.expect(rows).to_have_count(4)
    # A status chip filters, and the filter lands in the URL.
    page.get_by_role("link", name=re.compile(r"^Running")).click()
    assert "status=Running" in page.url
    sync_api.expect(rows).to_have_count(1)
    sync_api.expect(rows.first).to_contain_text("sleepy")
    # The filter form: an id prefix, with the status multi-select cleared.
    page.goto(f"{server}/dashboard/")
    page.get_by_label("Instance id prefix").fill("done-")
    page.get_by_role("button", name="Apply").click()
    assert "prefix=done-" in page.url
    sync_api.expect(rows).to_have_count(3)
    page.get_by_label("Orchestrator").select_option("sleeper")
    page.get_by_label("Instance id prefix").fill("")
    page.get_by_role("button", name="Apply").click()
    sync_api.expect(rows).to_have_count(1)
    sync_api.expect(rows.first).to_contain_text("sleepy")
    # Created-time: a quick range, then a window that ends before any of them.
    page.goto(f"{server}/dashboard/")
    page.get_by_role("link", name="Last 15 min").click()
    assert "range=15m" in page.url
    sync_api.expect(rows).to_have_count(4)
    page.get_by_label("to", exact=True).fill("2000-01-01T00:00")
    page.get_by_role("button", name="Apply").click()
    assert "to=2000-01-01" in page.url
    sync_api.expect(rows).to_have_count(1)
    sync_api.expect(rows.first).to_contain_text("No instance matches")


def test_live_refresh_and_pause(server: str, page: Any) -> None:
    page.goto(f"{server}/dashboard/")
    sync_api.expect(page.locator("#rows")).to_contain_text("No instance matches")
    completed = page.locator("#chips .count[data-status=Completed]")
    sync_api.expect(completed).to_have_text("0")
    start(server, "echo", "arrives-live", 1)
    sync_api.expect(page.locator("#rows")).to_contain_text("arrives-live", timeout=10_000)
    # The status chips follow too.
    sync_api.expect(completed).to_have_text("1", timeout=10_000)
    page.get_by_role("button", name="Pause live refresh").click()
    sync_api.expect(page.locator("#live-state")).to_have_text("Live refresh paused")
    start(server, "echo", "while-paused", 1)
    until(server, "while-paused", "Completed")
    page.wait_for_timeout(4000)
    sync_api.expect(page.locator("#rows")).not_to_contain_text("while-paused")
    page.get_by_role("button", name="Resume live refresh").click()
    sync_api.expect(page.locator("#rows")).to_contain_text("while-paused", timeout=10_000)


def test_detail_timeline_of_a_fan_out_and_a_failed_activity(server: str, page: Any,
                                                            tmp_path: Path) -> None:
    start(server, "fan_out", "fan", 5)
    start(server, "fan_out_fail", "fan-fail")
    until(server, "fan", "Completed")
    until(server, "fan-fail", "Failed")
    page.goto(f"{server}/dashboard/instances/fan")
    sync_api.expect(page.locator(".tl-row[data-kind=activity]")).to_have_count(5)
    sync_api.expect(page.locator("#runtime-status")).to_have_text("Completed")
    page.goto(f"{server}/dashboard/instances/fan-fail")
    sync_api.expect(page.locator(".tl-row[data-kind=activity]")).to_have_count(3)
    failed = page.locator(".tl-row.tl-failed")
    sync_api.expect(failed).to_have_count(1)
    sync_api.expect(failed).to_contain_text("explode")
    sync_api.expect(page.locator(".failure")).to_contain_text("boom <b>bold</b>")
    sync_api.expect(page.locator("table.history tr.failed")).to_have_count(2)
    # The timeline's bars are laid out (visible, of some width).
    box = failed.locator(".tl-bar").bounding_box()
    assert box is not None and box["width"] >= 2
    shot = Path(SCREENSHOT) if SCREENSHOT else tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_sub_orchestration_drill_down(server: str, page: Any) -> None:
    start(server, "parent", "par")
    until(server, "par", "Completed")
    page.goto(f"{server}/dashboard/instances/par")
    page.locator("#h-subs + table a").first.click()
    sync_api.expect(page.locator("h1")).to_contain_text("par:")
    page.get_by_role("link", name="par", exact=True).click()
    sync_api.expect(page.locator("h1")).to_have_text("Instance par")


def test_raise_event_completes_a_waiting_instance(server: str, page: Any) -> None:
    start(server, "wait_event", "waiter", "hi")
    until(server, "waiter", "Running")
    page.goto(f"{server}/dashboard/instances/waiter")
    page.get_by_role("link", name="Raise event").click()
    page.get_by_label("Event name").fill("go")
    page.get_by_label("Event data (JSON)").fill('{"answer": 42}')
    page.get_by_role("button", name="Raise event waiter").click()
    sync_api.expect(page.locator(".notice")).to_contain_text("event 'go' raised")
    until(server, "waiter", "Completed")
    page.reload()
    sync_api.expect(page.locator("#runtime-status")).to_have_text("Completed")
    sync_api.expect(page.locator("details.json").filter(has_text="Output")).to_contain_text(
        '"answer": 42')


def test_terminate_and_purge_with_confirmation(server: str, page: Any) -> None:
    start(server, "sleeper", "doomed")
    until(server, "doomed", "Running")
    page.goto(f"{server}/dashboard/instances/doomed")
    page.get_by_role("link", name="Terminate").click()
    sync_api.expect(page.locator("h1")).to_contain_text("Terminate instance doomed?")
    page.get_by_role("button", name="Terminate doomed").click()
    until(server, "doomed", "Terminated")
    page.reload()
    page.get_by_role("link", name="Purge").click()
    page.get_by_role("button", name="Purge doomed").click()
    sync_api.expect(page.locator(".notice")).to_contain_text("doomed purged")


@pytest.mark.parametrize("server", [("--dashboard", "read-only")], indirect=True)
def test_read_only_mode(server: str, page: Any) -> None:
    start(server, "sleeper", "ro")
    until(server, "ro", "Running")
    page.goto(f"{server}/dashboard/instances/ro")
    sync_api.expect(page.locator(".badge")).to_have_text("read-only")
    sync_api.expect(page.locator("#h-actions")).to_have_count(0)
    sync_api.expect(page.get_by_role("link", name="Start an instance")).to_have_count(0)
    # The server refuses too, whatever the page would send.
    status = page.evaluate("""async () => (await fetch('/dashboard/instances/ro/terminate',
        {method: 'POST', headers: {'content-type': 'application/x-www-form-urlencoded'},
         body: 'csrf=x'})).status""")
    assert status == 403
    response = page.goto(f"{server}/dashboard/instances/ro/confirm/terminate")
    assert response is not None and response.status == 403


def test_xss_payload_is_shown_as_text(server: str, page: Any) -> None:
    start(server, "wait_event", "xss", XSS)
    until(server, "xss", "Running")
    httpx.post(f"{server}{BASE}/instances/xss/raiseEvent/go", json=XSS).raise_for_status()
    until(server, "xss", "Completed")
    page.goto(f"{server}/dashboard/instances/xss")
    cards = page.locator(".status-card")
    sync_api.expect(cards.locator("details").filter(has_text="Input")).to_contain_text(XSS)
    sync_api.expect(cards.locator("details").filter(has_text="Custom status")).to_contain_text(XSS)
    sync_api.expect(cards.locator("details").filter(has_text="Output")).to_contain_text(XSS)
    sync_api.expect(page.locator("table.history")).to_contain_text("window.__xss")
    page.goto(f"{server}/dashboard/")
    sync_api.expect(page.locator("#rows")).to_contain_text("window.__xss")
    assert page.evaluate("window.__xss") is None


@pytest.mark.parametrize("server", [("--key", "browser-key")], indirect=True)
def test_auth_asks_for_the_key(server: str, page: Any) -> None:
    start(server, "echo", "secret-one", 1, key="browser-key")
    page.goto(f"{server}/dashboard/?prefix=secret")
    sync_api.expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("System key").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    sync_api.expect(page.get_by_role("alert")).to_contain_text("not the system key")
    page.get_by_label("System key").fill("browser-key")
    page.get_by_role("button", name="Sign in").click()
    assert "prefix=secret" in page.url
    sync_api.expect(page.locator("#rows")).to_contain_text("secret-one")
    cookies = page.context.cookies()
    session = [c for c in cookies if c["name"] == "perdure_dashboard"]
    assert session and session[0]["httpOnly"] and session[0]["sameSite"] == "Strict"
    assert "browser-key" not in session[0]["value"]


def test_bulk_purge_of_a_filtered_set(server: str, page: Any) -> None:
    for i in range(3):
        start(server, "echo", f"gone-{i}", i)
    start(server, "echo", "stays", 1)
    for name in ("gone-0", "gone-1", "gone-2", "stays"):
        until(server, name, "Completed")
    page.goto(f"{server}/dashboard/?prefix=gone-")
    sync_api.expect(page.locator("#rows tr")).to_have_count(3)
    page.get_by_role("link", name="Purge all matching…").click()
    sync_api.expect(page.locator("#bulk-estimate")).to_have_text("3")
    page.get_by_role("button", name="Purge all matching").click()
    assert "/dashboard/bulk/jobs/" in page.url
    sync_api.expect(page.locator("#bulk-state")).to_have_text("Finished.", timeout=15_000)
    sync_api.expect(page.locator("#bulk-progress")).to_contain_text("3 of 3 purged")
    sync_api.expect(page.locator("#bulk-cancel")).to_have_count(0)
    for name in ("gone-0", "gone-1", "gone-2"):
        assert httpx.get(f"{server}{BASE}/instances/{name}").status_code == 404
    assert httpx.get(f"{server}{BASE}/instances/stays").status_code == 200


def test_dark_mode_and_keyboard(server: str, browser: Any) -> None:
    context = browser.new_context(color_scheme="dark")
    try:
        page = context.new_page()
        page.goto(f"{server}/dashboard/")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(13, 17, 23)"
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.textContent")
        assert focused == "Skip to content"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
    finally:
        context.close()
    light = browser.new_context(color_scheme="light")
    try:
        page = light.new_page()
        page.goto(f"{server}/dashboard/")
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == \
            "rgb(255, 255, 255)"
    finally:
        light.close()


def test_counts_and_paging(server: str, page: Any) -> None:
    for i in range(30):
        start(server, "echo", f"pg{i:02d}", i)
    start(server, "fan_out_fail", "one-failure")
    until(server, "pg29", "Completed")
    until(server, "one-failure", "Failed")
    page.goto(f"{server}/dashboard/?size=25&prefix=pg")
    chips = page.get_by_role("list", name=re.compile("Instances per status"))
    sync_api.expect(chips.get_by_role("link", name=re.compile("^Completed"))).to_contain_text("30")
    sync_api.expect(chips.get_by_role("link", name=re.compile("^Failed"))).to_contain_text("0")
    rows = page.locator("#rows tr")
    sync_api.expect(rows).to_have_count(25)
    sync_api.expect(rows.first).to_contain_text("pg29")  # newest first
    first = set(rows.locator("a").all_inner_texts())
    page.get_by_role("link", name="Next page").click()
    assert "after=" in page.url
    sync_api.expect(rows).to_have_count(5)
    second = set(rows.locator("a").all_inner_texts())
    assert not first & second and len(first | second) == 30
    sync_api.expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    page.get_by_role("link", name="First page").click()
    sync_api.expect(rows).to_have_count(25)
    page.get_by_label("Order").select_option("oldest")
    page.get_by_role("button", name="Apply").click()
    sync_api.expect(rows.first).to_contain_text("pg00")
    page.get_by_role("link", name="Next page").click()
    assert "after=" in page.url
    sync_api.expect(rows).to_have_count(5)


def test_start_suspend_resume_restart_and_rewind(server: str, page: Any) -> None:
    page.goto(f"{server}/dashboard/start")
    page.get_by_label("Orchestrator").select_option("sleeper")
    page.get_by_label("Instance id (optional)").fill("from-ui")
    page.get_by_label("Input (JSON)").fill("{bad json")
    # The page checks the JSON before sending; the server checks it again.
    assert page.get_by_label("Input (JSON)").evaluate("e => e.validity.valid") is False
    page.get_by_label("Input (JSON)").fill('{"from": "ui"}')
    page.get_by_role("button", name="Start").click()
    sync_api.expect(page.locator(".notice")).to_contain_text("started")
    until(server, "from-ui", "Running")
    for action, status in (("Suspend", "Suspended"), ("Resume", "Running")):
        page.goto(f"{server}/dashboard/instances/from-ui")
        page.get_by_role("link", name=action, exact=True).click()
        page.get_by_label("Reason (optional)").fill(f"{action} from the browser")
        page.get_by_role("button", name=f"{action} from-ui").click()
        sync_api.expect(page.locator(".notice")).to_contain_text("requested")
        until(server, "from-ui", status)
    page.goto(f"{server}/dashboard/instances/from-ui")
    page.get_by_role("link", name="Restart").click()
    page.get_by_role("button", name="Restart from-ui").click()
    sync_api.expect(page.locator(".notice")).to_contain_text("restarted as")
    assert "/instances/from-ui?" not in page.url
    start(server, "fan_out_fail", "to-rewind")
    until(server, "to-rewind", "Failed")
    page.goto(f"{server}/dashboard/instances/to-rewind")
    page.get_by_role("link", name="Rewind").click()
    page.get_by_role("button", name="Rewind to-rewind").click()
    sync_api.expect(page.locator(".notice")).to_contain_text("rewind requested")


@pytest.mark.parametrize("server", [("--bulk-rate", "100")], indirect=True)
def test_a_bulk_job_shows_progress_and_can_be_cancelled(server: str, page: Any) -> None:
    # Paced to 100 a second, the job takes 10 s: the cancel arrives while it runs.
    start(server, "spawner", "spawn", 1000)
    until(server, "spawn", "Running")  # its 1000 children were created with its first step
    # The children only (terminating the parent would take them all with it).
    page.goto(f"{server}/dashboard/?prefix=spawn:")
    page.get_by_role("link", name="Terminate all matching…").click()
    sync_api.expect(page.locator("#bulk-estimate")).to_have_text("1,000")
    page.get_by_role("button", name="Terminate all matching").click()
    assert "/dashboard/bulk/jobs/" in page.url
    sync_api.expect(page.locator("#bulk-progress progress")).to_have_count(1)
    page.get_by_role("button", name="Cancel the job").click()
    sync_api.expect(page.locator("#bulk-state")).to_have_text("Cancelled.", timeout=15_000)
    done = int(page.locator("#bulk-done").inner_text())
    assert done < 1000
    # Exactly what it got to is terminated (the live chips get there); the rest runs on.
    page.goto(f"{server}/dashboard/?prefix=spawn:")
    sync_api.expect(page.locator("#chips .count[data-status=Terminated]")).to_have_text(
        f"{done:,}", timeout=60_000)


@pytest.mark.parametrize("server", [("--key", "backoff-key")], indirect=True)
def test_wrong_keys_make_the_prompt_wait(server: str, page: Any) -> None:
    page.goto(f"{server}/dashboard/")
    for _ in range(4):
        page.get_by_label("System key").fill("wrong")
        page.get_by_role("button", name="Sign in").click()
        sync_api.expect(page.get_by_role("alert")).to_contain_text("not the system key")
    sync_api.expect(page.get_by_role("alert")).to_contain_text("Too many wrong keys")
    page.get_by_label("System key").fill("backoff-key")
    page.get_by_role("button", name="Sign in").click()
    sync_api.expect(page.get_by_role("alert")).to_contain_text("try again in")
    # Once the wait is over the right key is heard (retried until then).
    for _ in range(100):
        page.get_by_label("System key").fill("backoff-key")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        if page.get_by_role("heading", name="Instances").count():
            break
        page.wait_for_timeout(200)
    sync_api.expect(page.get_by_role("heading", name="Instances")).to_be_visible()


def test_generations_and_event_waits_on_the_detail_page(server: str, page: Any) -> None:
    start(server, "counter", "count-up", 0)
    until(server, "count-up", "Completed")
    page.goto(f"{server}/dashboard/instances/count-up")
    generations = page.locator("table.generations tbody tr")
    sync_api.expect(generations).to_have_count(4)
    sync_api.expect(generations.last).to_contain_text("current")
    sync_api.expect(page.locator(".status-card")).to_contain_text("(generation 4)")
    start(server, "two_waits", "waits")
    until(server, "waits", "Running")
    httpx.post(f"{server}{BASE}/instances/waits/raiseEvent/first", json=2).raise_for_status()
    page.goto(f"{server}/dashboard/instances/waits")
    waits = page.locator('.tl-row[data-kind="event wait"]')
    for _ in range(100):  # until the second wait began (the activity ran)
        if waits.count() == 2:
            break
        page.wait_for_timeout(100)
        page.reload()
    sync_api.expect(waits).to_have_count(2)
    sync_api.expect(waits.nth(0)).to_have_class(re.compile("tl-received"))
    sync_api.expect(waits.nth(1)).to_have_class(re.compile("tl-waiting"))
    httpx.post(f"{server}{BASE}/instances/waits/raiseEvent/second", json=5).raise_for_status()
    until(server, "waits", "Completed")
    page.reload()
    sync_api.expect(waits.nth(1)).to_have_class(re.compile("tl-received"))
    box = waits.nth(1).locator(".tl-bar").bounding_box()
    assert box is not None and box["width"] >= 2
