"""Join tokens: the school app's signed word that a person may enter one room, until a time.

The school issues one after checking that the person belongs to the session's class; the
gateway verifies it in the handshake with the shared key and no database (docs/live.md#join).
Signed with itsdangerous (HMAC-SHA256) over compact JSON; `expires` bounds the connection too.
`issued` and `grant` (the sign-in session that asked for it) let the school revoke tokens before
they expire (live/revocations.py).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from homeroom.core.clientjson import writable
from homeroom.core.live.parts import Role

_ID = re.compile(r"[A-Za-z0-9_:.-]{1,64}")
NAME_MAX = 80
TOKEN_MAX = 1024  # characters: anything longer is refused unread


class JoinRefused(Exception):
    """A token the gateway does not accept; `reason` is a stable word."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class JoinClaims:
    room: str
    person: str
    role: Role
    name: str
    expires: int  # unix seconds: the connection is closed then (4001)
    issued: int = 0  # unix milliseconds: a revocation covers the tokens issued until its time
    grant: str = ""  # a tag of the sign-in session that asked for it; "" for a guest

    def payload(self) -> dict[str, Any]:
        return {
            "r": self.room,
            "p": self.person,
            "o": self.role.value,
            "n": self.name,
            "x": self.expires,
            "i": self.issued,
            "g": self.grant,
        }


class JoinTokens:
    def __init__(self, secret: bytes) -> None:
        self._signer = URLSafeSerializer(
            secret, salt="homeroom.live.join", signer_kwargs={"digest_method": hashlib.sha256}
        )

    def issue(self, claims: JoinClaims) -> str:
        return str(self._signer.dumps(claims.payload()))

    def verify(self, token: str, now: float) -> JoinClaims:
        if not token or len(token) > TOKEN_MAX:
            raise JoinRefused("no_token" if not token else "bad_token")
        try:
            data = self._signer.loads(token)
        except BadSignature as exc:
            raise JoinRefused("bad_token") from exc
        claims = _claims(data)
        if claims.expires <= now:
            raise JoinRefused("expired")
        return claims


def _claims(data: object) -> JoinClaims:
    if not isinstance(data, dict):
        raise JoinRefused("bad_token")
    room, person, role, name, expires = (data.get(k) for k in ("r", "p", "o", "n", "x"))
    issued, grant = data.get("i", 0), data.get("g", "")
    ok = (
        isinstance(room, str)
        and _ID.fullmatch(room)
        and isinstance(person, str)
        and _ID.fullmatch(person)
        and role in {r.value for r in Role}
        and isinstance(name, str)
        and 0 < len(name) <= NAME_MAX
        and writable(name)  # it goes into every snapshot of the room: no lone surrogate, no NUL
        and isinstance(expires, int)
        and isinstance(issued, int)
        and isinstance(grant, str)
        and (grant == "" or _ID.fullmatch(grant))
    )
    if not ok:
        raise JoinRefused("bad_token")
    assert isinstance(room, str) and isinstance(person, str) and isinstance(name, str)
    assert isinstance(expires, int) and isinstance(role, str)
    assert isinstance(issued, int) and isinstance(grant, str)
    return JoinClaims(room, person, Role(role), name, expires, issued, grant)
