"""A person in Chromium meets the waiting room: French, position, admitted, lands where they asked."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Route, expect

from homeroom.gate.runtime import STATE_SKEW_S
from tests.browser.conftest import axe_violations
from tests.gate_process import GateProcess

pytestmark = [pytest.mark.slow, pytest.mark.browser]
PHONE = {"width": 360, "height": 740}


def french_phone(browser: Browser, javascript: bool = True) -> BrowserContext:
    """A small phone whose browser asks for French."""
    return browser.new_context(
        java_script_enabled=javascript,
        locale="fr-FR",
        viewport=PHONE,
        extra_http_headers={"accept-language": "fr-FR,fr;q=0.9"},
    )


def someone_ahead(gate: GateProcess) -> None:
    with httpx.Client(base_url=gate.base) as other:
        assert (
            other.post("/gate/national/ticket", headers={"accept": "application/json"}).status_code
            == 201
        )


def test_with_javascript_waits_in_french_then_lands_on_the_page_asked(
    browser: Browser, gate: GateProcess
) -> None:
    someone_ahead(gate)
    context = french_phone(browser)
    page = context.new_page()
    page.goto(f"{gate.base}/workspace/maths-6e")
    expect(page).to_have_url(re.compile(r"/gate/national/wait\?next=/workspace/maths-6e"))
    assert page.locator("html").get_attribute("lang") == "fr"
    expect(page.locator("#hr-position")).to_have_text("2")
    expect(page.locator("h1")).to_contain_text(re.compile("attente", re.I))
    assert axe_violations(page) == []
    gate.admin("PATCH", "policy", {"capacity": 100})
    page.wait_for_url(f"{gate.base}/workspace/maths-6e", timeout=20_000)
    assert page.locator("main").inner_text()  # the protected page itself
    context.close()


def test_without_javascript_the_page_refreshes_itself_until_admitted(
    browser: Browser, gate: GateProcess
) -> None:
    someone_ahead(gate)
    context = french_phone(browser, javascript=False)
    page = context.new_page()
    page.goto(f"{gate.base}/workspace/devoirs")
    expect(page).to_have_url(re.compile(r"/gate/national/wait"))
    assert page.locator('meta[http-equiv="refresh"]').count() == 1
    expect(page.locator("#hr-position")).to_have_text("2")
    gate.admin("PATCH", "policy", {"capacity": 100})
    page.wait_for_url(f"{gate.base}/workspace/devoirs", timeout=30_000)
    context.close()


def test_english_and_error_and_maintenance_pages_have_no_axe_violation(
    browser: Browser, gate: GateProcess
) -> None:
    context = browser.new_context(
        locale="en-GB", viewport=PHONE, extra_http_headers={"accept-language": "en-GB,en"}
    )
    page = context.new_page()
    page.goto(f"{gate.base}/class/")
    assert page.locator("html").get_attribute("lang") == "en"
    assert axe_violations(page) == []
    page.goto(f"{gate.base}/no/such/page")
    assert axe_violations(page) == []
    gate.admin("PATCH", "policy", {"mode": "closed"})
    response = page.goto(f"{gate.base}/class/")
    assert response is not None and response.status == 503
    assert axe_violations(page) == []
    gate.admin("PATCH", "policy", {"mode": "queue"})
    page.goto(f"{gate.base}/")
    assert axe_violations(page) == []
    context.close()


def test_under_attack_the_browser_solves_the_altcha_challenge_and_takes_its_place(
    browser: Browser, gate: GateProcess
) -> None:
    gate.admin("PATCH", "policy", {"mode": "under_attack"})
    context = browser.new_context(
        locale="fr-FR", viewport=PHONE, extra_http_headers={"accept-language": "fr-FR"}
    )
    page = context.new_page()
    held: list[Route] = []  # hold the challenge until axe has read the page: the widget would
    # solve it and submit the form at once, navigating under axe's feet

    def hold(route: Route) -> None:
        held.append(route)

    page.route("**/gate/national/challenge", hold)
    page.goto(f"{gate.base}/workspace/sciences")
    assert page.locator("#hr-gate").get_attribute("data-status") == "proof_of_work"
    assert page.locator("altcha-widget").count() == 1
    assert axe_violations(page) == []
    page.wait_for_function("() => true")  # let the held request reach the handler
    assert held, "the widget asked for no challenge"
    page.unroute("**/gate/national/challenge")  # lets the held request go on to the server
    # The widget solves the challenge by itself and the page sends it: a ticket, a place.
    expect(page.locator("#hr-position")).to_have_text("1", timeout=30_000)
    assert page.locator("#hr-gate").get_attribute("data-status") == "waiting"
    gate.admin("PATCH", "policy", {"capacity": 100})
    page.wait_for_url(f"{gate.base}/workspace/sciences", timeout=20_000)
    context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no_js"])
def test_a_gate_restarted_without_its_counts_gives_the_waiting_page_a_new_place(
    browser: Browser, gate: GateProcess, javascript: bool
) -> None:
    someone_ahead(gate)
    context = french_phone(browser, javascript=javascript)
    page = context.new_page()
    page.goto(f"{gate.base}/workspace/maths-6e")
    expect(page.locator("#hr-position")).to_have_text("2")
    # The embedded memory store restarted at 7:55: same keys, so the ticket still opens, but
    # the count that gave it number 2 is gone, and three people arrive in the new one.
    # The ticket must then be clearly older than the new count: both are whole seconds, so more
    # than STATE_SKEW_S + 1 s must pass (2.5 s failed now and then: 10.1 and 12.7 are 10 and 12)
    time.sleep(STATE_SKEW_S + 1.5)
    # The page's own requests wait until the three have arrived: its next refresh or poll
    # could otherwise land in the new count first and rightly get number 1 (it did, when a run
    # was slow enough), which says nothing of whether it noticed the restart.
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route("**/gate/national/**", hold)
    gate.stop()
    gate.start()
    for _ in range(3):
        someone_ahead(gate)
    page.unroute("**/gate/national/**")  # lets what was held go on to the server
    # the page finds out by itself (JavaScript: the lane's `born` in the state; without:
    # its next refresh) and takes a place behind them, not number 2 again
    expect(page.locator("#hr-position")).to_have_text("4", timeout=60_000)
    context.close()
