"""A person in Chromium opens a workspace behind nginx: the waiting page in French with their position, then the page asked.

nginx runs `homeroom workspace nginx`'s configuration in front of the stand-in workspace, with
`homeroom run` as its gate; the waiting page is served under the workspace's own address, its
files under /gate/static/. With JavaScript and without (docs/operations.md#in-front-of-a-workspace).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import axe_violations
from tests.browser.test_waiting_page import french_phone
from tests.e2e.workspace_proxies import GATE, Proxy, Standin, gate_env, protected_by
from tests.gate_process import GateProcess

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def behind_nginx() -> Iterator[tuple[Proxy, GateProcess]]:
    standin = Standin(capacity=10, idle_s=600).start()
    try:
        # a queueing gate with no room yet: arrivals wait until the test makes room
        with GateProcess(gate_env(capacity=0, idle="60")) as gate:
            proxy = protected_by("nginx", standin, gate)
            try:
                yield proxy, gate
            finally:
                proxy.stop()
    finally:
        standin.stop()


def someone_ahead(proxy: Proxy) -> None:
    with httpx.Client(base_url=proxy.base, headers={"accept": "text/html"}) as other:
        assert b"data-number" in other.get("/cours", follow_redirects=True).content


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_a_person_waits_in_french_then_lands_on_the_workspace_page_asked(
    browser: Browser, behind_nginx: tuple[Proxy, GateProcess], javascript: bool
) -> None:
    proxy, gate = behind_nginx
    someone_ahead(proxy)
    context = french_phone(browser, javascript=javascript)
    page = context.new_page()
    asked = f"{proxy.base}/cours/maths-6e?user=camille"
    page.goto(asked)
    # the waiting page, on the workspace's own address
    expect(page).to_have_url(re.compile(rf"^{proxy.base}/gate/{GATE}/wait\?next="))
    assert page.locator("html").get_attribute("lang") == "fr"
    expect(page.locator("h1")).to_contain_text(re.compile("attente", re.I))
    expect(page.locator("#hr-position")).to_have_text("2")
    if javascript:
        assert axe_violations(page, static="/gate/static") == []
    else:
        assert page.locator('meta[http-equiv="refresh"]').count() == 1
    gate.admin("PATCH", "policy", {"capacity": 10}, gate=GATE)
    page.wait_for_url(asked, timeout=40_000)
    expect(page.locator("#ws-path")).to_have_text("/cours/maths-6e")  # the workspace's page
    context.close()
