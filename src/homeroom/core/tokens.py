"""Signed, self-contained tickets, passes and lane grants of the gate (docs/gate.md#tokens).

A token is 45 bytes of fields followed by a 16-byte HMAC-SHA256 tag, base64url without padding
(82 characters). The key id travels in the token so that keys can rotate: every key in the ring
verifies, only the current one signs. Nothing about a token is stored anywhere else.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import struct
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from typing import Any, NamedTuple

from homeroom.core.lanes import LANES, Lane

VERSION = 1
TAG_BYTES = 16
_LAYOUT = struct.Struct(">BBBIBBQIII16s")
TOKEN_BYTES = _LAYOUT.size + TAG_BYTES
MAX_ENCODED = 4 * ((TOKEN_BYTES + 2) // 3)
OPENED_KEPT = 8192  # passes a ring remembers having opened (about 400 bytes each)


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


@functools.lru_cache(maxsize=8192)  # the pass check asks it for every request of a browser
def binding_of(browser_id: str, account_id: str | None = None) -> bytes:
    """16 bytes binding a token to a browser-id cookie (first half) and an account (second half).

    The account half is zero until the person has signed in.
    """
    browser = hashlib.sha256(b"bid:" + browser_id.encode()).digest()[:8]
    return browser + (account_key(account_id) if account_id else NO_ACCOUNT)


class Token(NamedTuple):
    """A token's fields. A named tuple rather than a frozen dataclass: the pass check opens
    one for every request of a proxied workspace, and a tuple is made in a tenth of the time
    (one call, where the dataclass sets its ten fields one by one)."""

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


def _pads(key: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256's inner and outer hashes of `key`, its pads hashed (RFC 2104, section 2)."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return (
        hashlib.sha256(key.translate(_INNER)),
        hashlib.sha256(key.translate(_OUTER)),
    )


_BLOCK = hashlib.sha256().block_size
_INNER = bytes(b ^ 0x36 for b in range(256))
_OUTER = bytes(b ^ 0x5C for b in range(256))


@dataclass(frozen=True, slots=True)
class KeyRing:
    """Signing keys by id; `current` signs, all verify."""

    keys: dict[int, bytes]
    current: int
    # each key's HMAC-SHA256 inner and outer hashes with the key's pads already taken in
    # (RFC 2104): a tag is then two copies and two small updates, a quarter of what
    # `hmac.digest` costs, which hashes the pads again for every token
    _pads: dict[int, tuple[Any, Any]] = field(init=False, repr=False, compare=False)
    _opened: dict[tuple[str, int], Token] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise ValueError("the current key id has no key")
        for kid, key in self.keys.items():
            if not 0 <= kid <= 255:
                raise ValueError("key ids are 0..255")
            if len(key) < 16:
                raise ValueError("keys must be at least 16 bytes")
        object.__setattr__(self, "_pads", {kid: _pads(key) for kid, key in self.keys.items()})
        object.__setattr__(self, "_opened", {})

    def _tag(self, kid: int, body: bytes) -> bytes:
        inner, outer = self._pads[kid]
        inner = inner.copy()
        inner.update(body)
        outer = outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:TAG_BYTES]  # type: ignore[no-any-return]

    def seal(self, token: Token) -> str:
        if token.kid != self.current:  # a copy only when the caller did not name the key
            token = token._replace(kid=self.current)
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
        """Verify and decode; raises a TokenError subclass saying what is wrong.

        A pass is opened again at every request of a proxied workspace (the pass check), by
        the same browser dozens of times a page: the passes opened last are remembered, and
        one of them seen again costs a lookup and its expiry. Only a token that opened is
        remembered (a forged one is checked in full every time), by its exact text, for this
        ring: the same text under the same keys always opens to the same fields."""
        if kind is Kind.PASS:
            known = self._opened.get((text, gate))
            if known is not None:
                if now >= known.expires:
                    raise Expired("token has expired")
                return known
        token = self._open(text, kind, gate, now)
        if kind is Kind.PASS:
            opened = self._opened
            if len(opened) >= OPENED_KEPT:
                del opened[next(iter(opened))]  # the oldest first
            opened[text, gate] = token
        return token

    def _open(self, text: str, kind: Kind, gate: int, now: float) -> Token:
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
        if now >= expires:
            raise Expired("token has expired")
        flag = Flag(flags) if known is None else known
        return Token(kind, gate_v, LANES[lane_i], number, issued, expires, binding, flag, nb, kid)
