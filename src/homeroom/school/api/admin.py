"""The administrators' JSON API: schools, classes and people in scope, roster import, export, erasure.

A school the caller does not administer is 404, the same as one that does not exist; who may
export or erase a person is school/people/privacy.py's decision. Lists are paged (`page`, `per_page`
up to 200). Design: docs/api.md#school-api.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message

from homeroom.errors import BadRequest, TooLarge
from homeroom.school.api.base import NO_STORE, Endpoints, page_of, path_id
from homeroom.school.api.teacher import school_not_found
from homeroom.school.data.access import Principal
from homeroom.school.data.models import Role
from homeroom.school.people import importer, privacy, roster
from homeroom.school.people.directory import (
    groups_of_school,
    people_of_school,
    school_academy,
    schools_in_scope,
)
from homeroom.web.http import lang_of

ROSTER_LIMIT: Final = roster.MAX_BYTES
MULTIPART_SLACK: Final = 16 * 1024  # boundaries and part headers around the file


async def administered_school(db: AsyncSession, principal: Principal, school_id: int) -> None:
    academy = await school_academy(db, school_id)
    if academy is None or not principal.administers_school(school_id, academy):
        raise school_not_found()


def _too_large() -> TooLarge:
    limit = ROSTER_LIMIT
    return TooLarge(
        "roster_too_large",
        f"Fichier trop volumineux (au plus {limit} octets).",
        f"File too large (at most {limit} bytes).",
        extra={"limit": limit},
    )


async def _bounded(request: Request, limit: int) -> bytes:
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise _too_large()
    return bytes(chunks)


def _no_file() -> BadRequest:
    return BadRequest(
        "roster_missing",
        "Envoyez le fichier CSV (text/csv, ou multipart avec un champ « file »).",
        "Send the CSV file (text/csv, or multipart with a 'file' field).",
    )


async def roster_bytes(request: Request) -> bytes:
    """The CSV of the request: its body (text/csv) or the `file` part of a multipart form."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "multipart/form-data":
        data = await _bounded(request, ROSTER_LIMIT)
        if not data:
            raise _no_file()
        return data
    raw = await _bounded(request, ROSTER_LIMIT + MULTIPART_SLACK)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=10)
    except (MultiPartException, HTTPException) as exc:
        raise BadRequest(
            "bad_multipart", "Formulaire multipart illisible.", "Unreadable multipart form."
        ) from exc
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise _no_file()
        data = await upload.read(ROSTER_LIMIT + 1)
    finally:
        await form.close()
    if len(data) > ROSTER_LIMIT:
        raise _too_large()
    return data


def _role_filter(request: Request) -> Role | None:
    value = request.query_params.get("role")
    if value is None:
        return None
    try:
        return Role(value)
    except ValueError as exc:
        raise BadRequest("bad_role", "Rôle inconnu.", "Unknown role.") from exc


def report_body(report: importer.ImportReport, lang: str) -> dict[str, object]:
    return {
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "counts": {
            role.value: {"created": c.created, "updated": c.updated, "unchanged": c.unchanged}
            for role, c in report.counts.items()
        },
        "groups_created": list(report.groups_created),
        "errors": [
            {"line": e.line, "reason": e.reason, "column": e.column, "message": e.message(lang)}
            for e in report.errors
        ],
        "logins": [
            {
                "line": n.line,
                "person_id": n.person_id,
                "external_id": n.external_id,
                "role": n.role.value,
                "display_name": n.display_name,
                "login": n.login,
            }
            for n in report.logins
        ],
        "links_added": dict(report.links_added),
        "ignored_columns": list(report.ignored_columns),
    }


class AdminEndpoints(Endpoints):
    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/schools", self.schools, methods=["GET"]),
            Route("/api/v1/schools/{school_id}/classes", self.classes, methods=["GET"]),
            Route("/api/v1/schools/{school_id}/people", self.people, methods=["GET"]),
            Route("/api/v1/schools/{school_id}/roster", self.import_roster, methods=["POST"]),
            Route("/api/v1/people/{person_id}/export", self.export, methods=["GET"]),
            Route("/api/v1/people/{person_id}", self.erase, methods=["DELETE"]),
        ]

    async def schools(self, request: Request) -> Response:
        page = page_of(request)
        async with self.deps.sessionmaker() as db:
            principal = await self.principal(request, db)
            total, rows = await schools_in_scope(db, principal, page.offset, page.size)
        items = [
            {"id": r.id, "uai": r.uai, "name": r.name, "academy_id": r.academy_id,
             "timezone": r.timezone}
            for r in rows
        ]  # fmt: skip
        return JSONResponse(page.body(total, items), headers=NO_STORE)

    async def classes(self, request: Request) -> Response:
        school_id = path_id(request, "school_id", school_not_found())
        page = page_of(request)
        async with self.deps.sessionmaker() as db:
            principal = await self.principal(request, db)
            await administered_school(db, principal, school_id)
            total, rows = await groups_of_school(db, school_id, page.offset, page.size)
        items = [
            {"id": r.id, "name": r.name, "pupils": r.pupils, "join_code_active": r.join_code_active}
            for r in rows
        ]
        return JSONResponse(page.body(total, items), headers=NO_STORE)

    async def people(self, request: Request) -> Response:
        school_id = path_id(request, "school_id", school_not_found())
        page = page_of(request)
        role = _role_filter(request)
        async with self.deps.sessionmaker() as db:
            principal = await self.principal(request, db)
            await administered_school(db, principal, school_id)
            total, rows = await people_of_school(db, school_id, page.offset, page.size, role)
        items = [
            {
                "id": r.id,
                "display_name": r.display_name,
                "login": r.login,
                "disabled": r.disabled,
                "roles": [role.value for role in r.roles],
            }
            for r in rows
        ]
        return JSONResponse(page.body(total, items), headers=NO_STORE)

    async def import_roster(self, request: Request) -> Response:
        school_id = path_id(request, "school_id", school_not_found())
        async with self.deps.sessionmaker() as db:
            principal = await self.acting(request, db)
            await administered_school(db, principal, school_id)
            data = await roster_bytes(request)
            report = await importer.import_roster(db, school_id, data, now=self.now())
        return JSONResponse(report_body(report, lang_of(request)), headers=NO_STORE)

    async def export(self, request: Request) -> Response:
        person_id = path_id(request, "person_id", privacy.person_not_found())
        async with self.deps.sessionmaker() as db:
            principal = await self.principal(request, db)
            await privacy.check_may_export(db, principal, person_id)
            data = await privacy.export(db, person_id, self.now())
        return JSONResponse(
            data,
            headers={
                **NO_STORE,
                "content-disposition": f'attachment; filename="person-{person_id}.json"',
            },
        )

    async def erase(self, request: Request) -> Response:
        person_id = path_id(request, "person_id", privacy.person_not_found())
        async with self.deps.sessionmaker() as db:
            principal = await self.acting(request, db)
            await privacy.check_may_erase(db, principal, person_id)
            await privacy.erase(db, self.deps.sessions, person_id, principal.person_id)
            await db.commit()
        self.deps.principals.forget(person_id)
        return Response(status_code=204, headers=NO_STORE)
