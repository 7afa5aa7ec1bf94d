"""The school's pages over HTTP, on SQLite and PostgreSQL: sign-in, sign-up, codes, dashboards.

The app here has no exception handler: a HomeroomError or any other exception escaping a page
would fail the test, so every refusal below is a page the handlers rendered themselves.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from html import unescape

import httpx
import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.applications import Starlette

from homeroom.errors import Unavailable
from homeroom.school.auth.passwords import PasswordParameters, Passwords
from homeroom.school.auth.sessions import COOKIE
from homeroom.school.data import db
from homeroom.school.data.access import Principal
from homeroom.school.data.models import ClassSession, Person, Role, RoleGrant
from homeroom.school.data.queries import load_principal
from homeroom.school.deps import SchoolDeps
from homeroom.school.links.attendance import Counts
from homeroom.school.pages.routes import page_routes
from homeroom.school.people import enrol
from tests.school.apiclient import Clock, school_deps
from tests.school.people import NOW, Demo, build, person

CHEAP = PasswordParameters(1, 64, 1)
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class FakeAttendance:
    asked: list[tuple[int, frozenset[int]]] = field(default_factory=list)

    async def counts(self, session_id: int, pupil_ids: Collection[int]) -> Counts:
        self.asked.append((session_id, frozenset(pupil_ids)))
        return Counts(admitted=17, waiting=4, not_connected=len(pupil_ids))


@dataclass
class Site:
    client: httpx.AsyncClient
    demo: Demo
    admin: int
    engine: AsyncEngine
    deps: SchoolDeps
    clock: Clock
    attendance: FakeAttendance

    async def get(self, url: str, **kw: object) -> httpx.Response:
        return await self.client.get(url, **kw)  # type: ignore[arg-type]

    async def form_token(self, url: str) -> str:
        page = await self.client.get(url)
        assert page.status_code == 200, page.text
        return token_in(page.text)

    async def sign_in(self, login: str, password: str = PASSWORD) -> httpx.Response:
        token = await self.form_token("/signin")
        return await self.client.post(
            "/signin", data={"login": login, "password": password, "csrf": token}
        )

    async def signed_in(self, login: str) -> str:
        """Signs in as `login`; returns the session's CSRF token, read from /home."""
        response = await self.sign_in(login)
        assert response.status_code == 303, response.text
        home = await self.client.get("/home")
        assert home.status_code == 200
        return token_in(home.text)


def token_in(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def text_of(html: str) -> str:
    return re.sub(r"[ \t\r\n]+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


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
    clock = Clock()
    attendance = FakeAttendance()
    async with school_deps(engine, passwords, clock, attendance=attendance) as deps:
        app = Starlette(routes=page_routes(deps))
        transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://school.test") as client:
            yield Site(client, demo, admin, engine, deps, clock, attendance)


# ---------------------------------------------------------------- sign-in and out


async def test_sign_in_lands_on_the_pupils_dashboard_in_the_schools_time(site: Site) -> None:
    page = await site.get("/signin")
    assert page.status_code == 200
    assert '<html lang="fr">' in page.text and "Se connecter" in page.text
    assert 'autocomplete="current-password"' in page.text and "shared_device" in page.text
    response = await site.sign_in("lea")
    assert response.status_code == 303 and response.headers["location"] == "/home"
    cookie = response.headers.get_list("set-cookie")
    assert any(c.startswith(f"{COOKIE}=") and "HttpOnly" in c for c in cookie)
    home = await site.get("/home")
    assert home.status_code == 200
    text = text_of(home.text)
    assert "Mes classes du jour" in text and "Aujourd'hui, lundi 7 septembre" in text
    # 07:00 UTC is 09:00 in Paris in September; 6e A, 6e B and 6e C at 9:00 and 10:00
    assert text.count("09:00") >= 3 and "10:55" in text
    with_session = await session_ids(site, site.demo.groups)
    for sid in with_session:
        assert f'href="/class/{sid}"' in home.text
    assert "Ailleurs" not in text  # another school's class
    assert "Léa &lt;b&gt;Martin&lt;/b&gt;" in home.text and "<b>Martin" not in home.text
    assert "Mes classes</h2>" not in home.text and "Administration" not in text


async def session_ids(site: Site, groups: list[int]) -> list[int]:
    async with db.sessions(site.engine)() as s:
        rows = await s.scalars(select(ClassSession.id).where(ClassSession.group_id.in_(groups)))
        return list(rows)


async def test_wrong_password_and_unknown_login_get_the_same_page(site: Site) -> None:
    wrong = await site.sign_in("lea", "not the password")
    unknown = await site.sign_in("nobody.here", "not the password")
    assert wrong.status_code == unknown.status_code == 403
    for response in (wrong, unknown):
        assert "Identifiant ou mot de passe incorrect" in response.text
        assert 'role="alert"' in response.text
        assert not any(c.startswith(f"{COOKIE}=") for c in response.headers.get_list("set-cookie"))
    strip = lambda r: CSRF.sub("", r.text).replace("nobody.here", "lea")  # noqa: E731
    assert strip(wrong) == strip(unknown)
    assert 'value="lea"' in wrong.text  # the login is kept, the password never is
    assert "not the password" not in wrong.text


async def test_login_csrf_is_refused(site: Site) -> None:
    fields = {"login": "lea", "password": PASSWORD}
    missing = await site.client.post("/signin", data=fields)
    forged = await site.client.post("/signin", data={**fields, "csrf": "forged.token"})
    token = await site.form_token("/signin")
    site.client.cookies.clear()  # a token without its cookie: from another browser
    other_browser = await site.client.post("/signin", data={**fields, "csrf": token})
    for response in (missing, forged, other_browser):
        assert response.status_code == 403
        assert "Cette page était ouverte depuis trop longtemps" in response.text
        assert not any(c.startswith(f"{COOKIE}=") for c in response.headers.get_list("set-cookie"))
        assert token_in(response.text)  # a fresh form to try again
    assert (await site.get("/home")).status_code == 303


async def test_too_many_tries_and_a_busy_server_say_when_to_come_back(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(5):
        assert (await site.sign_in("lea", "wrong")).status_code == 403
    locked = await site.sign_in("lea")
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    assert "Trop d'essais" in text_of(locked.text)
    assert "Vous pourrez réessayer dans" in locked.text

    async def busy(stored: str | None, password: str) -> None:
        raise Unavailable("signin_busy", "Beaucoup de connexions.", "Many sign-ins.", 7)

    monkeypatch.setattr(site.deps.signin.pool, "verify", busy)
    response = await site.sign_in("prof")
    assert response.status_code == 503 and response.headers["retry-after"] == "7"
    assert "Beaucoup de connexions." in response.text and "7 secondes" in response.text


async def test_sign_out_needs_the_sessions_token(site: Site) -> None:
    csrf = await site.signed_in("prof")
    refused = await site.client.post("/signout", data={"csrf": "nope"})
    assert refused.status_code == 403 and "Accès refusé" in refused.text
    assert (await site.get("/home")).status_code == 200
    out = await site.client.post("/signout", data={"csrf": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/signin?done=out"
    home = await site.get("/home")
    assert home.status_code == 303 and home.headers["location"] == "/signin?next=%2Fhome"
    assert "Vous êtes déconnecté." in (await site.get("/signin?done=out")).text


async def test_signed_out_home_goes_to_sign_in_and_back(site: Site) -> None:
    home = await site.get("/home?school=1")
    assert home.status_code == 303
    target = home.headers["location"]
    assert target.startswith("/signin?next=")
    page = await site.get(target)
    assert 'name="next" value="/home?school=1"' in page.text
    token = token_in(page.text)
    done = await site.client.post(
        "/signin",
        data={"login": "direction", "password": PASSWORD, "csrf": token, "next": "//evil.test/"},
    )
    assert done.headers["location"] == "/home"  # never off the site


# ---------------------------------------------------------------- sign-up


async def test_a_pupil_signs_up_with_the_class_code_the_teacher_shares(site: Site) -> None:
    csrf = await site.signed_in("prof")
    group = site.demo.groups[0]
    made = await site.client.post(f"/home/classes/{group}/code", data={"csrf": csrf})
    assert made.status_code == 303
    home = await site.get("/home")
    code = re.search(r'class="hr-code">([A-Z0-9]{4}-[A-Z0-9]{4})<', home.text)
    assert code, "the class code is shown"
    site.client.cookies.clear()

    token = await site.form_token("/signup")
    fields = {"display_name": "Zoé Durand", "password": "une phrase facile", "csrf": token}
    wrong = await site.client.post("/signup", data={**fields, "code": "ZZZZ-ZZZZ"})
    assert wrong.status_code == 404 and "code de classe inconnu" in wrong.text
    assert 'value="Zoé Durand"' in wrong.text
    done = await site.client.post("/signup", data={**fields, "code": code.group(1).lower()})
    assert done.status_code == 303 and done.headers["location"] == "/welcome"
    welcome = await site.get("/welcome")
    assert 'id="new-login">zoe.durand<' in welcome.text
    pupil_home = await site.get("/home")
    assert "Mes classes du jour" in pupil_home.text and "Maths 6e A" in pupil_home.text

    site.client.cookies.clear()
    csrf = await site.signed_in("prof")
    revoked = await site.client.post(
        f"/home/classes/{group}/code", data={"csrf": csrf, "action": "revoke"}
    )
    assert revoked.status_code == 303
    site.client.cookies.clear()
    token = await site.form_token("/signup")
    again = await site.client.post("/signup", data={**fields, "csrf": token, "code": code.group(1)})
    assert again.status_code == 404


async def invite(site: Site, role: Role, child: int | None = None) -> str:
    async with db.sessions(site.engine)() as s:
        actor = site.admin if role is Role.TEACHER else site.demo.teacher
        principal = await load_principal(s, actor)
        assert isinstance(principal, Principal)
        group = None if role is Role.TEACHER else site.demo.groups[0]
        token = await enrol.invite(
            s, principal, role, site.demo.school, group, child_id=child, now=NOW
        )
        await s.commit()
        return token


async def test_a_parent_signs_up_by_invitation_and_sees_the_childs_day(site: Site) -> None:
    token = await invite(site, Role.PARENT, child=site.demo.pupil)
    page = await site.get(f"/signup?invite={token}")
    assert page.status_code == 200 and 'name="email"' in page.text
    assert 'name="code"' not in page.text
    done = await site.client.post(
        "/signup",
        data={
            "invite": token,
            "display_name": "Paul Martin",
            "email": "paul@example.org",
            "password": "une phrase facile",
            "csrf": token_in(page.text),
        },
    )
    assert done.status_code == 303, done.text
    home = await site.get("/home")
    text = text_of(home.text)
    assert "Mes enfants" in text and "Classes de Léa <b>Martin</b> aujourd'hui" in text
    assert "Maths 6e A" in text and 'href="/class/' not in home.text  # parents do not join
    used = await site.get(f"/signup?invite={token}")  # one use by default
    assert used.status_code == 410 and "déjà servi" in used.text


async def test_a_teacher_signs_up_and_a_bad_invitation_is_said_clearly(site: Site) -> None:
    token = await invite(site, Role.TEACHER)
    page = await site.get(f"/signup?invite={token}&lang=en")
    assert '<html lang="en">' in page.text and "join the school as a teacher" in page.text
    done = await site.client.post(
        "/signup?lang=en",
        data={
            "invite": token,
            "display_name": "Ada Lovelace",
            "password": "short",
            "csrf": token_in(page.text),
        },
    )
    assert done.status_code == 400 and "password refused" in done.text
    unknown = await site.get("/signup?invite=not-a-token&lang=en")
    assert unknown.status_code == 404 and "unknown invitation" in unknown.text
    assert 'name="password"' not in unknown.text


async def test_a_signed_in_parent_adds_a_second_child_with_the_link(site: Site) -> None:
    async with db.sessions(site.engine)() as s:
        tom = await s.get(Person, site.demo.other_pupil)
        assert tom is not None
        from homeroom.school.data.models import Enrolment

        s.add(Enrolment(pupil_id=tom.id, group_id=site.demo.groups[0]))
        await s.commit()
    token = await invite(site, Role.PARENT, child=site.demo.other_pupil)
    await site.signed_in("maman")
    page = await site.get(f"/signup?invite={token}")
    assert "Ajouter cet enfant à mon compte" in page.text
    added = await site.client.post(
        "/signup/claim", data={"invite": token, "csrf": token_in(page.text)}
    )
    assert added.status_code == 303
    home = await site.get(added.headers["location"])
    assert "L'enfant a été ajouté" in text_of(home.text) and "Classes de Tom" in text_of(home.text)


# ---------------------------------------------------------------- one-time codes


async def test_a_code_sheet_lets_a_pupil_choose_a_new_password(site: Site) -> None:
    csrf = await site.signed_in("prof")
    sheet = await site.client.post(
        f"/home/classes/{site.demo.groups[0]}/sheet", data={"csrf": csrf}
    )
    assert sheet.status_code == 200 and "cache-control" in sheet.headers
    assert "Codes à usage unique – 6e A" in sheet.text
    assert "valables jusqu'au lundi 14 septembre à 08:00" in text_of(sheet.text)
    found = re.search(r'class="hr-login">lea</td>\s*<td class="hr-code">([A-Z0-9-]+)<', sheet.text)
    assert found
    site.client.cookies.clear()

    token = await site.form_token("/signin/code")
    wrong = await site.client.post(
        "/signin/code",
        data={"login": "lea", "code": "ZZZZ-ZZZZ", "password": "mon nouveau mot", "csrf": token},
    )
    unknown = await site.client.post(
        "/signin/code",
        data={"login": "nobody", "code": found[1], "password": "mon nouveau mot", "csrf": token},
    )
    assert wrong.status_code == unknown.status_code == 403
    assert "identifiant ou code incorrect" in wrong.text and "identifiant ou code" in unknown.text
    done = await site.client.post(
        "/signin/code",
        data={"login": "lea", "code": found[1], "password": "mon nouveau mot", "csrf": token},
    )
    assert done.status_code == 303 and done.headers["location"] == "/signin?done=code"
    assert (await site.sign_in("lea", "mon nouveau mot")).status_code == 303
    site.client.cookies.clear()
    assert (await site.sign_in("lea", PASSWORD)).status_code == 403


async def test_a_pupil_cannot_print_a_code_sheet_nor_forge_a_teachers_form(site: Site) -> None:
    csrf = await site.signed_in("lea")
    refused = await site.client.post(
        f"/home/classes/{site.demo.groups[0]}/sheet", data={"csrf": csrf}
    )
    assert refused.status_code == 403 and "seuls les enseignants" in refused.text
    other = await site.client.post(
        f"/home/classes/{site.demo.other_group}/code", data={"csrf": csrf}
    )
    assert other.status_code == 404 and "classe introuvable" in other.text


# ---------------------------------------------------------------- the teacher


async def test_a_teacher_schedules_a_session_in_the_schools_time(site: Site) -> None:
    csrf = await site.signed_in("prof")
    group = site.demo.groups[1]
    fields = {"csrf": csrf, "group": str(group), "title": "Sciences", "day": "2026-09-07"}
    bad = await site.client.post(
        "/home/sessions", data={**fields, "start": "14:30", "minutes": "0"}
    )
    assert bad.status_code == 400 and "La durée doit être de 5 à 240 minutes." in bad.text
    assert 'value="Sciences"' in bad.text  # the form keeps what was typed
    forged = await site.client.post(
        "/home/sessions", data={**fields, "csrf": "x", "start": "14:30", "minutes": "50"}
    )
    assert forged.status_code == 403
    foreign = await site.client.post(
        "/home/sessions",
        data={**fields, "group": str(site.demo.other_group), "start": "14:30", "minutes": "50"},
    )
    assert foreign.status_code == 404
    made = await site.client.post(
        "/home/sessions", data={**fields, "start": "14:30", "minutes": "50"}
    )
    assert made.status_code == 303 and made.headers["location"].startswith("/home?created=")
    home = await site.get(made.headers["location"])
    assert "La classe «\u00a0Sciences\u00a0» est programmée lundi 7 septembre à 14:30" in home.text
    async with db.sessions(site.engine)() as s:
        row = await s.scalar(select(ClassSession).where(ClassSession.title == "Sciences"))
        assert row is not None and row.teacher_id == site.demo.teacher
        assert row.starts_at == dt.datetime(2026, 9, 7, 12, 30, tzinfo=dt.UTC)  # CEST
        assert row.ends_at - row.starts_at == dt.timedelta(minutes=50)


async def test_the_teacher_sees_who_is_in_for_the_sessions_about_to_start(site: Site) -> None:
    await site.signed_in("prof")
    assert site.attendance.asked == []  # 8:00 in Paris: the 9:00 classes are an hour away
    site.clock.now = (NOW + dt.timedelta(minutes=52)).timestamp()  # 8:52: within 10 minutes
    home = await site.get("/home")
    first = {sid for sid, _ in site.attendance.asked}
    assert len(first) == 3  # the three 9:00 sessions, not the 10:00 ones
    assert all(pupils == frozenset({site.demo.pupil}) for _, pupils in site.attendance.asked)
    text = text_of(home.text)
    assert "Entrés 17" in text and "En attente 4" in text and "Pas connectés 1" in text


async def around_midnight(site: Site) -> tuple[int, int, int]:
    """6e A's sessions of 23:30-00:30, 00:05 and 02:00 across the night of 7 to 8 September."""
    paris = dt.timezone(dt.timedelta(hours=2))  # CEST
    spans = [
        (dt.datetime(2026, 9, 7, 23, 30, tzinfo=paris), 60, "Veillée"),
        (dt.datetime(2026, 9, 8, 0, 5, tzinfo=paris), 55, "Minuit passé"),
        (dt.datetime(2026, 9, 8, 2, 0, tzinfo=paris), 55, "Nuit blanche"),
    ]
    async with db.sessions(site.engine)() as s:
        rows = [
            ClassSession(
                group_id=site.demo.groups[0],
                teacher_id=site.demo.teacher,
                title=title,
                starts_at=start,
                ends_at=start + dt.timedelta(minutes=minutes),
            )
            for start, minutes, title in spans
        ]
        s.add_all(rows)
        await s.commit()
        return rows[0].id, rows[1].id, rows[2].id


async def test_at_midnight_the_dashboard_keeps_the_class_in_progress_and_the_one_about_to_start(
    site: Site,
) -> None:
    await around_midnight(site)
    await site.signed_in("lea")
    site.clock.now = dt.datetime(2026, 9, 7, 21, 55, tzinfo=dt.UTC).timestamp()  # 23:55 Paris
    text = text_of((await site.get("/home")).text)
    assert "Veillée" in text and "Nuit blanche" not in text
    assert "mardi 8 septembre, 00:05" in text and "Minuit passé" in text  # tomorrow, said so
    assert "Maths 6e A" in text  # the day's morning classes are still today's

    site.clock.now = dt.datetime(2026, 9, 7, 22, 10, tzinfo=dt.UTC).timestamp()  # 00:10
    text = text_of((await site.get("/home")).text)
    assert "lundi 7 septembre, 23:30" in text and "Veillée" in text  # yesterday's, in progress
    assert "Minuit passé" in text and "Nuit blanche" in text  # today's, without a date
    assert "mardi 8 septembre, 00:05" not in text and "Maths 6e A" not in text

    site.clock.now = dt.datetime(2026, 9, 7, 22, 31, tzinfo=dt.UTC).timestamp()  # 00:31
    text = text_of((await site.get("/home")).text)
    assert "Veillée" not in text and "Minuit passé" in text  # yesterday's has ended


async def test_the_dashboard_shows_without_the_counts_while_the_gate_is_away(site: Site) -> None:
    await site.signed_in("prof")
    site.clock.now = (NOW + dt.timedelta(minutes=52)).timestamp()

    async def away(session_id: int, pupil_ids: Collection[int]) -> Counts:
        raise Unavailable("degraded", "Indisponible.", "Unavailable.", retry_after=5)

    site.attendance.counts = away  # type: ignore[method-assign]
    home = await site.get("/home")
    assert home.status_code == 200
    text = text_of(home.text)
    assert "Maths" in text and "Entrés" not in text


# ---------------------------------------------------------------- the administrator


ROSTER = (
    "role;id;nom;prenom;classe\n"
    "eleve;E1;Durand;Zoé;6e A\n"
    "eleve;;Sans;Identifiant;6e A\n"
    "chef;E3;Roi;Le;6e A\n"
    "eleve;E4;Neuf;Élève;5e Z\n"
).encode()


async def test_an_administrator_sees_the_school_and_imports_a_roster(site: Site) -> None:
    csrf = await site.signed_in("direction")
    home = await site.get("/home")
    text = text_of(home.text)
    assert "Administration" in text and "Collège 1" in text and "Collège 2" not in text
    assert "Classes de Collège 1" in text and "Personnes de Collège 1" in text
    assert "lea" in text and "élève" in text and "administrateur" in text
    report = await site.client.post(
        f"/home/schools/{site.demo.school}/roster",
        data={"csrf": csrf},
        files={"file": ("eleves.csv", ROSTER, "text/csv")},
    )
    assert report.status_code == 200, report.text
    text = text_of(report.text)
    assert "2 personnes créées" in text and "Classes créées : 5e Z." in text.replace("\u00a0", " ")
    rows = re.findall(r'<tr><th scope="row">(\d+)</th><td>([^<]+)</td></tr>', report.text)
    assert [line for line, _ in rows] == ["3", "4"]
    assert "identifiant manquant" in rows[0][1] and "rôle inconnu" in unescape(rows[1][1])
    forged = await site.client.post(
        f"/home/schools/{site.demo.school}/roster",
        data={"csrf": "forged"},
        files={"file": ("eleves.csv", ROSTER, "text/csv")},
    )
    assert forged.status_code == 403
    foreign = await site.client.post(
        f"/home/schools/{site.demo.other_school}/roster",
        data={"csrf": csrf},
        files={"file": ("eleves.csv", ROSTER, "text/csv")},
    )
    assert foreign.status_code == 404
    not_csv = await site.client.post(
        f"/home/schools/{site.demo.school}/roster",
        data={"csrf": csrf},
        files={"file": ("eleves.xlsx", b"PK\x03\x04rest", "application/octet-stream")},
    )
    assert not_csv.status_code == 400 and "Code d'erreur\u00a0: 400" in text_of(not_csv.text)


async def test_a_person_with_several_roles_sees_each_part(site: Site) -> None:
    async with db.sessions(site.engine)() as s:
        s.add(RoleGrant(person_id=site.demo.teacher, role=Role.ADMIN, school_id=site.demo.school))
        await s.commit()
    await site.signed_in("prof")
    text = text_of((await site.get("/home")).text)
    assert "Mes classes en direct aujourd'hui" in text and "Administration" in text


# ---------------------------------------------------------------- bad input, languages, cost


async def test_bad_input_gets_a_page_never_a_500(site: Site) -> None:
    token = await site.form_token("/signin")
    too_big = await site.client.post("/signin", data={"csrf": token, "login": "x" * 9000})
    assert too_big.status_code == 413 and "Demande trop volumineuse" in too_big.text
    many = await site.client.post("/signin", data={f"f{i}": "1" for i in range(40)})
    assert many.status_code == 400 and "Formulaire illisible" in many.text
    as_json = await site.client.post("/signin", json={"login": "lea", "password": PASSWORD})
    assert as_json.status_code == 400
    nul = await site.client.post(
        "/signin", data={"csrf": token, "login": "lea\x00", "password": "x"}
    )
    assert nul.status_code == 400 and '<html lang="fr">' in nul.text
    csrf = await site.signed_in("prof")
    huge = await site.client.post(f"/home/classes/{10**30}/code", data={"csrf": csrf})
    assert huge.status_code == 404
    word = await site.client.post("/home/classes/abc/sheet", data={"csrf": csrf})
    assert word.status_code == 404
    day = await site.client.post(
        "/home/sessions",
        data={
            "csrf": csrf,
            "group": str(site.demo.groups[0]),
            "title": "T",
            "day": "2026-02-30",
            "start": "25:00",
            "minutes": "55",
        },
    )
    assert day.status_code == 400 and "La date n'est pas valide." in text_of(day.text)
    not_multipart = await site.client.post(
        f"/home/schools/{site.demo.school}/roster", data={"csrf": csrf}
    )
    assert not_multipart.status_code == 400


async def test_english_is_offered_and_kept_through_the_forms(site: Site) -> None:
    page = await site.client.get("/signin", headers={"accept-language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in page.text and "Sign in" in page.text
    assert 'hreflang="fr"' in page.text  # the switch to French
    token = token_in(page.text)
    wrong = await site.client.post(
        "/signin?lang=en", data={"login": "lea", "password": "nope", "csrf": token}
    )
    assert "Wrong login or password." in wrong.text
    done = await site.client.post(
        "/signin?lang=en", data={"login": "lea", "password": PASSWORD, "csrf": token}
    )
    assert done.headers["location"] == "/home?lang=en"
    home = await site.get(done.headers["location"])
    assert "My classes today" in home.text and "Today, Monday 7 September" in home.text
    assert "09:00" in home.text


@pytest.mark.parametrize("classes", [1, 12])
async def test_the_pupils_dashboard_is_at_most_five_statements(
    engine: AsyncEngine, session: AsyncSession, classes: int
) -> None:
    demo = await build(session, classes=classes)
    passwords = Passwords(CHEAP)
    lea = await session.get(Person, demo.pupil)
    assert lea is not None
    lea.password_hash = passwords.hash(PASSWORD)
    await session.commit()
    clock = Clock()
    seen: list[str] = []

    def record(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        seen.append(statement)

    async with school_deps(engine, passwords, clock) as deps:
        transport = httpx.ASGITransport(app=Starlette(routes=page_routes(deps)))
        async with httpx.AsyncClient(transport=transport, base_url="http://s.test") as client:
            token = token_in((await client.get("/signin")).text)
            signed = await client.post(
                "/signin", data={"login": "lea", "password": PASSWORD, "csrf": token}
            )
            assert signed.status_code == 303
            clock.now += 3600  # past the session's cache and its touch interval: the worst case
            event.listen(engine.sync_engine, "before_cursor_execute", record)
            home = await client.get("/home")
            event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert home.status_code == 200
    assert home.text.count('href="/class/') == 2 * classes
    assert len(seen) <= 5, seen
