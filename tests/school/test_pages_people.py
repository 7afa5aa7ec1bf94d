"""Invitation links, export and erasure from the school's pages, on SQLite and PostgreSQL.

A teacher makes pupil and parent links and people sign up with them; an administrator invites a
teacher, exports a person and erases them. As in test_pages.py the app has no exception
handler, so every refusal checked here is a page the handlers rendered themselves.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.applications import Starlette

from homeroom.school.auth.passwords import Passwords
from homeroom.school.auth.sessions import COOKIE
from homeroom.school.data import db
from homeroom.school.data.models import (
    AuthSession,
    Enrolment,
    Guardianship,
    Invitation,
    Person,
    Role,
    RoleGrant,
)
from homeroom.school.pages.routes import page_routes
from tests.school.apiclient import school_deps
from tests.school.people import Demo, build, person
from tests.school.test_pages import CHEAP, PASSWORD, Clock, text_of, token_in

LINK = re.compile(r"http://school\.test/signup\?invite=([A-Za-z0-9_-]{43})")


@dataclass
class Site:
    app: Starlette
    client: httpx.AsyncClient
    demo: Demo
    admin: int
    engine: AsyncEngine

    def browser(self) -> httpx.AsyncClient:
        """Another browser on the same site, with cookies of its own."""
        transport = httpx.ASGITransport(app=self.app, client=("192.0.2.20", 4000))
        return httpx.AsyncClient(transport=transport, base_url="http://school.test")

    async def signed_in(self, login: str, client: httpx.AsyncClient | None = None) -> str:
        """Signs `client` (this site's by default) in as `login`; returns the session's CSRF."""
        client = client or self.client
        client.cookies.clear()  # signed in already, /signin would send to /home
        token = token_in((await client.get("/signin")).text)
        done = await client.post(
            "/signin", data={"login": login, "password": PASSWORD, "csrf": token}
        )
        assert done.status_code == 303, done.text
        return token_in((await client.get("/home")).text)

    async def count(self, model: type[object], *where: object) -> int:
        async with db.sessions(self.engine)() as s:
            return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@pytest.fixture
async def site(engine: AsyncEngine, session: AsyncSession) -> AsyncIterator[Site]:
    passwords = Passwords(CHEAP)
    demo = await build(session)
    admin = await person(session, "direction", Role.ADMIN, demo.school)
    for pid in (demo.pupil, demo.other_pupil, demo.parent, demo.teacher, admin):
        found = await session.get(Person, pid)
        assert found is not None
        found.password_hash = passwords.hash(PASSWORD)
    lea = await session.get(Person, demo.pupil)
    assert lea is not None
    lea.display_name = "Léa <b>Martin</b>"  # escaped wherever it is shown
    await session.commit()
    async with school_deps(engine, passwords, Clock()) as deps:
        app = Starlette(routes=page_routes(deps))
        transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://school.test") as client:
            yield Site(app, client, demo, admin, engine)


async def sign_up(
    site: Site, token: str, name: str, lang: str = "fr"
) -> tuple[httpx.Response, httpx.AsyncClient]:
    """Someone new follows the link in a browser of their own and signs up."""
    other = site.browser()
    page = await other.get(f"/signup?invite={token}&lang={lang}")
    assert page.status_code == 200, page.text
    done = await other.post(
        f"/signup?lang={lang}",
        data={
            "invite": token,
            "display_name": name,
            "password": "une phrase facile",
            "csrf": token_in(page.text),
        },
    )
    return done, other


def link_in(html: str) -> str:
    found = LINK.search(html)
    assert found, "no invitation link in the page"
    return found.group(1)


# ---------------------------------------------------------------- the teacher's links


async def test_a_teacher_makes_a_pupil_link_and_pupils_sign_up_with_it(site: Site) -> None:
    csrf = await site.signed_in("prof")
    group = site.demo.groups[0]
    home = await site.client.get("/home")
    assert f'action="/home/classes/{group}/invitations"' in home.text
    assert 'value="30"' in home.text and "Inviter des élèves" in home.text
    made = await site.client.post(
        f"/home/classes/{group}/invitations",
        data={"csrf": csrf, "role": "pupil", "uses": "30", "days": "14"},
    )
    assert made.status_code == 200, made.text
    assert made.headers["cache-control"] == "no-store"
    text = text_of(made.text)
    assert "Pour les élèves de 6e A (Collège 1)." in text
    # made at 8:00 in Paris on Monday 7 September: 14 days later, in the school's zone
    assert "Valable jusqu'au lundi 21 septembre à 08:00." in text
    assert "Nombre d'utilisations\u00a0: 30." in text and "affiché qu'une fois" in text
    token = link_in(made.text)
    async with db.sessions(site.engine)() as s:
        row = await s.scalar(select(Invitation))
        assert row is not None and row.role is Role.PUPIL and row.group_id == group
        assert row.max_uses == 30 and row.created_by == site.demo.teacher
    done, other = await sign_up(site, token, "Nina Simone")
    assert done.status_code == 303 and done.headers["location"] == "/welcome?lang=fr"
    await other.aclose()
    async with db.sessions(site.engine)() as s:
        nina = await s.scalar(select(Person).where(Person.display_name == "Nina Simone"))
        assert nina is not None
        enrolled = await s.scalars(select(Enrolment.group_id).where(Enrolment.pupil_id == nina.id))
        assert list(enrolled) == [group]


async def test_a_teacher_makes_a_parent_link_for_one_pupil_and_two_parents_use_it(
    site: Site,
) -> None:
    csrf = await site.signed_in("prof")
    group, lea = site.demo.groups[0], site.demo.pupil
    home = await site.client.get("/home")
    # the select lists the class's pupils by name, escaped
    assert f'<option value="{lea}">Léa &lt;b&gt;Martin&lt;/b&gt;</option>' in home.text
    assert "<b>Martin" not in home.text
    made = await site.client.post(
        f"/home/classes/{group}/invitations?lang=en",
        data={"csrf": csrf, "role": "parent", "child": str(lea), "uses": "2", "days": "30"},
    )
    assert made.status_code == 200, made.text
    assert '<html lang="en">' in made.text
    text = text_of(made.text)
    assert "For the parents of Léa <b>Martin</b>, in 6e A (Collège 1)." in text
    assert "Léa &lt;b&gt;Martin&lt;/b&gt;" in made.text and "<b>Martin" not in made.text
    assert "Valid until Wednesday 7 October at 08:00." in text and "Number of uses: 2." in text
    token = link_in(made.text)
    for name in ("Paul Martin", "Anne Martin"):
        done, other = await sign_up(site, token, name)
        assert done.status_code == 303, done.text
        home = await other.get("/home")
        assert "Classes de Léa <b>Martin</b> aujourd'hui" in text_of(home.text)
        await other.aclose()
    assert await site.count(Guardianship, Guardianship.child_id == lea) == 3  # maman + two
    third = site.browser()
    used = await third.get(f"/signup?invite={token}")
    assert used.status_code == 410 and "déjà servi" in used.text
    await third.aclose()


async def test_an_administrator_invites_a_teacher_who_signs_up(site: Site) -> None:
    csrf = await site.signed_in("direction")
    school = site.demo.school
    home = await site.client.get("/home")
    assert "Inviter un enseignant à Collège 1" in text_of(home.text)
    made = await site.client.post(
        f"/home/schools/{school}/invitations?school={school}",
        data={"csrf": csrf, "uses": "1", "days": "14"},
    )
    assert made.status_code == 200, made.text
    text = text_of(made.text)
    assert "Pour un enseignant de Collège 1." in text and "Nombre d'utilisations\u00a0: 1." in text
    done, other = await sign_up(site, link_in(made.text), "Ada Lovelace", lang="en")
    assert done.status_code == 303, done.text
    await other.aclose()
    async with db.sessions(site.engine)() as s:
        ada = await s.scalar(select(Person).where(Person.display_name == "Ada Lovelace"))
        assert ada is not None and ada.school_id == school
        roles = await s.scalars(select(RoleGrant.role).where(RoleGrant.person_id == ada.id))
        assert list(roles) == [Role.TEACHER]


async def test_bad_fields_give_the_form_again_with_a_clear_message(site: Site) -> None:
    csrf = await site.signed_in("prof")
    url = f"/home/classes/{site.demo.groups[1]}/invitations"
    zero = await site.client.post(
        url, data={"csrf": csrf, "role": "pupil", "uses": "0", "days": "14"}
    )
    assert zero.status_code == 400
    assert "nombre d'utilisations : entre 1 et 1000" in text_of(zero.text)
    assert 'role="alert"' in zero.text and '<details class="hr-invite" open>' in zero.text
    assert zero.text.count('<details class="hr-invite" open>') == 1  # only the refused form
    words = await site.client.post(
        url + "?lang=en", data={"csrf": csrf, "role": "pupil", "uses": "²", "days": "999"}
    )
    assert words.status_code == 400 and "number of uses: between 1 and 1000" in words.text
    long = await site.client.post(
        url, data={"csrf": csrf, "role": "pupil", "uses": "5", "days": "91"}
    )
    assert long.status_code == 400 and "entre une minute et 90 jours" in text_of(long.text)
    no_child = await site.client.post(
        url, data={"csrf": csrf, "role": "parent", "child": "", "uses": "2", "days": "30"}
    )
    assert no_child.status_code == 400 and "indiquez l'enfant" in text_of(no_child.text)
    role = await site.client.post(url, data={"csrf": csrf, "role": "admin", "uses": "1"})
    assert role.status_code == 400 and '<html lang="fr">' in role.text
    too_long = await site.client.post(url, data={"csrf": csrf, "role": "pupil", "uses": "1" * 50})
    assert too_long.status_code == 400
    admin_csrf = await site.signed_in("direction")
    teacher = await site.client.post(
        f"/home/schools/{site.demo.school}/invitations?school={site.demo.school}",
        data={"csrf": admin_csrf, "uses": "1", "days": "0"},
    )
    assert teacher.status_code == 400 and "durée de validité" in text_of(teacher.text)
    assert 'id="invite-teacher-days"' in teacher.text and 'value="0"' in teacher.text
    assert await site.count(Invitation) == 0


async def test_others_cannot_make_links_and_forged_forms_are_refused(site: Site) -> None:
    pupil = await site.signed_in("lea")
    refused = await site.client.post(
        f"/home/classes/{site.demo.groups[0]}/invitations",
        data={"csrf": pupil, "role": "pupil", "uses": "30", "days": "14"},
    )
    assert refused.status_code == 403 and "seuls les enseignants" in refused.text
    as_pupil = await site.client.post(
        f"/home/schools/{site.demo.school}/invitations",
        data={"csrf": pupil, "uses": "1", "days": "14"},
    )
    assert as_pupil.status_code == 403
    teacher = await site.signed_in("prof")
    fields = {"csrf": teacher, "role": "pupil", "uses": "30", "days": "14"}
    foreign = await site.client.post(
        f"/home/classes/{site.demo.other_group}/invitations", data=fields
    )
    unknown = await site.client.post("/home/classes/999999/invitations", data=fields)
    huge = await site.client.post(f"/home/classes/{10**30}/invitations", data=fields)
    assert foreign.status_code == unknown.status_code == huge.status_code == 404
    assert "classe introuvable" in foreign.text and foreign.text == unknown.text
    not_in_class = await site.client.post(
        f"/home/classes/{site.demo.groups[0]}/invitations",
        data={**fields, "role": "parent", "child": str(site.demo.other_pupil)},
    )
    assert not_in_class.status_code == 404 and "élève introuvable" in not_in_class.text
    school = await site.client.post(
        f"/home/schools/{site.demo.school}/invitations", data={"csrf": teacher, "uses": "1"}
    )
    assert school.status_code == 403 and "seul un administrateur" in school.text
    other_school = await site.client.post(
        f"/home/schools/{site.demo.other_school}/invitations",
        data={"csrf": teacher, "uses": "1", "days": "14"},
    )
    assert other_school.status_code == 404 and "établissement introuvable" in other_school.text
    forged = await site.client.post(
        f"/home/classes/{site.demo.groups[0]}/invitations", data={**fields, "csrf": "forged"}
    )
    missing = await site.client.post(
        f"/home/classes/{site.demo.groups[0]}/invitations",
        data={k: v for k, v in fields.items() if k != "csrf"},
    )
    assert forged.status_code == missing.status_code == 403
    assert "ne vient pas de ce site" in forged.text
    assert await site.count(Invitation) == 0
    site.client.cookies.clear()
    signed_out = await site.client.post(
        f"/home/classes/{site.demo.groups[0]}/invitations", data=fields
    )
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/signin")


# ---------------------------------------------------------------- export and erasure


async def test_an_administrator_exports_a_person_without_any_secret(site: Site) -> None:
    lea_browser = site.browser()
    lea_csrf = await site.signed_in("lea", lea_browser)
    lea_cookie = lea_browser.cookies[COOKIE]
    await site.signed_in("direction")
    home = await site.client.get("/home")
    lea = site.demo.pupil
    assert f'href="/home/people/{lea}/export"' in home.text
    assert f'href="/home/people/{site.admin}/export"' in home.text  # one's own data, too
    assert f"/home/people/{site.admin}/erase" not in home.text  # but never erasing oneself
    got = await site.client.get(f"/home/people/{lea}/export")
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("application/json")
    assert got.headers["content-disposition"] == f'attachment; filename="person-{lea}.json"'
    assert got.headers["cache-control"] == "no-store"
    data = json.loads(got.content)
    assert data["person"]["login"] == "lea"
    assert data["person"]["display_name"] == "Léa <b>Martin</b>"
    assert len(data["enrolments"]) == 3 and len(data["auth_sessions"]) == 1
    async with db.sessions(site.engine)() as s:
        found = await s.get(Person, lea)
        assert found is not None and found.password_hash
        hashed = found.password_hash
    for secret in (hashed, lea_cookie, lea_csrf, "password_hash", "token_hash", "code_hash"):
        assert secret not in got.text
    await lea_browser.aclose()


async def test_erasing_deletes_the_person_and_signs_them_out(site: Site) -> None:
    lea_browser = site.browser()
    await site.signed_in("lea", lea_browser)
    csrf = await site.signed_in("direction")
    lea, school = site.demo.pupil, site.demo.school
    home = await site.client.get(f"/home?school={school}")
    erase_url = f"/home/people/{lea}/erase?school={school}"
    assert f'href="{erase_url}"' in home.text
    page = await site.client.get(erase_url)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    text = text_of(page.text)
    assert "Effacer le compte de Léa <b>Martin</b>" in text and "<b>Martin" not in page.text
    assert "Identifiant\u00a0: lea." in text
    assert "inscriptions dans des classes\u00a0: 3" in text
    assert "sessions de connexion\u00a0: 1 (déconnectées aussitôt)" in text
    assert "liens entre parent et enfant\u00a0: 1" in text
    assert f'action="{erase_url}"' in page.text.replace("&amp;", "&")
    forged = await site.client.post(erase_url, data={"csrf": "forged"})
    assert forged.status_code == 403
    assert await site.count(Person, Person.id == lea) == 1
    done = await site.client.post(erase_url, data={"csrf": csrf})
    assert done.status_code == 303
    assert done.headers["location"] == f"/home?done=erased&school={school}"
    after = await site.client.get(done.headers["location"])
    assert "Le compte a été effacé." in text_of(after.text)
    assert f"/home/people/{lea}/export" not in after.text
    assert await site.count(Person, Person.id == lea) == 0
    assert await site.count(AuthSession, AuthSession.person_id == lea) == 0
    assert await site.count(Guardianship, Guardianship.child_id == lea) == 0
    gone = await lea_browser.get("/home")  # the erased pupil's session no longer works
    assert gone.status_code == 303 and gone.headers["location"].startswith("/signin")
    again = await site.client.post(erase_url, data={"csrf": csrf})
    assert again.status_code == 404
    await lea_browser.aclose()


async def test_export_and_erasure_refusals_are_the_unknown_persons_404(site: Site) -> None:
    await site.signed_in("direction")
    tom = site.demo.other_pupil  # another school's pupil
    paths = [f"/home/people/{pid}" for pid in (tom, 999999, 10**30, "abc", "²")]
    for kind in ("export", "erase"):
        answers = [await site.client.get(f"{path}/{kind}") for path in paths]
        assert {a.status_code for a in answers} == {404}
        assert len({a.text for a in answers}) == 1, kind  # nothing tells them apart
        assert "Personne introuvable." in answers[0].text
    self_page = await site.client.get(f"/home/people/{site.admin}/erase?lang=en")
    unknown = await site.client.get("/home/people/999999/erase?lang=en")
    assert self_page.status_code == 404 and self_page.text == unknown.text
    assert '<html lang="en">' in unknown.text and "No such person." in unknown.text
    csrf = token_in((await site.client.get("/home")).text)
    own = await site.client.post(f"/home/people/{site.admin}/erase", data={"csrf": csrf})
    foreign = await site.client.post(f"/home/people/{tom}/erase", data={"csrf": csrf})
    assert own.status_code == foreign.status_code == 404 and own.text == foreign.text
    assert await site.count(Person, Person.id.in_([site.admin, tom])) == 2


async def test_teachers_and_pupils_cannot_export_or_erase_others(site: Site) -> None:
    lea, teacher = site.demo.pupil, site.demo.teacher
    for login, victim in (("prof", lea), ("lea", teacher), ("maman", lea)):
        csrf = await site.signed_in(login)
        home = await site.client.get("/home")
        assert "/export" not in home.text and "/erase" not in home.text
        export = await site.client.get(f"/home/people/{victim}/export")
        page = await site.client.get(f"/home/people/{victim}/erase")
        erase = await site.client.post(f"/home/people/{victim}/erase", data={"csrf": csrf})
        assert export.status_code == page.status_code == erase.status_code == 404, login
    own = await site.client.get(f"/home/people/{site.demo.parent}/export")
    assert own.status_code == 200 and json.loads(own.content)["person"]["login"] == "maman"
    assert await site.count(Person, Person.id.in_([lea, teacher])) == 2
    site.client.cookies.clear()
    signed_out = await site.client.get(f"/home/people/{lea}/export")
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/signin")


# ---------------------------------------------------------------- cost


@pytest.mark.parametrize("classes", [1, 12])
async def test_the_teachers_dashboard_costs_the_same_whatever_the_classes(
    engine: AsyncEngine, session: AsyncSession, classes: int
) -> None:
    """Pupils' names for the parent links come with the enrolments: no query per class."""
    passwords = Passwords(CHEAP)
    demo = await build(session, classes=classes)
    for k in range(3):  # a few more pupils in every class
        pupil = await person(session, f"eleve{k}", Role.PUPIL, demo.school)
        session.add_all(Enrolment(pupil_id=pupil, group_id=g) for g in demo.groups)
    teacher = await session.get(Person, demo.teacher)
    assert teacher is not None
    teacher.password_hash = passwords.hash(PASSWORD)
    await session.commit()
    seen: list[str] = []

    def record(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        seen.append(statement)

    async with school_deps(engine, passwords, Clock()) as deps:
        transport = httpx.ASGITransport(app=Starlette(routes=page_routes(deps)))
        async with httpx.AsyncClient(transport=transport, base_url="http://s.test") as client:
            token = token_in((await client.get("/signin")).text)
            signed = await client.post(
                "/signin", data={"login": "prof", "password": PASSWORD, "csrf": token}
            )
            assert signed.status_code == 303
            event.listen(engine.sync_engine, "before_cursor_execute", record)
            home = await client.get("/home")
            event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert home.status_code == 200
    assert home.text.count('name="role" value="parent"') == classes
    assert home.text.count('<option value="') == 4 * classes + classes  # pupils, and the class
    # the session check, the Principal (2), viewer_and_sessions, classes (2)
    assert len(seen) <= 6, seen
