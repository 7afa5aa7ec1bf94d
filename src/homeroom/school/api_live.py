"""The door to a live class: a signed-in member of the class takes a short-lived join token.

The school checks here, once, that the person belongs to the session's class (its pupils, its
teachers); the live gateway then trusts the signed token and touches no database
(docs/live.md#join). The token lasts until a little after the class ends.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from homeroom.core.live.parts import Role
from homeroom.errors import Gone, NotFound, TooEarly, Unavailable
from homeroom.live.jointoken import NAME_MAX, JoinClaims
from homeroom.school.access import Principal
from homeroom.school.api_base import NO_STORE, Endpoints, iso, path_id
from homeroom.school.models import ClassSession, Person

OPENS_BEFORE: Final = dt.timedelta(hours=1)  # the lobby opens this long before the class
LASTS_AFTER: Final = dt.timedelta(minutes=30)  # a class that runs late is not cut off at once


def session_not_found() -> NotFound:
    return NotFound("session_not_found", "Classe introuvable.", "No such class session.")


@dataclass(frozen=True, slots=True)
class Seat:
    room: str
    role: Role
    name: str
    starts_at: dt.datetime
    ends_at: dt.datetime


def room_of(session_id: int) -> str:
    return f"s{session_id}"


async def seat_of(db: AsyncSession, principal: Principal, session_id: int) -> Seat | None:
    """Where `principal` sits in the session: its teacher, or a pupil of its class; else None."""
    row = (
        await db.execute(
            select(
                ClassSession.group_id,
                ClassSession.teacher_id,
                ClassSession.starts_at,
                ClassSession.ends_at,
                Person.display_name,
            )
            .join(Person, Person.id == principal.person_id)
            .where(ClassSession.id == session_id)
        )
    ).one_or_none()
    if row is None:
        return None
    group_id, teacher_id, starts_at, ends_at, name = row
    if teacher_id == principal.person_id or group_id in principal.taught:
        role = Role.TEACHER
    elif group_id in principal.enrolled:
        role = Role.PUPIL
    else:
        return None  # the same answer as for a session that does not exist
    return Seat(room_of(session_id), role, name[:NAME_MAX], starts_at, ends_at)


class LiveEndpoints(Endpoints):
    def routes(self) -> list[Route]:
        return [Route("/api/v1/sessions/{session_id}/join", self.join, methods=["POST"])]

    async def join(self, request: Request) -> Response:
        session_id = path_id(request, "session_id", session_not_found())
        tokens = self.deps.join_tokens
        if tokens is None:
            raise Unavailable(
                "live_unavailable",
                "Les classes en direct ne sont pas ouvertes ici.",
                "Live classes are not available here.",
                retry_after=60,
            )
        async with self.deps.sessionmaker() as db:
            principal = await self.acting(request, db)
            seat = await seat_of(db, principal, session_id)
        if seat is None:
            raise session_not_found()
        now = self.now()
        if now < seat.starts_at - OPENS_BEFORE:
            wait = int((seat.starts_at - OPENS_BEFORE - now).total_seconds()) + 1
            raise TooEarly(
                "class_not_open",
                "Cette classe n'est pas encore ouverte.",
                "This class is not open yet.",
                retry_after=wait,
                extra={"opens_at": iso(seat.starts_at - OPENS_BEFORE)},
            )
        until = seat.ends_at + LASTS_AFTER
        if now >= until:
            raise Gone("class_over", "Cette classe est terminée.", "This class is over.")
        claims = JoinClaims(
            seat.room, str(principal.person_id), seat.role, seat.name, int(until.timestamp())
        )
        return JSONResponse(
            {
                "room": seat.room,
                "role": seat.role.value,
                "token": tokens.issue(claims),
                "url": self.live_url(request),
                "expires_at": iso(until),
            },
            headers=NO_STORE,
        )

    def live_url(self, request: Request) -> str:
        """The gateway's WebSocket address, as configured or beside this site."""
        if self.deps.live_url:
            return self.deps.live_url
        scheme = "wss" if request.url.scheme == "https" else "ws"
        host = request.url.hostname or "127.0.0.1"
        return f"{scheme}://{host}:{self.deps.live_port}/live"
