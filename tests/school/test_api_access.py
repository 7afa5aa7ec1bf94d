"""The school JSON API's access control over HTTP, case by case, on SQLite and PostgreSQL.

A pupil cannot see another class's sessions, a teacher cannot change another school's class, a
parent sees only their own children, an administrator only their scope; an id the caller may
not see answers exactly as an id that does not exist; a change without the session's CSRF token
is refused and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.applications import Starlette

from homeroom.errors import HomeroomError
from homeroom.school.api.routes import school_routes
from homeroom.school.auth.passwords import PasswordParameters, Passwords
from homeroom.school.auth.sessions import COOKIE
from homeroom.school.data import db
from homeroom.school.data.models import ClassSession, Person, Role, RoleGrant, Teaching
from tests.school.apiclient import handle, school_deps, with_passwords
from tests.school.people import NOW, Demo, build, person

CHEAP = PasswordParameters(1, 64, 1)
PASSWORD = "correct horse battery"
UNKNOWN = 987_654


@dataclass
class Caller:
    """A signed-in person's client: their cookie, and their CSRF token on every change."""

    client: httpx.AsyncClient
    cookie: str
    csrf: str

    def _headers(self, csrf: bool, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"cookie": f"{COOKIE}={self.cookie}", **(extra or {})}
        if csrf:
            headers["x-csrf-token"] = self.csrf
        return headers

    async def get(self, url: str, **kw: Any) -> httpx.Response:
        headers = self._headers(False, kw.pop("headers", None))
        return await self.client.get(url, headers=headers, **kw)

    async def post(self, url: str, csrf: bool = True, **kw: Any) -> httpx.Response:
        headers = self._headers(csrf, kw.pop("headers", None))
        return await self.client.post(url, headers=headers, **kw)

    async def delete(self, url: str, csrf: bool = True, **kw: Any) -> httpx.Response:
        headers = self._headers(csrf, kw.pop("headers", None))
        return await self.client.delete(url, headers=headers, **kw)


@dataclass
class World:
    client: httpx.AsyncClient
    demo: Demo
    engine: AsyncEngine
    ids: dict[str, int] = field(default_factory=dict)  # admin, other_admin, other_teacher

    async def sign_in(self, login: str, password: str = PASSWORD) -> Caller:
        response = await self.client.post(
            "/api/v1/session", json={"login": login, "password": password}
        )
        assert response.status_code == 201, response.text
        self.client.cookies.clear()
        cookie = response.headers["set-cookie"].split(";")[0].split("=", 1)[1]
        me = await self.client.get("/api/v1/me", headers={"cookie": f"{COOKIE}={cookie}"})
        return Caller(self.client, cookie, me.json()["csrf"])

    async def count(self, model: Any, *where: Any) -> int:
        async with db.sessions(self.engine)() as session:
            return int(await session.scalar(select(func.count()).select_from(model).where(*where)))


@pytest.fixture
async def world(engine: AsyncEngine, session: AsyncSession) -> AsyncIterator[World]:
    """The test school, plus an administrator of each school and a teacher of the other one."""
    passwords = Passwords(CHEAP)
    demo = await build(session)
    ids = {
        "admin": await person(session, "direction", Role.ADMIN, demo.school),
        "other_admin": await person(session, "direction2", Role.ADMIN, demo.other_school),
        "other_teacher": await person(session, "prof2", Role.TEACHER, demo.other_school),
    }
    session.add(Teaching(teacher_id=ids["other_teacher"], group_id=demo.other_group, subject="x"))
    await session.commit()
    people = (demo.pupil, demo.other_pupil, demo.parent, demo.teacher, *ids.values())
    await with_passwords(session, passwords, *people)
    async with school_deps(engine, passwords) as deps:
        app = Starlette(routes=school_routes(deps), exception_handlers={HomeroomError: handle})
        transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://school.test") as client:
            yield World(client, demo, engine, ids)


def a_session(start: dt.datetime = NOW + dt.timedelta(days=1)) -> dict[str, str]:
    return {
        "title": "Révisions",
        "starts_at": start.isoformat(),
        "ends_at": (start + dt.timedelta(minutes=50)).isoformat(),
    }


async def same_as_unknown(response: httpx.Response, unknown: httpx.Response) -> None:
    """An id the caller may not see answers exactly as an id that does not exist."""
    assert response.status_code == unknown.status_code == 404, (response.text, unknown.text)
    assert response.json() == unknown.json()


async def test_a_pupil_sees_only_their_classes_sessions(world: World) -> None:
    demo = world.demo
    lea = await world.sign_in("lea")
    tom = await world.sign_in("tom")
    mine = (await lea.get("/api/v1/me/sessions")).json()["sessions"]
    assert mine and {s["group"]["id"] for s in mine} == set(demo.groups)
    theirs = (await tom.get("/api/v1/me/sessions")).json()["sessions"]
    assert [s["group"]["id"] for s in theirs] == [demo.other_group]
    calendar = await lea.get("/api/v1/me/calendar.ics")
    assert calendar.headers["content-type"].startswith("text/calendar")
    assert calendar.text.count("BEGIN:VEVENT") == len(mine)
    assert "Ailleurs" not in calendar.text
    # a pupil sees their class but may not manage it; another class does not exist for them
    own = await lea.post(f"/api/v1/groups/{demo.groups[0]}/sessions", json=a_session())
    assert own.status_code == 403 and own.json()["error"] == "not_group_manager"
    other = await lea.post(f"/api/v1/groups/{demo.other_group}/sessions", json=a_session())
    unknown = await lea.post(f"/api/v1/groups/{UNKNOWN}/sessions", json=a_session())
    await same_as_unknown(other, unknown)
    other_session = theirs[0]["id"]
    await same_as_unknown(
        await lea.delete(f"/api/v1/sessions/{other_session}"),
        await lea.delete(f"/api/v1/sessions/{UNKNOWN}"),
    )
    assert (await lea.get("/api/v1/me/classes")).json() == {"classes": []}
    assert (await lea.get("/api/v1/schools")).json()["items"] == []


async def test_a_teacher_manages_their_classes_and_not_another_schools(world: World) -> None:
    demo = world.demo
    prof = await world.sign_in("prof")
    classes = (await prof.get("/api/v1/me/classes")).json()["classes"]
    assert [c["id"] for c in classes] == demo.groups
    assert classes[0]["pupils"] == [{"id": demo.pupil, "display_name": "Lea"}]
    assert classes[0]["subjects"] == ["maths"] and classes[0]["join_code"] is None

    made = await prof.post(f"/api/v1/groups/{demo.groups[0]}/sessions", json=a_session())
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["starts_at"] == "2026-09-08T06:00:00Z" and body["ends_at"] == "2026-09-08T06:50:00Z"
    lea = await world.sign_in("lea")
    tomorrow = (await lea.get("/api/v1/me/sessions", params={"day": "2026-09-08"})).json()
    assert [s["id"] for s in tomorrow["sessions"]] == [body["id"]]
    assert (await prof.delete(f"/api/v1/sessions/{body['id']}")).status_code == 204
    assert (await prof.delete(f"/api/v1/sessions/{body['id']}")).status_code == 404

    other = demo.other_group
    for method, url, kw in [
        ("post", "/api/v1/groups/{}/sessions", {"json": a_session()}),
        ("post", "/api/v1/groups/{}/code", {}),
        ("delete", "/api/v1/groups/{}/code", {}),
        ("post", "/api/v1/groups/{}/one-time-codes", {}),
        ("post", "/api/v1/groups/{}/invitations", {"json": {"role": "pupil"}}),
    ]:
        call = getattr(prof, method)
        await same_as_unknown(
            await call(url.format(other), **kw), await call(url.format(UNKNOWN), **kw)
        )
    # prof is the teacher of record of a session in the other school's class, but does not
    # teach that class: the session is not theirs to cancel
    elsewhere = await world.count(ClassSession, ClassSession.group_id == other)
    await same_as_unknown(
        await prof.delete(f"/api/v1/sessions/{await _session_of(world, other)}"),
        await prof.delete(f"/api/v1/sessions/{UNKNOWN}"),
    )
    assert await world.count(ClassSession, ClassSession.group_id == other) == elsewhere
    await same_as_unknown(
        await prof.get(f"/api/v1/schools/{demo.school}/classes"),
        await prof.get(f"/api/v1/schools/{UNKNOWN}/classes"),
    )
    refused = await prof.post(f"/api/v1/schools/{demo.school}/invitations", json={})
    assert refused.status_code == 403 and refused.json()["error"] == "not_school_admin"


async def _session_of(world: World, group_id: int) -> int:
    async with db.sessions(world.engine)() as session:
        found = await session.scalar(
            select(ClassSession.id).where(ClassSession.group_id == group_id)
        )
    assert found is not None
    return found


async def test_a_parent_sees_only_their_own_children(world: World) -> None:
    demo = world.demo
    parent = await world.sign_in("maman")
    children = (await parent.get("/api/v1/me/children")).json()["children"]
    assert [c["id"] for c in children] == [demo.pupil]
    assert [g["id"] for g in children[0]["groups"]] == demo.groups
    groups = {
        s["group"]["id"] for s in (await parent.get("/api/v1/me/sessions")).json()["sessions"]
    }
    assert groups == set(demo.groups)
    for pid in (demo.pupil, demo.other_pupil):  # not even their own child's full record
        await same_as_unknown(
            await parent.get(f"/api/v1/people/{pid}/export"),
            await parent.get(f"/api/v1/people/{UNKNOWN}/export"),
        )
    own = await parent.get(f"/api/v1/people/{demo.parent}/export")
    assert own.status_code == 200 and own.json()["children"] == [
        {"person_id": demo.pupil, "display_name": "Lea"}
    ]
    assert (await (await world.sign_in("tom")).get("/api/v1/me/children")).json() == {
        "children": []
    }


async def test_an_administrator_sees_only_their_scope(world: World) -> None:
    demo = world.demo
    admin = await world.sign_in("direction")
    schools = (await admin.get("/api/v1/schools")).json()
    assert schools["total"] == 1 and [s["id"] for s in schools["items"]] == [demo.school]
    classes = (await admin.get(f"/api/v1/schools/{demo.school}/classes")).json()
    assert [c["id"] for c in classes["items"]] == demo.groups
    assert classes["items"][0]["pupils"] == 1
    people = (await admin.get(f"/api/v1/schools/{demo.school}/people")).json()
    logins = [p["login"] for p in people["items"]]
    assert set(logins) == {"direction", "lea", "maman", "prof"}
    pupils = (await admin.get(f"/api/v1/schools/{demo.school}/people?role=pupil")).json()
    assert [p["login"] for p in pupils["items"]] == ["lea"]
    paged = (await admin.get(f"/api/v1/schools/{demo.school}/people?per_page=2&page=2")).json()
    assert paged["total"] == 4 and [p["login"] for p in paged["items"]] == logins[2:]
    for query in ("per_page=0", "per_page=201", "page=0", "page=x"):
        bad = await admin.get(f"/api/v1/schools/{demo.school}/people?{query}")
        assert bad.status_code == 400 and bad.json()["error"] == "bad_page", query

    other = demo.other_school
    for url in ("/api/v1/schools/{}/classes", "/api/v1/schools/{}/people"):
        await same_as_unknown(
            await admin.get(url.format(other)), await admin.get(url.format(UNKNOWN))
        )
    await same_as_unknown(
        await admin.post(f"/api/v1/schools/{other}/roster", content=b"x", headers=CSV),
        await admin.post(f"/api/v1/schools/{UNKNOWN}/roster", content=b"x", headers=CSV),
    )
    await same_as_unknown(
        await admin.get(f"/api/v1/people/{demo.other_pupil}/export"),
        await admin.get(f"/api/v1/people/{UNKNOWN}/export"),
    )
    await same_as_unknown(
        await admin.delete(f"/api/v1/people/{demo.other_pupil}"),
        await admin.delete(f"/api/v1/people/{UNKNOWN}"),
    )
    assert (await admin.get(f"/api/v1/people/{demo.pupil}/export")).status_code == 200
    other_admin = await world.sign_in("direction2")
    assert (await other_admin.get(f"/api/v1/people/{demo.pupil}/export")).status_code == 404
    assert (await other_admin.get(f"/api/v1/people/{demo.other_pupil}/export")).status_code == 200


CSV = {"content-type": "text/csv"}


@pytest.mark.parametrize("path", ["abc", "0", "-1", "99999999999", "1e3", "%20"])
async def test_a_malformed_id_is_the_same_404(world: World, path: str) -> None:
    admin = await world.sign_in("direction")
    for url in ("/api/v1/people/{}/export", "/api/v1/schools/{}/classes"):
        await same_as_unknown(
            await admin.get(url.format(path)), await admin.get(url.format(UNKNOWN))
        )
    await same_as_unknown(
        await admin.delete(f"/api/v1/sessions/{path}"),
        await admin.delete(f"/api/v1/sessions/{UNKNOWN}"),
    )


async def test_a_change_without_the_csrf_token_is_refused_and_changes_nothing(
    world: World,
) -> None:
    demo = world.demo
    prof = await world.sign_in("prof")
    admin = await world.sign_in("direction")
    before = await world.count(ClassSession)
    url = f"/api/v1/groups/{demo.groups[0]}/sessions"
    for headers in ({}, {"x-csrf-token": "forged"}, {"x-csrf-token": admin.csrf}):
        refused = await prof.post(url, csrf=False, json=a_session(), headers=headers)
        assert refused.status_code == 403 and refused.json()["error"] == "bad_csrf"
    assert await world.count(ClassSession) == before
    refused = await admin.delete(f"/api/v1/people/{demo.pupil}", csrf=False)
    assert refused.status_code == 403 and refused.json()["error"] == "bad_csrf"
    assert await world.count(Person, Person.id == demo.pupil) == 1
    assert (await prof.post(f"/api/v1/groups/{demo.groups[0]}/code", csrf=False)).status_code == 403
    signed_out = await world.client.post(url, json=a_session())
    assert signed_out.status_code == 401 and signed_out.json()["error"] == "signed_out"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"title": "x", "starts_at": "2026-09-08T08:00:00", "ends_at": "2026-09-08T09:00:00Z"}, "bad_field"),
        ({"title": "", "starts_at": "2026-09-08T08:00:00Z", "ends_at": "2026-09-08T09:00:00Z"}, "bad_field"),
        ({"title": "x\x00", "starts_at": "2026-09-08T08:00:00Z", "ends_at": "2026-09-08T09:00:00Z"}, "bad_text"),
        ({"title": 3, "starts_at": "2026-09-08T08:00:00Z", "ends_at": "2026-09-08T09:00:00Z"}, "bad_field"),
        ({"title": "x", "starts_at": "2026-09-08T09:00:00Z", "ends_at": "2026-09-08T08:00:00Z"}, "bad_times"),
        ({"title": "x", "starts_at": "2026-09-08T08:00:00Z", "ends_at": "2026-09-08T08:02:00Z"}, "bad_length"),
        ({"title": "x", "starts_at": "2026-09-08T08:00:00Z", "ends_at": "2026-09-08T17:00:00Z"}, "bad_length"),
        ({"title": "x", "starts_at": "2027-10-08T08:00:00Z", "ends_at": "2027-10-08T09:00:00Z"}, "bad_start"),
        ({"title": "x", "starts_at": "2026-09-01T08:00:00Z", "ends_at": "2026-09-01T09:00:00Z"}, "bad_start"),
        ({"title": "x", "starts_at": "0001-01-01T00:00:00+01:00", "ends_at": "2026-09-08T09:00:00Z"}, "bad_field"),
        ({"title": "x", "starts_at": "2026-02-30T08:00:00Z", "ends_at": "2026-09-08T09:00:00Z"}, "bad_field"),
    ],
)  # fmt: skip
async def test_a_session_is_validated(world: World, body: dict[str, Any], reason: str) -> None:
    prof = await world.sign_in("prof")
    response = await prof.post(f"/api/v1/groups/{world.demo.groups[0]}/sessions", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == reason


async def test_bad_bodies_get_a_clear_json_error(world: World) -> None:
    prof = await world.sign_in("prof")
    url = f"/api/v1/groups/{world.demo.groups[0]}/sessions"
    for content in (b"{not json", b"[1]", b'"x"', b"\xff\xfe"):
        response = await prof.post(
            url, content=content, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400 and response.json()["error"] == "malformed_json"
    huge = await prof.post(url, content=b'{"title": "' + b"x" * 20_000 + b'"}')
    assert huge.status_code == 413 and huge.json()["error"] == "too_large"
    invite = f"/api/v1/groups/{world.demo.groups[0]}/invitations"
    for body in ({"role": "teacher"}, {"role": "pupil", "max_uses": 0}, {"role": "pupil", "ttl_days": 91},
                 {"role": "parent"}, {"role": "pupil", "max_uses": True}):  # fmt: skip
        response = await prof.post(invite, json=body)
        assert response.status_code == 400, (body, response.text)
    codes = f"/api/v1/groups/{world.demo.groups[0]}/one-time-codes"
    for body in ({"pupil_ids": []}, {"pupil_ids": ["1"]}, {"ttl_days": 31}, {"pupil_ids": [0]}):
        assert (await prof.post(codes, json=body)).status_code == 400, body
    gone = await prof.post(codes, json={"pupil_ids": [world.demo.other_pupil]})
    assert gone.status_code == 404


async def test_admin_role_is_granted_only_in_its_school(world: World) -> None:
    """The roles listed for a person are those of the school asked about."""
    async with db.sessions(world.engine)() as session:
        session.add(
            RoleGrant(
                person_id=world.demo.teacher, role=Role.PARENT, school_id=world.demo.other_school
            )
        )
        await session.commit()
    admin = await world.sign_in("direction")
    people = (await admin.get(f"/api/v1/schools/{world.demo.school}/people")).json()["items"]
    assert {p["login"]: p["roles"] for p in people}["prof"] == ["teacher"]
    other = await world.sign_in("direction2")
    people = (await other.get(f"/api/v1/schools/{world.demo.other_school}/people")).json()["items"]
    assert {p["login"]: p["roles"] for p in people}["prof"] == ["parent"]
