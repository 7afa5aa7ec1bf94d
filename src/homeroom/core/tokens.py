"""Signed, self-contained tickets, passes and lane grants of the gate (docs/gate.md#tokens).

A token is 45 bytes of fields followed by a 16-byte HMAC-SHA256 tag, base64url without padding
(82 characters). The key id travels in the token so that keys can rotate: every key in the ring
verifies, only the current one signs. Nothing about a token is stored anywhere else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass, replace
from enum import IntEnum, IntFlag

from homeroom.core.lanes import LANES, Lane

VERSION = 1
TAG_BYTES = 16
_LAYOUT = struct.Struct(">BBBIBBQIII16s")
TOKEN_BYTES = _LAYOUT.size + TAG_BYTES
MAX_ENCODED = 4 * ((TOKEN_BYTES + 2) // 3)


class Kind(IntEnum):
    TICKET = 1
    PASS = 2
    GRANT = 3  # lets its holder take a ticket in a reserved lane (staff, priority)


class Flag(IntFlag):
    NONE = 0
    PREQUEUE = 1  # taken before a scheduled opening; exchanged for a ranked ticket at opening
    APPOINTMENT = 2  # admissible from `not_before`, not by position


_FLAGS = {value: Flag(value) for value in range(4)}  # every combination of the flags above


class TokenError(Exception):
    """Base of what can be wrong with a token; `reason` is a stable, documented word."""

    reason = "invalid"


class Malformed(TokenError):
    reason = "malformed"


class BadSignature(TokenError):
    reason = "tampered"


class UnknownKey(TokenError):
    reason = "unknown_key"


class Foreign(TokenError):
    reason = "foreign"


class Expired(TokenError):
    reason = "expired"


def gate_tag(gate_id: str) -> int:
    """A 32-bit tag of a gate's name, so a token of one gate is refused by another."""
    return int.from_bytes(hashlib.sha256(gate_id.encode()).digest()[:4], "big")


NO_ACCOUNT = bytes(8)


def account_key(account_id: str) -> bytes:
    """The 8-byte account half of a binding: what the gate knows of a signed-in person."""
    return hashlib.sha256(b"acct:" + account_id.encode()).digest()[:8]


def binding_of(browser_id: str, account_id: str | None = None) -> bytes:
    """16 bytes binding a token to a browser-id cookie (first half) and an account (second half).

    The account half is zero until the person has signed in.
    """
    browser = hashlib.sha256(b"bid:" + browser_id.encode()).digest()[:8]
    return browser + (account_key(account_id) if account_id else NO_ACCOUNT)


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    gate: int
    lane: Lane
    number: int
    issued: int  # unix seconds
    expires: int  # unix seconds
    binding: bytes
    flags: Flag = Flag.NONE
    not_before: int = 0
    kid: int = 0

    def expired(self, now: float) -> bool:
        return now >= self.expires

    def same_browser(self, binding: bytes) -> bool:
        return hmac.compare_digest(self.binding[:8], binding[:8])

    @property
    def account(self) -> bytes | None:
        """The account half of the binding, or None for an anonymous token."""
        half = self.binding[8:]
        return None if half == NO_ACCOUNT else half


@dataclass(frozen=True, slots=True)
class KeyRing:
    """Signing keys by id; `current` signs, all verify."""

    keys: dict[int, bytes]
    current: int

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise ValueError("the current key id has no key")
        for kid, key in self.keys.items():
            if not 0 <= kid <= 255:
                raise ValueError("key ids are 0..255")
            if len(key) < 16:
                raise ValueError("keys must be at least 16 bytes")

    def _tag(self, kid: int, body: bytes) -> bytes:
        return hmac.digest(self.keys[kid], body, "sha256")[:TAG_BYTES]

    def seal(self, token: Token) -> str:
        if token.kid != self.current:  # a copy only when the caller did not name the key
            token = replace(token, kid=self.current)
        body = _LAYOUT.pack(
            VERSION,
            int(token.kind),
            token.kid,
            token.gate,
            LANES.index(token.lane),
            int(token.flags),
            token.number,
            token.issued,
            token.expires,
            token.not_before,
            token.binding,
        )
        raw = body + self._tag(token.kid, body)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def open(self, text: str, *, kind: Kind, gate: int, now: float) -> Token:
        """Verify and decode; raises a TokenError subclass saying what is wrong."""
        if not text or len(text) > MAX_ENCODED:
            raise Malformed("token has the wrong length")
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError) as exc:
            raise Malformed("token is not base64url") from exc
        if len(raw) != TOKEN_BYTES:
            raise Malformed("token has the wrong length")
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != text:
            raise Malformed("token is not in canonical base64url")
        body, tag = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
        fields = _LAYOUT.unpack(body)
        version, kind_v, kid, gate_v, lane_i, flags, number, issued, expires, nb, binding = fields
        if version != VERSION:
            raise Malformed("unknown token version")
        if kid not in self.keys:
            raise UnknownKey("token was signed by a key this gate does not hold")
        if not hmac.compare_digest(tag, self._tag(kid, body)):
            raise BadSignature("token signature does not match")
        if kind_v != int(kind) or lane_i >= len(LANES):
            raise Foreign("token is not of the expected kind")
        if gate_v != gate:
            raise Foreign("token belongs to another gate")
        known = _FLAGS.get(flags)  # an enum call costs more than the HMAC (the pass check)
        token = Token(
            kind=kind,
            gate=gate_v,
            lane=LANES[lane_i],
            number=number,
            issued=issued,
            expires=expires,
            binding=binding,
            flags=Flag(flags) if known is None else known,
            not_before=nb,
            kid=kid,
        )
        if token.expired(now):
            raise Expired("token has expired")
        return token
