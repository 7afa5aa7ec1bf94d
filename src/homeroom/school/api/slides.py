"""Slides upload and download for live classes: a teacher posts a PDF, the class reads it.

`POST /api/v1/sessions/{id}/slides` takes the PDF as the body (the session's teachers only;
anyone else gets the 404 of an unknown session), checks it (school/data/slides.py) and answers the
document number the teacher's page then opens in the room with `slides.open`. `GET
/api/v1/sessions/{id}/slides/{doc}` serves it to members of that session's class
(docs/live.md#pages).
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from homeroom.errors import BadRequest, NotFound
from homeroom.school.api.base import NO_STORE, Endpoints, path_id
from homeroom.school.api.live import seat_of, session_not_found, teacher_seat
from homeroom.school.data.slides import MAX_BYTES, count_pages, too_large
from homeroom.school.deps import SchoolDeps

# A document never changes (a new upload is a new id): the browser may keep it, no one else.
PDF_HEADERS = {
    "cache-control": "private, max-age=3600",
    "x-content-type-options": "nosniff",
    "content-disposition": "inline",
}


def slides_not_found() -> NotFound:
    return NotFound("slides_not_found", "Document introuvable.", "No such document.")


async def _bounded(request: Request) -> bytes:
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > MAX_BYTES:
            raise too_large()
    if not chunks:
        raise BadRequest("slides_missing", "Envoyez le PDF.", "Send the PDF.")
    return bytes(chunks)


class SlidesEndpoints(Endpoints):
    def __init__(self, deps: SchoolDeps) -> None:
        super().__init__(deps)
        self.store = deps.slides

    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/sessions/{session_id}/slides", self.upload, methods=["POST"]),
            Route("/api/v1/sessions/{session_id}/slides/{doc}", self.download, methods=["GET"]),
        ]

    async def upload(self, request: Request) -> Response:
        session_id = path_id(request, "session_id", session_not_found())
        async with self.deps.sessionmaker() as db:
            await teacher_seat(db, await self.acting(request, db), session_id)
        data = await _bounded(request)
        pages = await asyncio.to_thread(count_pages, data)  # parsing 20 MiB takes a while
        doc = await asyncio.to_thread(self.store.save, session_id, data)
        url = f"/api/v1/sessions/{session_id}/slides/{doc}"
        body = {"doc": str(doc), "pages": pages, "bytes": len(data), "url": url}
        return JSONResponse(body, 201, headers=NO_STORE)

    async def download(self, request: Request) -> Response:
        session_id = path_id(request, "session_id", slides_not_found())
        doc = path_id(request, "doc", slides_not_found())
        async with self.deps.sessionmaker() as db:
            principal = await self.principal(request, db)
            seat = await seat_of(db, principal, session_id)
        path = self.store.path(session_id, doc) if seat is not None else None
        if path is None:
            raise slides_not_found()
        return FileResponse(path, media_type="application/pdf", headers=PDF_HEADERS)
