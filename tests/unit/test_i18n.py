"""The gate's catalogues, language negotiation and the way waits and times are said."""

from __future__ import annotations

import json
import re
import shutil
import string
import subprocess
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from homeroom.web import i18n

GATE_JS = Path(i18n.__file__).parent.parent / "static" / "gate.js"


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_catalogues_have_the_same_keys() -> None:
    assert set(i18n.CATALOGUES["fr"]) == set(i18n.CATALOGUES["en"])


@pytest.mark.parametrize("key", sorted(i18n.CATALOGUES["fr"]))
def test_catalogues_have_the_same_placeholders(key: str) -> None:
    assert placeholders(i18n.CATALOGUES["fr"][key]) == placeholders(i18n.CATALOGUES["en"][key])


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_no_message_is_empty_or_padded(lang: i18n.Lang) -> None:
    for key, text in i18n.CATALOGUES[lang].items():
        assert text and text == text.strip(), key


def test_french_punctuation_is_typeset() -> None:
    for text in i18n.CATALOGUES["fr"].values():
        assert not re.search(r" [:;!?»]|« ", text), text
    assert i18n.translate("fr", "notice") == "À savoir\u00a0:"


def test_every_key_the_script_reads_is_in_the_catalogue() -> None:
    used = set(re.findall(r'T\("(\w+)"', GATE_JS.read_text()))
    used |= {
        f"{base}_{form}"
        for base in re.findall(r'plural\("(\w+)"', GATE_JS.read_text())
        for form in ("one", "other")
    }
    assert used <= set(i18n.JS_KEYS)
    assert set(i18n.JS_KEYS) <= set(i18n.CATALOGUES["fr"])
    assert i18n.js_strings("en")["live_summary"] == "{position}. Estimated wait: {wait}."


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        (None, "fr"),
        ("", "fr"),
        ("fr", "fr"),
        ("fr-FR", "fr"),
        ("fr-CA,fr;q=0.9,en;q=0.8", "fr"),
        ("en", "en"),
        ("en-GB", "en"),
        ("en-GB,en;q=0.9", "en"),
        ("EN-us", "en"),
        ("de-DE", "fr"),
        ("*", "fr"),
        ("de-DE, en;q=0.5", "en"),
        ("en;q=0.5, fr;q=0.9", "fr"),
        ("fr;q=0.8, en;q=0.9", "en"),
        ("en, fr", "en"),
        ("fr, en", "fr"),
        ("en;q=0", "fr"),
        ("fr;q=0, en", "en"),
        ("en;q=abc", "fr"),
        ("en;q=1.5", "fr"),
        ("en;q=nan", "fr"),
        (" en-GB ; q=0.7 ", "en"),
        ("english", "fr"),
        (",,;;=", "fr"),
        ("de," * 10_000 + "en", "fr"),  # cut at a sane length, never slow
    ],
)
def test_negotiate(header: str | None, lang: str) -> None:
    assert i18n.negotiate(header) == lang


def test_translate_fills_placeholders_and_rejects_unknown_keys() -> None:
    assert i18n.translate("en", "error_code", status=503) == "Error code: 503"
    assert i18n.translate("xx", "skip_link") == i18n.translate("fr", "skip_link")
    with pytest.raises(KeyError):
        i18n.translate("fr", "no_such_message")
    with pytest.raises(KeyError):
        i18n.translate("fr", "error_code")  # a placeholder left without a value


def test_numbers_and_plurals() -> None:
    assert i18n.format_number("fr", 1234567) == "1\u202f234\u202f567"
    assert i18n.format_number("en", 1234567) == "1,234,567"
    assert i18n.plural("fr", "position", 3) == "Place 3 dans la file"
    assert i18n.plural("en", "position", 1) == "Place 1 in the queue"
    assert i18n.plural("fr", "unit_hour", 1) == "1 heure"
    assert i18n.plural("fr", "unit_hour", 2) == "2 heures"
    assert i18n.plural("en", "unit_hour", 1) == "1 hour"
    assert i18n.plural("en", "unit_hour", 0) == "0 hours"
    assert i18n.plural("fr", "unit_hour", 0) == "0 heure"  # French singular for 0 and 1


@pytest.mark.parametrize(
    ("seconds", "fr", "en"),
    [
        (None, "pas encore connue", "not known yet"),
        (float("inf"), "pas encore connue", "not known yet"),
        (-1, "pas encore connue", "not known yet"),
        (0, "moins d'une minute", "less than a minute"),
        (59.9, "moins d'une minute", "less than a minute"),
        (60, "environ 1 minute", "about 1 minute"),
        (89, "environ 1 minute", "about 1 minute"),
        (90, "environ 2 minutes", "about 2 minutes"),  # halves round up, as in JavaScript
        (180, "environ 3 minutes", "about 3 minutes"),
        (59 * 60 + 40, "environ 1 heure", "about 1 hour"),
        (3600, "environ 1 heure", "about 1 hour"),
        (3600 + 14 * 60, "environ 1 heure et 15 minutes", "about 1 hour and 15 minutes"),
        (2 * 3600 + 2 * 60, "environ 2 heures", "about 2 hours"),
        (2 * 3600 + 30 * 60, "environ 2 heures et 30 minutes", "about 2 hours and 30 minutes"),
        (11 * 3600 + 50 * 60, "environ 11 heures et 50 minutes", "about 11 hours and 50 minutes"),
        (12 * 3600, "plus de 12 heures", "more than 12 hours"),
        (30 * 86400, "plus de 12 heures", "more than 12 hours"),
    ],
)
def test_format_wait(seconds: float | None, fr: str, en: str) -> None:
    assert i18n.format_wait("fr", seconds) == fr
    assert i18n.format_wait("en", seconds) == en


def test_wait_seconds() -> None:
    assert i18n.wait_seconds(300, 30.5) == pytest.approx(9.836, abs=1e-3)
    assert i18n.wait_seconds(300, 0) is None
    assert i18n.wait_seconds(None, 2.0) is None
    assert i18n.wait_seconds(-5, 2.0) == 0.0


def at(text: str, zone: str = "Europe/Paris") -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def test_format_time_in_a_zone() -> None:
    opening = at("2025-12-01T08:05")
    assert i18n.format_time("fr", opening) == "8\u00a0h\u00a005"
    assert i18n.format_time("en", opening) == "8:05"
    assert i18n.format_time("fr", opening, "America/Martinique") == "3\u00a0h\u00a005"
    summer = at("2026-07-01T14:30")  # CEST: the zone, not a fixed offset
    assert i18n.format_time("en", summer) == "14:30"


def test_format_opening_names_the_day_when_it_is_not_today() -> None:
    opening = at("2025-12-01T08:00")  # a Monday
    assert i18n.format_opening("en", opening, now=at("2025-12-01T07:00")) == "8:00"
    assert (
        i18n.format_opening("fr", opening, now=at("2025-11-30T20:00"))
        == "lundi 1er décembre à 8\u00a0h\u00a000"
    )
    assert (
        i18n.format_opening("en", opening, now=at("2025-11-30T20:00"))
        == "Monday 1 December at 8:00"
    )
    assert i18n.format_date("fr", at("2026-01-15T12:00")) == "jeudi 15 janvier"


def _js_function(source: str, name: str) -> str:
    start = source.index(f"function {name}(")
    depth = 0
    for end in range(source.index("{", start), len(source)):
        depth += {"{": 1, "}": -1}.get(source[end], 0)
        if depth == 0:
            return source[start : end + 1]
    raise AssertionError(f"unbalanced function {name}")


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
@pytest.mark.parametrize("lang", i18n.LANGS)
def test_the_page_script_says_waits_as_python_does(lang: str) -> None:
    source = GATE_JS.read_text()
    seconds = [0, 59.9, 60, 89, 90, 150, 3569, 3570, 3750, 7199, 43199, 43200, 1e6]
    seconds += [x * 37.3 for x in range(1500)]
    script = "\n".join(
        [
            f"var S = {json.dumps(i18n.js_strings(lang))}, lang = {json.dumps(lang)};",
            "var fmt = new Intl.NumberFormat(lang);",
            *(_js_function(source, name) for name in ("T", "plural", "wait")),
            f"console.log(JSON.stringify({json.dumps(seconds)}.map(wait)));",
        ]
    )
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [i18n.format_wait(lang, s) for s in seconds]
