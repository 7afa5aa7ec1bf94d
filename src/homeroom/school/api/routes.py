"""The school's JSON API under /api/v1: sign in and out, me, my sessions, children, calendar.

The other endpoint groups live next to this one — sign-up and one-time codes (signup.py),
teachers' classes (teacher.py), administrators' directory, roster and data protection
(admin.py) — and `school_routes` mounts them all (docs/api.md#school-api).

Endpoints raise HomeroomErrors and let them propagate: the application these routes are mounted
under renders them (`homeroom.web.http.error_response`). Each request uses one database session.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from homeroom.core.blocks import address_block
from homeroom.errors import BadRequest
from homeroom.school.api.admin import AdminEndpoints
from homeroom.school.api.base import (
    BODY_LIMIT,
    NO_STORE,
    Endpoints,
    Unauthorized,
    iso,
    required_text,
    signed_out,
)
from homeroom.school.api.live import LiveEndpoints
from homeroom.school.api.records import RecordsEndpoints
from homeroom.school.api.signup import SignUpEndpoints
from homeroom.school.api.slides import SlidesEndpoints
from homeroom.school.api.teacher import TeacherEndpoints
from homeroom.school.auth.sessions import COOKIE
from homeroom.school.data.queries import sessions_of_groups
from homeroom.school.deps import SchoolDeps
from homeroom.school.people.directory import children_of
from homeroom.school.schedule import ical
from homeroom.school.schedule.timetable import MAX_MINUTES, SOON, on_the_dashboard
from homeroom.web.http import lang_of, read_body
from homeroom.web.i18n import Lang

__all__ = ["Unauthorized", "day_bounds", "parse_day", "school_routes", "signed_out"]

PARIS = "Europe/Paris"
ZONE = ZoneInfo(PARIS)
MAX_LENGTH = dt.timedelta(minutes=MAX_MINUTES)  # a session in progress began at most this long ago
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
CALENDAR_PAST = dt.timedelta(days=30)  # a feed keeps last month's classes, for the record
CALENDAR_AHEAD = dt.timedelta(days=366)


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[local midnight, next local midnight) of a day in Paris, in UTC."""
    start = dt.datetime.combine(day, dt.time(), ZONE)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), ZONE)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def parse_day(text: str) -> dt.date:
    try:
        if not DAY.fullmatch(text):
            raise ValueError(text)
        day = dt.date.fromisoformat(text)
        day_bounds(day)  # the first and last days have no next or previous midnight
        return day
    except (ValueError, OverflowError) as exc:
        raise BadRequest(
            "bad_day", "Jour invalide (AAAA-MM-JJ).", "Invalid day (YYYY-MM-DD)."
        ) from exc


class SchoolEndpoints(Endpoints):
    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/session", self.sign_in, methods=["POST"]),
            Route("/api/v1/session", self.sign_out, methods=["DELETE"]),
            Route("/api/v1/me", self.me, methods=["GET"]),
            Route("/api/v1/me/sessions", self.my_sessions, methods=["GET"]),
            Route("/api/v1/me/children", self.my_children, methods=["GET"]),
            Route("/api/v1/me/calendar.ics", self.my_calendar, methods=["GET"]),
        ]

    async def sign_in(self, request: Request) -> Response:
        body = await read_body(request, BODY_LIMIT)
        login = required_text(body, "login")
        password = required_text(body, "password")
        shared = body.get("shared_device", False)
        if not isinstance(shared, bool):
            raise BadRequest(
                "bad_field", "Champ « shared_device » invalide.", "Invalid field 'shared_device'."
            )
        block = address_block(request.client.host if request.client else None)
        async with self.deps.sessionmaker() as db:
            done = await self.deps.signin.sign_in(db, login, password, block, shared_device=shared)
        response = JSONResponse(
            {"person_id": done.person_id, "expires_idle_s": done.lifetime.idle_s},
            201,
            headers=NO_STORE,
        )
        response.raw_headers.append(
            self.cookies.header(COOKIE, done.cookie, done.lifetime.absolute_s)
        )
        return response

    async def sign_out(self, request: Request) -> Response:
        async with self.deps.sessionmaker() as db:
            await self.acting(request, db)
            await self.deps.sessions.revoke(db, request.cookies.get(COOKIE))
            await db.commit()
        response = Response(status_code=204, headers=NO_STORE)
        response.raw_headers.append(self.cookies.header(COOKIE, "", 0))
        return response

    async def me(self, request: Request) -> Response:
        async with self.deps.sessionmaker() as db:
            current = await self.current(request, db)
            principal = await self.deps.principals.get(db, current.person_id)
        if principal is None:
            raise signed_out()
        return JSONResponse(
            {
                "person_id": principal.person_id,
                "roles": sorted(role.value for role in principal.roles),
                "lane": principal.lane.value,
                "csrf": current.csrf,
            },
            headers=NO_STORE,
        )

    async def my_sessions(self, request: Request) -> Response:
        """The caller's sessions of a day; by default today's, with those in progress or starting
        within the hour across midnight, as the dashboard shows them (docs/school.md#pages)."""
        text = request.query_params.get("day")
        now = self.now()
        day = now.astimezone(ZONE).date() if text is None else parse_day(text)
        start, end = day_bounds(day)
        if text is None:  # the class of 00:05 at 23:55, the one of 23:30 after midnight
            start, end = min(start, now - MAX_LENGTH), max(end, now + SOON)
        async with self.deps.sessionmaker() as db:
            principal = await self.principal(request, db)
            groups = principal.enrolled | principal.taught | principal.children_groups
            rows = await sessions_of_groups(db, groups, start, end)
        if text is None:
            rows = [r for r in rows if on_the_dashboard(r.starts_at, r.ends_at, PARIS, now)]
        return JSONResponse(
            {
                "day": day.isoformat(),
                "sessions": [
                    {
                        "id": row.session_id,
                        "title": row.title,
                        "group": {"id": row.group_id, "name": row.group_name},
                        "teacher": row.teacher_name,
                        "starts_at": iso(row.starts_at),
                        "ends_at": iso(row.ends_at),
                    }
                    for row in rows
                ],
            },
            headers=NO_STORE,
        )

    async def my_children(self, request: Request) -> Response:
        """A parent's children and their classes (empty for anyone else)."""
        async with self.deps.sessionmaker() as db:
            principal = await self.principal(request, db)
            children = await children_of(db, principal)
        return JSONResponse(
            {
                "children": [
                    {
                        "id": child.id,
                        "display_name": child.display_name,
                        "groups": [{"id": g, "name": n} for g, n in child.groups],
                    }
                    for child in children
                ]
            },
            headers=NO_STORE,
        )

    async def my_calendar(self, request: Request) -> Response:
        """The caller's class sessions from a month ago to a year ahead, as iCalendar."""
        now = self.now()
        async with self.deps.sessionmaker() as db:
            principal = await self.principal(request, db)
            groups = principal.enrolled | principal.taught | principal.children_groups
            rows = await sessions_of_groups(db, groups, now - CALENDAR_PAST, now + CALENDAR_AHEAD)
        host = request.url.hostname or "localhost"
        base = str(request.base_url).rstrip("/")
        lang: Lang = "en" if lang_of(request) == "en" else "fr"
        data = ical.export(
            [
                ical.SessionView(
                    row.session_id,
                    row.title,
                    row.starts_at,
                    row.ends_at,
                    row.group_name,
                    row.teacher_name,
                    f"{base}/class/sessions/{row.session_id}",
                )
                for row in rows
            ],
            name="homeroom",
            host=host,
            stamp=now,
            lang=lang,
        )
        return Response(
            data,
            media_type=ical.MEDIA_TYPE,
            headers={**NO_STORE, "content-disposition": 'attachment; filename="homeroom.ics"'},
        )


def school_routes(deps: SchoolDeps) -> list[Route]:
    return [
        *SchoolEndpoints(deps).routes(),
        *SignUpEndpoints(deps).routes(),
        *TeacherEndpoints(deps).routes(),
        *AdminEndpoints(deps).routes(),
        *LiveEndpoints(deps).routes(),
        *RecordsEndpoints(deps).routes(),
        *SlidesEndpoints(deps).routes(),
    ]
