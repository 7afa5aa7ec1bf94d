"""The live class page at /class/{session_id}: the frame the teacher's or pupil's script runs in.

Signed in (else to /signin?next=…) and a member of the class (`api/live.py`'s `seat_of`; anyone else
gets the 404 page of an unknown session); or, signed out, holding the session's guest link
(`?guest=…`): the page asks their name first (docs/live.md#guests). The page carries what static/live.js needs as JSON:
the session, the role, the join and slides URLs, the session's CSRF token for the
X-CSRF-Token header, and the words in the page's language (docs/live.md#pages).
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from homeroom.errors import BadRequest
from homeroom.school.api.base import path_id
from homeroom.school.api.live import (
    GUEST_COOKIE,
    LASTS_AFTER,
    GuestLinks,
    cancel_guests,
    guest_name,
    guest_person,
    seat_of,
    session_not_found,
    teacher_seat,
)
from homeroom.school.data.models import ClassSession
from homeroom.school.data.slides import MAX_BYTES
from homeroom.school.deps import SchoolDeps
from homeroom.school.pages import live_words
from homeroom.school.pages.dashboard import session_brief
from homeroom.school.pages.forms import read_form
from homeroom.school.pages.kit import PageKit
from homeroom.web import i18n
from homeroom.web.http import lang_of
from homeroom.web.pages import static_url


class ClassPages(PageKit):
    def __init__(self, deps: SchoolDeps) -> None:
        super().__init__(deps)
        self.guests = GuestLinks(deps.sessions.derive(b"homeroom.live.guest"))

    def routes(self) -> list[Route]:
        return [
            Route("/class/{session_id}", self.pages(self.room), methods=["GET"]),
            Route("/class/{session_id}/guest-link", self.pages(self.guest_link), methods=["POST"]),
            Route(
                "/class/{session_id}/guest-link/cancel",
                self.pages(self.cancel_guest_links),
                methods=["POST"],
            ),
        ]

    async def room(self, request: Request) -> Response:
        async with self.deps.sessionmaker() as db:
            signed = await self.principal(request, db)
            if signed is None:
                guest = request.query_params.get("guest")
                if guest is not None:
                    return await self._guest(request, db, guest)
                return self.to_signin(request)
            current, principal = signed
            session_id = path_id(request, "session_id", session_not_found())
            seat = await seat_of(db, principal, session_id)
            if seat is None:
                raise session_not_found()
            title = await db.scalar(select(ClassSession.title).where(ClassSession.id == session_id))
        data = self._data(request, session_id, seat.role.value, str(principal.person_id))
        data["csrf"] = current.csrf
        return self.render(
            request,
            "class.html",
            account=self.account(request, seat.name, current),
            class_title=title or "",
            teacher=seat.role.value == "teacher",
            guest=False,
            live=data,
        )

    def _data(
        self, request: Request, session_id: int, role: str, person: str, lang: str | None = None
    ) -> dict[str, Any]:
        """What static/live.js reads from the page."""
        lang = lang or lang_of(request)
        return {
            "session": session_id,
            "role": role,
            "person": person,
            "join_url": f"/api/v1/sessions/{session_id}/join",
            "slides_url": f"/api/v1/sessions/{session_id}/slides",
            "doc_url": f"/api/v1/sessions/{session_id}/slides/",
            "csrf": "",
            "lang": lang,
            "max_slide_bytes": MAX_BYTES,
            "pdf": static_url("vendor/pdf.min.js"),
            "pdf_worker": static_url("vendor/pdf.worker.min.js"),
            "home": self.url(request, "/home"),
            "words": live_words.js_words(lang),
        }

    async def _guest(self, request: Request, db: AsyncSession, link: str) -> Response:
        session_id = path_id(request, "session_id", session_not_found())
        await self.guests.until(db, link, session_id, self.now())  # NotFound, or Gone
        title = await db.scalar(select(ClassSession.title).where(ClassSession.id == session_id))
        if title is None:
            raise session_not_found()
        name_given = request.query_params.get("name")
        problem = None
        if name_given is not None:
            try:
                name = guest_name(name_given)
            except BadRequest as exc:
                problem = exc.message(lang_of(request))
            else:
                return self._guest_room(request, session_id, title, link, name)
        return self.render(
            request,
            "class_guest.html",
            400 if problem else 200,
            class_title=title,
            guest=link,
            name=name_given or "",
            problem=problem,
        )

    def _guest_room(
        self, request: Request, session_id: int, title: str, link: str, name: str
    ) -> Response:
        kept = request.cookies.get(GUEST_COOKIE, "")
        fresh = not 16 <= len(kept) <= 64
        browser = secrets.token_urlsafe(16) if fresh else kept
        query = urlencode({"token": link, "name": name})
        lang = lang_of(request)
        data = self._data(request, session_id, "guest", guest_person(browser), lang)
        data.update(join_url=f"/api/v1/sessions/{session_id}/guest-join?{query}", csrf="")
        response = self.render(
            request, "class.html", class_title=title, teacher=False, guest=True, live=data
        )
        if fresh:
            response.raw_headers.append(self.cookies.header(GUEST_COOKIE, browser, 86400))
        return response

    async def cancel_guest_links(self, request: Request) -> Response:
        """A teacher cancels the session's guest links (a form, CSRF); back home with a notice."""
        form = await read_form(request)
        async with self.deps.sessionmaker() as db:
            signed = await self.signed(request, db, form)
            if signed is None:
                return self.to_signin(request)
            session_id = path_id(request, "session_id", session_not_found())
            await teacher_seat(db, signed[1], session_id)
            await cancel_guests(db, session_id, self.deps.clock())
            await db.commit()
        return self.redirect(request, "/home", done="guests_cancelled")

    async def guest_link(self, request: Request) -> Response:
        """A teacher of the session makes a guest link from the dashboard (a form, CSRF)."""
        form = await read_form(request)
        async with self.deps.sessionmaker() as db:
            signed = await self.signed(request, db, form)
            if signed is None:
                return self.to_signin(request)
            current, principal = signed
            session_id = path_id(request, "session_id", session_not_found())
            seat = await teacher_seat(db, principal, session_id)
            brief = await session_brief(db, session_id)
        link = self.guests.link(request, seat, session_id, self.now())
        if brief is None:  # deleted meanwhile
            raise session_not_found()
        lang, at = lang_of(request), (seat.ends_at + LASTS_AFTER).timestamp()
        return self.render(
            request,
            "guest_link.html",
            account=self.account(request, seat.name, current),
            class_title=brief.title,
            link=link,
            until_date=i18n.format_date(lang, at, brief.zone),
            until_time=i18n.format_time(lang, at, brief.zone),
            home_url=self.url(request, "/home"),
            cancel_url=self.url(request, f"/class/{session_id}/guest-link/cancel"),
            csrf=current.csrf,
        )
