"""Sign-in: throttle, verify the password off the event loop, open a session, audit it.

Every refusal a person can meet says the same thing whether the login exists or not, and an
unknown login costs the same argon2 verification as a wrong password (docs/school.md#sign-in).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from homeroom.errors import Forbidden, TooManyRequests
from homeroom.school.auth.passwords import Busy, Passwords, VerifyPool
from homeroom.school.auth.sessions import LONG, SHARED_DEVICE, STAFF, Lifetime, Sessions
from homeroom.school.auth.throttle import Kind, Throttle, normalise_login
from homeroom.school.data.models import Outcome, Person, Role, RoleGrant, SignInEvent

STAFF_ROLES = (Role.OPERATOR, Role.ADMIN, Role.TEACHER)


@dataclass(frozen=True, slots=True)
class SignedIn:
    person_id: int
    cookie: str
    lifetime: Lifetime


def bad_credentials() -> Forbidden:
    return Forbidden(
        "bad_credentials",
        "Identifiant ou mot de passe incorrect.",
        "Wrong login or password.",
    )


class SignIn:
    def __init__(
        self,
        sessions: Sessions,
        throttle: Throttle,
        pool: VerifyPool,
        passwords: Passwords,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sessions = sessions
        self.throttle = throttle
        self.pool = pool
        self.passwords = passwords
        self.clock = clock

    async def sign_in(
        self, db: AsyncSession, login: str, password: str, block: str, *, shared_device: bool
    ) -> SignedIn:
        """Open a session, or raise TooManyRequests, Forbidden, or Busy (503)."""
        verdict = await self.throttle.check(login, block)
        # Logins are stored as make_login makes them (ASCII, lower case): compare normalised, on
        # the unique index.
        person = await db.scalar(select(Person).where(Person.login == normalise_login(login)))
        if verdict.kind is not Kind.OK:
            await self._audit(
                db,
                person,
                block,
                Outcome.LOCKED if verdict.kind is Kind.LOCKED else Outcome.THROTTLED,
            )
            raise TooManyRequests(
                "signin_throttled",
                "Trop d'essais : attendez un peu avant de réessayer.",
                "Too many attempts: wait a little before trying again.",
                retry_after=max(1, verdict.retry_after),
            )
        usable = person is not None and not person.disabled
        stored = person.password_hash if person is not None and usable else None
        checked = await self.pool.verify(stored, password)
        if not checked.ok:
            await self.throttle.failed(login, block)
            outcome = (
                Outcome.UNKNOWN
                if person is None
                else (Outcome.DISABLED if person.disabled else Outcome.BAD_PASSWORD)
            )
            await self._audit(db, person, block, outcome)
            raise bad_credentials()
        assert person is not None
        await self.throttle.succeeded(login, block)
        if checked.needs_rehash:  # parameters changed since this hash was made
            # on the bounded pool; when it is full the rehash waits for the next sign-in
            with contextlib.suppress(Busy):
                person.password_hash = await self.pool.call(self.passwords.hash, password)
        staff = await db.scalar(
            select(func.count())
            .select_from(RoleGrant)
            .where(RoleGrant.person_id == person.id, RoleGrant.role.in_(STAFF_ROLES))
        )
        lifetime = SHARED_DEVICE if shared_device else (STAFF if staff else LONG)
        cookie = await self.sessions.create(db, person.id, lifetime)
        await self._audit(db, person, block, Outcome.OK)
        return SignedIn(person.id, cookie, lifetime)

    async def _audit(
        self, db: AsyncSession, person: Person | None, block: str, outcome: Outcome
    ) -> None:
        db.add(
            SignInEvent(
                person_id=None if person is None else person.id,
                at=dt.datetime.fromtimestamp(self.clock(), dt.UTC),
                address_block=block[:64],
                outcome=outcome,
            )
        )
        await db.commit()
