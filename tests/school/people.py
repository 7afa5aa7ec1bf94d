"""A small school in the database, for tests: two schools, classes, a teacher, pupils, a parent."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from homeroom.school.data.models import (
    Academy,
    ClassGroup,
    ClassSession,
    Enrolment,
    Guardianship,
    Person,
    Role,
    RoleGrant,
    School,
    Teaching,
)

NOW = dt.datetime(2026, 9, 7, 6, 0, tzinfo=dt.UTC)  # a Monday, 8:00 in Paris


@dataclass
class Demo:
    academy: int
    school: int
    other_school: int
    groups: list[int]
    other_group: int
    teacher: int
    pupil: int
    other_pupil: int
    parent: int


async def person(db: AsyncSession, login: str, role: Role, school: int, **kw: object) -> int:
    p = Person(login=login, display_name=login.title(), created_at=NOW, school_id=school, **kw)
    db.add(p)
    await db.flush()
    db.add(RoleGrant(person_id=p.id, role=role, school_id=school))
    return p.id


async def build(db: AsyncSession, classes: int = 3, sessions_per_class: int = 2) -> Demo:
    academy = Academy(code="paris", name="Paris")
    db.add(academy)
    await db.flush()
    schools = [
        School(academy_id=academy.id, uai=f"07500{i}1A", name=f"Collège {i}") for i in (1, 2)
    ]
    db.add_all(schools)
    await db.flush()
    groups = [ClassGroup(school_id=schools[0].id, name=f"6e {chr(65 + i)}") for i in range(classes)]
    other = ClassGroup(school_id=schools[1].id, name="6e A")
    db.add_all([*groups, other])
    await db.flush()
    teacher = await person(db, "prof", Role.TEACHER, schools[0].id)
    pupil = await person(db, "lea", Role.PUPIL, schools[0].id, accommodation=True)
    other_pupil = await person(db, "tom", Role.PUPIL, schools[1].id)
    parent = await person(db, "maman", Role.PARENT, schools[0].id)
    for g in groups:
        db.add(Enrolment(pupil_id=pupil, group_id=g.id))
        db.add(Teaching(teacher_id=teacher, group_id=g.id, subject="maths"))
        for k in range(sessions_per_class):
            start = NOW + dt.timedelta(hours=1 + k)
            db.add(
                ClassSession(
                    group_id=g.id,
                    teacher_id=teacher,
                    title=f"Maths {g.name}",
                    starts_at=start,
                    ends_at=start + dt.timedelta(minutes=55),
                )
            )
    db.add(Enrolment(pupil_id=other_pupil, group_id=other.id))
    db.add(
        ClassSession(
            group_id=other.id,
            teacher_id=teacher,
            title="Ailleurs",
            starts_at=NOW + dt.timedelta(hours=1),
            ends_at=NOW + dt.timedelta(hours=2),
        )
    )
    db.add(Guardianship(parent_id=parent, child_id=pupil))
    await db.commit()
    return Demo(
        academy.id,
        schools[0].id,
        schools[1].id,
        [g.id for g in groups],
        other.id,
        teacher,
        pupil,
        other_pupil,
        parent,
    )
