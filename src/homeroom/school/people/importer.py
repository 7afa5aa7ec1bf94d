"""A roster file written to a school: parse, diff against the database, write in bulk (docs/roster-import.md).

The cost is a fixed number of statements whatever the size of the file: the school's people,
groups and links are loaded in four queries, the difference is worked out in Python, and the
writes are bulk statements (SQLAlchemy's "insertmanyvalues" pages inserts by 1,000 rows, updates
go as one executemany), all in one transaction that this function commits.

What an import does, keyed by the school's own id (`Person.external_id`, unique in the school):

- a new id creates a person (with a login from `make_login`, no password: people get one through
  a one-time code later), their role in the school, and their links;
- a known id updates the display name and the accommodation flag when they differ, and the e-mail
  when the file gives one — an empty cell keeps a stored address, which parents often add
  themselves and school files often lack;
- it adds what is missing (role grants, class groups, enrolments, teaching assignments,
  guardianships) and never removes anything: a file may cover only part of a school, so what it
  does not mention is left as it is. Importing the same file twice therefore changes nothing.

People of other schools are never read or written, except that logins are unique nationally.
Writes bypass the session's identity map: objects already loaded in `db` are not refreshed.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import insert, literal, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from homeroom.errors import NotFound
from homeroom.school.data.models import (
    ClassGroup,
    Enrolment,
    Guardianship,
    Person,
    Role,
    RoleGrant,
    School,
    Teaching,
)
from homeroom.school.people.roster import RosterRow, RowError, make_login, parse_roster

IN_CHUNK: Final = 10_000  # values in one `IN (...)`: below SQLite's and asyncpg's 32,766 limits
NO_SUBJECT: Final = ""  # a teacher of a group with no subject given (the column is in the key)
LINKS: Final = ("enrolment", "teaching", "guardianship")


@dataclass(frozen=True, slots=True)
class RoleCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True, slots=True)
class NewLogin:
    """A person the import created: what a first sign-in code sheet needs."""

    line: int
    person_id: int
    external_id: str
    role: Role
    display_name: str
    login: str


@dataclass(frozen=True, slots=True)
class ImportReport:
    counts: Mapping[Role, RoleCounts]  # every role of the file's rows; others absent
    groups_created: tuple[str, ...]  # names, in the order the file first uses them
    errors: tuple[RowError, ...]  # from the parser: sorted by line, a line may have several
    logins: tuple[NewLogin, ...]  # in file order
    links_added: Mapping[str, int]  # "enrolment", "teaching", "guardianship"
    ignored_columns: tuple[str, ...] = ()  # header names that are not ours: a typo, perhaps

    @property
    def created(self) -> int:
        return sum(c.created for c in self.counts.values())

    @property
    def updated(self) -> int:
        return sum(c.updated for c in self.counts.values())

    @property
    def unchanged(self) -> int:
        return sum(c.unchanged for c in self.counts.values())


@dataclass(slots=True)
class _Stored:
    id: int
    display_name: str
    email: str | None
    accommodation: bool
    roles: set[Role] = field(default_factory=set)


@dataclass(slots=True)
class _School:
    """What the school holds before the import."""

    people: dict[str, _Stored]  # external id -> person
    groups: dict[str, int]  # name -> id
    links: dict[str, set[tuple[Any, ...]]]  # LINKS -> rows as tuples of their columns

    def pupils(self) -> frozenset[str]:
        return frozenset(ext for ext, p in self.people.items() if Role.PUPIL in p.roles)


async def import_roster(
    db: AsyncSession, school_id: int, data: bytes, *, now: dt.datetime
) -> ImportReport:
    """Import a roster file into school `school_id` and commit; `now` dates the new people.

    Raises `NotFound` for an unknown school, and the parser's `BadRequest` or `TooLarge` for a
    file that cannot be read at all (nothing is written then). Bad rows are in the report.
    """
    try:
        return await _import(db, school_id, data, now)
    except Exception:
        await db.rollback()  # a cancelled task's session is rolled back by its owner
        raise


async def _import(db: AsyncSession, school_id: int, data: bytes, now: dt.datetime) -> ImportReport:
    if (await db.execute(select(School.id).where(School.id == school_id))).first() is None:
        raise NotFound("school_not_found", "établissement inconnu", "unknown school")
    school = await _load(db, school_id)
    result = parse_roster(data, known_pupils=school.pupils())
    rows = result.rows
    groups_created = await _create_groups(db, school_id, rows, school.groups)
    new_rows = [row for row in rows if row.external_id not in school.people]
    logins = await _new_logins(db, new_rows)
    new_ids = await _insert_people(db, school_id, new_rows, logins, now)
    ids = {ext: p.id for ext, p in school.people.items()} | new_ids
    changes = _changed_fields(rows, school.people)
    if changes:
        await db.execute(update(Person), changes)
    grants = _missing_grants(rows, school, ids, school_id)
    if grants:
        await db.execute(insert(RoleGrant), grants)
    wanted = _wanted_links(rows, ids, school.groups)
    added = await _insert_links(db, wanted, school.links)
    await db.commit()
    touched = {c["id"] for c in changes} | {g["person_id"] for g in grants} | added.people
    return ImportReport(
        counts=_counts(rows, school.people, touched),
        groups_created=groups_created,
        errors=tuple(result.errors),
        logins=tuple(
            NewLogin(r.line, new_ids[r.external_id], r.external_id, r.role, r.display_name, login)
            for r, login in zip(new_rows, logins, strict=True)
        ),
        links_added=added.counts,
        ignored_columns=result.ignored_columns,
    )


async def _load(db: AsyncSession, school_id: int) -> _School:
    """The school's people with their roles here, its groups and its links: three queries."""
    people: dict[str, _Stored] = {}
    rows = await db.execute(
        select(
            Person.id,
            Person.external_id,
            Person.display_name,
            Person.email,
            Person.accommodation,
            RoleGrant.role,
        )
        .outerjoin(
            RoleGrant, (RoleGrant.person_id == Person.id) & (RoleGrant.school_id == school_id)
        )
        .where(Person.school_id == school_id, Person.external_id.is_not(None))
    )
    for pid, ext, name, email, accommodation, role in rows:
        stored = people.setdefault(str(ext), _Stored(pid, name, email, accommodation))
        if role is not None:
            stored.roles.add(role)
    groups = await db.execute(
        select(ClassGroup.name, ClassGroup.id).where(ClassGroup.school_id == school_id)
    )
    return _School(people, {name: gid for name, gid in groups}, await _load_links(db, school_id))


async def _load_links(db: AsyncSession, school_id: int) -> dict[str, set[tuple[Any, ...]]]:
    """Enrolments and teaching in the school's groups, guardianships of its parents: one query."""
    parent = select(Person.id).where(Person.school_id == school_id).scalar_subquery()
    groups = select(ClassGroup.id).where(ClassGroup.school_id == school_id).scalar_subquery()
    query = union_all(
        select(
            literal("enrolment"), Enrolment.pupil_id, Enrolment.group_id, literal(NO_SUBJECT)
        ).where(Enrolment.group_id.in_(groups)),
        select(literal("teaching"), Teaching.teacher_id, Teaching.group_id, Teaching.subject).where(
            Teaching.group_id.in_(groups)
        ),
        select(
            literal("guardianship"),
            Guardianship.parent_id,
            Guardianship.child_id,
            literal(NO_SUBJECT),
        ).where(Guardianship.parent_id.in_(parent)),
    )
    links: dict[str, set[tuple[Any, ...]]] = {kind: set() for kind in LINKS}
    for kind, a, b, subject in await db.execute(query):
        links[kind].add((a, b, subject) if kind == "teaching" else (a, b))
    return links


async def _create_groups(
    db: AsyncSession, school_id: int, rows: Sequence[RosterRow], groups: dict[str, int]
) -> tuple[str, ...]:
    """Create the groups the file names and the school lacks; adds them to `groups`."""
    missing = tuple(
        dict.fromkeys(name for row in rows for name in row.groups if name not in groups)
    )
    if missing:
        created = await db.execute(
            insert(ClassGroup).returning(ClassGroup.name, ClassGroup.id),
            [{"school_id": school_id, "name": name} for name in missing],
        )
        groups.update({name: gid for name, gid in created})
    return missing


class _Unchecked(Exception):
    """make_login asked about a login the database has not been asked about yet."""


async def _new_logins(db: AsyncSession, rows: Sequence[RosterRow]) -> list[str]:
    """A login for each row, in file order, free in the database and among the file's new ones.

    The result is what `make_login` would give one row after another, the database being asked
    in bulk: a first round asks, for each base login shared by n new people, about its first n
    candidates (`lea.dupont`, `lea.dupont2`…), which is enough unless the database already has
    some of them; the rows left go another round with four times as many candidates.
    """
    logins: dict[int, str] = {}
    used: set[str] = set()  # by the database, or given in this import
    checked: set[str] = set()

    def taken(candidate: str) -> bool:
        if candidate in used:
            return True
        if candidate in checked:
            return False
        raise _Unchecked

    pending = list(range(len(rows)))
    window = 1
    while pending:
        by_base: dict[str, list[int]] = {}
        for i in pending:
            by_base.setdefault(_base(rows[i]), []).append(i)
        wanted = {
            candidate
            for same in by_base.values()
            for candidate in _candidates(rows[same[0]], window * len(same))
        } - checked
        used |= await _existing_logins(db, wanted)
        checked |= wanted
        left: list[int] = []
        for i in pending:
            try:
                login = make_login(rows[i].given_name, rows[i].family_name, taken)
            except _Unchecked:
                left.append(i)
                continue
            logins[i] = login
            used.add(login)
        pending, window = left, window * 4
    return [logins[i] for i in range(len(rows))]


def _base(row: RosterRow) -> str:
    return make_login(row.given_name, row.family_name, lambda _candidate: False)


def _candidates(row: RosterRow, count: int) -> list[str]:
    """The first `count` logins `make_login` tries for the row, in its order."""
    seen: list[str] = []

    def taken(candidate: str) -> bool:
        seen.append(candidate)
        return len(seen) < count

    make_login(row.given_name, row.family_name, taken)
    return seen


async def _existing_logins(db: AsyncSession, candidates: Iterable[str]) -> set[str]:
    found: set[str] = set()
    values = sorted(candidates)
    for start in range(0, len(values), IN_CHUNK):
        chunk = values[start : start + IN_CHUNK]
        found.update(await db.scalars(select(Person.login).where(Person.login.in_(chunk))))
    return found


async def _insert_people(
    db: AsyncSession,
    school_id: int,
    rows: Sequence[RosterRow],
    logins: Sequence[str],
    now: dt.datetime,
) -> dict[str, int]:
    """Insert the new people; their ids by external id."""
    if not rows:
        return {}
    values = [
        {
            "login": login,
            "display_name": row.display_name,
            "email": row.email,
            "password_hash": None,
            "accommodation": row.accommodation,
            "disabled": False,
            "created_at": now,
            "external_id": row.external_id,
            "school_id": school_id,
        }
        for row, login in zip(rows, logins, strict=True)
    ]
    created = await db.execute(insert(Person).returning(Person.external_id, Person.id), values)
    return {str(ext): pid for ext, pid in created}


def _changed_fields(
    rows: Sequence[RosterRow], people: Mapping[str, _Stored]
) -> list[dict[str, Any]]:
    """One `update(Person)` parameter set per known person whose row says something new."""
    changes: list[dict[str, Any]] = []
    for row in rows:
        stored = people.get(row.external_id)
        if stored is None:
            continue
        email = row.email or stored.email  # an empty cell keeps a stored address
        new = (row.display_name, email, row.accommodation)
        if new != (stored.display_name, stored.email, stored.accommodation):
            changes.append(
                {
                    "id": stored.id,
                    "display_name": row.display_name,
                    "email": email,
                    "accommodation": row.accommodation,
                }
            )
    return changes


def _missing_grants(
    rows: Sequence[RosterRow], school: _School, ids: Mapping[str, int], school_id: int
) -> list[dict[str, Any]]:
    grants: list[dict[str, Any]] = []
    for row in rows:
        stored = school.people.get(row.external_id)
        if stored is None or row.role not in stored.roles:
            grants.append(
                {
                    "person_id": ids[row.external_id],
                    "role": row.role,
                    "academy_id": None,
                    "school_id": school_id,
                }
            )
    return grants


def _wanted_links(
    rows: Sequence[RosterRow], ids: Mapping[str, int], groups: Mapping[str, int]
) -> dict[str, dict[tuple[Any, ...], None]]:
    """Every link the file asks for, by kind, as ordered sets of column tuples."""
    wanted: dict[str, dict[tuple[Any, ...], None]] = {kind: {} for kind in LINKS}
    for row in rows:
        pid = ids[row.external_id]
        if row.role is Role.PUPIL:
            wanted["enrolment"].update(((pid, groups[g]), None) for g in row.groups)
        elif row.role is Role.TEACHER:
            subject = row.subject or NO_SUBJECT
            wanted["teaching"].update(((pid, groups[g], subject), None) for g in row.groups)
        elif row.role is Role.PARENT:
            wanted["guardianship"].update(((pid, ids[c]), None) for c in row.children)
    return wanted


@dataclass(frozen=True, slots=True)
class _Added:
    counts: dict[str, int]
    people: set[int]  # the first column of each added link: the person it changes


_COLUMNS: Final[dict[str, tuple[Any, tuple[str, ...]]]] = {
    "enrolment": (Enrolment, ("pupil_id", "group_id")),
    "teaching": (Teaching, ("teacher_id", "group_id", "subject")),
    "guardianship": (Guardianship, ("parent_id", "child_id")),
}


async def _insert_links(
    db: AsyncSession,
    wanted: Mapping[str, dict[tuple[Any, ...], None]],
    stored: Mapping[str, set[tuple[Any, ...]]],
) -> _Added:
    counts: dict[str, int] = {}
    people: set[int] = set()
    for kind in LINKS:
        model, columns = _COLUMNS[kind]
        missing = [link for link in wanted[kind] if link not in stored[kind]]
        counts[kind] = len(missing)
        if missing:
            await db.execute(
                insert(model), [dict(zip(columns, link, strict=True)) for link in missing]
            )
            people.update(link[0] for link in missing)
    return _Added(counts, people)


def _counts(
    rows: Sequence[RosterRow], people: Mapping[str, _Stored], touched: set[int]
) -> dict[Role, RoleCounts]:
    tally: dict[Role, Counter[str]] = {}
    for row in rows:
        stored = people.get(row.external_id)
        kind = "created" if stored is None else "updated" if stored.id in touched else "unchanged"
        tally.setdefault(row.role, Counter())[kind] += 1
    return {
        role: RoleCounts(c["created"], c["updated"], c["unchanged"]) for role, c in tally.items()
    }
