"""The browser enforces the pages' Content-Security-Policy, and what the policy allows is enough.

Every browser test runs under a `PolicyWatch` (conftest.py): it fails when a page of ours came
without the policy or when Chromium refused anything, seen by the page's
`securitypolicyviolation` events and by Chromium's own issues (which come with JavaScript off
too). So the pages of the other files are the "loads and works" half of this check: the waiting
page with and without JavaScript and its proof of work (test_waiting_page.py), sign-in and the
homes of a pupil, a teacher, a parent and an administrator (test_school_pages.py), the class with
its whiteboard and slides (test_live_class.py). This file shows the other half: that the watch
sees a refusal when there is one, with and without JavaScript, that another site cannot frame
sign-in, and that the proof of work runs in this site's own worker file, nothing inline.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import PolicyWatch, WatchedBrowser
from tests.gate_process import GateProcess

pytestmark = [pytest.mark.slow, pytest.mark.browser]
ELSEWHERE = "http://elsewhere.test"  # another site: Playwright answers for it, no DNS


@pytest.fixture
def open_site() -> Iterator[GateProcess]:
    """Sign-in out of the gate, so that the page answers a framed request by itself (behind the
    gate, a cross-site frame gets no SameSite=Lax pass cookie and only ever a redirect)."""
    env = {"HOMEROOM_MODE": "safety_net", "HOMEROOM_PROTECT": "/class=national"}
    with GateProcess(env) as process:
        yield process


def seen(page: Page, watch: PolicyWatch, **match: str) -> bool:
    """Whether the watch records a violation with the items of `match` within 10 s (events
    arrive while Playwright is called, so the wait is a short call of it, repeated)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any(match.items() <= v.items() for v in watch.violations):
            return True
        page.wait_for_timeout(50)
    return False


def test_a_refusal_is_seen_with_javascript(browser: WatchedBrowser, gate: GateProcess) -> None:
    context = browser.new_context()
    watch = browser.watches[-1]
    page = context.new_page()
    page.goto(f"{gate.base}/workspace/maths")
    expect(page.locator("#hr-position")).to_have_text("1")
    # what an injected piece of markup would try: inline script, a style attribute, eval
    page.evaluate(
        """() => {
        const s = document.createElement("script");
        s.textContent = "window.injected = true";
        document.body.append(s);
        document.body.insertAdjacentHTML("beforeend", '<p id="red" style="color: red">x</p>');
        setTimeout("window.evaluated = true", 0);
    }"""
    )
    page.wait_for_timeout(200)
    assert page.evaluate("() => [window.injected, window.evaluated]") == [None, None]
    assert page.locator("#red").evaluate("p => getComputedStyle(p).color") != "rgb(255, 0, 0)"
    for directive in ("script-src-elem", "style-src-attr", "script-src"):
        assert seen(page, watch, seen_by="event", directive=directive), directive
        assert seen(page, watch, seen_by="audits", violatedDirective=directive), directive
    watch.violations.clear()  # seen on purpose: the test's own check stays for the rest
    context.close()


def test_a_refusal_is_seen_without_javascript(browser: WatchedBrowser, gate: GateProcess) -> None:
    context = browser.new_context(java_script_enabled=False)
    watch = browser.watches[-1]
    page = context.new_page()
    injected = f'<p style="color: red">x</p><img src="{ELSEWHERE}/pixel.png" alt=""></main>'

    def with_injected_markup(route: Route) -> None:
        real = route.fetch()  # the gate's own answer, its headers kept
        route.fulfill(response=real, body=real.text().replace("</main>", injected))

    wait_page = f"{gate.base}/gate/national/wait?next=/workspace/maths"
    page.route(wait_page, with_injected_markup)  # (a route sees no redirect: go there at once)
    page.goto(wait_page)
    expect(page.locator("#hr-position")).to_have_text("1")
    assert seen(page, watch, violatedDirective="style-src-attr")
    assert seen(page, watch, violatedDirective="img-src", blockedURL=f"{ELSEWHERE}/pixel.png")
    watch.violations.clear()
    context.close()


@pytest.fixture
def elsewhere(open_site: GateProcess) -> Iterator[str]:
    """Another site that frames sign-in, and a page of its own: a server on 127.0.0.2 (a
    loopback address, as Chromium keeps public sites from framing loopback ones at all)."""
    pages = {
        "/": (
            f'<iframe id="ours" src="{open_site.base}/signin"></iframe>'
            '<iframe id="theirs" src="/inner"></iframe>'
        ),
        "/inner": '<p id="inner">framed</p>',
    }

    class Site(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, "").encode()
            self.send_response(200 if body else 404)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.2:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_another_site_cannot_frame_sign_in(
    browser: WatchedBrowser, open_site: GateProcess, elsewhere: str
) -> None:
    context = browser.new_context()
    watch = browser.watches[-1]
    page = context.new_page()
    page.goto(f"{elsewhere}/")  # its load event comes after every frame's, the refused one's too
    expect(page.frame_locator("#theirs").locator("#inner")).to_have_text("framed")
    assert not any(frame.query_selector("#login") for frame in page.frames)
    assert seen(page, watch, violatedDirective="frame-ancestors", blockedURL=f"{open_site.base}/")
    watch.violations.clear()
    # the same page opened by itself signs in as usual
    page.goto(f"{open_site.base}/signin")
    expect(page.locator("#login")).to_be_visible()
    context.close()


def test_the_proof_of_work_runs_in_this_sites_own_worker(
    browser: WatchedBrowser, gate: GateProcess
) -> None:
    gate.admin("PATCH", "policy", {"mode": "under_attack"})
    context = browser.new_context()
    page = context.new_page()
    workers: list[str] = []
    page.on("worker", lambda worker: workers.append(worker.url))
    page.goto(f"{gate.base}/workspace/sciences")
    expect(page.locator("#hr-position")).to_have_text("1", timeout=30_000)  # solved, queued
    assert workers and set(workers) == {f"{gate.base}/static/vendor/altcha-sha.js"}
    context.close()
