"""Hypothesis strategies for what a mischievous client sends a live class (docs/live.md#what-a-
client-may-send): JSON values and texts with lone surrogates, control characters, deep nesting,
huge numbers, NaN and Infinity, odd and duplicate keys, fields of the wrong type; and commands
of every type whose fields are sometimes right and sometimes anything."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from homeroom.core.clientjson import DEPTH
from tests.live.conftest import SCHEMA

_DEFS = json.loads(SCHEMA.read_text(encoding="utf-8"))["$defs"]
FIELDS = {
    name.removeprefix("command."): [f for f in spec["properties"] if f not in ("v", "type", "id")]
    for name, spec in _DEFS.items()
    if name.startswith("command.")
}
TYPES = sorted(FIELDS)

# Any character, and more often those that broke or could break a class.
CHARS = (
    st.characters(codec=None, exclude_categories=())
    | st.characters(categories=["Cs"])  # lone surrogates
    | st.sampled_from(["\x00", "\x07", "\x1b", "\x7f", "\x85", "\u202e", "\ufeff", "😀", "\n"])
)
TEXT = st.text(CHARS, max_size=12)
KEYS = TEXT | st.sampled_from(["type", "id", "v", "text", "__proto__", "constructor", ""])
NUMBERS = (
    st.integers()
    | st.integers(min_value=10**300, max_value=10**4000)
    | st.floats()  # NaN and the infinities included
    | st.sampled_from([2**31, 2**63, -1, 0, 1.0, 0.5, 1e308, 5e-324])
)
SCALARS = st.none() | st.booleans() | NUMBERS | TEXT
json_values = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=20,
)

# Values a field of that name accepts, so that commands also get past the parser.
GOOD = {
    "text": ["bonjour", "  deux\nlignes  ", "😀"],
    "to": ["all", "teacher"],
    "person": ["t1", "p1", "p2", None],
    "emoji": ["👍", "🙋"],
    "question": ["2 + 2 ?"],
    "choices": [["a", "b"], [0], [1], [0, 1]],
    "multiple": [True, False],
    "poll": [1, 2],
    "points": [[[0.5, 0.5]], [[0, 0], [1, 1.0]]],
    "colour": ["#00ff00"],
    "width": [1, 40],
    "erase": [False],
    "everyone": [True, False],
    "doc": ["deck-1"],
    "pages": [3],
    "page": [1, 2],
    "on": [True, False],
    "groups": [2],
    "group": [1, None],
    "video": [True, False],
    "audio": [True, False],
    "source": ["camera", "screen"],
    "sdp": ["v=0\r\n", "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"],
    "pc": ["camera", "screen", "watch"],
    "candidate": [None, {"candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host", "sdpMid": "0"}],
    "loss": [0, 0.5],
    "rtt_s": [0.1],
    "available_kbps": [300, 2500.5],
    "received_kbps": [0, 800],
    "frames_decoded": [0, 60],
    "frames_dropped": [0, 3],
    "rung": ["720p", "text"],
}


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good` nine times in ten, `bad` otherwise (and shrinking towards `good`)."""
    return st.integers(0, 9).flatmap(lambda n: bad if n == 9 else good)


CIDS = mostly(st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True), TEXT | json_values)


@st.composite
def commands(draw: st.DrawFn) -> dict[str, Any]:
    """A command of any type; its id and fields right, or anything, or missing."""
    message: dict[str, Any] = {"type": draw(mostly(st.sampled_from(TYPES), TEXT | json_values))}
    if draw(st.integers(0, 9)):
        message["id"] = draw(CIDS)
    if draw(st.booleans()):
        message["v"] = draw(mostly(st.just(1), json_values))
    for name in FIELDS.get(message["type"], []) if isinstance(message["type"], str) else []:
        how = draw(st.sampled_from(["good", "good", "good", "any", "missing"]))
        if how == "good":
            message[name] = draw(st.sampled_from(GOOD[name]))
        elif how == "any":
            message[name] = draw(json_values)
    if draw(st.integers(0, 9)) == 0:
        message[draw(KEYS)] = draw(json_values)  # an odd key
    return message


def dumps(value: Any) -> str:
    """JSON text of `value` as a client might write it: ASCII escapes, so a lone surrogate
    travels as `\\udxxx` (it has no UTF-8); NaN and Infinity as Python writes them."""
    return json.dumps(value, ensure_ascii=True)


def _deep(depth: int, kind: str) -> str:
    if kind == "arrays":
        return "[" * depth + "]" * depth
    if kind == "objects":
        return '{"a":' * depth + "1" + "}" * depth
    return '{"type": "hand.raise", "id": "deep", "x": ' + "[" * depth + "]" * depth + "}"


LITERALS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1E+999",
    "1" * 5000,
    "1" * 4300,
    "1" * 400 + ".5",
    "0.1e-99999",
]

# Texts of whole messages: encoded values and commands, and what an encoder would never write.
texts = st.one_of(
    json_values.map(dumps),
    commands().map(dumps),
    commands().map(lambda c: dumps(c)[:-1] + ', "type": "ping"}'),  # a duplicate key
    st.builds(_deep, st.integers(DEPTH - 2, 3000), st.sampled_from(["arrays", "objects", "field"])),
    st.sampled_from(LITERALS).map(
        lambda n: f'{{"type": "chat.send", "id": "n1", "text": "x", "to": "all", "n": {n}}}'
    ),
    st.text(st.characters(codec="utf-8"), max_size=40),  # anything, as long as UTF-8 holds it
)
