"""The school's reads, each a fixed number of queries whatever the number of classes.

A signed-in page costs: the session (1 query, often cached), the Principal (2), and what the
page shows (1 or 2). `tests/school/test_queries.py` counts them (docs/school.md#queries).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from homeroom.school.data.access import Place, Principal, Scope
from homeroom.school.data.models import (
    ClassGroup,
    ClassSession,
    Enrolment,
    Guardianship,
    Person,
    RoleGrant,
    School,
    Teaching,
)


async def load_principal(db: AsyncSession, person_id: int) -> Principal | None:
    """The person's roles and the groups they relate to: two queries."""
    rows = (
        await db.execute(
            select(
                Person.accommodation,
                Person.disabled,
                RoleGrant.role,
                RoleGrant.academy_id,
                RoleGrant.school_id,
            )
            .outerjoin(RoleGrant, RoleGrant.person_id == Person.id)
            .where(Person.id == person_id)
        )
    ).all()
    if not rows or rows[0].disabled:
        return None
    accommodation = rows[0].accommodation
    grants = [(r.role, r.academy_id, r.school_id) for r in rows if r.role is not None]
    child_enrolment = aliased(Enrolment)
    links = union_all(
        select(literal("taught"), Teaching.group_id).where(Teaching.teacher_id == person_id),
        select(literal("enrolled"), Enrolment.group_id).where(Enrolment.pupil_id == person_id),
        select(literal("child"), Guardianship.child_id).where(Guardianship.parent_id == person_id),
        select(literal("child_group"), child_enrolment.group_id)
        .join(Guardianship, Guardianship.child_id == child_enrolment.pupil_id)
        .where(Guardianship.parent_id == person_id),
    )
    found: dict[str, set[int]] = {
        "taught": set(),
        "enrolled": set(),
        "child": set(),
        "child_group": set(),
    }
    for kind, value in (await db.execute(links)).all():
        found[kind].add(value)
    return Principal(
        person_id,
        frozenset(Scope(role, academy_id, school_id) for role, academy_id, school_id in grants),
        taught=frozenset(found["taught"]),
        enrolled=frozenset(found["enrolled"]),
        children=frozenset(found["child"]),
        children_groups=frozenset(found["child_group"]),
        accommodation=accommodation,
    )


async def place_of(db: AsyncSession, group_id: int) -> Place | None:
    row = (
        await db.execute(
            select(ClassGroup.id, School.id, School.academy_id)
            .join(School, School.id == ClassGroup.school_id)
            .where(ClassGroup.id == group_id)
        )
    ).one_or_none()
    return None if row is None else Place(row[0], row[1], row[2])


@dataclass(frozen=True, slots=True)
class SessionRow:
    session_id: int
    group_id: int
    group_name: str
    title: str
    teacher_name: str
    starts_at: dt.datetime
    ends_at: dt.datetime


async def sessions_of_groups(
    db: AsyncSession, groups: frozenset[int], start: dt.datetime, end: dt.datetime
) -> list[SessionRow]:
    """Sessions of these groups starting in [start, end), in order: one query."""
    if not groups:
        return []
    teacher = aliased(Person)
    rows = (
        await db.execute(
            select(
                ClassSession.id,
                ClassSession.group_id,
                ClassGroup.name,
                ClassSession.title,
                teacher.display_name,
                ClassSession.starts_at,
                ClassSession.ends_at,
            )
            .join(ClassGroup, ClassGroup.id == ClassSession.group_id)
            .join(teacher, teacher.id == ClassSession.teacher_id)
            .where(ClassSession.group_id.in_(groups))
            .where(ClassSession.starts_at >= start, ClassSession.starts_at < end)
            .order_by(ClassSession.starts_at, ClassSession.id)
        )
    ).all()
    return [SessionRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]
