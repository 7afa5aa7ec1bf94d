"""The demo académie `make run` seeds, so a new user can try every role at once (docs/school.md#demo).

`seed(sessionmaker, passwords, now)` writes, through the school's model, enrolment and timetable
modules: an académie with two schools, their class groups, two teachers, a school administrator,
pupils (one with the accommodation flag), a parent linked to a pupil, teaching assignments, a
weekly timetable, a class code, today's sessions from the timetable, and two one-off sessions of
"6e A": one starting about ten minutes after start-up (within the gate's default ten-minute
lead, its pupils queue at once) and one two hours later (the gate gives them an appointment).

Idempotent: everything is found again by its natural key (the académie's code, the UAIs, the
groups' names, the logins, the timetable slots) and only what is missing is added. A second start
adds nothing, keeps every password hash (the same sign-in details work), and moves the two
one-off sessions to "soon" and "later" again, so the demo is never stale.

The passwords are fixed and printed: this is a local demo, never a deployment's data.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from homeroom.school.auth.passwords import Passwords
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
    TimetableEntry,
)
from homeroom.school.data.queries import load_principal
from homeroom.school.people.enrol import make_class_code, shown
from homeroom.school.people.roster import make_login
from homeroom.school.schedule.timetable import WeeklySlot, expand, local_view

ZONE: Final = "Europe/Paris"
ACADEMY: Final = ("demo", "Académie de démonstration")
UAI_LETTERS: Final = "ABCDEFGHJKLMNPRSTUVWXYZ"  # the check letter: the number modulo 23
SOON: Final = dt.timedelta(minutes=10)  # from the minute started: 9 to 10 minutes ahead
LATER: Final = dt.timedelta(hours=2)
ONE_OFF_MINUTES: Final = 45
SLOT_MINUTES: Final = 55
# Demo only: fixed, printed at start-up, the same at every start.
PASSWORDS: Final[dict[Role, str]] = {
    Role.ADMIN: "demo-admin",
    Role.TEACHER: "demo-prof",
    Role.PUPIL: "demo-eleve",
    Role.PARENT: "demo-parent",
}


def uai(digits: str) -> str:
    """A UAI (school code): seven digits and their check letter."""
    return digits + UAI_LETTERS[int(digits) % 23]


# school key: (UAI digits, name, its class groups)
SCHOOLS: Final = {
    "college": ("0759901", "Collège Victor-Hugo (démo)", ("6e A", "6e B", "5e A")),
    "lycee": ("0759902", "Lycée Marie-Curie (démo)", ("2nde 3",)),
}
# person key: (role, given name, family name, school key or None, accommodation)
PEOPLE: Final = {
    "admin": (Role.ADMIN, "Sophie", "Laurent", "college", False),
    "maths": (Role.TEACHER, "Claire", "Dubois", "college", False),
    "french": (Role.TEACHER, "Karim", "Benali", "lycee", False),
    "lea": (Role.PUPIL, "Léa", "Martin", "college", True),
    "hugo": (Role.PUPIL, "Hugo", "Petit", "college", False),
    "ines": (Role.PUPIL, "Inès", "Moreau", "college", False),
    "noah": (Role.PUPIL, "Noah", "Garcia", "college", False),
    "jade": (Role.PUPIL, "Jade", "Nguyen", "lycee", False),
    "parent": (Role.PARENT, "Nadia", "Martin", None, False),
}
ENROLMENTS: Final = {
    "lea": "6e A",
    "hugo": "6e A",
    "ines": "6e B",
    "noah": "5e A",
    "jade": "2nde 3",
}
# (teacher, group, subject, weekly local start, Monday to Friday)
TEACHING: Final = (
    ("maths", "6e A", "Mathématiques", dt.time(9, 0)),
    ("maths", "6e B", "Mathématiques", dt.time(10, 0)),
    ("maths", "5e A", "Mathématiques", dt.time(14, 0)),
    ("french", "2nde 3", "Français", dt.time(11, 0)),
)
CHILD: Final = ("parent", "lea")
CHILD_SCHOOL: Final = "college"  # lea's: the school the parent's role is scoped to
CODE_GROUP: Final = "6e A"
ONE_OFF: Final = (
    ("Mathématiques — la séance qui commence bientôt", SOON),
    ("Mathématiques — la séance de plus tard (rendez-vous)", LATER),
)


@dataclass(frozen=True, slots=True)
class DemoAccount:
    role: Role
    login: str
    password: str
    display_name: str
    about: str  # where they are, in words: "Collège Victor-Hugo (démo), 6e A"


@dataclass(frozen=True, slots=True)
class DemoSession:
    title: str
    group: str
    starts_at: dt.datetime  # UTC
    ends_at: dt.datetime


@dataclass(frozen=True, slots=True)
class DemoAccounts:
    """What `seed` made, for the start-up message and the tests."""

    academy: str
    accounts: tuple[DemoAccount, ...]
    class_code: str  # ABCD-EFGH, of CODE_GROUP
    code_group: str
    sessions: tuple[DemoSession, ...]  # the two one-off sessions, soon then later

    def render(self, base_url: str, now: dt.datetime) -> str:
        """The sign-in details, as `homeroom run` prints them."""
        lines = [
            f"homeroom: demo — {self.academy} ({ZONE}); demo-only passwords, for this machine",
            f"  sign in at {base_url}/signin (or POST {base_url}/api/v1/session)",
        ]
        width = max(len(a.login) for a in self.accounts)
        for a in self.accounts:
            lines.append(
                f"  {a.role.value:<8} {a.login:<{width}}  {a.password:<12} {a.display_name}, {a.about}"
            )
        lines.append(f"  class code of {self.code_group}: {self.class_code}")
        for s in self.sessions:
            minutes = math.ceil((s.starts_at - now).total_seconds() / 60)
            local = local_view(s.starts_at, ZONE).strftime("%H:%M")
            lines.append(f"  {s.group} at {local} (in {minutes} min): {s.title}")
        return "\n".join(lines)


async def seed(
    sessionmaker: async_sessionmaker[AsyncSession], passwords: Passwords, now: dt.datetime
) -> DemoAccounts:
    """Make the demo académie, or find it again and refresh its two one-off sessions; commit."""
    async with sessionmaker() as db:
        academy = await _academy(db)
        schools = {key: await _school(db, academy, *spec[:2]) for key, spec in SCHOOLS.items()}
        groups = {
            name: await _group(db, schools[key], name)
            for key, spec in SCHOOLS.items()
            for name in spec[2]
        }
        people = {
            key: await _person(db, passwords, key, role, given, family, schools, school, flag, now)
            for key, (role, given, family, school, flag) in PEOPLE.items()
        }
        await _links(db, people, groups)
        await _timetable(db, people, groups, schools, now)
        sessions = await _one_off(db, people["maths"], groups[CODE_GROUP], now)
        await db.flush()
        code = await _class_code(db, people["maths"], groups[CODE_GROUP])
        await db.commit()
        return DemoAccounts(
            academy.name,
            tuple(_account(key, people[key], schools) for key in PEOPLE),
            code,
            CODE_GROUP,
            tuple(sessions),
        )


async def _academy(db: AsyncSession) -> Academy:
    code, name = ACADEMY
    academy = await db.scalar(select(Academy).where(Academy.code == code))
    if academy is None:
        academy = Academy(code=code, name=name, timezone=ZONE)
        db.add(academy)
        await db.flush()
    return academy


async def _school(db: AsyncSession, academy: Academy, digits: str, name: str) -> School:
    school = await db.scalar(select(School).where(School.uai == uai(digits)))
    if school is None:
        school = School(academy_id=academy.id, uai=uai(digits), name=name)
        db.add(school)
        await db.flush()
    return school


async def _group(db: AsyncSession, school: School, name: str) -> ClassGroup:
    group = await db.scalar(
        select(ClassGroup).where(ClassGroup.school_id == school.id, ClassGroup.name == name)
    )
    if group is None:
        group = ClassGroup(school_id=school.id, name=name)
        db.add(group)
        await db.flush()
    return group


async def _person(
    db: AsyncSession,
    passwords: Passwords,
    key: str,
    role: Role,
    given: str,
    family: str,
    schools: dict[str, School],
    school_key: str | None,
    accommodation: bool,
    now: dt.datetime,
) -> Person:
    """The person with this login, else a new one with the demo password (hashed on a thread)."""
    login = make_login(given, family, lambda _: False)
    person = await db.scalar(select(Person).where(Person.login == login))
    # a parent has no school of their own; their grant is scoped to their child's school
    scope = schools[school_key or CHILD_SCHOOL]
    if person is None:
        person = Person(
            login=login,
            display_name=f"{given} {family}",
            password_hash=await asyncio.to_thread(passwords.hash, PASSWORDS[role]),
            accommodation=accommodation,
            created_at=now,
            external_id=None if school_key is None else f"DEMO-{key}",
            school_id=None if school_key is None else scope.id,
        )
        db.add(person)
        await db.flush()
    grant = await db.scalar(
        select(RoleGrant.id).where(
            RoleGrant.person_id == person.id,
            RoleGrant.role == role,
            RoleGrant.school_id == scope.id,
        )
    )
    if grant is None:
        db.add(RoleGrant(person_id=person.id, role=role, school_id=scope.id))
    return person


async def _add_missing(db: AsyncSession, row: Enrolment | Teaching | Guardianship) -> None:
    """Add a link row unless its primary key is already there."""
    key = type(row).__mapper__.primary_key_from_instance(row)
    if await db.get(type(row), key) is None:
        db.add(row)


async def _links(
    db: AsyncSession, people: dict[str, Person], groups: dict[str, ClassGroup]
) -> None:
    for pupil, group in ENROLMENTS.items():
        await _add_missing(db, Enrolment(pupil_id=people[pupil].id, group_id=groups[group].id))
    for teacher, group, subject, _ in TEACHING:
        await _add_missing(
            db,
            Teaching(teacher_id=people[teacher].id, group_id=groups[group].id, subject=subject),
        )
    parent, child = CHILD
    await _add_missing(db, Guardianship(parent_id=people[parent].id, child_id=people[child].id))
    await db.flush()


def school_year(today: dt.date) -> tuple[dt.date, dt.date]:
    """1 September to 31 August around `today`: the demo's slots cover every day of the year."""
    year = today.year if today.month >= 9 else today.year - 1
    return dt.date(year, 9, 1), dt.date(year + 1, 8, 31)


async def _timetable(
    db: AsyncSession,
    people: dict[str, Person],
    groups: dict[str, ClassGroup],
    schools: dict[str, School],
    now: dt.datetime,
) -> None:
    """Weekly slots Monday to Friday for each teaching, and today's sessions made from them."""
    today = local_view(now, ZONE).date()
    first, last = school_year(today)
    for teacher, group_name, subject, start in TEACHING:
        group = groups[group_name]
        title = f"{subject} — {group_name}"
        for weekday in range(5):
            entry = await db.scalar(
                select(TimetableEntry).where(
                    TimetableEntry.group_id == group.id,
                    TimetableEntry.weekday == weekday,
                    TimetableEntry.local_start == start,
                    TimetableEntry.first_day == first,
                )
            )
            if entry is None:
                entry = TimetableEntry(
                    group_id=group.id,
                    teacher_id=people[teacher].id,
                    title=title,
                    weekday=weekday,
                    local_start=start,
                    minutes=SLOT_MINUTES,
                    first_day=first,
                    last_day=last,
                )
                db.add(entry)
                await db.flush()
            slot = WeeklySlot(weekday, start, SLOT_MINUTES, today, today, ZONE)
            for occurrence in expand(slot):  # today's, if today is this weekday
                made = await db.scalar(
                    select(ClassSession.id).where(
                        ClassSession.entry_id == entry.id,
                        ClassSession.starts_at == occurrence.starts_at,
                    )
                )
                if made is None:
                    db.add(
                        ClassSession(
                            group_id=group.id,
                            teacher_id=entry.teacher_id,
                            title=title,
                            starts_at=occurrence.starts_at,
                            ends_at=occurrence.ends_at,
                            entry_id=entry.id,
                        )
                    )


async def _one_off(
    db: AsyncSession, teacher: Person, group: ClassGroup, now: dt.datetime
) -> list[DemoSession]:
    """The soon and later sessions of the class, made once and moved to now at every start."""
    # Whole minutes, so the message and the pages agree; from the minute started, so the soon
    # one is at most ten minutes ahead: within the gate's default lead, its pupils queue at once.
    base = now.astimezone(dt.UTC).replace(second=0, microsecond=0)
    out = []
    for title, ahead in ONE_OFF:
        starts_at = base + ahead
        ends_at = starts_at + dt.timedelta(minutes=ONE_OFF_MINUTES)
        row = await db.scalar(
            select(ClassSession).where(
                ClassSession.group_id == group.id,
                ClassSession.title == title,
                ClassSession.entry_id.is_(None),
            )
        )
        if row is None:
            row = ClassSession(group_id=group.id, teacher_id=teacher.id, title=title)
            db.add(row)
        row.starts_at, row.ends_at = starts_at, ends_at
        out.append(DemoSession(title, group.name, starts_at, ends_at))
    return out


async def _class_code(db: AsyncSession, teacher: Person, group: ClassGroup) -> str:
    """The group's active class code, or a new one made by its teacher."""
    if group.join_code is not None and group.join_code_active:
        return shown(group.join_code)
    principal = await load_principal(db, teacher.id)
    assert principal is not None
    return await make_class_code(db, principal, group.id)


def _account(key: str, person: Person, schools: dict[str, School]) -> DemoAccount:
    role, _, _, school_key, accommodation = PEOPLE[key]
    if role is Role.PARENT:
        child = PEOPLE[CHILD[1]]
        about = f"parent of {child[1]} {child[2]}"
    else:
        about = schools[school_key or ""].name
        taught = [f"{g} ({s})" for t, g, s, _ in TEACHING if t == key]
        if taught:
            about += ": " + ", ".join(taught)
        if key in ENROLMENTS:
            about += f", {ENROLMENTS[key]}"
        if accommodation:
            about += ", accommodation (priority lane)"
        if role is Role.ADMIN:
            about += " (school administrator)"
    return DemoAccount(role, person.login, PASSWORDS[role], person.display_name, about)
