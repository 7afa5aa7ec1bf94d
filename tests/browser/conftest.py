"""Chromium from Debian's package, driven by Playwright; a real gate process to talk to.

Every browser context a test opens is watched (`PolicyWatch`): a test fails when a page breaks
the Content-Security-Policy or arrives without one (docs/operations.md#security-headers).
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import shutil
import tempfile
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Response, sync_playwright

from homeroom.school.data import db
from tests.gate_process import GateProcess

T = TypeVar("T")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make test` installs Debian's chromium package")
    with sync_playwright() as p:
        yield p


# Before any script of a page: each violation the page sees goes to the test's watch.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => window.__hrPolicyViolation({
  directive: e.effectiveDirective, blocked: e.blockedURI, source: e.sourceFile,
  line: e.lineNumber, sample: e.sample, page: document.location.href,
}));
"""


class PolicyWatch:
    """What the Content-Security-Policy refused in one context, seen two ways: the pages'
    `securitypolicyviolation` events, and Chromium's own issues (DevTools' Audits), which
    come with JavaScript off too; and the documents of our servers that came without it."""

    def __init__(self, context: BrowserContext) -> None:
        self.violations: list[dict[str, object]] = []
        self.without_policy: list[str] = []
        context.expose_function("__hrPolicyViolation", self._event)
        context.add_init_script(REPORT_VIOLATIONS)
        context.on("page", self._audit)
        context.on("response", self._check)

    def _event(self, details: dict[str, object]) -> None:
        self.violations.append({"seen_by": "event", **details})

    def _audit(self, page: Page) -> None:
        session = page.context.new_cdp_session(page)
        session.on("Audits.issueAdded", self._issue)
        session.send("Audits.enable")

    def _issue(self, params: dict[str, Any]) -> None:
        issue = params["issue"]
        if issue["code"] == "ContentSecurityPolicyIssue":
            details = issue["details"]["contentSecurityPolicyIssueDetails"]
            self.violations.append({"seen_by": "audits", **details})

    def _check(self, response: Response) -> None:
        ours = response.url.startswith("http://127.0.0.1:")  # where the tests' servers are
        if ours and response.request.resource_type == "document":
            policy = response.headers.get("content-security-policy", "")
            if "frame-ancestors 'none'" not in policy:
                self.without_policy.append(response.url)


class WatchedBrowser:
    """Chromium whose every new context is watched; the rest is the Browser's own."""

    def __init__(self, browser: Browser) -> None:
        self._browser = browser
        self.watches: list[PolicyWatch] = []

    def new_context(self, **options: Any) -> BrowserContext:
        context = self._browser.new_context(**options)
        self.watches.append(PolicyWatch(context))
        return context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    yield WatchedBrowser(browser)  # type: ignore[misc]  # a Browser to the tests
    browser.close()


@pytest.fixture(autouse=True)
def under_the_policy(browser: WatchedBrowser) -> Iterator[None]:
    """The test fails if a page it opened broke the policy or came without it."""
    browser.watches.clear()
    yield
    violations = [v for watch in browser.watches for v in watch.violations]
    assert violations == [], "the Content-Security-Policy refused something"
    bare = [url for watch in browser.watches for url in watch.without_policy]
    assert bare == [], "pages without the Content-Security-Policy"


@pytest.fixture
def gate() -> Iterator[GateProcess]:
    """A queueing gate with no room yet, so arrivals wait until the test makes room."""
    keys = "1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    env = {
        "HOMEROOM_MODE": "queue",
        "HOMEROOM_TICK_S": "0.25",
        "HOMEROOM_SECRET_KEYS": keys,
        "HOMEROOM_CAPACITY": "0",
    }
    with GateProcess(env) as process:
        yield process


def axe_violations(page, static: str = "/static") -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    # from the site itself, as the policy allows (an inline copy would be refused); `static`:
    # where homeroom's files are (HOMEROOM_STATIC_PATH)
    page.add_script_tag(url=f"{static}/vendor/axe.min.js")
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["html"] for n in v["nodes"]][:3]}
        for v in result["violations"]
    ]


def seeded_school_db(prefix: str, seed: Callable[[str], Coroutine[Any, Any, T]]) -> tuple[str, T]:
    """A new SQLite school database at head in a folder of its own, seeded by `seed(url)`:
    its URL and what `seed` returned."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    url = f"sqlite+aiosqlite:///{folder / 'school.db'}"
    db.upgrade(url)
    with ThreadPoolExecutor(1) as pool:  # the sync Playwright driver may own a loop here
        seeded = pool.submit(lambda: asyncio.run(seed(url))).result()
    return url, seeded
