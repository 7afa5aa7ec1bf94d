"""JSON from clients, decoded within bounds, into values a server can always write back.

One decoder for every JSON a client sends: the live gateway's messages (docs/live.md#what-a-
client-may-send) and the HTTP API's bodies (docs/api.md). `decode` refuses, with a stable word:

- `bad_json`: not JSON (RFC 8259): a syntax error, `NaN`/`Infinity`, a number beyond a double's
  range (`1e400`), an integer of more than 4,300 digits (Python's own limit);
- `too_deep`: arrays and objects nested deeper than `DEPTH`, found before parsing, so the
  parser's recursion never meets Python's limit (2,000 nested arrays are 4 KB);
- `bad_text`: a string or key holding a lone UTF-16 surrogate (`"\\ud800"`: valid JSON, but
  no UTF-8 can carry it, so it could never be sent back to anyone or stored), or NUL (which
  PostgreSQL cannot store).

So what `decode` returns re-encodes as strict JSON in UTF-8. `printable` is the stricter rule
for text people read (chat, polls): no control character but tab, line feed and carriage return.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

DEPTH: Final = 32  # the deepest command is 3 (a stroke's points); an API body, 4

# A string, possessive and unrolled so that it takes linear time on any input: an unterminated
# one runs to the end instead of being tried again from each quote inside it.
_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"?', re.DOTALL)
# For the depth an object is as deep as an array, and everything else is a space, then dropped
# (two C-speed passes: deleting 252 different bytes at once is much slower).
_KEPT = {ord("["): ord("["), ord("]"): ord("]"), ord("{"): ord("["), ord("}"): ord("]")}
_BRACKETS_ONLY = bytes(_KEPT.get(byte, ord(" ")) for byte in range(256))
# Only text holding one of these can decode to unwritable text (a surrogate or NUL, escaped;
# raw NUL is not JSON, and raw surrogates cannot come from UTF-8).
_ESCAPED = re.compile(r"\\u(?:[dD][89a-fA-F][0-9a-fA-F]{2}|0000)")
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNWRITABLE = re.compile("[\ud800-\udfff\x00]")
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


class Refused(ValueError):
    """JSON a client sent that is not accepted; `reason` is a stable word."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def writable(text: str) -> bool:
    """Whether `text` can be sent as UTF-8 and stored (no lone surrogate, no NUL)."""
    return _UNWRITABLE.search(text) is None


def printable(text: str) -> bool:
    """Whether `text` is fit for people to read: writable, and no control character but tab,
    line feed and carriage return."""
    return _UNPRINTABLE.search(text) is None


def _constant(name: str) -> Any:
    raise Refused("bad_json")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise Refused("bad_json")
    return number


_DECODER = json.JSONDecoder(parse_constant=_constant)
_CAREFUL = json.JSONDecoder(parse_constant=_constant, parse_float=_finite)
# A number a double cannot hold has an exponent of 3 digits or 200 digits in a row. Only text
# with one of those shapes (seen at C speed in a copy where a digit is 0, e or E is e, a sign
# is +, anything else a space) pays for a check of each float: that call would more than
# double the cost of a board stroke.
_SHAPES = {**dict.fromkeys(b"0123456789", ord("0")), ord("e"): ord("e"), ord("E"): ord("e")}
_NUMBER_SHAPE = bytes(
    _SHAPES.get(byte, ord("+") if byte in b"+-" else ord(" ")) for byte in range(256)
)
_HUGE = (b"e000", b"e+000", b"0" * 200)


def decode(text: str, depth: int = DEPTH) -> Any:
    """The JSON value of `text`; raises Refused."""
    _check_depth(text, depth)
    shape = text.encode("utf-8", "surrogatepass").translate(_NUMBER_SHAPE)
    decoder = _CAREFUL if any(huge in shape for huge in _HUGE) else _DECODER
    try:
        value = decoder.decode(text)
    except Refused:
        raise
    except RecursionError as exc:  # cannot happen below DEPTH; kept so that it never escapes
        raise Refused("too_deep") from exc
    except ValueError as exc:  # JSONDecodeError, and an integer past Python's digit limit
        raise Refused("bad_json") from exc
    escaped = "\\u" in text and _ESCAPED.search(text) is not None
    if (escaped or (not text.isascii() and _SURROGATE.search(text))) and not _all_writable(value):
        raise Refused("bad_text")
    return value


def _check_depth(text: str, limit: int) -> None:
    """Refuse nesting deeper than `limit`, without recursion and in linear time × `limit`.

    Brackets inside strings do not count. Each pass takes the innermost pairs away (a C-speed
    replace), so the number of passes that leave nothing is the depth; brackets that a pass
    cannot take away do not pair up, which is not JSON.
    """
    if text.count("[") + text.count("{") <= limit:
        return  # the usual message: it cannot be deeper than that
    bare = _STRING.sub("", text).encode("utf-8", "surrogatepass")
    brackets = bare.translate(_BRACKETS_ONLY).translate(None, b" ")
    for _ in range(limit):
        if not brackets:
            return
        if b"[" * (limit + 1) in brackets:
            break  # as many opening brackets in a row: too deep without looking further
        inner = brackets.replace(b"[]", b"")
        if len(inner) == len(brackets):
            raise Refused("bad_json")
        brackets = inner
    if brackets:
        raise Refused("too_deep")


def _all_writable(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not writable(item):
                return False
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item)  # the keys
            pending.extend(item.values())
    return True
