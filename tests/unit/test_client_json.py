"""Client JSON decoded within bounds (core/clientjson.py): each refusal has its word, and what is
accepted always re-encodes as strict JSON in UTF-8, whatever text comes in."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homeroom.core.clientjson import DEPTH, Refused, decode, printable, writable

REASONS = {"bad_json", "too_deep", "bad_text"}


def refused(text: str) -> str:
    with pytest.raises(Refused) as caught:
        decode(text)
    return caught.value.reason


def strict(value: Any) -> bytes:
    """Raises if `value` is not strict JSON in UTF-8 (NaN, infinities, lone surrogates)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False).encode()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "bad_json"),
        ("", "bad_json"),
        ("[1,]", "bad_json"),
        ("NaN", "bad_json"),
        ('{"a": -Infinity}', "bad_json"),
        ("[1e400]", "bad_json"),
        ("[-1.5E+0309]", "bad_json"),
        ("[" + "9" * 400 + ".0]", "bad_json"),
        ("1" * 4301, "bad_json"),  # Python's own limit on the digits of an integer
        ("[" * 2000 + "]" * 2000, "too_deep"),
        ("[" * (DEPTH + 1) + "]" * (DEPTH + 1), "too_deep"),
        ('{"a":' * (DEPTH + 1) + "1" + "}" * (DEPTH + 1), "too_deep"),
        ("[{" * 17 + "}]" * 17, "too_deep"),
        ("[[]" * 40 + "]" * 40, "too_deep"),  # one level more each time, never 33 in a row
        ("[" * 40 + "]" * 39, "too_deep"),
        ("[" * 20 + "]" * 25 + "[]" * 20, "bad_json"),  # brackets that do not pair up
        ('"\\ud800"', "bad_text"),
        ('["ok", {"k": "\\uDFFF"}]', "bad_text"),
        ('{"\\ud83d": 1}', "bad_text"),  # a key
        ('"\\ude00\\ud83d"', "bad_text"),  # a pair in the wrong order is two lone halves
        ('"a\\u0000b"', "bad_text"),
        ('"\ud800"', "bad_text"),  # raw, in a str that did not come from UTF-8
        ('"\x00"', "bad_json"),  # a raw control character is not JSON
    ],
)
def test_what_is_refused_and_with_which_word(text: str, reason: str) -> None:
    assert refused(text) == reason


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (
            '{"type": "chat.send", "text": "\\ud83d\\ude00 ok"}',
            {"type": "chat.send", "text": "😀 ok"},
        ),
        ("[" * DEPTH + "]" * DEPTH, ...),  # as deep as allowed
        ('["' + "[" * 42 + '"]', ["[" * 42]),  # brackets in a string do not count
        ('"\\\\ud800"', "\\ud800"),  # an escaped backslash, then plain letters
        ("[1e308, -0.0, 1e-999]", [1e308, -0.0, 0.0]),
        ("1" * 4300, int("1" * 4300)),
        ('{"a": 1, "a": 2}', {"a": 2}),  # a duplicate key: the last one, as everywhere in Python
        ('"\\u202e\\t\\n"', "\u202e\t\n"),  # not for people to read, but writable
    ],
)
def test_what_is_accepted(text: str, value: Any) -> None:
    got = decode(text)
    if value is not ...:
        assert got == value
    strict(got)


def test_printable_is_for_text_people_read_and_writable_for_text_stored() -> None:
    assert printable("Bonjour à tous 😀\n\tfin\r") and writable("Bonjour")
    for bad in ("\x00", "\x07", "\x1b[2J", "\x7f", "\x85", "\ud800", "a\udfffb"):
        assert not printable(bad)
    assert writable("\x07\x1b") and not writable("\x00") and not writable("\ud800")


# Every kind of JSON value, strings with surrogates and control characters included.
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.booleans())
def test_any_json_value_comes_back_as_itself_or_with_its_word(value: Any, ascii: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii)
    try:
        got = decode(text)
    except Refused as exc:
        assert exc.reason in REASONS
        return
    strict(got)
    assert json.dumps(got, sort_keys=True) == json.dumps(value, sort_keys=True)


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from('[]{}",:\\u0123456789.eE+-ntrufalsNIy \ud800\x00'), max_size=80))
def test_any_text_gives_a_value_or_a_word_and_nothing_else(text: str) -> None:
    try:
        strict(decode(text))
    except Refused as exc:
        assert exc.reason in REASONS
