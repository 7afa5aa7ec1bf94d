"""What a live class left behind, readable after it: its chat and its polls' results.

The gateway writes them (live/records.py); here the session's teacher and the class's teachers
read all of it, a pupil of the class the public chat, their own messages and the counts of the
polls the teacher showed, and anyone else gets the 404 of an unknown session
(docs/live.md#records).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from homeroom.core.live.parts import Role as LiveRole
from homeroom.school.api.base import NO_STORE, Endpoints, iso, page_of, path_id
from homeroom.school.api.live import Seat, seat_of, session_not_found
from homeroom.school.data.models import ChatAudience, ChatMessage, PollResult


def _message(row: ChatMessage) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "person_id": row.person_id,
        "display_name": row.display_name,
        "role": row.role.value,
        "to": row.audience.value,
        "group": row.breakout_group,
        "text": row.text,
        "sent_at": iso(row.sent_at),
    }


def _poll(row: PollResult, *, counts: bool) -> dict[str, Any]:
    return {
        "poll": row.poll,
        "question": row.question,
        "choices": list(row.choices),
        "multiple": row.multiple,
        "shown": row.shown,
        "counts": list(row.counts) if counts else None,
        "voters": row.voters if counts else None,
        "closed_at": iso(row.closed_at),
    }


class RecordsEndpoints(Endpoints):
    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/sessions/{session_id}/chat", self.chat, methods=["GET"]),
            Route("/api/v1/sessions/{session_id}/polls", self.polls, methods=["GET"]),
        ]

    async def chat(self, request: Request) -> Response:
        """A page of the session's chat, oldest first."""
        session_id = path_id(request, "session_id", session_not_found())
        page = page_of(request)
        async with self.deps.sessionmaker() as db:
            person_id, seat = await self._seat(request, db, session_id)
            seen = ChatMessage.session_id == session_id
            if seat.role is not LiveRole.TEACHER:  # the class's messages, and their own
                mine = ChatMessage.person_id == person_id
                seen = seen & or_(ChatMessage.audience == ChatAudience.ALL, mine)
            total = await db.scalar(select(func.count()).select_from(ChatMessage).where(seen))
            rows = await db.scalars(
                select(ChatMessage)
                .where(seen)
                .order_by(ChatMessage.sent_at, ChatMessage.id)
                .offset(page.offset)
                .limit(page.size)
            )
            items = [_message(row) for row in rows]
        return JSONResponse(page.body(total or 0, items), headers=NO_STORE)

    async def polls(self, request: Request) -> Response:
        """The session's closed polls, in the order they closed."""
        session_id = path_id(request, "session_id", session_not_found())
        async with self.deps.sessionmaker() as db:
            _, seat = await self._seat(request, db, session_id)
            rows = await db.scalars(
                select(PollResult)
                .where(PollResult.session_id == session_id)
                .order_by(PollResult.closed_at, PollResult.id)
            )
            teacher = seat.role is LiveRole.TEACHER
            polls = [_poll(row, counts=teacher or row.shown) for row in rows]
        return JSONResponse({"session_id": session_id, "polls": polls}, headers=NO_STORE)

    async def _seat(self, request: Request, db: AsyncSession, session_id: int) -> tuple[int, Seat]:
        """Who is asking, and their seat in the session (else the 404 of an unknown one)."""
        principal = await self.principal(request, db)
        seat = await seat_of(db, principal, session_id)
        if seat is None:
            raise session_not_found()
        return principal.person_id, seat
