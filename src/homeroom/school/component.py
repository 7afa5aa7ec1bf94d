"""The school as one part of the application: its database, sign-in machinery and routes.

`School.from_settings` builds everything the school's pages and API need from the one typed
configuration; the application starts it (migrations to head, then the demo if asked) in its
lifespan and mounts `School.routes()` (docs/school.md#in-the-application).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.routing import BaseRoute

from homeroom.config import Settings
from homeroom.school import db
from homeroom.school.api import school_routes
from homeroom.school.deps import SchoolDeps
from homeroom.school.passwords import OWASP_MINIMUM, PasswordParameters, Passwords, VerifyPool
from homeroom.school.sessions import Sessions
from homeroom.school.signin import SignIn
from homeroom.school.throttle import Throttle

log = logging.getLogger("homeroom.school")
SECRET_FILE = Path(".homeroom") / "session-secret"


def session_secret(settings: Settings) -> bytes:
    """The key that signs session cookies: configured, derived from the gate's keys, or local.

    Derived keys are labelled, so the session cookie and the gate's tokens never share a key.
    Without either, the embedded default keeps a random key in .homeroom/ so that a restart
    does not sign everyone out.
    """
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value().encode()
    if settings.secret_keys is not None:
        material = settings.secret_keys.get_secret_value().encode()
        return hashlib.blake2b(material, key=b"homeroom.session", digest_size=32).digest()
    with contextlib.suppress(OSError):
        if SECRET_FILE.exists():
            return bytes.fromhex(SECRET_FILE.read_text().strip())
    secret = secrets.token_bytes(32)
    with contextlib.suppress(OSError):
        SECRET_FILE.parent.mkdir(exist_ok=True)
        SECRET_FILE.write_text(secret.hex())
        os.chmod(SECRET_FILE, 0o600)
    return secret


class School:
    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        passwords: Passwords,
        pool: VerifyPool,
        throttle: Throttle,
        sessions: Sessions,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sessionmaker: async_sessionmaker[AsyncSession] = db.sessions(engine)
        self.passwords = passwords
        self.pool = pool
        self.throttle = throttle
        self.sessions = sessions
        self.clock = clock
        self.signin = SignIn(sessions, throttle, pool, passwords, clock=clock)
        self.deps = SchoolDeps(
            sessionmaker=self.sessionmaker,
            signin=self.signin,
            sessions=sessions,
            passwords=passwords,
            secure_cookies=settings.secure_cookies,
            clock=clock,
            appointment_lead_s=settings.appointment_lead_s,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        password_parameters: PasswordParameters = OWASP_MINIMUM,
    ) -> School:
        if settings.database_url.startswith("sqlite+aiosqlite:///.homeroom/"):
            Path(".homeroom").mkdir(exist_ok=True)
        passwords = Passwords(password_parameters)
        pool = VerifyPool(workers=settings.verify_workers or None, check=passwords.verify)
        secret = session_secret(settings)
        throttle = Throttle(settings.limits_url(), key=secret)  # shared when the backend is
        return cls(
            settings,
            db.engine_for(settings.database_url),
            passwords,
            pool,
            throttle,
            Sessions(secret, clock=clock),
            clock,
        )

    async def start(self) -> None:
        """Bring the database to the migrations' head (on a thread: Alembic runs its own loop)."""
        await asyncio.to_thread(db.upgrade, self.settings.database_url)

    async def stop(self) -> None:
        self.pool.close()
        await self.throttle.aclose()
        await self.engine.dispose()

    def routes(self) -> list[BaseRoute]:
        return [*school_routes(self.deps)]
