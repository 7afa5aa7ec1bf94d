"""Join tokens revoked before they expire: what the gateway refuses and closes (docs/live.md#join).

The school writes a revocation row when a sign-in session ends (sign-out: the tokens it asked
for), when a person's sessions all end (password reset, erasure), when a class session is
deleted (every token for its room), or when a teacher cancels its guest links (the guests'
tokens); `school/links/revocations.py` writes them. A row names a room, a
person and a grant (the sign-in session's tag in the token), each of which may be `ANY`, and a
time: it covers the tokens issued until then. The gateway reads the new rows every
`POLL_S` (one indexed query per process, whatever the number of connections), closes the
connections they cover with 4003 `revoked`, and refuses the same tokens at the handshake from
memory, with no database call. The page then asks the school for a new token, which the school
gives or refuses as for any join.

Join tokens live at most `KEPT_S` (the school caps them), so a revocation older than that covers
nothing still valid: the gateway forgets it, and the school deletes such rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from homeroom.live.faults import short
from homeroom.live.jointoken import JoinClaims
from homeroom.school.for_live import LiveRevocation

log = logging.getLogger("homeroom.live")

ANY: Final = "*"
KEPT_S: Final = 6 * 3600  # the longest a join token lives, so the longest a revocation matters
POLL_S: Final = 2.0  # a revoked connection is closed within about this long
LATE_S: Final = 60  # a row whose transaction commits later than this after its time may be missed
BATCH: Final = 1_000  # rows read at once


@dataclass(frozen=True, slots=True)
class Revocation:
    room: str
    person: str
    grant: str
    before_ms: int  # unix milliseconds: tokens issued until then are revoked


class Revocations:
    """The revocations a gateway process knows of, by (room, person, grant)."""

    def __init__(self, revocations: Iterable[Revocation] = ()) -> None:
        self._before: dict[tuple[str, str, str], int] = {}
        self.add(revocations)

    def __len__(self) -> int:
        return len(self._before)

    def add(self, revocations: Iterable[Revocation]) -> None:
        for r in revocations:
            key = (r.room, r.person, r.grant)
            self._before[key] = max(self._before.get(key, r.before_ms), r.before_ms)

    def covers(self, claims: JoinClaims) -> bool:
        before = self._before
        if not before:
            return False
        for room in (claims.room, ANY):
            for person in (claims.person, ANY):
                for grant in (claims.grant, ANY) if claims.grant else (ANY,):
                    until = before.get((room, person, grant))
                    if until is not None and claims.issued <= until:
                        return True
        return False

    def forget(self, older_than_ms: int) -> None:
        self._before = {k: t for k, t in self._before.items() if t >= older_than_ms}


class Unavailable(Exception):
    """The school database cannot be read now: unreachable, or not migrated yet (at the first
    start `homeroom live` may run before `homeroom run` has made the tables). Not a bug: the
    poll tries again, and the log says it in one line."""


class RevocationFeed:
    """The school database's revocation rows that this process has not read yet.

    Ids are given in insert order but transactions may commit out of it, so each read also
    looks again at the rows of the last `LATE_S`: the ids read in that window are remembered,
    so a row is returned once.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._last_id = 0
        self._seen: dict[int, int] = {}  # id -> before_ms, for the rows of the last LATE_S

    async def read(self, now_ms: int) -> list[Revocation]:
        """The rows written since the last read (at the first, all those that still matter)."""
        table = LiveRevocation.__table__
        window = now_ms - LATE_S * 1000
        self._seen = {i: t for i, t in self._seen.items() if t >= window}
        recent = (table.c.id > self._last_id) | (table.c.before_ms >= window)
        out: list[Revocation] = []
        after = 0
        while True:
            query = (
                select(
                    table.c.id, table.c.room, table.c.person, table.c.grant_tag, table.c.before_ms
                )
                .where(recent, table.c.before_ms >= now_ms - KEPT_S * 1000, table.c.id > after)
                .order_by(table.c.id)
                .limit(BATCH)
            )
            try:
                async with self.engine.connect() as conn:
                    rows = (await conn.execute(query)).all()
            except (SQLAlchemyError, OSError) as exc:
                raise Unavailable(short(exc)) from exc
            for row in rows:
                after = row.id
                if row.id in self._seen:
                    continue
                self._last_id = max(self._last_id, row.id)
                if row.before_ms >= window:
                    self._seen[row.id] = row.before_ms
                out.append(Revocation(row.room, row.person, row.grant_tag, row.before_ms))
            if len(rows) < BATCH:
                return out
