"""The school as one part of the application: its database, sign-in machinery and routes.

`School.from_settings` builds everything the school's pages and API need from the one typed
configuration; the application starts it (migrations to head, then the demo if asked) in its
lifespan and mounts `School.routes()` (docs/school.md#in-the-application).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.routing import BaseRoute

from homeroom import keys
from homeroom.config import Settings
from homeroom.live.jointoken import JoinTokens
from homeroom.school.api.gatelink import AttendanceEndpoints, SchoolWho
from homeroom.school.api.routes import school_routes
from homeroom.school.auth.passwords import OWASP_MINIMUM, PasswordParameters, Passwords, VerifyPool
from homeroom.school.auth.principals import Principals
from homeroom.school.auth.sessions import Sessions
from homeroom.school.auth.signin import SignIn
from homeroom.school.auth.throttle import Throttle
from homeroom.school.data import db, slides
from homeroom.school.deps import SchoolDeps
from homeroom.school.links.attendance import Attendance, GateAttendance, NoAttendance
from homeroom.school.pages.routes import page_routes
from homeroom.school.people import roster

if TYPE_CHECKING:
    from homeroom.gate.service import Gatekeeper

log = logging.getLogger("homeroom.school")


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
        gate: Gatekeeper | None = None,
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
            principals=Principals(clock),
            join_tokens=JoinTokens(keys.live_join_key(settings)),
            live_url=settings.live_public_url,
            live_port=settings.live_port,
        )
        # The gate and the school know each other through these two (docs/gate.md#who-is-coming).
        self.who = SchoolWho(self.sessionmaker, sessions, self.deps.principals, clock)
        attendance: Attendance = NoAttendance() if gate is None else GateAttendance(gate, clock)
        self.deps.attendance = attendance

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        password_parameters: PasswordParameters = OWASP_MINIMUM,
        gate: Gatekeeper | None = None,
    ) -> School:
        if settings.database_url.startswith("sqlite+aiosqlite:///.homeroom/"):
            Path(".homeroom").mkdir(exist_ok=True)
        passwords = Passwords(password_parameters)
        pool = VerifyPool(workers=settings.verify_workers or None, check=passwords.verify)
        secret = keys.session_key(settings)
        throttle = Throttle(settings.limits_url(), key=secret)  # shared when the backend is
        return cls(
            settings,
            db.engine_from_settings(settings),
            passwords,
            pool,
            throttle,
            Sessions(secret, clock=clock),
            clock,
            gate,
        )

    async def start(self) -> None:
        """Bring the database to the migrations' head (on a thread: Alembic runs its own loop),
        unless HOMEROOM_MIGRATE_ON_START=false leaves that to `homeroom migrate`.

        With `HOMEROOM_DEMO=1` (`make run`), then seed the demo académie and print its sign-in
        details (docs/school.md#demo).
        """
        if self.settings.migrate_on_start:  # else `homeroom run` checked `homeroom migrate` did
            await asyncio.to_thread(
                db.upgrade, self.settings.database_url, pgbouncer=self.settings.database_pgbouncer
            )
        if self.settings.demo:
            import datetime as dt  # here: only the demo needs them

            from homeroom.school import demo

            now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
            seeded = await demo.seed(self.sessionmaker, self.passwords, now)
            base = f"http://{self.settings.host}:{self.settings.port}"
            print(seeded.render(base, now), flush=True)

    async def stop(self) -> None:
        self.pool.close()
        await self.throttle.aclose()
        await self.engine.dispose()

    @staticmethod
    def large_bodies() -> list[tuple[re.Pattern[str], int]]:
        """The paths that take more than HOMEROOM_MAX_BODY_BYTES: roster and slides uploads."""
        limit = roster.MAX_BYTES + 64 * 1024  # the file, and a multipart form around it
        return [
            (re.compile(r"/api/v1/schools/[0-9]{1,10}/roster"), limit),
            (re.compile(r"/home/schools/[0-9]{1,10}/roster"), limit),
            (re.compile(r"/api/v1/sessions/[0-9]{1,10}/slides"), slides.MAX_BYTES),
        ]

    def routes(self) -> list[BaseRoute]:
        return [
            *school_routes(self.deps),
            *page_routes(self.deps),
            *AttendanceEndpoints(self.deps).routes(),
        ]
