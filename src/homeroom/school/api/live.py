"""The door to a live class: a signed-in member of the class takes a short-lived join token.

The school checks here, once, that the person belongs to the session's class (its pupils, its
teachers); the live gateway then trusts the signed token and touches no database
(docs/live.md#join). The token lasts until a little after the class ends.

A teacher can also make a **guest link** for one session (someone without an account: a
speaker, an assistant): a signed, stateless token for that session until it ends; whoever holds
it takes a guest's join token with the name they give, and always waits in the lobby until the
teacher lets them in. The teacher can cancel all the links made so far (docs/live.md#guests).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Final

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from homeroom.core.live.parts import Role
from homeroom.errors import BadRequest, Gone, NotFound, TooEarly, Unavailable
from homeroom.live.jointoken import NAME_MAX, JoinClaims, JoinTokens
from homeroom.live.revocations import KEPT_S
from homeroom.school.api.base import NO_STORE, Endpoints, iso, path_id
from homeroom.school.data.access import Principal
from homeroom.school.data.models import ClassSession, Person
from homeroom.school.deps import SchoolDeps
from homeroom.school.links.revocations import GUEST, grant_of, guests_cancelled, revoke_live

GUEST_COOKIE: Final = "hr_guest"  # one random id per browser: a guest keeps their seat
OPENS_BEFORE: Final = dt.timedelta(hours=1)  # the lobby opens this long before the class
LASTS_AFTER: Final = dt.timedelta(minutes=30)  # a class that runs late is not cut off at once
LONGEST: Final = dt.timedelta(seconds=KEPT_S)  # a longer class takes a new token (4001) on the way


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


async def teacher_seat(db: AsyncSession, principal: Principal, session_id: int) -> Seat:
    """The session as one of its teachers sees it; anyone else gets an unknown session's 404."""
    seat = await seat_of(db, principal, session_id)
    if seat is None or seat.role is not Role.TEACHER:
        raise session_not_found()
    return seat


def class_over() -> Gone:
    return Gone("class_over", "Cette classe est terminée.", "This class is over.")


class GuestLinks:
    """Signed guest links: the session, when made and until when. Nothing is stored for a link;
    a teacher cancels all those of a session made until then (one revocation row)."""

    def __init__(self, key: bytes) -> None:
        self._signer = URLSafeSerializer(
            key, salt="homeroom.live.guest", signer_kwargs={"digest_method": hashlib.sha256}
        )

    def issue(self, session_id: int, until: dt.datetime, now: dt.datetime) -> str:
        made = int(now.timestamp() * 1000)
        return str(self._signer.dumps({"s": session_id, "x": int(until.timestamp()), "i": made}))

    def link(self, request: Request, seat: Seat, session_id: int, now: dt.datetime) -> str:
        """The absolute guest link to a teacher's session, until it is over; Gone after."""
        until = seat.ends_at + LASTS_AFTER
        if now >= until:
            raise class_over()
        token = self.issue(session_id, until, now)
        return f"{str(request.base_url).rstrip('/')}/class/{session_id}?guest={token}"

    async def until(
        self, db: AsyncSession, token: str, session_id: int, now: dt.datetime
    ) -> dt.datetime:
        """When the link stops working; NotFound when it is not one for this session, Gone
        when it is over or was cancelled."""
        try:
            data = self._signer.loads(token) if 0 < len(token) <= 200 else None
        except BadSignature:
            data = None
        if not isinstance(data, dict) or data.get("s") != session_id:
            raise session_not_found()
        expires, made = data.get("x"), data.get("i", 0)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (expires, made)):
            raise session_not_found()
        assert isinstance(expires, int) and isinstance(made, int)
        until = dt.datetime.fromtimestamp(expires, dt.UTC)
        if now >= until:
            raise class_over()
        cancelled = await guests_cancelled(db, room_of(session_id))
        if cancelled is not None and made <= cancelled:
            raise Gone(
                "guest_link_cancelled",
                "Ce lien d'invité a été annulé par l'enseignant.",
                "This guest link was cancelled by the teacher.",
            )
        return until


async def cancel_guests(db: AsyncSession, session_id: int, now: float) -> None:
    """Cancel the guest links of a session made until `now`, and its guests' join tokens."""
    await revoke_live(db, now, room=room_of(session_id), grant=GUEST)


def guest_name(text: str | None) -> str:
    """The name a guest gives: 1 to NAME_MAX printable characters."""
    name = " ".join((text or "").split())
    if not name or len(name) > NAME_MAX or not name.isprintable():
        raise BadRequest(
            "bad_name",
            "Indiquez votre nom (80 caractères au plus).",
            "Give your name (80 at most).",
        )
    return name


def guest_person(browser: str | None) -> str:
    """A guest's id in the room, the same for every tab of one browser."""
    seed = browser if browser and 16 <= len(browser) <= 64 else secrets.token_urlsafe(16)
    return "g" + hashlib.blake2b(seed.encode(), digest_size=8).hexdigest()


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
    def __init__(self, deps: SchoolDeps) -> None:
        super().__init__(deps)
        self.guests = GuestLinks(deps.sessions.derive(b"homeroom.live.guest"))

    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/sessions/{session_id}/join", self.join, methods=["POST"]),
            Route("/api/v1/sessions/{session_id}/guest-link", self.guest_link, methods=["POST"]),
            Route(
                "/api/v1/sessions/{session_id}/guest-link",
                self.cancel_guest_links,
                methods=["DELETE"],
            ),
            Route("/api/v1/sessions/{session_id}/guest-join", self.guest_join, methods=["POST"]),
        ]

    def _tokens(self) -> JoinTokens:
        tokens = self.deps.join_tokens
        if tokens is None:
            raise Unavailable(
                "live_unavailable",
                "Les classes en direct ne sont pas ouvertes ici.",
                "Live classes are not available here.",
                retry_after=60,
            )
        return tokens

    async def guest_link(self, request: Request) -> Response:
        """A teacher of the session makes a guest link, valid until the class is over."""
        session_id = path_id(request, "session_id", session_not_found())
        async with self.deps.sessionmaker() as db:
            seat = await teacher_seat(db, await self.acting(request, db), session_id)
        url = self.guests.link(request, seat, session_id, self.now())
        return JSONResponse(
            {"url": url, "expires_at": iso(seat.ends_at + LASTS_AFTER)}, headers=NO_STORE
        )

    async def cancel_guest_links(self, request: Request) -> Response:
        """A teacher of the session cancels every guest link made so far; guests in the room
        are closed (4003) and cannot come back with those links."""
        session_id = path_id(request, "session_id", session_not_found())
        async with self.deps.sessionmaker() as db:
            await teacher_seat(db, await self.acting(request, db), session_id)
            await cancel_guests(db, session_id, self.deps.clock())
            await db.commit()
        return Response(status_code=204, headers=NO_STORE)

    async def guest_join(self, request: Request) -> Response:
        """Whoever holds a guest link takes a guest's join token (`?token=…&name=…`)."""
        session_id = path_id(request, "session_id", session_not_found())
        tokens = self._tokens()
        now = self.now()
        async with self.deps.sessionmaker() as db:
            link = request.query_params.get("token", "")
            until = await self.guests.until(db, link, session_id, now)
        name = guest_name(request.query_params.get("name"))
        person = guest_person(request.cookies.get(GUEST_COOKIE))
        until = min(until, now + LONGEST)
        claims = JoinClaims(
            room_of(session_id),
            person,
            Role.GUEST,
            name,
            int(until.timestamp()),
            issued=int(now.timestamp() * 1000),
            grant=GUEST,  # cancelling the session's guest links closes this one
        )
        return JSONResponse(
            {
                "room": room_of(session_id),
                "role": Role.GUEST.value,
                "token": tokens.issue(claims),
                "url": self.live_url(request),
                "expires_at": iso(until),
            },
            headers=NO_STORE,
        )

    async def join(self, request: Request) -> Response:
        session_id = path_id(request, "session_id", session_not_found())
        tokens = self._tokens()
        async with self.deps.sessionmaker() as db:
            current, principal = await self.acting_in(request, db)
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
            raise class_over()
        until = min(until, now + LONGEST)
        claims = JoinClaims(
            seat.room,
            str(principal.person_id),
            seat.role,
            seat.name,
            int(until.timestamp()),
            issued=int(now.timestamp() * 1000),
            grant=grant_of(current.id_hash),  # signing out closes the class too
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
