"""Server-side sign-in sessions behind a signed cookie, with idle and absolute timeouts.

The cookie carries a random 32-byte id signed with itsdangerous; the database keeps only its
SHA-256, so a copy of the table opens no session. A check is one indexed read, and it writes
`last_seen_at` back at most once per `TOUCH_EVERY_S`, so a signed-in page costs no write. A
short in-process cache (`CACHE_S`) spares even the read on busy pages; a revocation is seen at
once by the process that made it and within `CACHE_S` by the others (docs/school.md#sessions).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from homeroom.school.data.models import AuthSession
from homeroom.school.links.revocations import grant_of, revoke_live

COOKIE = "hr_sid"
TOUCH_EVERY_S = 300
CACHE_S = 10.0
CACHE_MAX = 100_000


@dataclass(frozen=True, slots=True)
class Lifetime:
    idle_s: int
    absolute_s: int


# Pupils and parents mostly sign in on their own device: a long session means most of them do
# not type a password on the morning itself. Staff sessions are shorter (more rights).
LONG = Lifetime(idle_s=30 * 86400, absolute_s=180 * 86400)
STAFF = Lifetime(idle_s=7 * 86400, absolute_s=30 * 86400)
SHARED_DEVICE = Lifetime(idle_s=2 * 3600, absolute_s=12 * 3600)


@dataclass(frozen=True, slots=True)
class Current:
    """A valid session, as a page needs it."""

    person_id: int
    id_hash: bytes
    csrf: str  # the token every state-changing form of this session must carry
    until: float  # unix time until which this process may use its cached copy


def _hash(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()


def _utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)


class Sessions:
    def __init__(self, secret: bytes, clock: Callable[[], float] = time.time) -> None:
        self._signer = URLSafeSerializer(secret, salt="homeroom.session")
        self._secret = secret
        self._clock = clock
        self._cache: OrderedDict[bytes, Current] = OrderedDict()

    def derive(self, label: bytes) -> bytes:
        """A key of its own for another use of the session key (e.g. pre-sign-in forms).

        Labelled, so a token signed with it is never a valid session cookie; the same in every
        process that shares the session key.
        """
        return hashlib.blake2b(self._secret, key=label[:64], digest_size=32).digest()

    async def create(self, db: AsyncSession, person_id: int, life: Lifetime) -> str:
        """A new session; returns the cookie value. The caller commits."""
        raw = secrets.token_bytes(32)
        now = _utc(self._clock())
        db.add(
            AuthSession(
                id_hash=_hash(raw),
                person_id=person_id,
                created_at=now,
                last_seen_at=now,
                idle_s=life.idle_s,
                absolute_until=now + dt.timedelta(seconds=life.absolute_s),
                revoked=False,
                csrf_secret=secrets.token_bytes(32),
            )
        )
        return self._signer.dumps(raw.hex())

    def _raw(self, cookie: str | None) -> bytes | None:
        if not cookie or len(cookie) > 200:
            return None
        try:
            value = self._signer.loads(cookie)
            return bytes.fromhex(value) if isinstance(value, str) and len(value) == 64 else None
        except (BadSignature, ValueError):
            return None

    async def check(self, db: AsyncSession, cookie: str | None) -> Current | None:
        """The session of this cookie if it is valid now, else None (never raises for input)."""
        raw = self._raw(cookie)
        if raw is None:
            return None
        key = _hash(raw)
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and cached.until > now:
            return cached
        row = await db.get(AuthSession, key)
        if row is None or row.revoked:
            self._cache.pop(key, None)
            return None
        last_seen = row.last_seen_at.timestamp()
        absolute = row.absolute_until.timestamp()
        if now - last_seen > row.idle_s or now >= absolute:
            self._cache.pop(key, None)
            return None
        if now - last_seen >= TOUCH_EVERY_S:
            await db.execute(
                update(AuthSession).where(AuthSession.id_hash == key).values(last_seen_at=_utc(now))
            )
            await db.commit()
        csrf = hmac.digest(row.csrf_secret, b"csrf", "sha256").hex()
        current = Current(row.person_id, key, csrf, min(now + CACHE_S, absolute))
        self._cache[key] = current
        if len(self._cache) > CACHE_MAX:
            self._cache.popitem(last=False)
        return current

    @staticmethod
    def csrf_ok(current: Current, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(current.csrf, token or "")

    async def revoke(self, db: AsyncSession, cookie: str | None) -> None:
        raw = self._raw(cookie)
        if raw is None:
            return
        key = _hash(raw)
        self._cache.pop(key, None)
        person = await db.scalar(select(AuthSession.person_id).where(AuthSession.id_hash == key))
        if person is None:
            return  # no such sign-in: nothing to end, no token came from it
        await db.execute(update(AuthSession).where(AuthSession.id_hash == key).values(revoked=True))
        # its live classes too; naming the person lets a gateway look only at theirs
        await revoke_live(db, self._clock(), person=str(person), grant=grant_of(key))

    async def revoke_person(self, db: AsyncSession, person_id: int) -> None:
        """Every session of a person (password reset, erasure, a lost phone)."""
        keys = (
            await db.scalars(select(AuthSession.id_hash).where(AuthSession.person_id == person_id))
        ).all()
        for key in keys:
            self._cache.pop(key, None)
        await db.execute(
            update(AuthSession).where(AuthSession.person_id == person_id).values(revoked=True)
        )
        await revoke_live(db, self._clock(), person=str(person_id))
