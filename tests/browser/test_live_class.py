"""A live class in Chromium: a teacher and two pupils, each in a browser context of their own.

Real processes: `homeroom run` on a seeded SQLite file and `homeroom live` in the same working
folder (they share .homeroom/live-secret, the key of join tokens). The teacher works in English,
Léa in French, Hugo in English. They go through the lobby, chat, a raised hand, a poll, a
whiteboard stroke and slides; Hugo's network is cut and restored, and every chat shows each
message exactly once, in order. axe-core finds nothing on the teacher's and a pupil's page at
360 px and at desktop width (docs/live.md#pages).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from homeroom.school.auth.passwords import Passwords
from homeroom.school.data import db
from homeroom.school.data.models import ClassSession, Enrolment, Person, Role
from tests.browser.conftest import axe_violations, seeded_school_db
from tests.gate_process import HOMEROOM, QUICK_STOP, GateProcess, wait_http
from tests.redis_servers import free_port
from tests.school.people import build, person
from tests.school.test_pages_class import pdf_of

pytestmark = [pytest.mark.slow, pytest.mark.browser]
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
PASSWORD = "correct horse battery"
WAIT_MS = 15_000  # every wait below has this deadline


@dataclass
class Class:
    base: str
    session_id: int


async def _seed(url: str) -> int:
    engine = db.engine_for(url)
    try:
        async with db.sessions(engine)() as s:
            demo = await build(s)
            hugo = await person(s, "hugo", Role.PUPIL, demo.school)
            s.add(Enrolment(pupil_id=hugo, group_id=demo.groups[0]))
            hashed = Passwords().hash(PASSWORD)
            for someone in await s.scalars(
                select(Person).where(Person.login.in_(("lea", "hugo", "prof")))
            ):
                someone.password_hash = hashed
            now = dt.datetime.now(dt.UTC).replace(microsecond=0)
            live = ClassSession(
                group_id=demo.groups[0],
                teacher_id=demo.teacher,
                title="Sciences en direct",
                starts_at=now - dt.timedelta(minutes=5),
                ends_at=now + dt.timedelta(minutes=55),
            )
            s.add(live)
            await s.commit()
            return live.id
    finally:
        await engine.dispose()


class LiveProcess:
    """`homeroom live` in the folder of the `homeroom run` it serves, on `host` (and with
    `more` in its environment)."""

    def __init__(
        self,
        workdir: str,
        port: int,
        database_url: str,
        host: str = "127.0.0.1",
        more: dict[str, str] | None = None,
    ) -> None:
        env = {
            **os.environ,
            "HOMEROOM_LOG_LEVEL": "warning",
            **QUICK_STOP,
            **(more or {}),
            "HOMEROOM_LIVE_HOST": host,
            "HOMEROOM_LIVE_PORT": str(port),
            "HOMEROOM_DATABASE_URL": database_url,  # where chat and polls are recorded
        }
        env.pop("HOMEROOM_SECRET_KEYS", None)  # the key kept in .homeroom/live-secret
        self.proc = subprocess.Popen(
            [HOMEROOM, "live"], env=env, cwd=workdir, stdout=subprocess.DEVNULL
        )
        wait_http(f"http://{host}:{port}/live", process=self.proc)  # 403: no token

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture(scope="module")
def live_class() -> Iterator[Class]:
    url, session_id = seeded_school_db("homeroom-live-class-", _seed)
    port = free_port()
    env = {
        "HOMEROOM_DATABASE_URL": url,
        "HOMEROOM_SESSION_SECRET": "c" * 32,
        "HOMEROOM_LIVE_PORT": str(port),
    }
    with GateProcess(env) as school:
        live = LiveProcess(school.workdir, port, url)
        try:
            yield Class(school.base, session_id)
        finally:
            live.stop()


def open_class(
    browser: Browser, where: Class, login: str, lang: str
) -> tuple[BrowserContext, Page]:
    locale = "fr-FR" if lang == "fr" else "en-GB"
    context = browser.new_context(
        locale=locale, viewport=PHONE, extra_http_headers={"accept-language": f"{locale},{lang}"}
    )
    page = context.new_page()
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    sign_in_to_class(page, where, login)
    # the room rides in the WebSocket URL: HAProxy hashes a class onto one gateway with it
    # (docs/operations.md#haproxy-line-by-line)
    rooms = {parse_qs(urlsplit(url).query).get("room", [""])[0] for url in sockets}
    assert len(rooms) == 1 and "" not in rooms, sockets
    return context, page


def sign_in_to_class(page: Page, where: Class, login: str) -> None:
    """Sign in on the way to the class, and wait until its socket is open."""
    page.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)
    page.goto(f"{where.base}/signin?next=/class/{where.session_id}")
    page.fill("#login", login)
    page.fill("#password", PASSWORD)
    page.locator("#password").press("Enter")
    page.wait_for_url(re.compile(rf"/class/{where.session_id}$"))
    expect(page.locator("#lv")).to_have_attribute("data-connection", "online")


def settled(page: Page) -> None:
    """Every command this page sent was acknowledged by the room."""
    expect(page.locator("#lv")).to_have_attribute("data-outbox", "0")


def chat_of(page: Page) -> list[str]:
    texts: list[str] = page.locator("#lv-chat-list .lv-text").all_text_contents()
    seqs = [
        int(s)
        for s in page.locator("#lv-chat-list li").evaluate_all(
            "items => items.map(i => i.dataset.seq)"
        )
    ]
    assert seqs == sorted(set(seqs)), f"chat out of order or doubled: {seqs}"
    return texts


def say(page: Page, text: str, to_teacher: bool = False) -> None:
    if to_teacher:
        page.select_option("#lv-chat-to", "teacher")
    page.fill("#lv-chat-text", text)
    page.locator("#lv-chat-text").press("Enter")
    if to_teacher:
        page.select_option("#lv-chat-to", "all")


def sees(page: Page, text: str) -> None:
    expect(page.locator("#lv-chat-list .lv-text", has_text=text)).to_have_count(1)


def clean_at_both_widths(page: Page) -> None:
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        assert axe_violations(page) == [], size
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= size["width"], f"scrolls sideways at {size['width']} px"
    page.set_viewport_size(PHONE)


def test_a_teacher_and_two_pupils_hold_a_class(browser: Browser, live_class: Class) -> None:
    t_context, teacher = open_class(browser, live_class, "prof", "en")
    expect(teacher.locator("#lv-class")).to_be_visible()
    teacher.check("#lv-set-lobby")
    settled(teacher)

    # the lobby: both pupils wait, the teacher lets one in, then everyone
    l_context, lea = open_class(browser, live_class, "lea", "fr")
    h_context, hugo = open_class(browser, live_class, "hugo", "en")
    for pupil in (lea, hugo):
        expect(pupil.locator("#lv-lobby")).to_be_visible()
        expect(pupil.locator("#lv-class")).to_be_hidden()
    expect(lea.locator("#lv-lobby")).to_contain_text("Salle d'attente")
    expect(teacher.locator("#lv-waiting li")).to_have_count(2)
    teacher.get_by_role("button", name="Let Lea in").click()
    expect(lea.locator("#lv-class")).to_be_visible()
    expect(hugo.locator("#lv-lobby")).to_be_visible()
    teacher.get_by_role("button", name="Let everyone in").click()
    expect(hugo.locator("#lv-class")).to_be_visible()
    expect(teacher.locator("#lv-people-list li")).to_have_count(3)
    expect(teacher.locator("#lv-waiting-none")).to_be_visible()

    # chat both ways, and a private question to the teacher
    say(teacher, "Good morning, class")
    for page in (lea, hugo):
        sees(page, "Good morning, class")
    say(lea, "Bonjour !")
    say(hugo, "Is this on the test?", to_teacher=True)
    for page in (teacher, hugo):
        sees(page, "Bonjour !")
    sees(teacher, "Is this on the test?")
    expect(teacher.locator("#lv-chat-list li", has_text="Is this on the test?")).to_contain_text(
        "to the teacher"
    )

    # a raised hand, lowered by the teacher
    lea.get_by_role("button", name="Lever la main").click()
    expect(teacher.locator("#lv-hand-list li")).to_have_text(re.compile("Lea"))
    expect(lea.locator("#lv-hand")).to_have_attribute("aria-pressed", "true")
    teacher.get_by_role("button", name="Lower Lea's hand").click()
    expect(lea.locator("#lv-hand")).to_have_attribute("aria-pressed", "false")
    expect(teacher.locator("#lv-hands-none")).to_be_visible()

    # a poll: both vote, the teacher sees results live, then shows them
    teacher.locator("#lv-poll-new summary").click()
    teacher.fill("#lv-poll-question", "How many legs has a spider?")
    teacher.fill("#lv-poll-choices", "6\n8\n10")
    teacher.get_by_role("button", name="Start the poll").click()
    lea.get_by_label("8", exact=True).check()
    lea.get_by_role("button", name="Voter").click()
    expect(lea.locator(".lv-voted")).to_be_visible()
    expect(lea.locator(".lv-results")).to_have_count(0)  # not shown to pupils yet
    hugo.get_by_label("6", exact=True).check()
    hugo.get_by_role("button", name="Vote").click()
    expect(teacher.locator(".lv-results li")).to_have_text(["6: 1", "8: 1", "10: 0"])
    teacher.get_by_role("button", name="Show the results to the class").click()
    expect(hugo.locator(".lv-results li")).to_have_text(["6: 1", "8: 1", "10: 0"])
    expect(lea.locator(".lv-results li").nth(1)).to_have_text("8\u00a0: 1")

    # a whiteboard stroke, drawn with the mouse, appears for the pupils
    teacher.locator("#lv-board-canvas").scroll_into_view_if_needed()
    box = teacher.locator("#lv-board-canvas").bounding_box()
    assert box is not None
    teacher.mouse.move(box["x"] + 20, box["y"] + 20)
    teacher.mouse.down()
    for step in range(1, 11):
        teacher.mouse.move(box["x"] + 20 + step * 15, box["y"] + 20 + step * 8)
    teacher.mouse.up()
    for page in (lea, hugo):
        expect(page.locator("#lv-board")).to_have_attribute("data-strokes", "1")
    expect(hugo.locator("#lv-board-summary")).to_contain_text("the last by Prof")
    expect(lea.locator("#lv-board-tools")).to_be_hidden()  # pupils do not draw yet

    # slides: the teacher uploads a PDF and turns a page; pupils follow; a late joiner lands
    # on the current page
    teacher.set_input_files(
        "#lv-slides-file",
        {
            "name": "lesson.pdf",
            "mimeType": "application/pdf",
            "buffer": pdf_of(["Spiders", "Legs", "Webs"]),
        },
    )
    teacher.get_by_role("button", name="Upload and show").click()
    for page in (teacher, lea, hugo):
        expect(page.locator("#lv-slide-canvas")).to_have_attribute("data-shown", re.compile(":1$"))
        expect(page.locator("#lv-slide-text")).to_have_text("Spiders")
    # pdf.js drew them in its worker, from this site's file, under a policy that lets the
    # worker fetch nothing (docs/operations.md#security-headers)
    (pdf_worker,) = [w for w in teacher.workers if "/static/vendor/pdf.worker" in w.url]
    assert pdf_worker.evaluate("fetch('/healthz').then(() => 'fetched', () => 'refused')") == (
        "refused"
    )
    teacher.get_by_role("button", name="Next page").click()
    for page in (lea, hugo):
        expect(page.locator("#lv-slide-canvas")).to_have_attribute("data-shown", re.compile(":2$"))
        expect(page.locator("#lv-slide-text")).to_have_text("Legs")
    expect(lea.locator("#lv-slide-page")).to_have_text("Page 2 sur 3")
    hugo.reload()
    expect(hugo.locator("#lv-class")).to_be_visible()  # admitted once: no lobby again
    expect(hugo.locator("#lv-slide-canvas")).to_have_attribute("data-shown", re.compile(":2$"))
    expect(hugo.locator("#lv-board")).to_have_attribute("data-strokes", "1")

    # Hugo's network is cut: messages go on meanwhile, his own waits in his outbox
    h_context.set_offline(True)
    expect(hugo.locator("#lv")).to_have_attribute("data-connection", "offline")
    say(teacher, "While you were away, one")
    say(lea, "Pendant ce temps, deux")
    sees(teacher, "Pendant ce temps, deux")
    sees(lea, "While you were away, one")
    expect(hugo.locator("#lv-chat-list li", has_text="While you were away")).to_have_count(0)
    say(hugo, "Written offline")
    expect(hugo.locator("#lv-chat-pending")).to_be_visible()
    h_context.set_offline(False)
    expect(hugo.locator("#lv")).to_have_attribute("data-connection", "online")
    for page in (teacher, lea):
        sees(page, "Written offline")
    settled(hugo)
    expect(hugo.locator("#lv-chat-pending")).to_be_hidden()

    public = [
        "Good morning, class",
        "Bonjour !",
        "While you were away, one",
        "Pendant ce temps, deux",
        "Written offline",
    ]
    with_question = [*public[:2], "Is this on the test?", *public[2:]]
    assert chat_of(teacher) == with_question
    assert chat_of(hugo) == with_question  # his own private message, and nothing twice
    assert chat_of(lea) == public

    # accessible, and usable on a phone: the teacher's page in English, Léa's in French
    clean_at_both_widths(teacher)
    clean_at_both_widths(lea)
    for context in (t_context, l_context, h_context):
        context.close()


def test_a_guest_with_a_link_gives_a_name_and_waits_for_the_teacher(
    browser: Browser, live_class: Class
) -> None:
    t_context, teacher = open_class(browser, live_class, "prof", "en")
    teacher.goto(f"{live_class.base}/home")
    teacher.get_by_role("button", name=re.compile("Guest link")).first.click()
    link = teacher.locator("#guest-link").text_content()
    assert link and f"/class/{live_class.session_id}?guest=" in link
    teacher.goto(f"{live_class.base}/class/{live_class.session_id}")
    expect(teacher.locator("#lv")).to_have_attribute("data-connection", "online")

    g_context = browser.new_context(locale="fr-FR", viewport=PHONE)
    guest = g_context.new_page()
    guest.set_default_timeout(WAIT_MS)
    guest.goto(link)
    if "/gate/" in guest.url:  # the safety net lets people in at once; a queue would wait here
        guest.wait_for_url(re.compile(r"/class/"))
    expect(guest.locator("#guest-name")).to_be_visible()
    clean_at_both_widths(guest)
    guest.fill("#guest-name", "Mme Intervenante")
    guest.locator("#guest-name").press("Enter")
    expect(guest.locator("#lv")).to_have_attribute("data-connection", "online")
    expect(guest.locator("#lv-lobby")).to_be_visible()  # a guest always waits
    teacher.get_by_role("button", name="Let Mme Intervenante in").click()
    expect(guest.locator("#lv-class")).to_be_visible()
    clean_at_both_widths(guest)

    # the link was shared too widely: the teacher cancels the class's guest links
    links = t_context.new_page()
    links.goto(f"{live_class.base}/home")
    links.get_by_role("button", name=re.compile("Guest link")).first.click()
    assert axe_violations(links) == []
    links.get_by_role("button", name="Cancel this class's guest links").click()
    expect(links.get_by_text("This class's guest links are cancelled.")).to_be_visible()
    expect(guest.locator("#lv")).to_have_attribute("data-connection", "stopped")
    expect(guest.locator("#lv-stopped-text")).to_have_text(
        "L'enseignant a annulé ce lien d'invité."
    )
    expect(teacher.locator("#lv-people-list li", has_text="Mme Intervenante")).to_have_count(0)
    for context in (t_context, g_context):
        context.close()


def test_signing_out_in_another_tab_closes_the_class_there_too(
    browser: Browser, live_class: Class
) -> None:
    """Sign-out revokes the join tokens of that sign-in: the gateway closes the class (4003)
    within its poll, the page asks for a new token, the school says signed out."""
    t_context, teacher = open_class(browser, live_class, "prof", "en")
    l_context, lea = open_class(browser, live_class, "lea", "fr")
    expect(teacher.locator("#lv-people-list li", has_text="Lea")).to_have_count(1)
    other_tab = l_context.new_page()
    other_tab.goto(f"{live_class.base}/home")
    other_tab.get_by_role("button", name="Se déconnecter").click()
    other_tab.wait_for_url(re.compile(r"/signin"))
    expect(lea.locator("#lv")).to_have_attribute("data-connection", "stopped")
    expect(lea.locator("#lv-stopped-text")).to_have_text(
        "Vous n'êtes plus connecté : reconnectez-vous."
    )
    expect(teacher.locator("#lv-people-list li", has_text="Lea")).to_have_count(0)
    for context in (t_context, l_context):
        context.close()
