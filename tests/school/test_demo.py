"""The demo académie on SQLite and PostgreSQL: idempotent, every printed account signs in, soon."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from homeroom.config import Settings
from homeroom.core.lanes import Lane
from homeroom.school import demo
from homeroom.school.auth.passwords import PasswordParameters, Passwords, VerifyPool
from homeroom.school.auth.sessions import Sessions
from homeroom.school.auth.signin import SignIn
from homeroom.school.auth.throttle import Throttle
from homeroom.school.component import School
from homeroom.school.data import db
from homeroom.school.data.models import (
    Academy,
    Base,
    ClassSession,
    Person,
    Role,
    RoleGrant,
    TimetableEntry,
)
from homeroom.school.data.queries import load_principal, sessions_of_groups
from homeroom.school.people.enrol import group_for_code
from homeroom.school.schedule.timetable import appointment

CHEAP = PasswordParameters(1, 64, 1)  # the flow is tested here, not argon2's cost
NOW = dt.datetime(2026, 9, 7, 6, 0, 20, tzinfo=dt.UTC)  # a Monday, 8:00 in Paris
LEAD_MINUTES = 10  # the gate's default appointment lead (HOMEROOM_APPOINTMENT_LEAD_S=600)


@pytest.fixture
def makers(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return db.sessions(engine)


async def rows_of(session: AsyncSession) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: what "the same rows" compares."""
    out = {}
    for table in Base.metadata.sorted_tables:
        rows = (await session.execute(select(table))).all()
        out[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return out


async def test_seeding_twice_gives_the_same_rows(
    makers: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    passwords = Passwords(CHEAP)
    first = await demo.seed(makers, passwords, NOW)
    before = await rows_of(session)
    second = await demo.seed(makers, passwords, NOW)
    session.expire_all()
    assert await rows_of(session) == before
    assert second == first  # the same sign-in details, class code and sessions
    counts = {name: len(rows) for name, rows in before.items()}
    assert counts["academy"] == 1 and counts["school"] == 2 and counts["class_group"] == 4
    assert counts["person"] == len(demo.PEOPLE) == 9
    assert counts["enrolment"] == 5 and counts["teaching"] == 4 and counts["guardianship"] == 1
    assert counts["timetable_entry"] == 4 * 5  # four teachings, Monday to Friday
    # today (a Monday): one session per teaching from the timetable, and the two one-off ones
    assert counts["class_session"] == 4 + 2
    uais = sorted(row[2] for row in before["school"])
    assert uais == ["0759901E", "0759902F"]  # seven digits and their check letter (mod 23)
    assert demo.uai("0750654") == "0750654D"  # the rule on a real school: Lycée Henri-IV, Paris


async def test_a_later_start_moves_the_two_sessions_and_adds_nothing(
    makers: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    passwords = Passwords(CHEAP)
    first = await demo.seed(makers, passwords, NOW)
    before = await rows_of(session)
    later = NOW + dt.timedelta(hours=3, minutes=7)
    second = await demo.seed(makers, passwords, later)
    session.expire_all()
    after = await rows_of(session)
    assert second.accounts == first.accounts and second.class_code == first.class_code
    assert {name: len(rows) for name, rows in after.items()} == {
        name: len(rows) for name, rows in before.items()
    }
    assert after["person"] == before["person"]  # password hashes kept: the same details work
    one_off = await session.scalars(
        select(ClassSession.starts_at).where(ClassSession.entry_id.is_(None))
    )
    assert sorted(one_off) == [s.starts_at for s in second.sessions]
    soon = second.sessions[0].starts_at
    assert later < soon <= later + dt.timedelta(minutes=15)


async def test_the_session_starting_soon_and_the_later_one(
    makers: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    seeded = await demo.seed(makers, Passwords(CHEAP), NOW)
    soon, later = seeded.sessions
    assert NOW < soon.starts_at <= NOW + dt.timedelta(minutes=15)
    assert soon.starts_at.second == 0 and soon.ends_at > soon.starts_at
    assert appointment(soon.starts_at, NOW, LEAD_MINUTES) is None  # queue now
    assert appointment(later.starts_at, NOW, LEAD_MINUTES) is not None  # come back later
    # what a pupil of the class sees today: the timetable's 9:00 class and the two one-off ones
    lea = await session.scalar(select(Person).where(Person.login == "lea.martin"))
    assert lea is not None and lea.accommodation
    principal = await load_principal(session, lea.id)
    assert principal is not None and principal.lane is Lane.PRIORITY
    day = await sessions_of_groups(
        session, principal.enrolled, NOW - dt.timedelta(hours=6), NOW + dt.timedelta(hours=16)
    )
    starts = [row.starts_at for row in day]
    assert soon.starts_at in starts and later.starts_at in starts
    assert dt.datetime(2026, 9, 7, 7, 0, tzinfo=dt.UTC) in starts  # 9:00 in Paris
    group = await group_for_code(session, seeded.class_code)
    assert group is not None and group.name == seeded.code_group == "6e A"


async def test_every_printed_account_can_sign_in(
    makers: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    passwords = Passwords(CHEAP)
    seeded = await demo.seed(makers, passwords, NOW)
    printed = seeded.render("http://127.0.0.1:8000", NOW)
    roles = {account.role for account in seeded.accounts}
    assert roles == {Role.ADMIN, Role.TEACHER, Role.PUPIL, Role.PARENT}
    pool = VerifyPool(workers=1, check=passwords.verify)
    throttle = Throttle("memory://")
    signin = SignIn(Sessions(b"k" * 32), throttle, pool, passwords, clock=NOW.timestamp)
    try:
        for account in seeded.accounts:
            assert f" {account.login} " in printed and f" {account.password} " in printed
            done = await signin.sign_in(
                session, account.login, account.password, "192.0.2.0/24", shared_device=False
            )
            person = await session.get(Person, done.person_id)
            assert person is not None and person.login == account.login
            grants = await session.scalars(
                select(RoleGrant.role).where(RoleGrant.person_id == person.id)
            )
            assert list(grants) == [account.role]
    finally:
        pool.close()
        await throttle.aclose()
    assert seeded.class_code in printed and "in 10 min" in printed
    parent = next(a for a in seeded.accounts if a.role is Role.PARENT)
    pid = await session.scalar(select(Person.id).where(Person.login == parent.login))
    assert pid is not None
    principal = await load_principal(session, pid)
    assert principal is not None and len(principal.children) == 1


@pytest.fixture
async def school_of(db_url: str) -> AsyncIterator[Any]:
    made: list[School] = []

    def make(demo_flag: bool) -> School:
        settings = Settings(database_url=db_url, demo=demo_flag, session_secret="s" * 32)
        school = School.from_settings(settings, clock=NOW.timestamp, password_parameters=CHEAP)
        made.append(school)
        return school

    yield make
    for school in made:
        await school.stop()


async def test_start_seeds_and_prints_only_with_the_flag(
    school_of: Any, session: AsyncSession, capsys: pytest.CaptureFixture[str]
) -> None:
    await school_of(False).start()
    assert await session.scalar(select(func.count()).select_from(Academy)) == 0
    assert capsys.readouterr().out == ""
    await school_of(True).start()
    out = capsys.readouterr().out
    assert "Académie de démonstration" in out
    for key in ("admin", "maths", "lea", "parent"):
        role, given, family, *_ = demo.PEOPLE[key]
        assert demo.PASSWORDS[role] in out and f"{given} {family}" in out
    assert "lea.martin" in out and "http://127.0.0.1:8000/signin" in out
    await school_of(True).start()  # a second start: the same details, nothing added
    assert capsys.readouterr().out == out
    assert await session.scalar(select(func.count()).select_from(TimetableEntry)) == 20
