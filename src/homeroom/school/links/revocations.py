"""The school's side of revoking live join tokens before they expire (live/revocations.py).

Ending a sign-in session revokes the join tokens it asked for (its grant); ending all of a
person's revokes theirs everywhere; deleting a class session revokes every token for its room;
a teacher cancelling a session's guest links revokes its guests' tokens (grant `GUEST`), and
the links made until then stop working. Each is one row in the caller's transaction, read by
the gateways within a few seconds.
"""

from __future__ import annotations

import hashlib
from typing import Final

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from homeroom.live.revocations import ANY, KEPT_S
from homeroom.school.data.models import LiveRevocation

GUEST: Final = "guest"  # the grant of every guest's join token: a guest has no sign-in
GUEST_KEPT_S: Final = 400 * 86400  # a session is scheduled at most a year ahead


def grant_of(session_hash: bytes) -> str:
    """The tag of a sign-in session in its join tokens: not the key of its row."""
    return hashlib.sha256(b"homeroom.live.grant" + session_hash).hexdigest()[:16]


async def revoke_live(
    db: AsyncSession, now: float, *, room: str = ANY, person: str = ANY, grant: str = ANY
) -> None:
    """Revoke the join tokens issued until `now` for this room, person and grant."""
    assert (room, person, grant) != (ANY, ANY, ANY), "that would close every class"
    now_ms = int(now * 1000)
    # Rows past a token's longest life cover nothing: each new row clears them (indexed). But a
    # cancellation of guest links also answers for links, which live as long as their session
    # (scheduled up to a year ahead): those rows stay GUEST_KEPT_S.
    old = LiveRevocation.before_ms < now_ms - 2 * KEPT_S * 1000
    guests = LiveRevocation.grant_tag == GUEST
    await db.execute(
        delete(LiveRevocation).where(
            old, ~guests | (LiveRevocation.before_ms < now_ms - GUEST_KEPT_S * 1000)
        )
    )
    db.add(LiveRevocation(room=room, person=person, grant_tag=grant, before_ms=now_ms))


async def guests_cancelled(db: AsyncSession, room: str) -> int | None:
    """Until when (unix ms) the guest links of a room were cancelled, if they ever were."""
    until: int | None = await db.scalar(
        select(func.max(LiveRevocation.before_ms)).where(
            LiveRevocation.room == room,
            LiveRevocation.person == ANY,
            LiveRevocation.grant_tag == GUEST,
        )
    )
    return until
