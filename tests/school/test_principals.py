"""The Principal cache: a signed-in request costs no query while it is fresh; changes are seen."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from homeroom.school.auth.principals import Principals
from homeroom.school.data.models import Person
from tests.school.people import build


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def counting(engine: AsyncEngine) -> list[str]:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    return statements


async def test_a_fresh_principal_costs_no_query_and_expires(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    demo = await build(session)
    clock = Clock()
    principals = Principals(clock, ttl_s=10)
    statements = counting(engine)
    first = await principals.get(session, demo.pupil)
    loaded = len(statements)
    assert first is not None and loaded > 0
    assert await principals.get(session, demo.pupil) is first and len(statements) == loaded
    clock.now += 11
    again = await principals.get(session, demo.pupil)
    assert again == first and again is not first and len(statements) > loaded


async def test_forget_sees_a_change_at_once_and_a_disabled_person_is_none(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    demo = await build(session)
    principals = Principals(Clock())
    assert await principals.get(session, demo.pupil) is not None
    pupil = await session.get(Person, demo.pupil)
    assert pupil is not None
    pupil.disabled = True
    await session.commit()
    assert await principals.get(session, demo.pupil) is not None  # cached: as sessions are
    principals.forget(demo.pupil)
    assert await principals.get(session, demo.pupil) is None
