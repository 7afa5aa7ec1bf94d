"""Signed tickets, passes and grants: round trip, tampering, keys, garbage (docs/gate.md#tokens)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homeroom.core.lanes import LANES, Lane
from homeroom.core.tokens import (
    MAX_ENCODED,
    OPENED_KEPT,
    TOKEN_BYTES,
    BadSignature,
    Expired,
    Flag,
    Foreign,
    KeyRing,
    Kind,
    Malformed,
    Token,
    TokenError,
    UnknownKey,
    binding_of,
    gate_tag,
)

OLD_KEY = b"o" * 32
NEW_KEY = b"n" * 32
RING = KeyRing({1: OLD_KEY, 2: NEW_KEY}, current=2)
GATE = gate_tag("lycee-victor-hugo")
NOW = 1_700_000_000
URLSAFE = string.ascii_letters + string.digits + "-_"


def make(kind: Kind = Kind.TICKET, lane: Lane = Lane.PUPILS, **changes: object) -> Token:
    token = Token(
        kind=kind,
        gate=GATE,
        lane=lane,
        number=42,
        issued=NOW - 10,
        expires=NOW + 3600,
        binding=binding_of("browser-1", "account-1"),
    )
    return token._replace(**changes)


def open_(text: str, ring: KeyRing = RING, kind: Kind = Kind.TICKET, now: float = NOW) -> Token:
    return ring.open(text, kind=kind, gate=GATE, now=now)


def raw_of(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def text_of(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize("lane", LANES)
@pytest.mark.parametrize("kind", list(Kind))
def test_round_trip_every_kind_and_lane(kind, lane):
    token = make(kind, lane)
    opened = RING.open(RING.seal(token), kind=kind, gate=GATE, now=NOW)
    assert opened == token._replace(kid=RING.current)


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(list(Kind)),
    lane=st.sampled_from(LANES),
    number=st.integers(min_value=0, max_value=2**64 - 1),
    issued=st.integers(min_value=0, max_value=2**32 - 1),
    expires=st.integers(min_value=NOW + 1, max_value=2**32 - 1),
    not_before=st.integers(min_value=0, max_value=2**32 - 1),
    flags=st.sampled_from([Flag.NONE, Flag.PREQUEUE, Flag.APPOINTMENT, Flag(3)]),
    binding=st.binary(min_size=16, max_size=16),
)
def test_round_trip_keeps_every_field(
    kind, lane, number, issued, expires, not_before, flags, binding
):
    token = Token(kind, GATE, lane, number, issued, expires, binding, flags, not_before)
    assert RING.open(RING.seal(token), kind=kind, gate=GATE, now=NOW) == token._replace(kid=2)


def test_encoded_length():
    text = RING.seal(make())
    # 45 bytes of fields + a 16-byte tag = 61 bytes: 82 base64url characters without padding.
    assert TOKEN_BYTES == 61
    assert len(text) == 82 == -(-TOKEN_BYTES * 4 // 3)
    assert len(text) <= MAX_ENCODED
    assert set(text) <= set(URLSAFE)
    assert len(raw_of(text)) == TOKEN_BYTES


@settings(max_examples=300, deadline=None)
@given(position=st.integers(min_value=0, max_value=TOKEN_BYTES - 1), mask=st.integers(1, 255))
def test_tampering_any_single_byte_is_refused(position, mask):
    raw = bytearray(raw_of(RING.seal(make())))
    raw[position] ^= mask
    with pytest.raises((BadSignature, Malformed, UnknownKey)) as caught:
        open_(text_of(bytes(raw)))
    if position == 0:  # the version byte
        assert caught.type is Malformed
    elif position == 2 and raw[2] not in RING.keys:  # the key id
        assert caught.type is UnknownKey
    else:
        assert caught.type is BadSignature


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_changing_any_character_but_the_last_is_refused(data):
    text = RING.seal(make())
    position = data.draw(st.integers(min_value=0, max_value=len(text) - 2))
    char = data.draw(st.sampled_from(URLSAFE.replace(text[position], "")))
    with pytest.raises((BadSignature, Malformed, UnknownKey)):
        open_(text[:position] + char + text[position + 1 :])


def test_changing_the_last_character_is_refused():
    # Regression: the last character carries 4 padding bits that urlsafe_b64decode ignores, so
    # 15 other spellings of every token used to open.
    text = RING.seal(make())
    accepted = []
    for char in URLSAFE.replace(text[-1], ""):
        try:
            open_(text[:-1] + char)
        except TokenError:
            continue
        accepted.append(char)
    assert accepted == []


def test_only_the_canonical_spelling_opens():
    """A token has one spelling, so nothing keyed on the string can be dodged by respelling it."""
    texts = (RING.seal(make(number=n)) for n in range(1_000))
    text = next(t for t in texts if "-" in t or "_" in t)
    for spelling in (text + "==", text.replace("-", "+").replace("_", "/")):
        with pytest.raises(Malformed):
            open_(spelling)


def test_token_of_another_gate_is_foreign():
    text = RING.seal(make(gate=gate_tag("another-school")))
    with pytest.raises(Foreign):
        open_(text)
    assert gate_tag("another-school") != GATE


@pytest.mark.parametrize("sealed, expected", [(Kind.TICKET, Kind.PASS), (Kind.PASS, Kind.GRANT)])
def test_token_of_another_kind_is_foreign(sealed, expected):
    with pytest.raises(Foreign):
        open_(RING.seal(make(sealed)), kind=expected)


def test_expired_token_is_refused_from_its_expiry_on():
    text = RING.seal(make(expires=NOW + 60))
    assert open_(text, now=NOW + 59.999).number == 42
    with pytest.raises(Expired):
        open_(text, now=NOW + 60)
    with pytest.raises(Expired):
        open_(text, now=NOW + 10_000)


def test_expiry_is_checked_after_the_signature():
    raw = bytearray(raw_of(RING.seal(make(expires=NOW - 1))))
    raw[-1] ^= 1
    with pytest.raises(BadSignature):
        open_(text_of(bytes(raw)))


def test_unknown_key_id_is_refused():
    other = KeyRing({7: b"x" * 32}, current=7)
    with pytest.raises(UnknownKey):
        open_(other.seal(make()))


def test_same_kid_with_another_key_is_a_bad_signature():
    impostor = KeyRing({2: b"i" * 32}, current=2)
    with pytest.raises(BadSignature):
        open_(impostor.seal(make()))


def test_key_rotation_old_tokens_still_open():
    before = KeyRing({1: OLD_KEY}, current=1)
    text = before.seal(make())
    after = KeyRing({1: OLD_KEY, 2: NEW_KEY}, current=2)
    assert open_(text, ring=after).kid == 1
    assert open_(after.seal(make()), ring=after).kid == 2
    # New tokens are signed with the new key only: the old ring cannot open them.
    with pytest.raises(UnknownKey):
        open_(after.seal(make()), ring=before)
    # Once the old key is dropped, its tokens are refused.
    with pytest.raises(UnknownKey):
        open_(text, ring=KeyRing({2: NEW_KEY}, current=2))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "A",
        "x" * 10_000_000,
        "!" * 82,
        "é" * 82,
        "\ud800" * 82,
        "\x00" * 82,
        " " * 82,
        "A" * 80,  # valid base64, 60 bytes
        "A" * 83,  # not a valid base64 length
        "A" * 84,  # valid base64, 63 bytes
        "A" * 82,  # right length, version 0
        "====",
    ],
    ids=lambda t: f"{t[:6]!r}…{len(t)}",
)
def test_garbage_is_malformed(text):
    with pytest.raises(Malformed):
        open_(text)


@settings(max_examples=500, deadline=None)
@given(text=st.text() | st.text(alphabet=URLSAFE + "=+/", min_size=78, max_size=86))
def test_any_string_is_malformed_unless_it_spells_61_bytes(text):
    """Whatever comes in a cookie or a header, open raises a TokenError and nothing else, and
    Malformed unless the string is the canonical base64url of a token's 61 bytes."""
    try:
        well_formed = len(raw_of(text)) == TOKEN_BYTES and text_of(raw_of(text)) == text
    except ValueError:  # binascii.Error and UnicodeEncodeError are ValueErrors
        well_formed = False
    with pytest.raises(TokenError) as caught:
        open_(text)
    if not well_formed:
        assert caught.type is Malformed


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(min_size=TOKEN_BYTES, max_size=TOKEN_BYTES))
def test_random_bytes_of_the_right_length_never_open(raw):
    with pytest.raises((Malformed, UnknownKey, BadSignature)):
        open_(text_of(raw))


def test_gate_tag_is_stable_32_bits_and_distinguishes_gates():
    assert gate_tag("a") == gate_tag("a")
    tags = {gate_tag(f"school-{i}") for i in range(1_000)}
    assert len(tags) == 1_000
    assert all(0 <= tag < 2**32 for tag in tags)


def test_binding_halves():
    anonymous = binding_of("browser-1")
    signed_in = binding_of("browser-1", "account-1")
    assert len(anonymous) == len(signed_in) == 16
    assert anonymous[8:] == bytes(8)
    assert signed_in[:8] == anonymous[:8]
    assert signed_in[8:] != bytes(8)
    assert binding_of("browser-2")[:8] != anonymous[:8]
    assert binding_of("browser-1", "account-2")[8:] != signed_in[8:]


def test_same_browser_compares_the_browser_half_only():
    token = make(binding=binding_of("browser-1"))
    assert token.same_browser(binding_of("browser-1", "someone"))
    assert not token.same_browser(binding_of("browser-2"))


@pytest.mark.parametrize(
    "keys, current",
    [({1: b"k" * 32}, 2), ({256: b"k" * 32}, 256), ({-1: b"k" * 32}, -1), ({1: b"short"}, 1)],
)
def test_keyring_refuses_bad_keys(keys, current):
    with pytest.raises(ValueError):
        KeyRing(keys, current)


def test_the_account_half_names_a_person_and_zero_is_anonymous() -> None:
    from homeroom.core.tokens import NO_ACCOUNT, account_key

    anonymous = make(binding=binding_of("browser-1"))
    signed_in = make(binding=binding_of("browser-1", "42"))
    assert anonymous.account is None
    assert signed_in.account == account_key("42") != NO_ACCOUNT
    assert account_key("42") != account_key("43")
    assert make(binding=binding_of("browser-2", "42")).account == signed_in.account


@given(key=st.binary(min_size=16, max_size=200), body=st.binary(max_size=100))
def test_the_tag_is_hmac_sha256_of_the_key(key: bytes, body: bytes) -> None:
    """The ring hashes each key's pads once (RFC 2104); the tag stays the standard HMAC's
    first 16 bytes, for keys shorter than, as long as and longer than SHA-256's block."""
    ring = KeyRing({7: key}, 7)
    assert ring._tag(7, body) == hmac.new(key, body, hashlib.sha256).digest()[:16]
    assert ring._tag(7, body) == ring._tag(7, body)  # the pads are copied, never consumed


def test_a_pass_opened_again_is_remembered_and_still_expires() -> None:
    ring = KeyRing({1: OLD_KEY}, 1)
    token = make(Kind.PASS)._replace(kid=1)
    text = ring.seal(token)
    first = ring.open(text, kind=Kind.PASS, gate=GATE, now=NOW)
    assert ring.open(text, kind=Kind.PASS, gate=GATE, now=NOW) is first  # remembered
    with pytest.raises(Expired):  # its expiry is read at every check, remembered or not
        ring.open(text, kind=Kind.PASS, gate=GATE, now=token.expires)
    with pytest.raises(Foreign):  # remembered for its own gate only
        ring.open(text, kind=Kind.PASS, gate=GATE + 1, now=NOW)
    with pytest.raises(Foreign):  # and its own kind
        ring.open(text, kind=Kind.TICKET, gate=GATE, now=NOW)
    # another ring (other keys) does not know it: the memory is the ring's own
    with pytest.raises(UnknownKey):
        KeyRing({2: NEW_KEY}, 2).open(text, kind=Kind.PASS, gate=GATE, now=NOW)


def test_a_forged_pass_is_never_remembered_and_the_memory_is_bounded() -> None:
    ring = KeyRing({1: OLD_KEY}, 1)
    text = ring.seal(make(Kind.PASS)._replace(kid=1))
    forged = text[:-3] + ("AAA" if text[-3:] != "AAA" else "QQQ")
    for _ in range(3):
        with pytest.raises((BadSignature, Malformed)):
            ring.open(forged, kind=Kind.PASS, gate=GATE, now=NOW)
    assert not ring._opened
    for number in range(OPENED_KEPT + 10):
        ring.open(
            ring.seal(make(Kind.PASS, number=number)._replace(kid=1)),
            kind=Kind.PASS,
            gate=GATE,
            now=NOW,
        )
    assert len(ring._opened) == OPENED_KEPT
