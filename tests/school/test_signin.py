"""Sign-in on SQLite and PostgreSQL: sessions, same refusal for unknown and wrong, lockout, audit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from homeroom.errors import Forbidden, TooManyRequests
from homeroom.school.auth.passwords import Busy, PasswordParameters, Passwords, VerifyPool
from homeroom.school.auth.sessions import LONG, SHARED_DEVICE, STAFF, Sessions
from homeroom.school.auth.signin import SignIn
from homeroom.school.auth.throttle import Throttle
from homeroom.school.data.models import Outcome, Person, SignInEvent
from tests.school.people import build

CHEAP = PasswordParameters(1, 64, 1)  # what is tested here is the flow, not argon2's cost
SCHOOL_BLOCK = "192.0.2.0/24"


@pytest.fixture
async def signin() -> AsyncIterator[SignIn]:
    passwords = Passwords(CHEAP)
    pool = VerifyPool(workers=1, check=passwords.verify)
    throttle = Throttle("memory://")
    try:
        yield SignIn(Sessions(b"k" * 32), throttle, pool, passwords)
    finally:
        pool.close()
        await throttle.aclose()


async def with_passwords(session: AsyncSession, signin: SignIn) -> dict[str, int]:
    demo = await build(session)
    for pid in (demo.pupil, demo.teacher):
        person = await session.get(Person, pid)
        assert person is not None
        person.password_hash = signin.passwords.hash("correct horse battery")
    await session.commit()
    return {"pupil": demo.pupil, "teacher": demo.teacher}


async def events(session: AsyncSession) -> list[tuple[int | None, Outcome, str]]:
    rows = (
        await session.execute(
            select(SignInEvent.person_id, SignInEvent.outcome, SignInEvent.address_block).order_by(
                SignInEvent.id
            )
        )
    ).all()
    return [(r[0], r[1], r[2]) for r in rows]


async def test_a_right_password_opens_a_long_session_and_is_audited(
    session: AsyncSession, signin: SignIn
) -> None:
    ids = await with_passwords(session, signin)
    done = await signin.sign_in(
        session, " LEA ", "correct horse battery", SCHOOL_BLOCK, shared_device=False
    )
    assert done.person_id == ids["pupil"] and done.lifetime == LONG
    current = await signin.sessions.check(session, done.cookie)
    assert current is not None and current.person_id == ids["pupil"]
    teacher = await signin.sign_in(
        session, "prof", "correct horse battery", SCHOOL_BLOCK, shared_device=False
    )
    assert teacher.lifetime == STAFF
    shared = await signin.sign_in(
        session, "lea", "correct horse battery", SCHOOL_BLOCK, shared_device=True
    )
    assert shared.lifetime == SHARED_DEVICE
    assert await events(session) == [
        (ids["pupil"], Outcome.OK, SCHOOL_BLOCK),
        (ids["teacher"], Outcome.OK, SCHOOL_BLOCK),
        (ids["pupil"], Outcome.OK, SCHOOL_BLOCK),
    ]


async def test_unknown_login_and_wrong_password_are_refused_alike(
    session: AsyncSession, signin: SignIn
) -> None:
    ids = await with_passwords(session, signin)
    with pytest.raises(Forbidden) as wrong:
        await signin.sign_in(session, "lea", "nope nope nope", SCHOOL_BLOCK, shared_device=False)
    with pytest.raises(Forbidden) as unknown:
        await signin.sign_in(
            session, "nobody.here", "nope nope nope", SCHOOL_BLOCK, shared_device=False
        )
    assert wrong.value.body("fr") == unknown.value.body("fr")
    assert wrong.value.body("en") == unknown.value.body("en")
    # a person without a password yet (roster import) cannot sign in with any password
    with pytest.raises(Forbidden):
        await signin.sign_in(session, "maman", "", SCHOOL_BLOCK, shared_device=False)
    outcomes = [(pid, o) for pid, o, _ in await events(session)]
    assert outcomes[:2] == [(ids["pupil"], Outcome.BAD_PASSWORD), (None, Outcome.UNKNOWN)]


async def test_five_failures_lock_the_account_from_that_block_only(
    session: AsyncSession, signin: SignIn
) -> None:
    await with_passwords(session, signin)
    attacker = "203.0.113.0/24"
    for _ in range(5):
        with pytest.raises(Forbidden):
            await signin.sign_in(session, "lea", "guess guess", attacker, shared_device=False)
    with pytest.raises(TooManyRequests) as locked:
        await signin.sign_in(session, "lea", "correct horse battery", attacker, shared_device=False)
    assert locked.value.retry_after is not None and locked.value.retry_after > 0
    # the pupil at school, behind the school's address, is not locked out by the attacker
    done = await signin.sign_in(
        session, "lea", "correct horse battery", SCHOOL_BLOCK, shared_device=False
    )
    assert done.cookie
    assert (await events(session))[5][1] is Outcome.LOCKED


async def test_a_hash_with_old_parameters_is_upgraded_at_sign_in(
    session: AsyncSession, signin: SignIn
) -> None:
    ids = await with_passwords(session, signin)
    person = await session.get(Person, ids["pupil"])
    assert person is not None
    person.password_hash = Passwords(PasswordParameters(2, 128, 1)).hash("correct horse battery")
    await session.commit()
    await signin.sign_in(session, "lea", "correct horse battery", SCHOOL_BLOCK, shared_device=False)
    await session.refresh(person)
    assert person.password_hash is not None and "m=64,t=1,p=1" in person.password_hash


async def test_a_hash_made_with_old_parameters_is_rehashed_at_sign_in(
    session: AsyncSession, signin: SignIn
) -> None:
    ids = await with_passwords(session, signin)
    pupil = await session.get(Person, ids["pupil"])
    assert pupil is not None
    pupil.password_hash = Passwords(PasswordParameters(1, 128, 1)).hash("correct horse battery")
    await session.commit()
    await signin.sign_in(session, "lea", "correct horse battery", SCHOOL_BLOCK, shared_device=False)
    await session.refresh(pupil)
    assert pupil.password_hash is not None and "m=64," in pupil.password_hash
    assert signin.passwords.verify(pupil.password_hash, "correct horse battery").ok


async def test_a_full_pool_defers_the_rehash_but_not_the_sign_in(
    session: AsyncSession, signin: SignIn
) -> None:
    ids = await with_passwords(session, signin)
    pupil = await session.get(Person, ids["pupil"])
    assert pupil is not None
    old = Passwords(PasswordParameters(1, 128, 1)).hash("correct horse battery")
    pupil.password_hash = old
    await session.commit()
    calls = 0
    real_call = signin.pool.call

    async def verify_then_full(work: object, *args: object) -> object:
        nonlocal calls
        calls += 1
        if calls > 1:  # the verification ran; the pool is full when the rehash asks
            raise Busy(retry_after=1)
        return await real_call(work, *args)  # type: ignore[arg-type]

    signin.pool.call = verify_then_full  # type: ignore[method-assign,assignment]
    done = await signin.sign_in(
        session, "lea", "correct horse battery", SCHOOL_BLOCK, shared_device=False
    )
    assert done.person_id == ids["pupil"] and calls == 2
    await session.refresh(pupil)
    assert pupil.password_hash == old
