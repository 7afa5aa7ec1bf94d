"""Roster import into the database, on SQLite and PostgreSQL (docs/roster-import.md)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import aliased

from homeroom.errors import BadRequest, NotFound
from homeroom.school.data.models import (
    Academy,
    Base,
    ClassGroup,
    Enrolment,
    Guardianship,
    Person,
    Role,
    RoleGrant,
    School,
    Teaching,
)
from homeroom.school.people.importer import RoleCounts, import_roster
from tests.school.people import NOW
from tests.school.test_queries import count_queries

HEADER = "role;id;nom;prenom;classe;matiere;email;amenagement;enfants"
ROSTER = f"""{HEADER}
eleve;E1;Dupont;Léa;5e A;;;oui;
eleve;E2;N'Diaye;Moussa;5e A;;;non;
eleve;E3;Martin;Jade;5e B;;;;
eleve;E4;Dupont;Léa;5e B;;;;
enseignant;P1;Curie;Marie;"5e A;5e B";Physique-chimie;marie.curie@ac-paris.fr;;
enseignant;P2;Hugo;Victor;5e B;Français;;;
parent;R1;Dupont;Éric;;;eric.dupont@example.fr;;"E1;E4"
eleve;;Sans;Identifiant;5e A;;;;
eleve;E5;Mal;Écrit;5e A;;pas-une-adresse;;
parent;R2;Inconnu;Parent;;;;;E404
enseignant;P1;Curie;Pierre;5e A;Physique;;;
"""


async def two_schools(db: AsyncSession) -> tuple[int, int]:
    academy = Academy(code="creteil", name="Créteil")
    db.add(academy)
    await db.flush()
    schools = [
        School(academy_id=academy.id, uai=f"09400{i}1B", name=f"Collège {i}") for i in (1, 2)
    ]
    db.add_all(schools)
    await db.commit()
    return schools[0].id, schools[1].id


async def table_counts(db: AsyncSession) -> dict[str, int]:
    return {
        table.name: (await db.execute(select(func.count()).select_from(table))).scalar_one()
        for table in Base.metadata.sorted_tables
    }


async def snapshot(db: AsyncSession, school_id: int) -> dict[str, Any]:
    """The school's imported people and links, by external id and group name."""
    people = {
        ext: (login, name, email, accommodation, password)
        for ext, login, name, email, accommodation, password in await db.execute(
            select(
                Person.external_id,
                Person.login,
                Person.display_name,
                Person.email,
                Person.accommodation,
                Person.password_hash,
            ).where(Person.school_id == school_id)
        )
    }
    roles = set(
        await db.execute(
            select(Person.external_id, RoleGrant.role)
            .join(RoleGrant, RoleGrant.person_id == Person.id)
            .where(RoleGrant.school_id == school_id)
        )
    )
    enrolled = set(
        await db.execute(
            select(Person.external_id, ClassGroup.name)
            .join(Enrolment, Enrolment.pupil_id == Person.id)
            .join(ClassGroup, ClassGroup.id == Enrolment.group_id)
            .where(ClassGroup.school_id == school_id)
        )
    )
    taught = set(
        await db.execute(
            select(Person.external_id, ClassGroup.name, Teaching.subject)
            .join(Teaching, Teaching.teacher_id == Person.id)
            .join(ClassGroup, ClassGroup.id == Teaching.group_id)
            .where(ClassGroup.school_id == school_id)
        )
    )
    child = aliased(Person)
    guardians = set(
        await db.execute(
            select(Person.external_id, child.external_id)
            .join(Guardianship, Guardianship.parent_id == Person.id)
            .join(child, child.id == Guardianship.child_id)
            .where(Person.school_id == school_id)
        )
    )
    return {
        "people": people,
        "roles": roles,
        "enrolled": enrolled,
        "taught": taught,
        "guardians": guardians,
    }


async def test_good_rows_are_written_and_bad_rows_reported_by_line(session: AsyncSession) -> None:
    school, _ = await two_schools(session)
    report = await import_roster(session, school, ROSTER.encode(), now=NOW)

    assert [(e.line, e.reason) for e in report.errors] == [
        (9, "missing_id"),
        (10, "bad_email"),
        (11, "unknown_child"),
        (12, "duplicate_id"),
    ]
    assert report.counts == {
        Role.PUPIL: RoleCounts(created=4),
        Role.TEACHER: RoleCounts(created=2),
        Role.PARENT: RoleCounts(created=1),
    }
    assert report.groups_created == ("5e A", "5e B")
    assert report.links_added == {"enrolment": 4, "teaching": 3, "guardianship": 2}
    assert [(n.line, n.external_id, n.login) for n in report.logins] == [
        (2, "E1", "lea.dupont"),
        (3, "E2", "moussa.ndiaye"),
        (4, "E3", "jade.martin"),
        (5, "E4", "lea.dupont2"),
        (6, "P1", "marie.curie"),
        (7, "P2", "victor.hugo"),
        (8, "R1", "eric.dupont"),
    ]

    state = await snapshot(session, school)
    assert state["people"]["E1"] == ("lea.dupont", "Léa Dupont", None, True, None)
    assert state["people"]["P1"] == (
        "marie.curie",
        "Marie Curie",
        "marie.curie@ac-paris.fr",
        False,
        None,
    )
    assert set(state["people"]) == {"E1", "E2", "E3", "E4", "P1", "P2", "R1"}
    assert state["enrolled"] == {("E1", "5e A"), ("E2", "5e A"), ("E3", "5e B"), ("E4", "5e B")}
    assert state["taught"] == {
        ("P1", "5e A", "Physique-chimie"),
        ("P1", "5e B", "Physique-chimie"),
        ("P2", "5e B", "Français"),
    }
    assert state["guardians"] == {("R1", "E1"), ("R1", "E4")}
    assert ("E1", Role.PUPIL) in state["roles"] and ("R1", Role.PARENT) in state["roles"]
    assert len(state["roles"]) == 7
    created = await session.scalar(select(Person.created_at).where(Person.external_id == "E1"))
    assert created == NOW


async def test_importing_twice_changes_nothing(session: AsyncSession) -> None:
    school, _ = await two_schools(session)
    first = await import_roster(session, school, ROSTER.encode(), now=NOW)
    before = await table_counts(session)
    state = await snapshot(session, school)

    again = await import_roster(session, school, ROSTER.encode(), now=NOW)

    assert await table_counts(session) == before
    assert await snapshot(session, school) == state
    assert again.created == again.updated == 0 and again.unchanged == 7
    assert again.groups_created == () and again.logins == ()
    assert again.links_added == {"enrolment": 0, "teaching": 0, "guardianship": 0}
    assert again.errors == first.errors


async def test_a_changed_row_updates_the_person_and_keeps_the_login(session: AsyncSession) -> None:
    school, _ = await two_schools(session)
    await import_roster(session, school, ROSTER.encode(), now=NOW)
    changed = (
        ROSTER.replace(
            "eleve;E2;N'Diaye;Moussa;5e A;;;non;", "eleve;E2;N'Diaye;Moussa Ali;5e A;;;oui;"
        )
        # an empty e-mail cell keeps the stored address
        .replace("marie.curie@ac-paris.fr", "")
        # a new class for a known pupil: an enrolment added, none removed
        .replace("eleve;E3;Martin;Jade;5e B;;;;", 'eleve;E3;Martin;Jade;"5e B;Latin";;;;')
    )

    report = await import_roster(session, school, changed.encode(), now=NOW)

    assert report.counts[Role.PUPIL] == RoleCounts(created=0, updated=2, unchanged=2)
    assert report.counts[Role.TEACHER] == RoleCounts(unchanged=2)
    assert report.groups_created == ("Latin",)
    state = await snapshot(session, school)
    assert state["people"]["E2"] == ("moussa.ndiaye", "Moussa Ali N'Diaye", None, True, None)
    assert state["people"]["P1"][2] == "marie.curie@ac-paris.fr"
    assert {g for ext, g in state["enrolled"] if ext == "E3"} == {"5e B", "Latin"}


async def test_a_login_taken_anywhere_gets_the_next_number(session: AsyncSession) -> None:
    school, other = await two_schools(session)
    session.add_all(
        Person(login=login, display_name="Léa Dupont", created_at=NOW, school_id=other)
        for login in ("lea.dupont", "lea.dupont3")
    )
    await session.commit()

    report = await import_roster(session, school, ROSTER.encode(), now=NOW)

    logins = {n.external_id: n.login for n in report.logins}
    assert (logins["E1"], logins["E4"]) == ("lea.dupont2", "lea.dupont4")


async def test_a_parent_of_a_pupil_the_school_already_has(session: AsyncSession) -> None:
    school, _ = await two_schools(session)
    await import_roster(
        session, school, f"{HEADER}\neleve;E9;Roux;Lou;4e C;;;;\n".encode(), now=NOW
    )

    report = await import_roster(
        session, school, f"{HEADER}\nparent;R9;Roux;Anne;;;;;E9\n".encode(), now=NOW
    )

    assert report.errors == () and report.counts == {Role.PARENT: RoleCounts(created=1)}
    assert (await snapshot(session, school))["guardians"] == {("R9", "E9")}


async def test_another_school_is_never_touched(session: AsyncSession) -> None:
    school, other = await two_schools(session)
    await import_roster(
        session, other, f"{HEADER}\neleve;E1;Autre;Élève;5e A;;;;\n".encode(), now=NOW
    )
    before = await snapshot(session, other)

    report = await import_roster(session, school, ROSTER.encode(), now=NOW)

    assert report.counts[Role.PUPIL] == RoleCounts(created=4)
    assert report.groups_created == ("5e A", "5e B")  # not the other school's "5e A"
    assert await snapshot(session, other) == before
    assert (await snapshot(session, school))["people"]["E1"][1] == "Léa Dupont"


async def test_unknown_school_and_unreadable_file_write_nothing(session: AsyncSession) -> None:
    school, _ = await two_schools(session)
    before = await table_counts(session)
    with pytest.raises(NotFound):
        await import_roster(session, 999_999, ROSTER.encode(), now=NOW)
    with pytest.raises(BadRequest):
        await import_roster(session, school, b"nom;prenom\nDupont;Lea\n", now=NOW)
    assert await table_counts(session) == before


def pupils(prefix: str, count: int) -> bytes:
    lines = [HEADER] + [
        f"eleve;{prefix}{n};Nom{prefix}{n};{prefix}{n};{prefix}-{n % 7};;;;" for n in range(count)
    ]
    return "\n".join(lines).encode()


async def test_the_statements_do_not_grow_with_the_rows(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    school, other = await two_schools(session)
    with count_queries(engine) as small:
        await import_roster(session, school, pupils("a", 10), now=NOW)
    with count_queries(engine) as large:
        await import_roster(session, other, pupils("b", 600), now=NOW)
    # school, people, groups, links; logins; then groups, people, grants, enrolments
    assert len(small) == len(large) == 9
