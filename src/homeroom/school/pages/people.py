"""Invitation links, and a person's export and erasure, from the school's pages.

Teachers make pupil and parent links for their classes, administrators teacher links for a
school: each link exists in clear only on the page that answers the post (`no-store`), like the
code sheet. Administrators download a person's export, or erase them after a confirmation page.
The rights are enrol's and privacy's, and so are the bounds of an invitation (uses, days): a
typed value out of them gets the dashboard again with enrol's message. A person the caller may
not handle, oneself included for erasure, is the same 404 as an unknown id (docs/school.md#pages).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from homeroom.errors import BadRequest, Forbidden, NotFound
from homeroom.school.auth.sessions import Current
from homeroom.school.data.access import Principal
from homeroom.school.data.models import Role
from homeroom.school.data.queries import place_of
from homeroom.school.pages.dashboard import classes, school_info
from homeroom.school.pages.forms import Form, bad_field, read_form
from homeroom.school.pages.home import HomePages, no_group, query_id
from homeroom.school.pages.kit import NO_STORE
from homeroom.school.people import enrol, privacy
from homeroom.web import i18n
from homeroom.web.http import lang_of

NUMBER_MAX: Final = 6  # digits: anything longer is out of enrol's bounds anyway


def _number(form: Form, name: str) -> int:
    """A whole number typed in the form; 0 if it is not one, which enrol refuses with its words."""
    text = form.get(name, 20).strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= NUMBER_MAX else 0


def _school_not_found() -> NotFound:
    return NotFound("school_not_found", *enrol.MESSAGES["school_not_found"])


async def _may_erase(db: AsyncSession, principal: Principal, person_id: int | None) -> int:
    """The id of a person the caller may erase; NotFound otherwise, oneself included."""
    if person_id is None:
        raise privacy.person_not_found()
    try:
        await privacy.check_may_erase(db, principal, person_id)
    except Forbidden as exc:  # erase_self: the pages say nothing an unknown id would not
        raise privacy.person_not_found() from exc
    return person_id


class PeoplePages(HomePages):
    """The routes below; the dashboard itself (and its re-rendering) is HomePages'."""

    def routes(self) -> list[Route]:
        return [
            Route(
                "/home/classes/{group_id}/invitations",
                self.pages(self.invite_to_class),
                methods=["POST"],
            ),
            Route(
                "/home/schools/{school_id}/invitations",
                self.pages(self.invite_teacher),
                methods=["POST"],
            ),
            Route("/home/people/{person_id}/export", self.pages(self.export), methods=["GET"]),
            Route("/home/people/{person_id}/erase", self.pages(self.erase_page), methods=["GET"]),
            Route("/home/people/{person_id}/erase", self.pages(self.erase), methods=["POST"]),
        ]

    # ------------------------------------------------------------ invitation links

    async def _refused(
        self,
        request: Request,
        db: AsyncSession,
        signed: tuple[Current, Principal],
        exc: BadRequest,
        form_key: str,
        form: Form,
    ) -> Response:
        """The dashboard again, status 400, with the message and the refused form open."""
        draft = {k: form.get(k, 20) for k in ("uses", "days", "child")}
        return await self._home(
            request,
            db,
            *signed,
            400,
            problem=exc.message(lang_of(request)),
            invite_draft={form_key: draft},
        )

    async def invite_to_class(self, request: Request) -> Response:
        """A pupil link for the class, or a parent link for one of its pupils (`child`)."""
        form = await read_form(request)
        group_id = query_id(request.path_params["group_id"])
        now = self.now()
        async with self.deps.sessionmaker() as db:
            signed = await self.signed(request, db, form)
            if signed is None:
                return self.to_signin(request)
            place = await place_of(db, group_id) if group_id is not None else None
            if place is None:
                raise no_group()
            kind = form.get("role", 10)
            if kind not in ("pupil", "parent"):
                raise bad_field("role")
            role = Role(kind)
            child_id = query_id(form.get("child", 12).strip()) if role is Role.PARENT else None
            uses, days = _number(form, "uses"), _number(form, "days")
            try:
                token = await enrol.invite(
                    db,
                    signed[1],
                    role,
                    place.school_id,
                    place.group_id,
                    child_id=child_id,
                    max_uses=uses,
                    ttl=dt.timedelta(days=days),
                    now=now,
                )
            except BadRequest as exc:
                return await self._refused(request, db, signed, exc, f"{kind}-{group_id}", form)
            [info] = await classes(db, frozenset({place.group_id}))
            await db.commit()
        child = dict(info.pupils).get(child_id) if child_id is not None else None
        return self._link_page(
            request,
            token,
            role,
            uses,
            now + dt.timedelta(days=days),
            info.zone,
            name=info.name,
            school=info.school_name,
            child=child,
        )

    async def invite_teacher(self, request: Request) -> Response:
        """A teacher link to the school, by its administrators (enrol checks the rights)."""
        form = await read_form(request)
        school_id = query_id(request.path_params["school_id"])
        now = self.now()
        async with self.deps.sessionmaker() as db:
            signed = await self.signed(request, db, form)
            if signed is None:
                return self.to_signin(request)
            if school_id is None:
                raise _school_not_found()
            uses, days = _number(form, "uses"), _number(form, "days")
            try:
                token = await enrol.invite(
                    db,
                    signed[1],
                    Role.TEACHER,
                    school_id,
                    max_uses=uses,
                    ttl=dt.timedelta(days=days),
                    now=now,
                )
            except BadRequest as exc:
                return await self._refused(request, db, signed, exc, f"teacher-{school_id}", form)
            school = await school_info(db, school_id)
            await db.commit()
        assert school is not None  # enrol found it
        return self._link_page(
            request,
            token,
            Role.TEACHER,
            uses,
            now + dt.timedelta(days=days),
            school.zone,
            name=None,
            school=school.name,
            child=None,
        )

    def _link_page(
        self,
        request: Request,
        token: str,
        role: Role,
        uses: int,
        until: dt.datetime,
        zone: str,
        **whom: Any,
    ) -> Response:
        lang, at = lang_of(request), until.timestamp()
        return self.render(
            request,
            "invitation.html",
            role=role.value,
            link=f"{request.url.scheme}://{request.url.netloc}/signup?invite={token}",
            until_date=i18n.format_date(lang, at, zone),
            until_time=i18n.format_time(lang, at, zone),
            uses=uses,
            home_url=self.url(request, "/home"),
            page_url=self.url(request, "/home"),  # a POST's address cannot be reloaded
            **whom,
        )

    # ------------------------------------------------------------ export and erasure

    async def export(self, request: Request) -> Response:
        """Everything held about the person, as a JSON download (privacy.export)."""
        person_id = query_id(request.path_params["person_id"])
        async with self.deps.sessionmaker() as db:
            signed = await self.signed(request, db, None)
            if signed is None:
                return self.to_signin(request)
            if person_id is None:
                raise privacy.person_not_found()
            await privacy.check_may_export(db, signed[1], person_id)
            data = await privacy.export(db, person_id, self.now())
        body = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True).encode()
        return Response(
            body,
            media_type="application/json",
            headers={
                **NO_STORE,
                "content-disposition": f'attachment; filename="person-{person_id}.json"',
                "x-content-type-options": "nosniff",
            },
        )

    async def erase_page(self, request: Request) -> Response:
        """What erasing the person deletes, and the form that does it."""
        person_id = query_id(request.path_params["person_id"])
        async with self.deps.sessionmaker() as db:
            signed = await self.signed(request, db, None)
            if signed is None:
                return self.to_signin(request)
            current, principal = signed
            person_id = await _may_erase(db, principal, person_id)
            data = await privacy.export(db, person_id, self.now())
        school = query_id(request.query_params.get("school"))
        back = {"school": school} if school is not None else {}
        what = {
            key: len(data[key])
            for key in (
                "roles",
                "enrolments",
                "teaching",
                "auth_sessions",
                "one_time_codes",
                "sign_in_events",
                "timetable_entries",
                "class_sessions",
            )
        }
        what["family"] = len(data["children"]) + len(data["parents"])
        return self.render(
            request,
            "erase.html",
            person=data["person"],
            what=what,
            csrf=current.csrf,
            action=self.url(request, f"/home/people/{person_id}/erase", **back),
            export_url=self.url(request, f"/home/people/{person_id}/export"),
            home_url=self.url(request, "/home", **back),
        )

    async def erase(self, request: Request) -> Response:
        form = await read_form(request)
        person_id = query_id(request.path_params["person_id"])
        async with self.deps.sessionmaker() as db:
            signed = await self.signed(request, db, form)
            if signed is None:
                return self.to_signin(request)
            principal = signed[1]
            person_id = await _may_erase(db, principal, person_id)
            await privacy.erase(db, self.deps.sessions, person_id, principal.person_id)
            await db.commit()
        self.deps.principals.forget(person_id)
        school = query_id(request.query_params.get("school"))
        back: dict[str, Any] = {"school": school} if school is not None else {}
        return self.redirect(request, "/home", done="erased", **back)
