"""Getting people in, on SQLite and PostgreSQL: class codes, invitations, sign-up, code sheets."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from homeroom.errors import BadRequest, Forbidden, Gone, NotFound
from homeroom.school.auth import passwords
from homeroom.school.auth.sessions import Sessions
from homeroom.school.data import db as school_db
from homeroom.school.data.access import Principal
from homeroom.school.data.models import (
    AuthSession,
    ClassGroup,
    Enrolment,
    Guardianship,
    Invitation,
    OneTimeCode,
    Person,
    Role,
    RoleGrant,
    Teaching,
)
from homeroom.school.data.queries import load_principal
from homeroom.school.people import enrol
from homeroom.school.people.enrol import (
    ALPHABET,
    group_for_code,
    invite,
    make_class_code,
    normalise_code,
    redeem_invitation,
    reset_codes,
    revoke_class_code,
    revoke_invitation,
    sign_up_parent,
    sign_up_pupil,
    sign_up_teacher,
    use_code,
)
from tests.school.conftest import TRUNCATE, pg_execute
from tests.school.people import NOW, Demo, build, person

SESSIONS = Sessions(b"k" * 32)

DAY = dt.timedelta(days=1)
LATER = NOW + dt.timedelta(hours=1)


def hasher(password: str) -> str:
    return "test$" + hashlib.sha256(password.encode()).hexdigest()


def policy(password: str, login: str) -> list[str]:
    problems = ["too short"] if len(password) < 8 else []
    return [*problems, "same as the login"] if password == login else problems


async def principal(db: AsyncSession, person_id: int) -> Principal:
    found = await load_principal(db, person_id)
    assert found is not None
    return found


async def grant(db: AsyncSession, login: str, role: Role, **scope: int) -> Principal:
    someone = Person(login=login, display_name=login, created_at=NOW)
    db.add(someone)
    await db.flush()
    db.add(RoleGrant(person_id=someone.id, role=role, **scope))
    await db.commit()
    return await principal(db, someone.id)


async def teacher_of_one(db: AsyncSession, demo: Demo) -> Principal:
    """A second teacher of the school, teaching groups[1] only."""
    other = await person(db, "prof2", Role.TEACHER, demo.school)
    db.add(Teaching(teacher_id=other, group_id=demo.groups[1], subject="français"))
    await db.commit()
    return await principal(db, other)


# ---------------------------------------------------------------- class codes


async def test_a_teacher_makes_a_class_code_that_replaces_the_old_one(
    session: AsyncSession,
) -> None:
    demo = await build(session)
    teacher = await principal(session, demo.teacher)
    first = await make_class_code(session, teacher, demo.groups[0])
    await session.commit()
    assert len(first) == 9 and first[4] == "-"
    assert all(c in ALPHABET for c in first.replace("-", ""))
    assert not set(first) & set("0O1IL")
    group = await group_for_code(session, first)
    assert group is not None and group.id == demo.groups[0]
    second = await make_class_code(session, teacher, demo.groups[0])
    await session.commit()
    assert second != first
    assert await group_for_code(session, first) is None
    assert await group_for_code(session, second) is not None


async def test_codes_are_read_whatever_the_case_spaces_and_dashes(session: AsyncSession) -> None:
    demo = await build(session)
    code = await make_class_code(session, await principal(session, demo.teacher), demo.groups[0])
    await session.commit()
    raw = code.replace("-", "")
    for typed in (code, code.lower(), f"  {raw[:4]} {raw[4:]} ", "-".join(raw), f"{raw}\n"):
        group = await group_for_code(session, typed)
        assert group is not None and group.id == demo.groups[0], typed
    assert normalise_code(" ab-cd ef.gh ") == "ABCDEFGH"
    for wrong in ("", raw[:7], raw + "2", "0" * 8, "x" * 500):
        assert await group_for_code(session, wrong) is None


async def test_a_revoked_or_inactive_code_opens_nothing(session: AsyncSession) -> None:
    demo = await build(session)
    teacher = await principal(session, demo.teacher)
    code = await make_class_code(session, teacher, demo.groups[0])
    await revoke_class_code(session, teacher, demo.groups[0])
    await session.commit()
    assert await group_for_code(session, code) is None
    group = await session.get(ClassGroup, demo.groups[1])
    assert group is not None
    group.join_code, group.join_code_active = "ABCDEFGH", False
    await session.commit()
    assert await group_for_code(session, "ABCD-EFGH") is None


async def test_who_may_make_a_class_code(session: AsyncSession) -> None:
    demo = await build(session)
    pupil = await principal(session, demo.pupil)
    with pytest.raises(Forbidden):  # sees the class, may not change it
        await make_class_code(session, pupil, demo.groups[0])
    other_teacher = await teacher_of_one(session, demo)
    for group_id in (demo.groups[0], demo.other_group, 999_999):
        with pytest.raises(NotFound):
            await make_class_code(session, other_teacher, group_id)
        with pytest.raises(NotFound):
            await revoke_class_code(session, other_teacher, group_id)
    admin = await grant(session, "direction", Role.ADMIN, school_id=demo.school)
    assert await make_class_code(session, admin, demo.groups[2])
    with pytest.raises(NotFound):
        await make_class_code(session, admin, demo.other_group)


async def test_a_code_collision_draws_another_code(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = await build(session)
    teacher = await principal(session, demo.teacher)
    taken = await make_class_code(session, teacher, demo.groups[0])
    await session.commit()
    draws = iter([taken.replace("-", ""), "ZZZZ2222"])
    monkeypatch.setattr(enrol, "_random_code", lambda: next(draws))
    assert await make_class_code(session, teacher, demo.groups[1]) == "ZZZZ-2222"
    await session.commit()
    assert (await group_for_code(session, taken)).id == demo.groups[0]  # type: ignore[union-attr]


# ---------------------------------------------------------------- invitations


async def test_an_invitation_token_is_returned_once_and_only_its_hash_is_kept(
    session: AsyncSession,
) -> None:
    demo = await build(session)
    teacher = await principal(session, demo.teacher)
    token = await invite(session, teacher, Role.PUPIL, demo.school, demo.groups[0], now=NOW)
    await session.commit()
    assert len(token) == 43 and set(token) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    rows = (await session.execute(text("SELECT * FROM invitation"))).all()
    assert len(rows) == 1
    dumped = repr(tuple(rows[0])).encode()
    assert token.encode() not in dumped and token[:20].encode() not in dumped
    stored = await session.scalar(select(Invitation))
    assert stored is not None and stored.token_hash == hashlib.sha256(token.encode()).digest()
    assert (stored.uses, stored.max_uses, stored.created_by) == (0, 1, demo.teacher)
    assert stored.expires_at == NOW + enrol.INVITATION_TTL


async def test_who_may_invite_whom(session: AsyncSession) -> None:
    demo = await build(session)
    teacher = await principal(session, demo.teacher)
    with pytest.raises(Forbidden):  # a teacher cannot invite a teacher
        await invite(session, teacher, Role.TEACHER, demo.school, now=NOW)
    with pytest.raises(NotFound):  # nor anything in another school
        await invite(session, teacher, Role.TEACHER, demo.other_school, now=NOW)
    with pytest.raises(NotFound):
        await invite(session, teacher, Role.PUPIL, demo.other_school, demo.other_group, now=NOW)
    with pytest.raises(NotFound):  # the group is not in that school
        await invite(session, teacher, Role.PUPIL, demo.other_school, demo.groups[0], now=NOW)
    other_teacher = await teacher_of_one(session, demo)
    with pytest.raises(NotFound):
        await invite(session, other_teacher, Role.PUPIL, demo.school, demo.groups[0], now=NOW)
    pupil = await principal(session, demo.pupil)
    with pytest.raises(Forbidden):
        await invite(session, pupil, Role.PUPIL, demo.school, demo.groups[0], now=NOW)
    with pytest.raises(Forbidden):
        await invite(session, pupil, Role.TEACHER, demo.school, now=NOW)
    for role in (Role.ADMIN, Role.OPERATOR):
        with pytest.raises(BadRequest):
            await invite(session, teacher, role, demo.school, demo.groups[0], now=NOW)
    with pytest.raises(BadRequest):
        await invite(session, teacher, Role.PUPIL, demo.school, now=NOW)  # which class?
    school_admin = await grant(session, "direction", Role.ADMIN, school_id=demo.school)
    academy_admin = await grant(session, "rectorat", Role.ADMIN, academy_id=demo.academy)
    operator = await grant(session, "national", Role.OPERATOR)
    for admin in (school_admin, academy_admin, operator):
        assert await invite(session, admin, Role.TEACHER, demo.school, now=NOW)
    with pytest.raises(NotFound):
        await invite(session, school_admin, Role.TEACHER, demo.other_school, now=NOW)
    assert await invite(session, academy_admin, Role.TEACHER, demo.other_school, now=NOW)
    with pytest.raises(BadRequest):
        await invite(session, school_admin, Role.TEACHER, demo.school, demo.groups[0], now=NOW)


async def test_invitation_limits_are_checked(session: AsyncSession) -> None:
    demo = await build(session)
    teacher = await principal(session, demo.teacher)
    for max_uses, ttl in (
        (0, DAY),
        (enrol.MAX_INVITATION_USES + 1, DAY),
        (1, dt.timedelta(0)),
        (1, dt.timedelta(days=91)),
    ):
        with pytest.raises(BadRequest):
            await invite(
                session,
                teacher,
                Role.PUPIL,
                demo.school,
                demo.groups[0],
                max_uses=max_uses,
                ttl=ttl,
                now=NOW,
            )


async def test_a_parent_invitation_needs_a_child_of_the_class(session: AsyncSession) -> None:
    demo = await build(session)
    teacher = await principal(session, demo.teacher)
    with pytest.raises(BadRequest):
        await invite(session, teacher, Role.PARENT, demo.school, demo.groups[0], now=NOW)
    for child in (demo.other_pupil, demo.teacher, 999_999):
        with pytest.raises(NotFound):
            await invite(
                session, teacher, Role.PARENT, demo.school, demo.groups[0], child_id=child, now=NOW
            )
    token = await invite(
        session, teacher, Role.PARENT, demo.school, demo.groups[0], child_id=demo.pupil, now=NOW
    )
    stored = await session.scalar(select(Invitation).where(Invitation.role == Role.PARENT))
    assert stored is not None and stored.child_id == demo.pupil
    assert len(token) == 43 and "." not in token  # 32 random bytes; nothing about the child


async def test_redeeming_counts_uses_until_used_up(session: AsyncSession) -> None:
    demo = await build(session)
    teacher = await principal(session, demo.teacher)
    token = await invite(
        session, teacher, Role.PUPIL, demo.school, demo.groups[0], max_uses=2, now=NOW
    )
    await session.commit()
    assert (await redeem_invitation(session, token, LATER)).uses == 1
    assert (await redeem_invitation(session, token, LATER, Role.PUPIL)).uses == 2
    await session.commit()
    with pytest.raises(Gone) as used_up:
        await redeem_invitation(session, token, LATER)
    assert used_up.value.reason == "invitation_used_up"
    for unknown in ("", token[:-1] + ("A" if token[-1] != "A" else "B"), "x" * 1000):
        with pytest.raises(NotFound):
            await redeem_invitation(session, unknown, LATER)


async def test_expired_revoked_and_other_role_invitations_are_refused(
    session: AsyncSession,
) -> None:
    demo = await build(session)
    teacher = await principal(session, demo.teacher)
    token = await invite(session, teacher, Role.PUPIL, demo.school, demo.groups[0], now=NOW)
    await session.commit()
    with pytest.raises(NotFound):  # a pupil's link is no teacher's
        await redeem_invitation(session, token, LATER, Role.TEACHER)
    with pytest.raises(Gone) as expired:
        await redeem_invitation(session, token, NOW + enrol.INVITATION_TTL)
    assert expired.value.reason == "invitation_expired"
    stored = await session.scalar(select(Invitation))
    assert stored is not None and stored.uses == 0  # refusals count nothing
    await revoke_invitation(session, teacher, stored.id)
    await session.commit()
    with pytest.raises(Gone) as revoked:
        await redeem_invitation(session, token, LATER)
    assert revoked.value.reason == "invitation_revoked"
    assert "annulée" in revoked.value.message_fr and "revoked" in revoked.value.message_en


async def test_who_may_revoke_an_invitation(session: AsyncSession) -> None:
    demo = await build(session)
    teacher = await principal(session, demo.teacher)
    admin = await grant(session, "direction", Role.ADMIN, school_id=demo.school)
    await invite(session, teacher, Role.PUPIL, demo.school, demo.groups[1], now=NOW)
    await invite(session, admin, Role.TEACHER, demo.school, now=NOW)
    await session.commit()
    pupil_link, teacher_link = (
        await session.scalars(select(Invitation.id).order_by(Invitation.id))
    ).all()
    other_teacher = await teacher_of_one(session, demo)
    pupil = await principal(session, demo.pupil)
    for someone, invitation in ((pupil, pupil_link), (teacher, teacher_link), (teacher, 999)):
        with pytest.raises(NotFound):
            await revoke_invitation(session, someone, invitation)
    await revoke_invitation(session, other_teacher, pupil_link)  # teaches that group
    await revoke_invitation(session, admin, teacher_link)
    await session.commit()
    assert all((await session.scalars(select(Invitation.revoked))).all())


async def redeem_in_own_session(engine: AsyncEngine, token: str) -> str:
    async with school_db.sessions(engine)() as db:
        try:
            await redeem_invitation(db, token, LATER)
        except Gone:
            return "gone"
        await db.commit()
        return "ok"


async def test_two_concurrent_redeems_of_the_last_use_only_one_wins(engine: AsyncEngine) -> None:
    async with school_db.sessions(engine)() as db:
        demo = await build(db)
        token = await invite(
            db, await principal(db, demo.teacher), Role.PUPIL, demo.school, demo.groups[0], now=NOW
        )
        await db.commit()
    outcomes = await asyncio.gather(*(redeem_in_own_session(engine, token) for _ in range(2)))
    assert sorted(outcomes) == ["gone", "ok"]
    async with school_db.sessions(engine)() as db:
        assert await db.scalar(select(Invitation.uses)) == 1


@pytest.fixture
async def pg_engine(pg_database: str) -> AsyncIterator[AsyncEngine]:
    await pg_execute(pg_database.rpartition("/")[2], TRUNCATE)
    engine = school_db.engine_for(pg_database)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.mark.slow
async def test_on_postgresql_a_redeem_waiting_for_the_last_use_gets_gone(
    pg_engine: AsyncEngine,
) -> None:
    """The second UPDATE waits on the first one's row lock, then re-checks `uses < max_uses`."""
    make = school_db.sessions(pg_engine)
    async with make() as db:
        demo = await build(db)
        token = await invite(
            db, await principal(db, demo.teacher), Role.PUPIL, demo.school, demo.groups[0], now=NOW
        )
        await db.commit()
    async with make() as first, make() as second, make() as watcher:
        await redeem_invitation(first, token, LATER)  # holds the row lock, not committed
        second_pid = await second.scalar(text("SELECT pg_backend_pid()"))
        waiting = asyncio.create_task(redeem_invitation(second, token, LATER))
        blocked = text("SELECT cardinality(pg_blocking_pids(:pid)) > 0")
        async with asyncio.timeout(10):
            while not await watcher.scalar(blocked, {"pid": second_pid}):
                await watcher.rollback()  # a fresh snapshot for the next look
                assert not waiting.done(), "the second redeem did not wait for the lock"
        await first.commit()
        with pytest.raises(Gone):
            await waiting
    async with make() as db:
        assert await db.scalar(select(Invitation.uses)) == 1


# ---------------------------------------------------------------- sign-up


async def test_a_pupil_signs_up_with_the_class_code(session: AsyncSession) -> None:
    demo = await build(session)
    code = await make_class_code(session, await principal(session, demo.teacher), demo.groups[0])
    await session.commit()
    first = await sign_up_pupil(session, code.lower(), " Léa  Martin ", "cheval-vert", hasher, NOW)
    second = await sign_up_pupil(session, code, "Léa Martin", "cheval-bleu", hasher, NOW)
    await session.commit()
    assert (first.login, second.login) == ("lea.martin", "lea.martin2")
    assert (first.role, first.school_id) == (Role.PUPIL, demo.school)
    pupil = await session.get(Person, first.person_id)
    assert pupil is not None
    assert (pupil.display_name, pupil.email, pupil.school_id) == ("Léa Martin", None, demo.school)
    assert pupil.password_hash == hasher("cheval-vert")
    p = await principal(session, first.person_id)
    assert p.enrolled == {demo.groups[0]} and p.roles == {Role.PUPIL}
    with pytest.raises(NotFound):
        await sign_up_pupil(session, "ZZZZ-ZZZZ", "Tom", "cheval-vert", hasher, NOW)


async def test_a_pupil_signs_up_with_an_invitation_and_refusals_count_no_use(
    session: AsyncSession,
) -> None:
    demo = await build(session)
    teacher = await principal(session, demo.teacher)
    token = await invite(session, teacher, Role.PUPIL, demo.school, demo.groups[1], now=NOW)
    await session.commit()
    for name, password in (("", "cheval-vert"), ("a\x00b", "cheval-vert"), ("x" * 121, "pw")):
        with pytest.raises(BadRequest):
            await sign_up_pupil(session, token, name, password, hasher, NOW, policy)
    with pytest.raises(BadRequest) as weak:
        await sign_up_pupil(session, token, "Inès", "inès", hasher, NOW, policy)
    assert weak.value.extra["problems"] == ["too short"]
    with pytest.raises(BadRequest) as same:
        await sign_up_pupil(session, token, "Inès Moreau", "ines.moreau", hasher, NOW, policy)
    assert "same as the login" in same.value.extra["problems"]
    assert await session.scalar(select(Invitation.uses)) == 0
    signed = await sign_up_pupil(session, token, "Inès Moreau", "cheval-vert", hasher, NOW, policy)
    await session.commit()
    assert (await principal(session, signed.person_id)).enrolled == {demo.groups[1]}
    with pytest.raises(Gone):
        await sign_up_pupil(session, token, "Noé", "cheval-vert", hasher, NOW)
    admin = await grant(session, "direction", Role.ADMIN, school_id=demo.school)
    staff = await invite(session, admin, Role.TEACHER, demo.school, now=NOW)
    with pytest.raises(NotFound):  # a teacher's link on the pupils' form
        await sign_up_pupil(session, staff, "Noé", "cheval-vert", hasher, NOW)


async def test_the_default_policy_and_the_real_hash(session: AsyncSession) -> None:
    demo = await build(session)
    code = await make_class_code(session, await principal(session, demo.teacher), demo.groups[0])
    await session.commit()
    with pytest.raises(BadRequest) as weak:
        await sign_up_pupil(session, code, "Zoé", "zoe", passwords.hash_password, NOW)
    assert weak.value.extra["problems"] == ["too_short", "same_as_login"]
    assert "au moins 8 caractères" in weak.value.message_fr
    assert "at least 8 characters" in weak.value.message_en
    signed = await sign_up_pupil(
        session, code, "Zoé", "un cheval vert", passwords.hash_password, NOW
    )
    stored = await session.scalar(select(Person.password_hash).where(Person.id == signed.person_id))
    assert stored is not None and stored.startswith("$argon2id$")
    assert passwords.verify(stored, "un cheval vert").ok


async def test_a_login_taken_meanwhile_gives_the_next_one(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As if a concurrent sign-up took the login between the look-up and the insert."""
    demo = await build(session)
    code = await make_class_code(session, await principal(session, demo.teacher), demo.groups[0])
    await session.commit()
    await sign_up_pupil(session, code, "Léa Martin", "cheval-vert", hasher, NOW)
    real = enrol._free_login
    calls = iter([lambda db, name: asyncio.sleep(0, "lea.martin")])
    monkeypatch.setattr(enrol, "_free_login", lambda db, name: next(calls, real)(db, name))
    signed = await sign_up_pupil(session, code, "Léa Martin", "cheval-vert", hasher, NOW)
    await session.commit()
    assert signed.login == "lea.martin2"
    assert await session.scalar(select(Person.login).where(Person.id == signed.person_id)) == (
        "lea.martin2"
    )


async def test_a_parent_signs_up_for_the_child_of_the_invitation(session: AsyncSession) -> None:
    demo = await build(session)
    teacher = await principal(session, demo.teacher)
    token = await invite(
        session,
        teacher,
        Role.PARENT,
        demo.school,
        demo.groups[0],
        child_id=demo.pupil,
        max_uses=2,
        now=NOW,
    )
    await session.commit()
    with pytest.raises(NotFound):  # the child is part of what the hash covers
        await sign_up_parent(
            session, f"{demo.other_pupil}.{token.partition('.')[2]}", "X", "pw", hasher, NOW
        )
    with pytest.raises(BadRequest):
        await sign_up_parent(session, token, "Paul", "cheval-vert", hasher, NOW, email="nope")
    signed = await sign_up_parent(
        session, token, "Paul Martin", "cheval-vert", hasher, NOW, email="paul@example.fr"
    )
    await session.commit()
    assert (signed.role, signed.login, signed.school_id) == (
        Role.PARENT,
        "paul.martin",
        demo.school,
    )
    parent = await principal(session, signed.person_id)
    assert parent.children == {demo.pupil} and parent.roles == {Role.PARENT}
    assert parent.children_groups == set(demo.groups)
    stored = await session.get(Person, signed.person_id)
    assert stored is not None and (stored.school_id, stored.email) == (None, "paul@example.fr")
    with pytest.raises(NotFound):  # a parent's link is no pupil's
        await sign_up_pupil(session, token, "Léa", "cheval-vert", hasher, NOW)
    await session.execute(
        Enrolment.__table__.delete().where(Enrolment.pupil_id == demo.pupil)  # type: ignore[attr-defined]
    )
    await session.commit()
    with pytest.raises(Gone) as left:
        await sign_up_parent(session, token, "Anne Martin", "cheval-vert", hasher, NOW)
    assert left.value.reason == "child_left_class"


async def test_a_parent_with_an_account_claims_a_second_child(session: AsyncSession) -> None:
    demo = await build(session)
    teacher = await principal(session, demo.teacher)
    code = await make_class_code(session, teacher, demo.groups[1])
    sibling = await sign_up_pupil(session, code, "Jules Martin", "cheval-vert", hasher, NOW)
    await session.commit()
    token = await invite(
        session,
        teacher,
        Role.PARENT,
        demo.school,
        demo.groups[1],
        child_id=sibling.person_id,
        now=NOW,
    )
    await session.commit()
    parent = await principal(session, demo.parent)
    assert await enrol.claim_child(session, parent, token, NOW) == sibling.person_id
    await session.commit()
    assert (await principal(session, demo.parent)).children == {demo.pupil, sibling.person_id}
    again = await enrol.claim_child(session, await principal(session, demo.parent), token, NOW)
    assert again == sibling.person_id  # already theirs: no use counted, no second link
    links = await session.scalars(
        select(Guardianship.parent_id).where(Guardianship.child_id == sibling.person_id)
    )
    assert links.all() == [demo.parent]
    assert await session.scalar(select(Invitation.uses).where(Invitation.role == Role.PARENT)) == 1
    with pytest.raises(Gone):  # the one use is spent
        await enrol.claim_child(session, await principal(session, demo.teacher), token, NOW)


async def test_a_teacher_signs_up_with_an_admins_invitation(session: AsyncSession) -> None:
    demo = await build(session)
    admin = await grant(session, "direction", Role.ADMIN, school_id=demo.school)
    token = await invite(session, admin, Role.TEACHER, demo.school, now=NOW)
    await session.commit()
    signed = await sign_up_teacher(session, token, "Mme Durand", "tableau-noir", hasher, NOW)
    await session.commit()
    assert (signed.role, signed.login, signed.school_id) == (
        Role.TEACHER,
        "mme.durand",
        demo.school,
    )
    p = await principal(session, signed.person_id)
    assert p.roles == {Role.TEACHER} and p.taught == frozenset()  # classes are assigned after
    with pytest.raises(Gone):
        await sign_up_teacher(session, token, "M. Petit", "tableau-noir", hasher, NOW)
    pupil_link = await invite(
        session,
        await principal(session, demo.teacher),
        Role.PUPIL,
        demo.school,
        demo.groups[0],
        now=NOW,
    )
    with pytest.raises(NotFound):
        await sign_up_teacher(session, pupil_link, "M. Petit", "tableau-noir", hasher, NOW)
    digest = hashlib.sha256(pupil_link.encode()).digest()
    assert await session.scalar(select(Invitation.uses).where(Invitation.token_hash == digest)) == 0


# ---------------------------------------------------------------- one-time codes


async def sheet(session: AsyncSession, demo: Demo, **kw: object) -> list[enrol.CodeRow]:
    rows = await reset_codes(
        session,
        await principal(session, demo.teacher),
        demo.groups[0],
        NOW,
        **kw,  # type: ignore[arg-type]
    )
    await session.commit()
    return rows


async def test_a_code_sheet_gives_each_pupil_a_printable_code_kept_hashed(
    session: AsyncSession,
) -> None:
    demo = await build(session)
    second = await person(session, "anna", Role.PUPIL, demo.school)
    session.add(Enrolment(pupil_id=second, group_id=demo.groups[0]))
    await session.commit()
    rows = await sheet(session, demo)
    assert [(r.display_name, r.login) for r in rows] == [("Anna", "anna"), ("Lea", "lea")]
    for row in rows:
        assert len(row.code) == 9 and row.code[4] == "-"
        assert set(row.code.replace("-", "")) <= set(ALPHABET)
    dumped = repr((await session.execute(text("SELECT * FROM one_time_code"))).all())
    for row in rows:
        assert row.code not in dumped and row.code.replace("-", "") not in dumped
    codes = (await session.scalars(select(OneTimeCode))).all()
    assert len(codes) == 2 and all(
        c.expires_at == NOW + enrol.CODE_TTL and not c.used for c in codes
    )


async def test_a_one_time_code_sets_the_password_once(session: AsyncSession) -> None:
    demo = await build(session)
    session.add(
        AuthSession(
            id_hash=b"s" * 32,
            person_id=demo.pupil,
            created_at=NOW,
            last_seen_at=NOW,
            idle_s=3600,
            absolute_until=NOW + DAY,
            revoked=False,
            csrf_secret=b"c" * 32,
        )
    )
    await session.commit()
    (row,) = await sheet(session, demo)
    typed = row.code.lower().replace("-", " ")
    with pytest.raises(BadRequest):
        await use_code(session, SESSIONS, " LEA ", typed, "pw", hasher, LATER, policy)
    assert await use_code(
        session, SESSIONS, " LEA ", typed, "cheval-vert", hasher, LATER, policy
    ) == (demo.pupil)
    await session.commit()
    pupil = await session.get(Person, demo.pupil, populate_existing=True)
    assert pupil is not None and pupil.password_hash == hasher("cheval-vert")
    assert await session.scalar(select(AuthSession.revoked)) is True
    with pytest.raises(Gone) as used:
        await use_code(session, SESSIONS, "lea", row.code, "autre-chose", hasher, LATER)
    assert used.value.reason == "code_used"


async def test_a_wrong_code_says_nothing_about_the_login(session: AsyncSession) -> None:
    demo = await build(session)
    (row,) = await sheet(session, demo)
    wrong = "ZZZZ-ZZZZ" if row.code != "ZZZZ-ZZZZ" else "YYYY-YYYY"
    refusals = []
    for login, code in (
        ("lea", wrong),
        ("personne", wrong),
        ("personne", row.code),
        ("tom", row.code),
    ):
        with pytest.raises(Forbidden) as refused:
            await use_code(session, SESSIONS, login, code, "cheval-vert", hasher, LATER)
        refusals.append(refused.value.body("fr"))
    assert all(r == refusals[0] for r in refusals) and refusals[0]["error"] == "bad_code"
    disabled = await session.get(Person, demo.pupil)
    assert disabled is not None
    disabled.disabled = True
    await session.commit()
    with pytest.raises(Forbidden):
        await use_code(session, SESSIONS, "lea", row.code, "cheval-vert", hasher, LATER)


async def test_a_code_expires_and_a_new_sheet_replaces_the_old_codes(
    session: AsyncSession,
) -> None:
    demo = await build(session)
    (old,) = await sheet(session, demo, ttl=DAY)
    with pytest.raises(Gone) as expired:
        await use_code(session, SESSIONS, "lea", old.code, "cheval-vert", hasher, NOW + DAY)
    assert expired.value.reason == "code_expired"
    (new,) = await sheet(session, demo)
    with pytest.raises(Forbidden):
        await use_code(session, SESSIONS, "lea", old.code, "cheval-vert", hasher, LATER)
    assert (
        await use_code(session, SESSIONS, "lea", new.code, "cheval-vert", hasher, LATER)
        == demo.pupil
    )
    assert len((await session.scalars(select(OneTimeCode))).all()) == 1


async def test_who_may_print_a_code_sheet(session: AsyncSession) -> None:
    demo = await build(session)
    with pytest.raises(Forbidden):
        await reset_codes(session, await principal(session, demo.pupil), demo.groups[0], NOW)
    other_teacher = await teacher_of_one(session, demo)
    for group_id in (demo.groups[0], demo.other_group, 999_999):
        with pytest.raises(NotFound):
            await reset_codes(session, other_teacher, group_id, NOW)
    teacher = await principal(session, demo.teacher)
    with pytest.raises(NotFound):  # not a pupil of this class
        await reset_codes(session, teacher, demo.groups[0], NOW, pupil_ids=[demo.other_pupil])
    with pytest.raises(BadRequest):
        await reset_codes(session, teacher, demo.groups[0], NOW, ttl=dt.timedelta(days=31))
    rows = await reset_codes(session, teacher, demo.groups[0], NOW, pupil_ids=[demo.pupil])
    assert [r.login for r in rows] == ["lea"]
    admin = await grant(session, "rectorat", Role.ADMIN, academy_id=demo.academy)
    assert [r.login for r in await reset_codes(session, admin, demo.other_group, NOW)] == ["tom"]


async def test_deleting_a_pupil_deletes_the_parent_invitations_made_for_them(
    session: AsyncSession,
) -> None:
    demo = await build(session)
    teacher = await principal(session, demo.teacher)
    await invite(
        session, teacher, Role.PARENT, demo.school, demo.groups[0], child_id=demo.pupil, now=NOW
    )
    await session.commit()
    await session.execute(delete(Person).where(Person.id == demo.pupil))
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(Invitation)) == 0
