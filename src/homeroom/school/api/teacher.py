"""The teachers' JSON API: my classes, class sessions, class codes, invitations, code sheets.

Rights come from school/data/access.py and school/people/enrol.py: a group the caller may not
see is 404 (the same as a group that does not exist); a group they see but may not manage — a
pupil's or a parent's — is 403 (docs/school.md#getting-people-in). Every call here that changes something
needs the session's CSRF token (`X-CSRF-Token`). Design: docs/api.md#school-api.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from typing import Any, Final

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from homeroom.errors import BadRequest, Forbidden, NotFound
from homeroom.school.api.base import (
    BODY_LIMIT,
    NO_STORE,
    Endpoints,
    bad_field,
    integer,
    iso,
    label,
    moment,
    optional_id,
    path_id,
)
from homeroom.school.api.live import room_of
from homeroom.school.data.access import Place, Principal
from homeroom.school.data.models import MAX_ID, ClassGroup, ClassSession, Invitation, Role
from homeroom.school.data.queries import place_of
from homeroom.school.links.revocations import revoke_live
from homeroom.school.people import enrol
from homeroom.school.people.directory import classes_taught, session_place
from homeroom.web.http import read_body

MIN_SESSION: Final = dt.timedelta(minutes=5)
MAX_SESSION: Final = dt.timedelta(hours=8)
SESSION_HORIZON: Final = dt.timedelta(days=366)  # no further ahead than a school year and a bit
SESSION_PAST: Final = dt.timedelta(days=1)  # a session may be written down just after it began
MAX_TITLE: Final = 160
MAX_PUPILS: Final = 1000  # pupil ids in one code sheet


def group_not_found() -> NotFound:
    french, english = enrol.MESSAGES["group_not_found"]
    return NotFound("group_not_found", french, english)


def session_not_found() -> NotFound:
    return NotFound("session_not_found", "Séance introuvable.", "No such class session.")


def invitation_not_found() -> NotFound:
    french, english = enrol.MESSAGES["unknown_invitation"]
    return NotFound("unknown_invitation", french, english)


def school_not_found() -> NotFound:
    french, english = enrol.MESSAGES["school_not_found"]
    return NotFound("school_not_found", french, english)


def not_manager() -> Forbidden:
    french, english = enrol.MESSAGES["not_group_manager"]
    return Forbidden("not_group_manager", french, english)


def _bad_session(reason: str, french: str, english: str) -> BadRequest:
    return BadRequest(reason, french, english)


def check_session_times(start: dt.datetime, end: dt.datetime, now: dt.datetime) -> None:
    if end <= start:
        raise _bad_session(
            "bad_times", "La fin doit suivre le début.", "It must end after it starts."
        )
    if not MIN_SESSION <= end - start <= MAX_SESSION:
        raise _bad_session(
            "bad_length",
            "Une séance dure de 5 minutes à 8 heures.",
            "A session lasts from 5 minutes to 8 hours.",
        )
    if not now - SESSION_PAST <= start <= now + SESSION_HORIZON:
        raise _bad_session(
            "bad_start",
            "Le début doit être dans l'année qui vient (au plus tôt hier).",
            "It must start within the coming year (yesterday at the earliest).",
        )


async def managed_place(db: AsyncSession, principal: Principal, group_id: int) -> Place:
    place = await place_of(db, group_id)
    if place is None or not principal.sees_group(place):
        raise group_not_found()
    if not principal.manages_group(place):
        raise not_manager()
    return place


def _ttl(body: dict[str, Any], longest: dt.timedelta, default: dt.timedelta) -> dt.timedelta:
    return dt.timedelta(days=integer(body, "ttl_days", 1, longest.days, default.days))


def _pupil_ids(body: dict[str, Any]) -> list[int] | None:
    value = body.get("pupil_ids")
    if value is None:
        return None
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_PUPILS:
        raise bad_field("pupil_ids")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= MAX_ID:
            raise bad_field("pupil_ids")
    return sorted(set(value))


async def _invitation_body(
    db: AsyncSession, token: str, role: Role, school_id: int, group_id: int | None
) -> dict[str, Any]:
    # enrol keeps the token's SHA-256 only (docs/school.md#invitations): find the new row by it.
    digest = hashlib.sha256(token.encode()).digest()
    row = (
        await db.execute(
            select(Invitation.id, Invitation.expires_at, Invitation.max_uses).where(
                Invitation.token_hash == digest
            )
        )
    ).one()
    return {
        "id": row.id,
        "token": token,
        "role": role.value,
        "school_id": school_id,
        "group_id": group_id,
        "expires_at": iso(row.expires_at),
        "max_uses": row.max_uses,
    }


class TeacherEndpoints(Endpoints):
    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/me/classes", self.my_classes, methods=["GET"]),
            Route("/api/v1/groups/{group_id}/sessions", self.create_session, methods=["POST"]),
            Route("/api/v1/sessions/{session_id}", self.delete_session, methods=["DELETE"]),
            Route("/api/v1/groups/{group_id}/code", self.make_code, methods=["POST"]),
            Route("/api/v1/groups/{group_id}/code", self.revoke_code, methods=["DELETE"]),
            Route("/api/v1/groups/{group_id}/invitations", self.invite_to_group, methods=["POST"]),
            Route("/api/v1/schools/{school_id}/invitations", self.invite_teacher, methods=["POST"]),
            Route(
                "/api/v1/invitations/{invitation_id}", self.revoke_invitation, methods=["DELETE"]
            ),
            Route("/api/v1/groups/{group_id}/one-time-codes", self.reset_codes, methods=["POST"]),
        ]

    async def my_classes(self, request: Request) -> Response:
        async with self.deps.sessionmaker() as db:
            principal = await self.principal(request, db)
            classes = await classes_taught(db, principal.person_id)
        return JSONResponse(
            {
                "classes": [
                    {
                        "id": c.id,
                        "name": c.name,
                        "school": {"id": c.school_id, "name": c.school_name},
                        "subjects": c.subjects,
                        "join_code": None if c.join_code is None else enrol.shown(c.join_code),
                        "pupils": [{"id": p.id, "display_name": p.display_name} for p in c.pupils],
                    }
                    for c in classes
                ]
            },
            headers=NO_STORE,
        )

    async def create_session(self, request: Request) -> Response:
        group_id = path_id(request, "group_id", group_not_found())
        body = await read_body(request, BODY_LIMIT)
        async with self.deps.sessionmaker() as db:
            principal = await self.acting(request, db)
            await managed_place(db, principal, group_id)
            title = label(body, "title", MAX_TITLE)
            start, end = moment(body, "starts_at"), moment(body, "ends_at")
            check_session_times(start, end, self.now())
            name = await db.scalar(select(ClassGroup.name).where(ClassGroup.id == group_id))
            session = ClassSession(
                group_id=group_id,
                teacher_id=principal.person_id,
                title=title,
                starts_at=start,
                ends_at=end,
            )
            db.add(session)
            await db.flush()
            answer = {
                "id": session.id,
                "title": title,
                "group": {"id": group_id, "name": name},
                "teacher_id": principal.person_id,
                "starts_at": iso(start),
                "ends_at": iso(end),
            }
            await db.commit()
        return JSONResponse(answer, 201, headers=NO_STORE)

    async def delete_session(self, request: Request) -> Response:
        session_id = path_id(request, "session_id", session_not_found())
        async with self.deps.sessionmaker() as db:
            principal = await self.acting(request, db)
            place = await session_place(db, session_id)
            if place is None or not principal.sees_group(place):
                raise session_not_found()
            if not principal.manages_group(place):
                raise not_manager()
            await db.execute(delete(ClassSession).where(ClassSession.id == session_id))
            await revoke_live(db, self.deps.clock(), room=room_of(session_id))  # its class closes
            await db.commit()
        await asyncio.to_thread(self.deps.slides.forget, session_id)
        return Response(status_code=204, headers=NO_STORE)

    async def make_code(self, request: Request) -> Response:
        group_id = path_id(request, "group_id", group_not_found())
        async with self.deps.sessionmaker() as db:
            principal = await self.acting(request, db)
            code = await enrol.make_class_code(db, principal, group_id)
            await db.commit()
        return JSONResponse({"group_id": group_id, "code": code}, headers=NO_STORE)

    async def revoke_code(self, request: Request) -> Response:
        group_id = path_id(request, "group_id", group_not_found())
        async with self.deps.sessionmaker() as db:
            principal = await self.acting(request, db)
            await enrol.revoke_class_code(db, principal, group_id)
            await db.commit()
        return Response(status_code=204, headers=NO_STORE)

    async def invite_to_group(self, request: Request) -> Response:
        """A pupil invitation to the class, or a parent invitation for one of its pupils."""
        group_id = path_id(request, "group_id", group_not_found())
        body = await read_body(request, BODY_LIMIT)
        async with self.deps.sessionmaker() as db:
            principal = await self.acting(request, db)
            place = await managed_place(db, principal, group_id)
            kind = body.get("role")
            if kind not in ("pupil", "parent"):
                raise bad_field("role")
            role = Role(kind)
            child_id = optional_id(body, "child_id")
            uses = integer(body, "max_uses", 1, enrol.MAX_INVITATION_USES, 1)
            ttl = _ttl(body, enrol.MAX_INVITATION_TTL, enrol.INVITATION_TTL)
            token = await enrol.invite(
                db,
                principal,
                role,
                place.school_id,
                group_id,
                child_id=child_id,
                max_uses=uses,
                ttl=ttl,
                now=self.now(),
            )
            answer = await _invitation_body(db, token, role, place.school_id, group_id)
            await db.commit()
        return JSONResponse(answer, 201, headers=NO_STORE)

    async def invite_teacher(self, request: Request) -> Response:
        """A teacher invitation to the school, by its administrators (enrol checks the rights)."""
        school_id = path_id(request, "school_id", school_not_found())
        body = await read_body(request, BODY_LIMIT)
        async with self.deps.sessionmaker() as db:
            principal = await self.acting(request, db)
            uses = integer(body, "max_uses", 1, enrol.MAX_INVITATION_USES, 1)
            ttl = _ttl(body, enrol.MAX_INVITATION_TTL, enrol.INVITATION_TTL)
            token = await enrol.invite(
                db, principal, Role.TEACHER, school_id, max_uses=uses, ttl=ttl, now=self.now()
            )
            answer = await _invitation_body(db, token, Role.TEACHER, school_id, None)
            await db.commit()
        return JSONResponse(answer, 201, headers=NO_STORE)

    async def revoke_invitation(self, request: Request) -> Response:
        invitation_id = path_id(request, "invitation_id", invitation_not_found())
        async with self.deps.sessionmaker() as db:
            principal = await self.acting(request, db)
            await enrol.revoke_invitation(db, principal, invitation_id)
            await db.commit()
        return Response(status_code=204, headers=NO_STORE)

    async def reset_codes(self, request: Request) -> Response:
        """New one-time codes for the class's pupils, shown this once for the printed sheet."""
        group_id = path_id(request, "group_id", group_not_found())
        body = await read_body(request, BODY_LIMIT)
        async with self.deps.sessionmaker() as db:
            principal = await self.acting(request, db)
            await managed_place(db, principal, group_id)
            ttl = _ttl(body, enrol.MAX_CODE_TTL, enrol.CODE_TTL)
            pupils = _pupil_ids(body)
            now = self.now()
            rows = await enrol.reset_codes(db, principal, group_id, now, ttl, pupils)
            await db.commit()
        return JSONResponse(
            {
                "group_id": group_id,
                "expires_at": iso(now + ttl),
                "codes": [
                    {"display_name": r.display_name, "login": r.login, "code": r.code} for r in rows
                ],
            },
            headers=NO_STORE,
        )
