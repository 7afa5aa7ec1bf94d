"""Sign-in sessions on SQLite and PostgreSQL: idle and absolute timeouts, revocation, CSRF."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from homeroom.school.auth.sessions import LONG, STAFF, TOUCH_EVERY_S, Lifetime, Sessions
from tests.school.people import NOW, build


class Clock:
    def __init__(self) -> None:
        self.now = NOW.timestamp()

    def __call__(self) -> float:
        return self.now


async def test_a_session_lives_until_idle_or_absolute_timeout(session: AsyncSession) -> None:
    demo = await build(session)
    clock = Clock()
    sessions = Sessions(b"s" * 32, clock)
    cookie = await sessions.create(session, demo.pupil, Lifetime(idle_s=3600, absolute_s=4 * 3600))
    await session.commit()
    current = await sessions.check(session, cookie)
    assert current is not None and current.person_id == demo.pupil
    for _ in range(3):  # active every 50 minutes: stays signed in
        clock.now += 3000
        assert await sessions.check(session, cookie) is not None
    clock.now += 3601  # idle for more than an hour
    assert await sessions.check(session, cookie) is None
    other = await sessions.create(session, demo.pupil, Lifetime(idle_s=3600, absolute_s=4 * 3600))
    await session.commit()
    for _ in range(5):
        clock.now += 3000
    assert await sessions.check(session, other) is None  # past the absolute limit


async def test_forged_tampered_and_revoked_cookies_open_nothing(session: AsyncSession) -> None:
    demo = await build(session)
    sessions = Sessions(b"s" * 32, Clock())
    cookie = await sessions.create(session, demo.teacher, STAFF)
    await session.commit()
    for bad in (None, "", "x" * 500, cookie[:-2] + "AA", Sessions(b"t" * 32).__class__.__name__):
        assert await sessions.check(session, bad) is None
    forged = Sessions(b"other-secret-key-32-bytes-long!!", Clock())
    assert await forged.check(session, cookie) is None
    await sessions.revoke(session, cookie)
    await session.commit()
    assert await sessions.check(session, cookie) is None


async def test_revoking_a_person_ends_every_session_and_csrf_is_per_session(
    session: AsyncSession,
) -> None:
    demo = await build(session)
    sessions = Sessions(b"s" * 32, Clock())
    phone = await sessions.create(session, demo.pupil, LONG)
    laptop = await sessions.create(session, demo.pupil, LONG)
    await session.commit()
    a, b = await sessions.check(session, phone), await sessions.check(session, laptop)
    assert a is not None and b is not None
    assert a.csrf != b.csrf
    assert sessions.csrf_ok(a, a.csrf) and not sessions.csrf_ok(a, b.csrf)
    assert not sessions.csrf_ok(a, None) and not sessions.csrf_ok(a, "")
    await sessions.revoke_person(session, demo.pupil)
    await session.commit()
    assert await sessions.check(session, phone) is None
    assert await sessions.check(session, laptop) is None


async def test_a_check_writes_last_seen_only_now_and_then(session: AsyncSession) -> None:
    from homeroom.school.data.models import AuthSession

    demo = await build(session)
    clock = Clock()
    sessions = Sessions(b"s" * 32, clock)
    cookie = await sessions.create(session, demo.pupil, LONG)
    await session.commit()
    current = await sessions.check(session, cookie)
    assert current is not None
    first = (await session.get(AuthSession, current.id_hash)).last_seen_at  # type: ignore[union-attr]
    clock.now += 60
    await sessions.check(session, cookie)
    session.expire_all()
    assert (await session.get(AuthSession, current.id_hash)).last_seen_at == first  # type: ignore[union-attr]
    clock.now += TOUCH_EVERY_S
    await sessions.check(session, cookie)
    session.expire_all()
    assert (await session.get(AuthSession, current.id_hash)).last_seen_at > first  # type: ignore[union-attr]
