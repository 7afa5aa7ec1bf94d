"""The school's directory reads for the API: schools, classes and people in a scope, paged.

Each read is a fixed number of queries whatever the size of the school (docs/school.md#queries):
a page of rows and their count, plus one query for what hangs on the page's rows. Rights are
decided by the caller (school/data/access.py); these functions only read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from homeroom.school.data.access import Place, Principal
from homeroom.school.data.models import (
    ClassGroup,
    ClassSession,
    Enrolment,
    Person,
    Role,
    RoleGrant,
    School,
    Teaching,
)


@dataclass(frozen=True, slots=True)
class SchoolRow:
    id: int
    uai: str
    name: str
    academy_id: int
    timezone: str | None


@dataclass(frozen=True, slots=True)
class GroupRow:
    id: int
    name: str
    pupils: int
    join_code_active: bool


@dataclass(frozen=True, slots=True)
class PersonRow:
    id: int
    display_name: str
    login: str
    disabled: bool
    roles: tuple[Role, ...]  # in this school


@dataclass(frozen=True, slots=True)
class Pupil:
    id: int
    display_name: str


@dataclass(slots=True)
class Child:
    id: int
    display_name: str
    groups: list[tuple[int, str]] = field(default_factory=list)  # (id, name)


@dataclass(slots=True)
class TaughtClass:
    id: int
    name: str
    school_id: int
    school_name: str
    join_code: str | None  # stored form, ABCDEFGH; None when there is none or it is revoked
    subjects: list[str] = field(default_factory=list)
    pupils: list[Pupil] = field(default_factory=list)


async def school_academy(db: AsyncSession, school_id: int) -> int | None:
    """The académie of a school, or None if there is no such school."""
    academy: int | None = await db.scalar(select(School.academy_id).where(School.id == school_id))
    return academy


def _administered(principal: Principal) -> ColumnElement[bool]:
    if principal.operator:
        return true()
    schools = {s.school_id for s in principal.scopes if s.role is Role.ADMIN and s.school_id}
    academies = {
        s.academy_id
        for s in principal.scopes
        if s.role is Role.ADMIN and s.academy_id is not None and s.school_id is None
    }
    if not schools and not academies:
        return false()
    return or_(School.id.in_(schools), School.academy_id.in_(academies))


async def schools_in_scope(
    db: AsyncSession, principal: Principal, offset: int, limit: int
) -> tuple[int, list[SchoolRow]]:
    """The schools the caller administers, by name: two queries."""
    where = _administered(principal)
    total = await db.scalar(select(func.count()).select_from(School).where(where))
    rows = (
        await db.execute(
            select(School.id, School.uai, School.name, School.academy_id, School.timezone)
            .where(where)
            .order_by(School.name, School.id)
            .offset(offset)
            .limit(limit)
        )
    ).all()
    return int(total or 0), [SchoolRow(*row) for row in rows]


async def groups_of_school(
    db: AsyncSession, school_id: int, offset: int, limit: int
) -> tuple[int, list[GroupRow]]:
    """A school's class groups by name, with their number of pupils: two queries."""
    total = await db.scalar(
        select(func.count()).select_from(ClassGroup).where(ClassGroup.school_id == school_id)
    )
    pupils = (
        select(func.count())
        .select_from(Enrolment)
        .where(Enrolment.group_id == ClassGroup.id)
        .scalar_subquery()
    )
    rows = (
        await db.execute(
            select(ClassGroup.id, ClassGroup.name, pupils, ClassGroup.join_code)
            .where(ClassGroup.school_id == school_id)
            .order_by(ClassGroup.name, ClassGroup.id)
            .offset(offset)
            .limit(limit)
        )
    ).all()
    return int(total or 0), [GroupRow(r[0], r[1], int(r[2]), r[3] is not None) for r in rows]


def _of_school(school_id: int) -> ColumnElement[bool]:
    """People of a school: its pupils and staff (`school_id`), and parents with a role there."""
    granted = (
        select(RoleGrant.id)
        .where(RoleGrant.person_id == Person.id, RoleGrant.school_id == school_id)
        .exists()
    )
    return or_(Person.school_id == school_id, granted)


async def people_of_school(
    db: AsyncSession, school_id: int, offset: int, limit: int, role: Role | None = None
) -> tuple[int, list[PersonRow]]:
    """A school's people by name with their roles there: three queries."""
    where = _of_school(school_id)
    if role is not None:
        where = (
            select(RoleGrant.id)
            .where(
                RoleGrant.person_id == Person.id,
                RoleGrant.school_id == school_id,
                RoleGrant.role == role,
            )
            .exists()
        )
    total = await db.scalar(select(func.count()).select_from(Person).where(where))
    people = (
        await db.execute(
            select(Person.id, Person.display_name, Person.login, Person.disabled)
            .where(where)
            .order_by(Person.display_name, Person.id)
            .offset(offset)
            .limit(limit)
        )
    ).all()
    roles: dict[int, set[Role]] = defaultdict(set)
    if people:
        grants = await db.execute(
            select(RoleGrant.person_id, RoleGrant.role).where(
                RoleGrant.person_id.in_([p.id for p in people]), RoleGrant.school_id == school_id
            )
        )
        for person_id, granted in grants.all():
            roles[person_id].add(granted)
    return int(total or 0), [
        PersonRow(p.id, p.display_name, p.login, p.disabled, tuple(sorted(roles[p.id])))
        for p in people
    ]


async def classes_taught(db: AsyncSession, teacher_id: int) -> list[TaughtClass]:
    """The groups a teacher teaches, with subjects and pupils' names: two queries."""
    rows = (
        await db.execute(
            select(
                ClassGroup.id,
                ClassGroup.name,
                School.id,
                School.name,
                ClassGroup.join_code,
                ClassGroup.join_code_active,
                Teaching.subject,
            )
            .join(Teaching, Teaching.group_id == ClassGroup.id)
            .join(School, School.id == ClassGroup.school_id)
            .where(Teaching.teacher_id == teacher_id)
            .order_by(School.name, ClassGroup.name, ClassGroup.id, Teaching.subject)
        )
    ).all()
    classes: dict[int, TaughtClass] = {}
    for gid, name, sid, school_name, code, active, subject in rows:
        taught = classes.setdefault(
            gid, TaughtClass(gid, name, sid, school_name, code if active else None)
        )
        if subject:
            taught.subjects.append(subject)
    for gid, pupils in (await pupils_of(db, classes)).items():
        classes[gid].pupils.extend(Pupil(pid, name) for pid, name in pupils)
    return list(classes.values())


async def pupils_of(db: AsyncSession, group_ids: Iterable[int]) -> dict[int, list[tuple[int, str]]]:
    """Each group's pupils (id, display name), by name: one query, none without groups."""
    wanted = list(group_ids)
    pupils: dict[int, list[tuple[int, str]]] = defaultdict(list)
    if not wanted:
        return pupils
    enrolled = await db.execute(
        select(Enrolment.group_id, Person.id, Person.display_name)
        .join(Person, Person.id == Enrolment.pupil_id)
        .where(Enrolment.group_id.in_(wanted))
        .order_by(Person.display_name, Person.id)
    )
    for gid, pid, name in enrolled:
        pupils[gid].append((pid, name))
    return pupils


async def session_place(db: AsyncSession, session_id: int) -> Place | None:
    """Where a class session's group sits, to decide who may change it: one query."""
    row = (
        await db.execute(
            select(ClassGroup.id, School.id, School.academy_id)
            .join(ClassSession, ClassSession.group_id == ClassGroup.id)
            .join(School, School.id == ClassGroup.school_id)
            .where(ClassSession.id == session_id)
        )
    ).one_or_none()
    return None if row is None else Place(row[0], row[1], row[2])


async def children_of(db: AsyncSession, principal: Principal) -> list[Child]:
    """A parent's children with the groups they are in: one query."""
    if not principal.children:
        return []
    rows = (
        await db.execute(
            select(Person.id, Person.display_name, ClassGroup.id, ClassGroup.name)
            .outerjoin(Enrolment, Enrolment.pupil_id == Person.id)
            .outerjoin(ClassGroup, ClassGroup.id == Enrolment.group_id)
            .where(Person.id.in_(list(principal.children)))
            .order_by(Person.display_name, Person.id, ClassGroup.name)
        )
    ).all()
    found: dict[int, Child] = {}
    for pid, name, gid, group_name in rows:
        child = found.setdefault(pid, Child(pid, name))
        if gid is not None:
            child.groups.append((gid, group_name))
    return list(found.values())
