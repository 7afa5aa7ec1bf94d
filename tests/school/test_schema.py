"""The school schema on SQLite and PostgreSQL: the migrations match the model, every model round
trips, and the database enforces uniqueness and cascades (docs/school.md#how-to-test-it)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Table, UniqueConstraint, delete, func, inspect, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from homeroom.core.live.parts import Role as LiveRole
from homeroom.school.data import db
from homeroom.school.data.models import (
    Academy,
    AuthSession,
    Base,
    ChatAudience,
    ChatMessage,
    ClassGroup,
    ClassSession,
    Enrolment,
    Guardianship,
    Invitation,
    LiveRevocation,
    OneTimeCode,
    Outcome,
    Person,
    PollResult,
    Role,
    RoleGrant,
    School,
    SignInEvent,
    Teaching,
    TimetableEntry,
)

MONDAY_8_PARIS = dt.datetime(2026, 3, 2, 8, 0, tzinfo=ZoneInfo("Europe/Paris"))
MONDAY_7_UTC = dt.datetime(2026, 3, 2, 7, 0, tzinfo=dt.UTC)  # the same instant


# -- the schema ------------------------------------------------------------------------------------


def model_schema(table: Table) -> dict[str, Any]:
    return {
        "columns": {column.name: column.nullable for column in table.columns},
        "primary key": [column.name for column in table.primary_key.columns],
        "unique": {
            (constraint.name, tuple(column.name for column in constraint.columns))
            for constraint in table.constraints
            if isinstance(constraint, UniqueConstraint)
        },
        "foreign keys": {
            (fk.name, *fk.column_keys, fk.referred_table.name, fk.ondelete)
            for fk in table.foreign_key_constraints
        },
        "indexes": {(index.name, tuple(c.name for c in index.columns)) for index in table.indexes},
    }


def database_schema(connection: Connection) -> dict[str, dict[str, Any]]:
    """What the database says it holds, shaped as model_schema (Alembic's own table aside)."""
    inspector = inspect(connection)
    tables = {}
    for name in inspector.get_table_names():
        if name == "alembic_version":
            continue
        tables[name] = {
            "columns": {c["name"]: c["nullable"] for c in inspector.get_columns(name)},
            "primary key": inspector.get_pk_constraint(name)["constrained_columns"],
            "unique": {
                (u["name"], tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(name)
            },
            "foreign keys": {
                (
                    fk["name"],
                    *fk["constrained_columns"],
                    fk["referred_table"],
                    fk["options"].get("ondelete"),
                )
                for fk in inspector.get_foreign_keys(name)
            },
            "indexes": {
                (i["name"], tuple(i["column_names"]))
                for i in inspector.get_indexes(name)
                if "duplicates_constraint" not in i  # PostgreSQL's index behind a UNIQUE
            },
        }
    return tables


async def schema_of(url: str) -> tuple[dict[str, dict[str, Any]], list[Any]]:
    """The reflected schema, and what Alembic's autogenerate would still change."""
    engine = db.engine_for(url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(database_schema)
            diff = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
    finally:
        await engine.dispose()
    return tables, diff


async def assert_schema_is_the_model(url: str) -> None:
    tables, diff = await schema_of(url)
    assert sorted(tables) == sorted(Base.metadata.tables)
    for name, table in Base.metadata.tables.items():
        assert tables[name] == model_schema(table), name
    assert diff == []


async def test_migrations_create_exactly_the_model(db_url: str) -> None:
    await assert_schema_is_the_model(db_url)


async def test_downgrade_to_base_drops_everything_and_upgrade_rebuilds(empty_db_url: str) -> None:
    db.upgrade(empty_db_url)  # what it builds is checked by the test above
    command.downgrade(db.alembic_config(empty_db_url), "base")
    tables, _ = await schema_of(empty_db_url)
    assert tables == {}

    db.upgrade(empty_db_url)
    await assert_schema_is_the_model(empty_db_url)


# -- rows ------------------------------------------------------------------------------------------


@dataclass
class World:
    """One of each: the rows a test builds on."""

    academy: Academy
    school: School
    group: ClassGroup
    teacher: Person
    pupil: Person
    parent: Person
    rows: list[Any]  # everything added, held here: the session only holds its rows weakly


def person(login: str, school_id: int | None, role: Role, **fields: Any) -> Person:
    someone = Person(
        login=login,
        display_name=login.title(),
        created_at=MONDAY_7_UTC - dt.timedelta(days=30),
        school_id=school_id,
        **fields,
    )
    someone.roles.append(RoleGrant(role=role, school_id=school_id))
    return someone


async def build_world(session: AsyncSession, uai: str = "9741234A") -> World:
    """An académie overseas, a school, a class with its teacher, a pupil and a parent, and the
    class's weekly Maths lesson with its first session."""
    academy = Academy(code=f"ac-{uai}", name="La Réunion", timezone="Indian/Reunion")
    school = School(academy=academy, uai=uai, name="Collège Bourbon")
    group = ClassGroup(school=school, name="6e B", join_code=f"J{uai}")
    session.add_all([academy, school, group])
    await session.flush()
    teacher = person(f"teacher-{uai}", school.id, Role.TEACHER, email="prof@example.org")
    pupil = person(f"pupil-{uai}", school.id, Role.PUPIL, accommodation=True, external_id="42")
    parent = person(f"parent-{uai}", None, Role.PARENT, email="parent@example.org")
    session.add_all([teacher, pupil, parent])
    await session.flush()
    entry = TimetableEntry(
        group_id=group.id,
        teacher_id=teacher.id,
        title="Maths",
        weekday=0,
        local_start=dt.time(11, 0),
        minutes=55,
        first_day=dt.date(2026, 3, 2),
        last_day=dt.date(2026, 7, 3),
    )
    session.add(entry)
    await session.flush()
    links = [
        Enrolment(pupil_id=pupil.id, group_id=group.id),
        Teaching(teacher_id=teacher.id, group_id=group.id, subject="Maths"),
        Guardianship(parent_id=parent.id, child_id=pupil.id),
        ClassSession(
            group_id=group.id,
            teacher_id=teacher.id,
            title="Maths",
            starts_at=MONDAY_7_UTC,
            ends_at=MONDAY_8_PARIS + dt.timedelta(minutes=55),
            entry_id=entry.id,
        ),
    ]
    session.add_all(links)
    await session.commit()
    people = [teacher, pupil, parent]
    grants = [grant for someone in people for grant in someone.roles]
    rows = [academy, school, group, *people, *grants, entry, *links]
    return World(academy, school, group, teacher, pupil, parent, rows)


def row_values(row: Any) -> dict[str, Any]:
    return {column.key: getattr(row, column.key) for column in inspect(type(row)).column_attrs}


def by_identity(rows: list[Any]) -> dict[tuple[type[Any], Any], dict[str, Any]]:
    return {(type(row), inspect(row).identity): row_values(row) for row in rows}


async def test_every_model_round_trips(session: AsyncSession) -> None:
    world = await build_world(session)
    week = dt.timedelta(days=7)
    sign_in = [
        Invitation(
            token_hash=bytes(range(32)),
            role=Role.PUPIL,
            school_id=world.school.id,
            group_id=world.group.id,
            created_by=world.teacher.id,
            expires_at=MONDAY_8_PARIS + week,
            max_uses=30,
        ),
        AuthSession(
            id_hash=b"\x00" * 31 + b"\xff",
            person_id=world.pupil.id,
            created_at=MONDAY_7_UTC,
            last_seen_at=MONDAY_8_PARIS,
            idle_s=8 * 3600,
            absolute_until=MONDAY_7_UTC + 4 * week,
            csrf_secret=bytes(range(100, 132)),
        ),
        OneTimeCode(person_id=world.pupil.id, code_hash=b"c" * 32, expires_at=MONDAY_7_UTC),
        SignInEvent(
            person_id=world.pupil.id,
            at=MONDAY_7_UTC,
            address_block="203.0.113.0/24",
            outcome=Outcome.OK,
        ),
        SignInEvent(
            person_id=None,
            at=MONDAY_8_PARIS,
            address_block="2001:db8::/48",
            outcome=Outcome.UNKNOWN,
        ),
    ]
    lesson = next(row for row in world.rows if isinstance(row, ClassSession))
    live = [
        ChatMessage(
            session_id=lesson.id,
            epoch="e1",
            seq=3,
            person_id=world.pupil.id,
            display_name="Pupil",
            role=LiveRole.PUPIL,
            audience=ChatAudience.TEACHER,
            breakout_group=2,
            text="une question ?",
            sent_at=MONDAY_8_PARIS,
        ),
        PollResult(
            session_id=lesson.id,
            epoch="e1",
            poll=1,
            question="2 + 2 ?",
            choices=["3", "4"],
            multiple=False,
            counts=[1, 4],
            voters=5,
            shown=True,
            closed_at=MONDAY_7_UTC,
        ),
        LiveRevocation(room="s1", person="*", grant_tag="ab12", before_ms=1_790_000_000_123),
    ]
    session.add_all([*sign_in, *live])
    await session.commit()
    written = by_identity(world.rows + sign_in + live)
    assert {kind for kind, _ in written} == {mapper.class_ for mapper in Base.registry.mappers}

    session.expunge_all()
    for kind in {kind for kind, _ in written}:
        for row in (await session.scalars(select(kind))).all():
            assert row_values(row) == written[kind, inspect(row).identity], kind.__name__

    pupil = await session.get_one(Person, world.pupil.id)
    assert (pupil.email, pupil.accommodation, pupil.disabled) == (None, True, False)
    pupil_roles = await session.scalars(
        select(RoleGrant.role).where(RoleGrant.person_id == pupil.id)
    )
    assert pupil_roles.all() == [Role.PUPIL]
    lesson = await session.scalar(select(ClassSession))
    assert lesson is not None
    for moment in (lesson.starts_at, lesson.ends_at, pupil.created_at):
        assert moment.tzinfo is not None and moment.utcoffset() == dt.timedelta(0)
    assert lesson.ends_at == MONDAY_7_UTC + dt.timedelta(minutes=55)
    academy = await session.get_one(Academy, world.academy.id)
    assert academy.timezone == "Indian/Reunion"


async def test_a_naive_datetime_is_refused(session: AsyncSession) -> None:
    world = await build_world(session)
    session.add(
        OneTimeCode(
            person_id=world.pupil.id, code_hash=b"n" * 32, expires_at=dt.datetime(2026, 3, 2, 8)
        )
    )
    with pytest.raises(StatementError, match="naive datetime"):
        await session.flush()


async def test_a_new_academie_has_the_paris_zone(session: AsyncSession) -> None:
    session.add(Academy(code="versailles", name="Versailles"))
    await session.commit()
    assert await session.scalar(select(Academy.timezone)) == "Europe/Paris"


# -- constraints -----------------------------------------------------------------------------------


async def test_two_schools_cannot_share_a_uai(session: AsyncSession) -> None:
    world = await build_world(session)
    session.add(School(academy_id=world.academy.id, uai=world.school.uai, name="Another"))
    with pytest.raises(IntegrityError):
        await session.commit()


async def test_two_people_cannot_share_a_login(session: AsyncSession) -> None:
    world = await build_world(session)
    session.add(person(world.pupil.login, None, Role.PARENT))
    with pytest.raises(IntegrityError):
        await session.commit()


async def count(session: AsyncSession, kind: type[Any]) -> int:
    return await session.scalar(select(func.count()).select_from(kind)) or 0


async def test_deleting_a_school_deletes_its_classes_and_what_hangs_on_them(
    session: AsyncSession,
) -> None:
    world = await build_world(session)
    await session.execute(delete(School).where(School.id == world.school.id))
    await session.commit()
    session.expunge_all()

    for kind in (ClassGroup, Enrolment, Teaching, TimetableEntry, ClassSession):
        assert await count(session, kind) == 0, kind.__name__
    # The people stay, out of any school; only the parent's role had no school to go with.
    pupil = await session.get_one(Person, world.pupil.id)
    assert pupil.school_id is None
    assert (await session.scalars(select(RoleGrant.role))).all() == [Role.PARENT]
    assert await count(session, Guardianship) == 1


async def test_deleting_a_school_through_the_orm(session: AsyncSession) -> None:
    world = await build_world(session)
    await session.delete(world.school)
    await session.commit()
    assert await count(session, ClassGroup) == 0
    assert await count(session, Enrolment) == 0


async def test_an_academie_with_schools_cannot_be_deleted(session: AsyncSession) -> None:
    world = await build_world(session)
    with pytest.raises(IntegrityError):
        await session.execute(delete(Academy).where(Academy.id == world.academy.id))
