"""The live class page at /class/{session_id}: the frame the teacher's or pupil's script runs in.

Signed in (else to /signin?next=…) and a member of the class (`api_live.seat_of`; anyone else
gets the 404 page of an unknown session). The page carries what static/live.js needs as JSON:
the session, the role, the join and slides URLs, the session's CSRF token for the
X-CSRF-Token header, and the words in the page's language (docs/live.md#pages).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from homeroom.gate.http import lang_of
from homeroom.gate.pages import static_url
from homeroom.school import live_words
from homeroom.school.api_base import path_id
from homeroom.school.api_live import seat_of, session_not_found
from homeroom.school.models import ClassSession
from homeroom.school.pages_kit import PageKit
from homeroom.school.slides import MAX_BYTES


class ClassPages(PageKit):
    def routes(self) -> list[Route]:
        return [Route("/class/{session_id}", self.pages(self.room), methods=["GET"])]

    async def room(self, request: Request) -> Response:
        async with self.deps.sessionmaker() as db:
            signed = await self.principal(request, db)
            if signed is None:
                return self.to_signin(request)
            current, principal = signed
            session_id = path_id(request, "session_id", session_not_found())
            seat = await seat_of(db, principal, session_id)
            if seat is None:
                raise session_not_found()
            title = await db.scalar(select(ClassSession.title).where(ClassSession.id == session_id))
        lang = lang_of(request)
        data: dict[str, Any] = {
            "session": session_id,
            "role": seat.role.value,
            "person": str(principal.person_id),
            "join_url": f"/api/v1/sessions/{session_id}/join",
            "slides_url": f"/api/v1/sessions/{session_id}/slides",
            "doc_url": f"/api/v1/sessions/{session_id}/slides/",
            "csrf": current.csrf,
            "lang": lang,
            "max_slide_bytes": MAX_BYTES,
            "pdf": static_url("vendor/pdf.min.js"),
            "pdf_worker": static_url("vendor/pdf.worker.min.js"),
            "home": self.url(request, "/home"),
            "words": live_words.js_words(lang),
        }
        return self.render(
            request,
            "class.html",
            account=self.account(request, seat.name, current),
            class_title=title or "",
            teacher=seat.role.value == "teacher",
            live=data,
        )
