"""People in Chromium meet the school's pages: sign in by keyboard, dashboards, forms, axe-clean.

A real `homeroom run` on a SQLite file seeded beforehand (tests/school/people.py, plus sessions
of today so that the dashboards have something to show), at 360 px and at desktop width, in
French and English.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from homeroom.school.auth.passwords import Passwords
from homeroom.school.data import db
from homeroom.school.data.models import ClassSession, Person, Role
from tests.browser.conftest import axe_violations, seeded_school_db
from tests.gate_process import GateProcess
from tests.school.people import build, person

pytestmark = [pytest.mark.slow, pytest.mark.browser]
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
PASSWORD = "correct horse battery"


async def _seed(url: str) -> None:
    engine = db.engine_for(url)
    try:
        async with db.sessions(engine)() as s:
            demo = await build(s)
            await person(s, "direction", Role.ADMIN, demo.school)
            hashed = Passwords().hash(PASSWORD)
            logins = ("lea", "prof", "maman", "direction")
            for someone in await s.scalars(select(Person).where(Person.login.in_(logins))):
                someone.password_hash = hashed
            soon = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=5)
            s.add(
                ClassSession(
                    group_id=demo.groups[0],
                    teacher_id=demo.teacher,
                    title="Histoire en direct",
                    starts_at=soon,
                    ends_at=soon + dt.timedelta(minutes=55),
                )
            )
            await s.commit()
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def school() -> Iterator[GateProcess]:
    url, _ = seeded_school_db("homeroom-school-", _seed)
    env = {"HOMEROOM_DATABASE_URL": url, "HOMEROOM_SESSION_SECRET": "b" * 32}
    with GateProcess(env) as process:
        yield process


def sign_in_by_keyboard(page: Page, base: str, login: str) -> None:
    page.goto(f"{base}/signin")
    for _ in range(12):  # the skip link, the page's links… until the login field
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "login":
            break
    assert page.evaluate("document.activeElement.id") == "login"
    page.keyboard.type(login)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/home"))


def clean_at_both_widths(page: Page) -> None:
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        assert axe_violations(page) == [], size
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= size["width"], f"scrolls sideways at {size['width']} px"


def test_a_pupil_signs_in_by_keyboard_and_joins_the_class(
    browser: Browser, school: GateProcess
) -> None:
    context = browser.new_context(
        locale="fr-FR", viewport=PHONE, extra_http_headers={"accept-language": "fr-FR,fr"}
    )
    page = context.new_page()
    page.goto(f"{school.base}/signin")
    assert page.locator("html").get_attribute("lang") == "fr"
    clean_at_both_widths(page)
    page.set_viewport_size(PHONE)
    sign_in_by_keyboard(page, school.base, "lea")
    expect(page.locator("h2#pupil-title")).to_have_text("Mes classes du jour")
    join = page.get_by_role("link", name=re.compile("Rejoindre la classe « Histoire en direct »"))
    expect(join).to_have_count(1)
    clean_at_both_widths(page)
    href = join.get_attribute("href")
    assert href is not None and re.fullmatch(r"/class/\d+", href)
    join.click()
    page.wait_for_url(f"{school.base}{href}", timeout=20_000)  # the gate let the pupil in
    context.close()


def test_a_teacher_schedules_a_session_in_english(browser: Browser, school: GateProcess) -> None:
    context = browser.new_context(
        locale="en-GB", viewport=PHONE, extra_http_headers={"accept-language": "en-GB,en"}
    )
    page = context.new_page()
    sign_in_by_keyboard(page, school.base, "prof")
    assert page.locator("html").get_attribute("lang") == "en"
    expect(page.locator("h2#teacher-title")).to_have_text("My classes")
    # the session starting in 5 minutes shows who is in: no gate traffic, all not connected
    expect(page.locator(".hr-counts").first).to_contain_text("Not connected")
    clean_at_both_widths(page)
    page.set_viewport_size(PHONE)
    page.get_by_label("Class", exact=True).select_option(index=1)
    page.get_by_label("Title").fill("Revision")
    page.get_by_label("Date").fill("2030-03-04")
    page.get_by_label("Start time").fill("14:30")
    page.get_by_label("Length in minutes").fill("45")
    page.get_by_role("button", name="Schedule").click()
    notice = page.locator("p.hr-notice[role=status]")
    expect(notice).to_have_text("The class “Revision” is scheduled on Monday 4 March at 14:30.")
    clean_at_both_widths(page)
    page.get_by_role("button", name=re.compile("Make a class code – 6e A")).click()
    expect(page.locator("#class-1 .hr-code")).to_have_text(re.compile(r"^[A-Z0-9]{4}-[A-Z0-9]{4}$"))
    page.get_by_role("button", name=re.compile("Print one-time codes – 6e A")).click()
    expect(page.locator("#code-sheet")).to_contain_text("lea")
    assert axe_violations(page) == []
    context.close()


def test_parent_and_administrator_dashboards_and_the_other_forms_are_clean(
    browser: Browser, school: GateProcess
) -> None:
    for lang in ("fr", "en"):
        context = browser.new_context(viewport=PHONE, extra_http_headers={"accept-language": lang})
        page = context.new_page()
        for path in ("/signup", "/signin/code", "/signup?invite=nothing-like-a-token"):
            page.goto(f"{school.base}{path}")
            assert page.locator("html").get_attribute("lang") == lang
            clean_at_both_widths(page)
        for login in ("maman", "direction"):
            page.set_viewport_size(PHONE)
            sign_in_by_keyboard(page, school.base, login)
            clean_at_both_widths(page)
            page.get_by_role("button", name=re.compile("déconnecter|Sign out")).click()
            page.wait_for_url(re.compile(r"/signin\?done=out"))
        context.close()


def test_invitation_links_export_and_erasure_pages_are_clean(
    browser: Browser, school: GateProcess
) -> None:
    """A teacher's pupil and parent links, an administrator's teacher link that someone follows,
    that new teacher's export and erasure: every new page axe-clean, in French and English."""
    for lang in ("fr", "en"):
        context = browser.new_context(viewport=PHONE, extra_http_headers={"accept-language": lang})
        page = context.new_page()
        sign_in_by_keyboard(page, school.base, "prof")
        pupils, parent = page.locator("#class-1 details.hr-invite").all()
        pupils.locator("summary").click()
        parent.locator("summary").click()
        clean_at_both_widths(page)  # the dashboard with both forms open
        page.set_viewport_size(PHONE)
        pupils.get_by_role("button").click()
        expect(page.locator("#invite-link")).to_contain_text("/signup?invite=")
        clean_at_both_widths(page)
        page.goto(f"{school.base}/home")
        parent = page.locator("#class-1 details.hr-invite").nth(1)
        parent.locator("summary").click()
        parent.get_by_role("combobox").select_option(index=0)
        parent.get_by_role("button").click()
        expect(page.locator("#invite-link")).to_contain_text("/signup?invite=")
        clean_at_both_widths(page)
        page.goto(f"{school.base}/home")
        page.get_by_role("button", name=re.compile("déconnecter|Sign out")).click()
        page.wait_for_url(re.compile(r"/signin\?done=out"))

        page.set_viewport_size(PHONE)
        sign_in_by_keyboard(page, school.base, "direction")
        page.get_by_role("button", name=re.compile("(Créer le lien|Make the link) – ")).click()
        link = page.locator("#invite-link").inner_text()
        clean_at_both_widths(page)
        newcomer = browser.new_context(extra_http_headers={"accept-language": lang})
        signup = newcomer.new_page()
        signup.goto(link)
        signup.locator("#display_name").fill(f"Nouvelle Prof {lang}")
        signup.locator("#password").fill("une phrase facile")
        signup.locator("#password").press("Enter")
        signup.wait_for_url(re.compile(r"/welcome"))
        newcomer.close()

        page.goto(f"{school.base}/home")
        name = f"Nouvelle Prof {lang}"
        export = page.get_by_role("link", name=re.compile(f"(Exporter|Export) – {name}"))
        got = page.request.get(f"{school.base}{export.get_attribute('href')}")
        assert got.status == 200 and got.json()["person"]["display_name"] == name
        assert got.headers["content-disposition"].startswith("attachment;")
        page.get_by_role("link", name=re.compile(f"(Effacer|Erase) – {name}")).click()
        expect(page.locator("h1")).to_contain_text(name)
        clean_at_both_widths(page)
        page.get_by_role("button", name=re.compile("(Effacer|Erase) ")).click()
        page.wait_for_url(re.compile(r"done=erased"))
        expect(page.locator("p.hr-notice[role=status]")).to_have_text(
            "Le compte a été effacé." if lang == "fr" else "The account was erased."
        )
        expect(page.get_by_role("link", name=re.compile(name))).to_have_count(0)
        context.close()
