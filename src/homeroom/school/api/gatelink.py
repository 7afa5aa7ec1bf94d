"""The school tells the gate who is coming, and shows a teacher who got through it.

`SchoolWho` is the gate's `Who` (gate/who.py): from the `hr_sid` cookie, the person, the lane of
their role and a pupil's next class today. The gate asks only when the cookie is there; the
answer is cached per session for `sessions.CACHE_S`, as the session check itself is, so a
waiting page that reloads costs no query. `AttendanceEndpoints` serve a class session's counts
to its teachers (docs/gate.md#who-is-coming).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from homeroom.core.lanes import Lane
from homeroom.errors import NotFound
from homeroom.gate.who import Person
from homeroom.school.api.base import NO_STORE, Endpoints, iso, path_id
from homeroom.school.auth.principals import Principals
from homeroom.school.auth.sessions import CACHE_MAX, CACHE_S, COOKIE, Sessions
from homeroom.school.data.access import Principal
from homeroom.school.data.models import DEFAULT_ZONE, ClassGroup, ClassSession, Enrolment, Role

log = logging.getLogger("homeroom.school")


def no_session() -> NotFound:
    return NotFound("no_session", "Cours introuvable.", "No such class session.")


def _utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)


def end_of_day(now: dt.datetime, zone: str = DEFAULT_ZONE) -> dt.datetime:
    """The next local midnight after `now` in `zone`, in UTC: "today" ends there."""
    local = now.astimezone(ZoneInfo(zone))
    midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), local.tzinfo)
    return midnight.astimezone(dt.UTC)


async def next_class_start(
    db: AsyncSession, groups: frozenset[int], now: dt.datetime
) -> dt.datetime | None:
    """The start of the first class of these groups today that has not ended: one query.

    A class under way counts (its start is past, so it gives no appointment: come in now)."""
    if not groups:
        return None
    start: dt.datetime | None = await db.scalar(
        select(func.min(ClassSession.starts_at)).where(
            ClassSession.group_id.in_(groups),
            ClassSession.ends_at > now,
            ClassSession.starts_at < end_of_day(now),
        )
    )
    if start is not None and start.tzinfo is None:  # SQLite's func.min skips the UTC type
        start = start.replace(tzinfo=dt.UTC)
    return start


def _is_pupil(principal: Principal) -> bool:
    return Role.PUPIL in principal.roles and principal.lane in (Lane.PUPILS, Lane.PRIORITY)


class SchoolWho:
    """The gate's `Who`, from the school's sign-in session."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        sessions: Sessions,
        principals: Principals,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.sessions = sessions
        self.principals = principals  # the same cache as the pages' and the API's
        self.clock = clock
        self._cache: OrderedDict[bytes, tuple[Person, float]] = OrderedDict()

    async def identify(self, request: Request) -> Person | None:
        cookie = request.cookies.get(COOKIE)
        try:
            async with self.sessionmaker() as db:
                return await self._identify(db, cookie)
        except (SQLAlchemyError, OSError) as exc:  # the school away: the gate goes on anonymous
            log.warning("gate could not read the sign-in session: %s", exc)
            return None

    async def _identify(self, db: AsyncSession, cookie: str | None) -> Person | None:
        current = await self.sessions.check(db, cookie)  # forged or expired: None
        if current is None:
            return None
        now = self.clock()
        cached = self._cache.get(current.id_hash)
        if cached is not None and cached[1] > now:
            return cached[0]
        principal = await self.principals.get(db, current.person_id)
        if principal is None:
            return None
        start = None
        if _is_pupil(principal):
            found = await next_class_start(db, principal.enrolled, _utc(now))
            start = None if found is None else found.timestamp()
        person = Person(str(principal.person_id), principal.lane, start)
        self._cache[current.id_hash] = (person, min(now + CACHE_S, current.until))
        if len(self._cache) > CACHE_MAX:
            self._cache.popitem(last=False)
        return person


class AttendanceEndpoints(Endpoints):
    """GET /api/v1/sessions/{id}/attendance: for the teachers of the class only (else 404)."""

    def routes(self) -> list[Route]:
        return [Route("/api/v1/sessions/{session_id}/attendance", self.attendance, methods=["GET"])]

    async def attendance(self, request: Request) -> Response:
        session_id = path_id(request, "session_id", no_session())
        async with self.deps.sessionmaker() as db:
            principal = await self.principal(request, db)
            row = (
                await db.execute(
                    select(
                        ClassSession.group_id,
                        ClassGroup.name,
                        ClassSession.title,
                        ClassSession.starts_at,
                        ClassSession.ends_at,
                    )
                    .join(ClassGroup, ClassGroup.id == ClassSession.group_id)
                    .where(ClassSession.id == session_id)
                )
            ).one_or_none()
            if row is None or row.group_id not in principal.taught:
                raise no_session()  # the same answer whether it exists or not
            pupils = (
                await db.scalars(
                    select(Enrolment.pupil_id).where(Enrolment.group_id == row.group_id)
                )
            ).all()
        counts = await self.deps.attendance.counts(session_id, pupils)
        return JSONResponse(
            {
                "session_id": session_id,
                "group": {"id": row.group_id, "name": row.name},
                "title": row.title,
                "starts_at": iso(row.starts_at),
                "ends_at": iso(row.ends_at),
                "pupils": len(set(pupils)),
                "admitted": counts.admitted,
                "waiting": counts.waiting,
                "not_connected": counts.not_connected,
            },
            headers=NO_STORE,
        )
