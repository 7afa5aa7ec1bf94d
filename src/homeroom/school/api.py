"""The school's JSON API: sign in and out, who am I, my sessions of the day (docs/school.md).

Endpoints raise HomeroomErrors and let them propagate: the application these routes are mounted
under renders them (`homeroom.gate.http.error_response`). Each request uses one database session.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from homeroom.errors import BadRequest, Forbidden, HomeroomError
from homeroom.gate.abuse import address_block
from homeroom.gate.http import Cookies, read_body
from homeroom.school.access import Principal
from homeroom.school.deps import SchoolDeps
from homeroom.school.queries import load_principal, sessions_of_groups
from homeroom.school.sessions import COOKIE, Current, Sessions

BODY_LIMIT = 16 * 1024
ZONE = ZoneInfo("Europe/Paris")
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
NO_STORE = {"cache-control": "no-store"}


class Unauthorized(HomeroomError):
    status = 401


def signed_out() -> Unauthorized:
    return Unauthorized("signed_out", "Vous n'êtes pas connecté.", "You are not signed in.")


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > 1024:
        raise BadRequest("bad_field", f"Champ « {name} » invalide.", f"Invalid field {name!r}.")
    return value


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[local midnight, next local midnight) of a day in Paris, in UTC."""
    start = dt.datetime.combine(day, dt.time(), ZONE)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), ZONE)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def parse_day(text: str) -> dt.date:
    try:
        if not DAY.fullmatch(text):
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise BadRequest(
            "bad_day", "Jour invalide (AAAA-MM-JJ).", "Invalid day (YYYY-MM-DD)."
        ) from exc


class SchoolEndpoints:
    def __init__(self, deps: SchoolDeps) -> None:
        self.deps = deps
        self.cookies = Cookies(deps.secure_cookies)

    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/session", self.sign_in, methods=["POST"]),
            Route("/api/v1/session", self.sign_out, methods=["DELETE"]),
            Route("/api/v1/me", self.me, methods=["GET"]),
            Route("/api/v1/me/sessions", self.my_sessions, methods=["GET"]),
        ]

    async def _current(self, request: Request, db: AsyncSession) -> Current:
        current = await self.deps.sessions.check(db, request.cookies.get(COOKIE))
        if current is None:
            raise signed_out()
        return current

    async def _principal(self, request: Request, db: AsyncSession) -> Principal:
        current = await self._current(request, db)
        principal = await load_principal(db, current.person_id)
        if principal is None:  # disabled or gone since signing in
            raise signed_out()
        return principal

    async def sign_in(self, request: Request) -> Response:
        body = await read_body(request, BODY_LIMIT)
        login = _text(body, "login")
        password = _text(body, "password")
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
            current = await self._current(request, db)
            if not Sessions.csrf_ok(current, request.headers.get("x-csrf-token")):
                raise Forbidden("bad_csrf", "Jeton CSRF invalide.", "Invalid CSRF token.")
            await self.deps.sessions.revoke(db, request.cookies.get(COOKIE))
            await db.commit()
        response = Response(status_code=204, headers=NO_STORE)
        response.raw_headers.append(self.cookies.header(COOKIE, "", 0))
        return response

    async def me(self, request: Request) -> Response:
        async with self.deps.sessionmaker() as db:
            current = await self._current(request, db)
            principal = await load_principal(db, current.person_id)
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
        text = request.query_params.get("day")
        if text is None:
            day = dt.datetime.fromtimestamp(self.deps.clock(), ZONE).date()
        else:
            day = parse_day(text)
        start, end = day_bounds(day)
        async with self.deps.sessionmaker() as db:
            principal = await self._principal(request, db)
            groups = principal.enrolled | principal.taught | principal.children_groups
            rows = await sessions_of_groups(db, groups, start, end)
        return JSONResponse(
            {
                "day": day.isoformat(),
                "sessions": [
                    {
                        "id": row.session_id,
                        "title": row.title,
                        "group": {"id": row.group_id, "name": row.group_name},
                        "teacher": row.teacher_name,
                        "starts_at": _iso(row.starts_at),
                        "ends_at": _iso(row.ends_at),
                    }
                    for row in rows
                ],
            },
            headers=NO_STORE,
        )


def school_routes(deps: SchoolDeps) -> list[Route]:
    return SchoolEndpoints(deps).routes()
