"""Data protection on SQLite and PostgreSQL: who may export or erase, the export, the erasure."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from homeroom.core.live.parts import Role as LiveRole
from homeroom.school.data import db
from homeroom.school.data.access import Principal, Scope
from homeroom.school.data.models import (
    AuthSession,
    ChatAudience,
    ChatMessage,
    ClassSession,
    Enrolment,
    Guardianship,
    Invitation,
    OneTimeCode,
    Person,
    Role,
    RoleGrant,
    SignInEvent,
)
from homeroom.school.data.queries import load_principal
from homeroom.school.people import enrol, privacy
from tests.school.people import NOW, build
from tests.school.test_api_access import World, world

__all__ = ["world"]


def test_an_administrator_must_cover_every_place_of_the_person() -> None:
    one_school = privacy.Holding(1, frozenset({(10, 100)}), frozenset(), national=False)
    two_schools = privacy.Holding(1, frozenset({(10, 100), (20, 200)}), frozenset(), False)
    nowhere = privacy.Holding(1, frozenset(), frozenset(), national=False)
    operator_like = privacy.Holding(1, frozenset(), frozenset(), national=True)
    school_admin = Principal(2, frozenset({Scope(Role.ADMIN, school_id=10)}))
    academy_admin = Principal(3, frozenset({Scope(Role.ADMIN, academy_id=100)}))
    operator = Principal(4, frozenset({Scope(Role.OPERATOR)}))
    teacher = Principal(5, frozenset({Scope(Role.TEACHER, school_id=10)}))
    assert one_school.covered_by(school_admin) and one_school.covered_by(academy_admin)
    assert not two_schools.covered_by(school_admin) and not two_schools.covered_by(academy_admin)
    assert not one_school.covered_by(teacher)
    assert not nowhere.covered_by(school_admin) and nowhere.covered_by(operator)
    assert not operator_like.covered_by(academy_admin) and operator_like.covered_by(operator)
    academy_scoped = privacy.Holding(1, frozenset(), frozenset({100}), national=False)
    assert academy_scoped.covered_by(academy_admin) and not academy_scoped.covered_by(school_admin)


async def test_the_export_holds_everything_and_no_secret(world: World) -> None:
    demo = world.demo
    await world.client.post("/api/v1/session", json={"login": "prof", "password": "wrong"})
    prof = await world.sign_in("prof")
    await prof.post(f"/api/v1/groups/{demo.groups[0]}/invitations", json={"role": "pupil"})
    await prof.post(f"/api/v1/groups/{demo.groups[0]}/one-time-codes", json={})
    admin = await world.sign_in("direction")
    teacher = (await admin.get(f"/api/v1/people/{demo.teacher}/export")).json()
    assert teacher["person"]["login"] == "prof" and teacher["person"]["has_password"] is True
    assert teacher["roles"] == [{"role": "teacher", "academy_id": None, "school_id": demo.school}]
    assert [t["group_id"] for t in teacher["teaching"]] == demo.groups
    assert len(teacher["class_sessions"]) == 2 * len(demo.groups) + 1
    assert [i["role"] for i in teacher["invitations_created"]] == ["pupil"]
    assert teacher["chat_messages"] == []  # nothing said in a live class yet
    # the sign-in audit: who (this export), when, from which address block, with what outcome
    assert [(e["outcome"], e["address_block"], e["at"]) for e in teacher["sign_in_events"]] == [
        ("bad_password", "192.0.2.0/24", "2026-09-07T06:00:00Z"),
        ("ok", "192.0.2.0/24", "2026-09-07T06:00:00Z"),
    ]
    assert teacher["auth_sessions"][0]["revoked"] is False
    pupil = (await admin.get(f"/api/v1/people/{demo.pupil}/export")).json()
    assert [e["group_id"] for e in pupil["enrolments"]] == demo.groups
    assert pupil["parents"] == [{"person_id": demo.parent, "display_name": "Maman"}]
    assert pupil["one_time_codes"][0]["used"] is False
    async with world.engine.connect() as connection:
        secrets = [
            *(await connection.scalars(select(Person.password_hash))).all(),
            *(h.hex() for h in (await connection.scalars(select(AuthSession.id_hash))).all()),
            *(h.hex() for h in (await connection.scalars(select(AuthSession.csrf_secret))).all()),
            *(h.hex() for h in (await connection.scalars(select(Invitation.token_hash))).all()),
            *(h.hex() for h in (await connection.scalars(select(OneTimeCode.code_hash))).all()),
        ]
    text = repr(teacher) + repr(pupil)
    assert secrets and not any(secret and secret in text for secret in secrets)
    assert "hash" not in (repr(teacher.keys()) + repr(teacher["person"].keys()))
    me = (await prof.get(f"/api/v1/people/{demo.teacher}/export")).json()  # one's own data
    assert me["person"]["id"] == demo.teacher


async def test_erasing_a_pupil_takes_what_hangs_on_them(world: World) -> None:
    demo = world.demo
    lea = await world.sign_in("lea")
    admin = await world.sign_in("direction")
    assert await world.count(SignInEvent, SignInEvent.person_id == demo.pupil) == 1
    refused = await admin.delete(f"/api/v1/people/{demo.pupil}", csrf=False)
    assert refused.status_code == 403
    erased = await admin.delete(f"/api/v1/people/{demo.pupil}")
    assert erased.status_code == 204
    assert (await lea.get("/api/v1/me")).status_code == 401  # signed out at once
    for model, where in [
        (Person, Person.id == demo.pupil),
        (Enrolment, Enrolment.pupil_id == demo.pupil),
        (Guardianship, Guardianship.child_id == demo.pupil),
        (RoleGrant, RoleGrant.person_id == demo.pupil),
        (AuthSession, AuthSession.person_id == demo.pupil),
        (SignInEvent, SignInEvent.person_id == demo.pupil),
    ]:
        assert await world.count(model, where) == 0, model
    assert await world.count(SignInEvent) == 1  # the administrator's own sign-in stays
    assert await world.count(Person, Person.id == demo.parent) == 1  # the parent stays
    again = await admin.delete(f"/api/v1/people/{demo.pupil}")
    assert again.status_code == 404 and again.json()["error"] == "person_not_found"
    export = await admin.get(f"/api/v1/people/{demo.pupil}/export")
    assert export.status_code == 404


async def test_erasing_a_teacher_keeps_the_invitations_they_made(world: World) -> None:
    demo = world.demo
    prof = await world.sign_in("prof")
    made = await prof.post(f"/api/v1/groups/{demo.groups[0]}/invitations", json={"role": "pupil"})
    admin = await world.sign_in("direction")
    assert (await admin.delete(f"/api/v1/people/{demo.teacher}")).status_code == 204
    assert await world.count(ClassSession, ClassSession.teacher_id == demo.teacher) == 0
    assert await world.count(Invitation, Invitation.id == made.json()["id"]) == 1
    assert await world.count(Invitation, Invitation.created_by.is_(None)) == 1
    self_erase = await admin.delete(f"/api/v1/people/{world.ids['admin']}")
    assert self_erase.status_code == 403 and self_erase.json()["error"] == "erase_self"


async def test_a_parent_of_two_schools_is_erased_only_by_someone_covering_both(
    session: AsyncSession,
) -> None:
    demo = await build(session)
    session.add(RoleGrant(person_id=demo.parent, role=Role.PARENT, school_id=demo.other_school))
    session.add(RoleGrant(person_id=demo.teacher, role=Role.ADMIN, school_id=demo.school))
    session.add(RoleGrant(person_id=demo.other_pupil, role=Role.ADMIN, academy_id=demo.academy))
    await session.commit()
    school_admin = await load_principal(session, demo.teacher)
    academy_admin = await load_principal(session, demo.other_pupil)
    assert school_admin is not None and academy_admin is not None
    with pytest.raises(privacy.NotFound):
        await privacy.check_may_erase(session, school_admin, demo.parent)
    await privacy.check_may_erase(session, academy_admin, demo.parent)
    await privacy.check_may_export(session, academy_admin, demo.parent)
    token = await enrol.invite(
        session, school_admin, Role.PUPIL, demo.school, demo.groups[0], now=NOW
    )
    assert token
    data = await privacy.export(session, demo.parent, NOW + dt.timedelta(hours=1))
    assert data["exported_at"] == "2026-09-07T07:00:00Z"
    assert {r["school_id"] for r in data["roles"]} == {demo.school, demo.other_school}
    with pytest.raises(privacy.NotFound):
        await privacy.check_may_export(session, school_admin, 999_999)


async def test_the_export_holds_what_a_pupil_said_in_a_live_class(world: World) -> None:
    async with db.sessions(world.engine)() as session:
        lesson = await session.scalar(
            select(ClassSession).where(ClassSession.group_id == world.demo.groups[0]).limit(1)
        )
        assert lesson is not None
        session.add(
            ChatMessage(
                session_id=lesson.id,
                epoch="e1",
                seq=4,
                person_id=world.demo.pupil,
                display_name="Lea",
                role=LiveRole.PUPIL,
                audience=ChatAudience.ALL,
                text="bonjour la classe",
                sent_at=NOW,
            )
        )
        await session.commit()
    admin = await world.sign_in("direction")
    pupil = (await admin.get(f"/api/v1/people/{world.demo.pupil}/export")).json()
    assert [(m["text"], m["audience"]) for m in pupil["chat_messages"]] == [
        ("bonjour la classe", "all")
    ]
