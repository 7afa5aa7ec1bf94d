"""The dashboard at /home, one part per role, and the teachers' and administrators' forms.

A pupil's dashboard is three reads whatever the number of classes: the session, the Principal
(two queries) and `dashboard.viewer_and_sessions`. Times are shown in each school's zone, dates
in the page's language (docs/school.md#pages).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from homeroom.errors import BadRequest, NotFound, Unavailable
from homeroom.school.auth.sessions import Current
from homeroom.school.data.access import Principal
from homeroom.school.data.models import MAX_ID, Role
from homeroom.school.data.queries import place_of
from homeroom.school.pages.dashboard import (
    ClassInfo,
    DaySession,
    SchoolView,
    children_of,
    classes,
    create_session,
    school_place,
    school_view,
    schools_in_scope,
    session_brief,
    viewer_and_sessions,
)
from homeroom.school.pages.forms import Form, read_form, read_upload
from homeroom.school.pages.kit import PageKit
from homeroom.school.people import enrol
from homeroom.school.people.importer import import_roster
from homeroom.school.people.roster import MAX_BYTES, clean
from homeroom.school.schedule.timetable import local_view, same_local_day
from homeroom.web import i18n
from homeroom.web.http import lang_of

DAY_RE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
TIME_RE: Final = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
MINUTES: Final = (5, 240)
DONE: Final = {
    "claimed": i18n.N_("school_claimed"),
    "erased": i18n.N_("school_erased"),
    "guests_cancelled": i18n.N_("class_guests_cancelled"),
}
STAFF: Final = frozenset({Role.ADMIN, Role.OPERATOR})
# Invitation links made from the pages: uses and days of validity offered by default, within
# enrol's bounds (docs/school.md#pages explains each choice; pages/people.py makes the links).
INVITE_DEFAULTS: Final = {
    "pupil": {"uses": 30, "days": 14},  # one link for a class: a class and a few late comers
    "parent": {"uses": 2, "days": 30},  # two parents; a month for a slip to come back
    "teacher": {"uses": 1, "days": 14},  # one person, one link
}


def query_id(text: str | None) -> int | None:
    return (
        int(text)
        if text and text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= MAX_ID
        else None
    )


def no_group() -> NotFound:
    french, english = enrol.MESSAGES["group_not_found"]
    return NotFound("group_not_found", french, english)


def _invalid(key: str) -> BadRequest:
    return BadRequest(key, i18n.translate("fr", key), i18n.translate("en", key))


def session_view(lang: str, s: DaySession, now: dt.datetime) -> dict[str, Any]:
    start, end = s.starts_at.timestamp(), s.ends_at.timestamp()
    state = "ended" if s.ends_at <= now else ("live" if s.starts_at <= now else "later")
    return {
        "id": s.session_id,
        "title": s.title,
        "group": s.group_name,
        "teacher": s.teacher_name,
        # a session of another day than today, shown because it is in progress or soon
        "date": None
        if same_local_day(s.starts_at, now, s.zone)
        else i18n.format_date(lang, start, s.zone),
        "start": i18n.format_time(lang, start, s.zone),
        "end": i18n.format_time(lang, end, s.zone),
        "iso": s.starts_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "state": state,
        "join_url": f"/class/{s.session_id}",
        "counts": None,
    }


class HomePages(PageKit):
    def routes(self) -> list[Route]:
        return [
            Route("/home", self.pages(self.home), methods=["GET"]),
            Route("/home/sessions", self.pages(self.new_session), methods=["POST"]),
            Route("/home/classes/{group_id}/code", self.pages(self.class_code), methods=["POST"]),
            Route("/home/classes/{group_id}/sheet", self.pages(self.code_sheet), methods=["POST"]),
            Route("/home/schools/{school_id}/roster", self.pages(self.roster), methods=["POST"]),
        ]

    async def home(self, request: Request) -> Response:
        async with self.deps.sessionmaker() as db:
            signed = await self.signed(request, db, None)
            if signed is None:
                return self.to_signin(request)
            return await self._home(request, db, *signed)

    async def _home(
        self,
        request: Request,
        db: AsyncSession,
        current: Current,
        principal: Principal,
        status: int = 200,
        **extra: Any,
    ) -> Response:
        lang, now = lang_of(request), self.now()
        groups = principal.enrolled | principal.children_groups | principal.taught
        name, today = await viewer_and_sessions(db, principal.person_id, groups, now)
        zone = today[0].zone if today else i18n.DEFAULT_ZONE
        ctx: dict[str, Any] = {
            "today": i18n.format_date(lang, now.timestamp(), zone),
            "pupil": None,
            "parent": None,
            "teacher": None,
            "admin": None,
            "draft": {},
            "invite_draft": {},  # a refused invitation form's fields, by form (pages/people.py)
            "invite_defaults": INVITE_DEFAULTS,
            "invite_limits": {
                "uses": enrol.MAX_INVITATION_USES,
                "days": enrol.MAX_INVITATION_TTL.days,
            },
            **extra,
        }
        if Role.PUPIL in principal.roles or principal.enrolled:
            ctx["pupil"] = [
                session_view(lang, s, now) for s in today if s.group_id in principal.enrolled
            ]
        if Role.PARENT in principal.roles or principal.children:
            ctx["parent"] = [
                {
                    "name": child.display_name,
                    "sessions": [
                        session_view(lang, s, now) for s in today if s.group_id in child.groups
                    ],
                }
                for child in await children_of(db, principal.person_id)
            ]
        if Role.TEACHER in principal.roles or principal.taught:
            ctx["teacher"] = await self._teacher(request, db, principal, today)
        if principal.roles & STAFF:
            ctx["admin"] = await self._admin(request, db, principal)
        ctx.setdefault("notice", await self._notice(request, db, principal, lang))
        if request.method != "GET":  # a refused form: the language switch goes to /home
            ctx["page_url"] = self.url(request, "/home")
        ctx["csrf"] = current.csrf
        ctx["account"] = self.account(request, name, current)
        return self.render(request, "home.html", status, **ctx)

    async def _notice(
        self, request: Request, db: AsyncSession, principal: Principal, lang: str
    ) -> str | None:
        """What the last form did, from the redirect's query (?done=, ?created=)."""
        done = DONE.get(request.query_params.get("done", ""))
        if done is not None:
            return i18n.translate(lang, done)
        created = query_id(request.query_params.get("created"))
        if created is None:
            return None
        brief = await session_brief(db, created)
        if brief is None or not principal.manages_group(brief.place):
            return None
        at = brief.starts_at.timestamp()
        return i18n.translate(
            lang,
            "school_session_created",
            title=brief.title,
            date=i18n.format_date(lang, at, brief.zone),
            time=i18n.format_time(lang, at, brief.zone),
        )

    async def _teacher(
        self, request: Request, db: AsyncSession, principal: Principal, today: list[DaySession]
    ) -> dict[str, Any]:
        lang, now = lang_of(request), self.now()
        infos = await classes(db, principal.taught)
        by_id = {info.group_id: info for info in infos}
        lead = dt.timedelta(seconds=self.deps.appointment_lead_s)
        sessions = []
        for s in today:
            if s.group_id not in by_id:
                continue
            view = session_view(lang, s, now)
            if s.starts_at - lead <= now < s.ends_at:  # about to start, or started
                # the gate's store away: the dashboard still shows, without the counts
                with contextlib.suppress(Unavailable):
                    view["counts"] = await self.deps.attendance.counts(
                        s.session_id, by_id[s.group_id].pupil_ids
                    )
            sessions.append(view)
        zone = infos[0].zone if infos else i18n.DEFAULT_ZONE
        return {
            "sessions": sessions,
            "classes": [self._class_view(request, info) for info in infos],
            "day": local_view(now, zone).date().isoformat(),
            "zone": zone,
            "form_url": self.url(request, "/home/sessions"),
        }

    def _class_view(self, request: Request, info: ClassInfo) -> dict[str, Any]:
        return {
            "id": info.group_id,
            "name": info.name,
            "school": info.school_name,
            "pupils": len(info.pupil_ids),
            "code": enrol.shown(info.join_code) if info.join_code else None,
            "code_url": self.url(request, f"/home/classes/{info.group_id}/code"),
            "sheet_url": self.url(request, f"/home/classes/{info.group_id}/sheet"),
            "invite_url": self.url(request, f"/home/classes/{info.group_id}/invitations"),
            "pupil_list": info.pupils,
        }

    async def _admin(
        self, request: Request, db: AsyncSession, principal: Principal
    ) -> dict[str, Any]:
        schools = await schools_in_scope(db, principal)
        wanted = query_id(request.query_params.get("school"))
        chosen = next(
            (s for s in schools if s.school_id == wanted), schools[0] if schools else None
        )
        view = await school_view(db, chosen) if chosen is not None else None
        return {
            "schools": schools,
            "chosen": chosen,
            "view": view,
            "classes": [
                {
                    "id": gid,
                    "name": name,
                    "pupils": size,
                    "code": enrol.shown(code) if code else None,
                    "sheet_url": self.url(request, f"/home/classes/{gid}/sheet"),
                }
                for gid, name, size, code in (view.classes if view else [])
            ],
            "roster_url": (
                self.url(request, f"/home/schools/{chosen.school_id}/roster") if chosen else None
            ),
            "invite_url": (
                self.url(
                    request,
                    f"/home/schools/{chosen.school_id}/invitations",
                    school=chosen.school_id,  # a refused form shows this school again
                )
                if chosen
                else None
            ),
            "people": self._people(request, principal, view) if view else [],
            "home_url": self.url(request, "/home"),
        }

    def _people(
        self, request: Request, principal: Principal, view: SchoolView
    ) -> list[dict[str, Any]]:
        """The people table's rows, with their export and erase links (pages/people.py)."""
        school = view.school.school_id
        return [
            {
                "row": p,
                "export_url": self.url(request, f"/home/people/{p.person_id}/export"),
                "erase_url": (
                    None
                    if p.person_id == principal.person_id  # never oneself (people/privacy.py)
                    else self.url(request, f"/home/people/{p.person_id}/erase", school=school)
                ),
            }
            for p in view.people
        ]

    # ------------------------------------------------------------ forms

    async def new_session(self, request: Request) -> Response:
        form = await read_form(request)
        async with self.deps.sessionmaker() as db:
            signed = await self.signed(request, db, form)
            if signed is None:
                return self.to_signin(request)
            current, principal = signed
            group_id = query_id(form.get("group", 12))
            place = await place_of(db, group_id) if group_id is not None else None
            if place is None or not principal.manages_group(place):
                raise no_group()
            try:
                title, day, start, minutes = _session_fields(form)
            except BadRequest as exc:
                draft = {k: form.get(k, 200) for k in ("group", "title", "day", "start", "minutes")}
                return await self._home(
                    request,
                    db,
                    current,
                    principal,
                    400,
                    problem=exc.message(lang_of(request)),
                    draft=draft,
                )
            [info] = await classes(db, frozenset({place.group_id}))
            session_id = await create_session(db, principal, info, title, day, start, minutes)
            await db.commit()
        return self.redirect(request, "/home", created=session_id)

    async def class_code(self, request: Request) -> Response:
        form = await read_form(request)
        group_id = query_id(request.path_params["group_id"])
        async with self.deps.sessionmaker() as db:
            signed = await self.signed(request, db, form)
            if signed is None:
                return self.to_signin(request)
            if group_id is None:
                raise no_group()
            if form.get("action", 10) == "revoke":
                await enrol.revoke_class_code(db, signed[1], group_id)
            else:
                await enrol.make_class_code(db, signed[1], group_id)
            await db.commit()
        response = self.redirect(request, "/home")
        response.headers["location"] += f"#class-{group_id}"
        return response

    async def code_sheet(self, request: Request) -> Response:
        form = await read_form(request)
        group_id = query_id(request.path_params["group_id"])
        lang, now = lang_of(request), self.now()
        async with self.deps.sessionmaker() as db:
            signed = await self.signed(request, db, form)
            if signed is None:
                return self.to_signin(request)
            if group_id is None:
                raise no_group()
            rows = await enrol.reset_codes(db, signed[1], group_id, now)
            await db.commit()
            [info] = await classes(db, frozenset({group_id}))
        until = (now + enrol.CODE_TTL).timestamp()
        return self.render(
            request,
            "sheet.html",
            rows=rows,
            name=info.name,
            school=info.school_name,
            until_date=i18n.format_date(lang, until, info.zone),
            until_time=i18n.format_time(lang, until, info.zone),
            code_url=f"{request.url.scheme}://{request.url.netloc}/signin/code",
            home_url=self.url(request, "/home"),
            page_url=self.url(request, "/home"),
        )

    async def roster(self, request: Request) -> Response:
        school_id = query_id(request.path_params["school_id"])
        form, content = await read_upload(request, MAX_BYTES + 64 * 1024, "file")
        async with self.deps.sessionmaker() as db:
            signed = await self.signed(request, db, form)
            if signed is None:
                return self.to_signin(request)
            academy_id = await school_place(db, school_id) if school_id is not None else None
            if academy_id is None or school_id is None:
                raise NotFound("school_not_found", *enrol.MESSAGES["school_not_found"])
            if not signed[1].administers_school(school_id, academy_id):
                raise NotFound("school_not_found", *enrol.MESSAGES["school_not_found"])
            if not content:
                raise _invalid(i18n.N_("school_roster_missing"))
            report = await import_roster(db, school_id, content, now=self.now())
        lang = lang_of(request)
        return self.render(
            request,
            "roster_report.html",
            report=report,
            errors=[(e.line, e.column, e.message(lang)) for e in report.errors],
            home_url=self.url(request, "/home", school=school_id),
            page_url=self.url(request, "/home", school=school_id),
        )


def _session_fields(form: Form) -> tuple[str, dt.date, dt.time, int]:
    """The new session's title, local day, local start and length, or BadRequest."""
    title = clean(form.get("title", 400))
    if not 1 <= len(title) <= 160:
        raise _invalid(i18n.N_("school_bad_title"))
    text = form.get("day", 20).strip()
    try:
        if not DAY_RE.fullmatch(text):
            raise ValueError(text)
        day = dt.date.fromisoformat(text)
    except ValueError as exc:
        raise _invalid(i18n.N_("school_bad_day")) from exc
    found = TIME_RE.fullmatch(form.get("start", 20).strip())
    if found is None:
        raise _invalid(i18n.N_("school_bad_time"))
    start = dt.time(int(found[1]), int(found[2]))
    minutes_text = form.get("minutes", 20).strip()
    minutes = int(minutes_text) if minutes_text.isdigit() and len(minutes_text) < 5 else 0
    if not MINUTES[0] <= minutes <= MINUTES[1]:
        raise _invalid(i18n.N_("school_bad_minutes"))
    return title, day, start, minutes
