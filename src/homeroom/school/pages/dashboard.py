"""The reads and the one write behind the school's dashboards, each a fixed number of queries.

Every session row carries its school's zone, so a page shows each time where the class is, and
"today" is the local day of each school: the query asks for the 48 hours around now, which hold
today in every zone, and `on_the_dashboard` keeps the rows of the local day, with those in progress
or starting within the hour across midnight (docs/school.md#pages).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Final

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from homeroom.errors import NotFound
from homeroom.school.data.access import Place, Principal
from homeroom.school.data.models import (
    DEFAULT_ZONE,
    Academy,
    ClassGroup,
    ClassSession,
    Enrolment,
    Guardianship,
    Invitation,
    Person,
    Role,
    RoleGrant,
    School,
)
from homeroom.school.people import enrol
from homeroom.school.people.directory import pupils_of
from homeroom.school.people.enrol import MESSAGES
from homeroom.school.schedule.timetable import on_the_dashboard, to_utc

DAY: Final = dt.timedelta(days=1)
MAX_SCHOOLS: Final = 100  # an operator's or a large académie's list is cut here
MAX_PEOPLE: Final = 500  # people listed on a school's page


def zone_of(school_zone: str | None, academy_zone: str | None) -> str:
    """A school's zone: its own, else its académie's, else Paris (docs/school.md#times)."""
    return school_zone or academy_zone or DEFAULT_ZONE


@dataclass(frozen=True, slots=True)
class DaySession:
    session_id: int
    group_id: int
    group_name: str
    title: str
    teacher_name: str
    starts_at: dt.datetime  # UTC
    ends_at: dt.datetime
    zone: str


def around(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[now − 24 h, now + 24 h): holds the whole local day of `now` in every zone."""
    return now - DAY, now + DAY


def on_the_page(rows: list[DaySession], now: dt.datetime) -> list[DaySession]:
    """The rows `on_the_dashboard` at `now`, in each row's own zone."""
    return [r for r in rows if on_the_dashboard(r.starts_at, r.ends_at, r.zone, now)]


async def viewer_and_sessions(
    db: AsyncSession, person_id: int, groups: frozenset[int], now: dt.datetime
) -> tuple[str, list[DaySession]]:
    """The viewer's display name and today's sessions of `groups`: one query.

    The viewer's row is outer-joined to the sessions, so the name comes back even when there
    is no session: the pupil's dashboard stays at the session, the Principal and this query.
    """
    start, end = around(now)
    teacher = aliased(Person)
    viewer = aliased(Person)
    in_window = and_(
        ClassSession.group_id.in_(groups) if groups else ClassSession.id.is_(None),
        ClassSession.starts_at >= start,
        ClassSession.starts_at < end,
    )
    rows = (
        await db.execute(
            select(
                viewer.display_name,
                ClassSession.id,
                ClassSession.group_id,
                ClassGroup.name,
                ClassSession.title,
                teacher.display_name,
                ClassSession.starts_at,
                ClassSession.ends_at,
                School.timezone,
                Academy.timezone,
            )
            .select_from(viewer)
            .outerjoin(ClassSession, in_window)
            .outerjoin(ClassGroup, ClassGroup.id == ClassSession.group_id)
            .outerjoin(School, School.id == ClassGroup.school_id)
            .outerjoin(Academy, Academy.id == School.academy_id)
            .outerjoin(teacher, teacher.id == ClassSession.teacher_id)
            .where(viewer.id == person_id)
            .order_by(ClassSession.starts_at, ClassSession.id)
        )
    ).all()
    if not rows:
        raise NotFound("person_not_found", "personne introuvable", "person not found")
    sessions = [
        DaySession(r[1], r[2], r[3], r[4], r[5], r[6], r[7], zone_of(r[8], r[9]))
        for r in rows
        if r[1] is not None
    ]
    return rows[0][0], on_the_page(sessions, now)


@dataclass(frozen=True, slots=True)
class Child:
    person_id: int
    display_name: str
    groups: frozenset[int]


async def children_of(db: AsyncSession, parent_id: int) -> list[Child]:
    """A parent's children by name, with the groups each is enrolled in: one query."""
    rows = (
        await db.execute(
            select(Person.id, Person.display_name, Enrolment.group_id)
            .join(Guardianship, Guardianship.child_id == Person.id)
            .outerjoin(Enrolment, Enrolment.pupil_id == Person.id)
            .where(Guardianship.parent_id == parent_id)
            .order_by(Person.display_name, Person.id)
        )
    ).all()
    names: dict[int, str] = {}
    groups: dict[int, set[int]] = defaultdict(set)
    for pid, name, group_id in rows:
        names[pid] = name
        if group_id is not None:
            groups[pid].add(group_id)
    return [Child(pid, name, frozenset(groups[pid])) for pid, name in names.items()]


@dataclass(frozen=True, slots=True)
class ClassInfo:
    group_id: int
    name: str
    school_id: int
    school_name: str
    zone: str
    join_code: str | None  # normalised, as stored
    pupil_ids: frozenset[int]
    pupils: tuple[tuple[int, str], ...] = ()  # (id, display name) by name, for the parent link


async def classes(db: AsyncSession, group_ids: frozenset[int]) -> list[ClassInfo]:
    """The groups with their school, zone, class code and pupils (ids and names): two queries.

    The pupils' names come with the enrolments (a join, not a query more), so the teacher's
    dashboard stays at two queries here whatever the number of classes.
    """
    if not group_ids:
        return []
    rows = (
        await db.execute(
            select(
                ClassGroup.id,
                ClassGroup.name,
                School.id,
                School.name,
                School.timezone,
                Academy.timezone,
                ClassGroup.join_code,
                ClassGroup.join_code_active,
            )
            .join(School, School.id == ClassGroup.school_id)
            .join(Academy, Academy.id == School.academy_id)
            .where(ClassGroup.id.in_(group_ids))
            .order_by(School.name, ClassGroup.name)
        )
    ).all()
    pupils = await pupils_of(db, group_ids)
    return [
        ClassInfo(
            r[0],
            r[1],
            r[2],
            r[3],
            zone_of(r[4], r[5]),
            r[6] if r[7] else None,
            frozenset(pid for pid, _ in pupils[r[0]]),
            tuple(pupils[r[0]]),
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class SchoolInfo:
    school_id: int
    name: str
    uai: str
    academy_id: int
    zone: str


async def schools_in_scope(db: AsyncSession, principal: Principal) -> list[SchoolInfo]:
    """The schools an administrator or operator administers, by name: one query."""
    if not principal.operator:
        school_ids = {s.school_id for s in principal.scopes if s.role is Role.ADMIN and s.school_id}
        academy_ids = {
            s.academy_id
            for s in principal.scopes
            if s.role is Role.ADMIN and s.academy_id and s.school_id is None
        }
        if not school_ids and not academy_ids:
            return []
    query = (
        select(
            School.id,
            School.name,
            School.uai,
            School.academy_id,
            School.timezone,
            Academy.timezone,
        )
        .join(Academy, Academy.id == School.academy_id)
        .order_by(School.name, School.id)
        .limit(MAX_SCHOOLS)
    )
    if not principal.operator:
        query = query.where(
            or_(School.id.in_(school_ids or {-1}), School.academy_id.in_(academy_ids or {-1}))
        )
    return [
        SchoolInfo(r[0], r[1], r[2], r[3], zone_of(r[4], r[5])) for r in await db.execute(query)
    ]


@dataclass(frozen=True, slots=True)
class PersonRow:
    person_id: int
    display_name: str
    login: str
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SchoolView:
    school: SchoolInfo
    classes: list[tuple[int, str, int, str | None]]  # group id, name, pupils, class code
    people: list[PersonRow]
    people_total: int


async def school_view(db: AsyncSession, school: SchoolInfo) -> SchoolView:
    """A school's classes with their sizes, and its people with their roles: three queries."""
    size = func.count(Enrolment.pupil_id)
    groups = (
        await db.execute(
            select(ClassGroup.id, ClassGroup.name, size, ClassGroup.join_code)
            .outerjoin(Enrolment, Enrolment.group_id == ClassGroup.id)
            .where(ClassGroup.school_id == school.school_id)
            .group_by(ClassGroup.id, ClassGroup.name, ClassGroup.join_code)
            .order_by(ClassGroup.name)
        )
    ).all()
    in_school = or_(
        Person.school_id == school.school_id,
        Person.id.in_(select(RoleGrant.person_id).where(RoleGrant.school_id == school.school_id)),
    )
    total = await db.scalar(select(func.count()).select_from(Person).where(in_school))
    rows = (
        await db.execute(
            select(Person.id, Person.display_name, Person.login, RoleGrant.role)
            .outerjoin(
                RoleGrant,
                and_(RoleGrant.person_id == Person.id, RoleGrant.school_id == school.school_id),
            )
            .where(
                Person.id.in_(
                    select(Person.id)
                    .where(in_school)
                    .order_by(Person.display_name, Person.id)
                    .limit(MAX_PEOPLE)
                )
            )
            .order_by(Person.display_name, Person.id)
        )
    ).all()
    found: dict[int, tuple[str, str]] = {}
    roles: dict[int, list[str]] = defaultdict(list)
    for pid, name, login, role in rows:
        found[pid] = (name, login)
        if role is not None:
            roles[pid].append(role.value)
    people = [
        PersonRow(pid, name, login, tuple(sorted(roles[pid])))
        for pid, (name, login) in found.items()
    ]
    return SchoolView(
        school,
        [(g[0], g[1], int(g[2]), g[3]) for g in groups],
        people,
        int(total or 0),
    )


async def create_session(
    db: AsyncSession,
    principal: Principal,
    group: ClassInfo,
    title: str,
    day: dt.date,
    start: dt.time,
    minutes: int,
) -> int:
    """A session of a group the caller manages, at a wall-clock time in the school's zone.

    The caller checked `manages_group` and the fields; the caller commits.
    """
    starts_at = to_utc(day, start, group.zone)
    session = ClassSession(
        group_id=group.group_id,
        teacher_id=principal.person_id,
        title=title,
        starts_at=starts_at,
        ends_at=starts_at + dt.timedelta(minutes=minutes),
    )
    db.add(session)
    await db.flush()
    return session.id


async def managed_classes(db: AsyncSession, principal: Principal) -> frozenset[int]:
    """Groups the caller may manage from the dashboard: those taught, and their schools' own."""
    taught = set(principal.taught)
    if principal.roles & {Role.ADMIN, Role.OPERATOR}:
        schools = await schools_in_scope(db, principal)
        if schools:
            ids = await db.scalars(
                select(ClassGroup.id).where(
                    ClassGroup.school_id.in_([s.school_id for s in schools])
                )
            )
            taught.update(ids)
    return frozenset(taught)


@dataclass(frozen=True, slots=True)
class InvitationState:
    role: Role | None  # None: unknown
    problem: str | None  # a reason of enrol.MESSAGES, or None if it would be accepted now


async def invitation_state(db: AsyncSession, token: str, now: dt.datetime) -> InvitationState:
    """What an invitation link is for, and whether it is still good, without counting a use.

    The token is looked up by its hash, as `enrol` keeps it; the sign-up itself is left to
    `enrol`, which checks everything again.
    """
    if not token or len(token) > 120:
        return InvitationState(None, "unknown_invitation")
    row = (
        await db.execute(select(Invitation).where(Invitation.token_hash == enrol.token_hash(token)))
    ).scalar_one_or_none()
    if row is None:
        return InvitationState(None, "unknown_invitation")
    problem = None
    if row.revoked:
        problem = "invitation_revoked"
    elif row.expires_at <= now:
        problem = "invitation_expired"
    elif row.uses >= row.max_uses:
        problem = "invitation_used_up"
    assert problem is None or problem in MESSAGES
    return InvitationState(row.role, problem)


@dataclass(frozen=True, slots=True)
class SessionBrief:
    title: str
    starts_at: dt.datetime
    zone: str
    place: Place


async def session_brief(db: AsyncSession, session_id: int) -> SessionBrief | None:
    """A session's title and start, with where it sits for the access check: one query."""
    row = (
        await db.execute(
            select(
                ClassSession.title,
                ClassSession.starts_at,
                School.timezone,
                Academy.timezone,
                ClassSession.group_id,
                School.id,
                School.academy_id,
            )
            .join(ClassGroup, ClassGroup.id == ClassSession.group_id)
            .join(School, School.id == ClassGroup.school_id)
            .join(Academy, Academy.id == School.academy_id)
            .where(ClassSession.id == session_id)
        )
    ).one_or_none()
    if row is None:
        return None
    return SessionBrief(row[0], row[1], zone_of(row[2], row[3]), Place(row[4], row[5], row[6]))


async def school_info(db: AsyncSession, school_id: int) -> SchoolInfo | None:
    """A school's name, UAI, académie and zone, or None if there is no such school: one query."""
    row = (
        await db.execute(
            select(
                School.id,
                School.name,
                School.uai,
                School.academy_id,
                School.timezone,
                Academy.timezone,
            )
            .join(Academy, Academy.id == School.academy_id)
            .where(School.id == school_id)
        )
    ).one_or_none()
    return (
        None if row is None else SchoolInfo(row[0], row[1], row[2], row[3], zone_of(row[4], row[5]))
    )


async def school_place(db: AsyncSession, school_id: int) -> int | None:
    """The académie of a school, or None if there is no such school."""
    academy_id: int | None = await db.scalar(
        select(School.academy_id).where(School.id == school_id)
    )
    return academy_id
