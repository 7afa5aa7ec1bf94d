"""The school's reads on SQLite and PostgreSQL: right rows, and a fixed number of queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from homeroom.core.lanes import Lane
from homeroom.school.data.queries import load_principal, place_of, sessions_of_groups
from tests.school.people import NOW, build


@contextmanager
def count_queries(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_principal_of_each_role(session: AsyncSession) -> None:
    demo = await build(session)
    pupil = await load_principal(session, demo.pupil)
    assert pupil is not None
    assert pupil.enrolled == frozenset(demo.groups) and pupil.lane is Lane.PRIORITY
    teacher = await load_principal(session, demo.teacher)
    assert teacher is not None and teacher.taught == frozenset(demo.groups)
    assert teacher.lane is Lane.STAFF
    parent = await load_principal(session, demo.parent)
    assert parent is not None
    assert parent.children == {demo.pupil} and parent.children_groups == frozenset(demo.groups)
    place = await place_of(session, demo.other_group)
    assert place is not None and not parent.sees_group(place)
    assert await load_principal(session, 999_999) is None


@pytest.mark.parametrize("classes", [1, 12])
async def test_pupil_dashboard_costs_the_same_queries_whatever_the_classes(
    engine: AsyncEngine, session: AsyncSession, classes: int
) -> None:
    demo = await build(session, classes=classes)
    with count_queries(engine) as seen:
        principal = await load_principal(session, demo.pupil)
        assert principal is not None
        rows = await sessions_of_groups(
            session, principal.enrolled, NOW, NOW + dt.timedelta(days=1)
        )
    assert len(rows) == 2 * classes
    # person with roles, the groups they relate to, the day's sessions: 3 whatever the classes
    assert len(seen) == 3
    assert [r.starts_at for r in rows] == sorted(r.starts_at for r in rows)
    assert all(r.starts_at.tzinfo is not None for r in rows)
    assert {r.title for r in rows} == {f"Maths 6e {chr(65 + i)}" for i in range(classes)}
    assert "Ailleurs" not in {r.title for r in rows}  # another school's class
