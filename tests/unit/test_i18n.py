"""Words in the page's language, language negotiation, and the way waits and times are said."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel import Locale

from homeroom.web import i18n

GATE_JS = Path(i18n.__file__).parent.parent / "static" / "gate.js"


def test_french_punctuation_is_typeset() -> None:
    texts = [*i18n.texts("fr", "").values(), i18n.plural("fr", "school_pupils", 2)]
    assert len(texts) > 300
    for text in texts:
        assert not re.search(r" [:;!?»]|« ", text), text
    assert i18n.translate("fr", "notice") == "À savoir\u00a0:"
    assert i18n.translate("en", "notice") == "Please note:"  # English keeps its spaces


def test_every_key_the_script_reads_is_sent_to_it() -> None:
    used = set(re.findall(r'T\("(\w+)"', GATE_JS.read_text()))
    # the page swaps these in for live_opening and live_opening_now (gate/templates/wait.html)
    assert used | {"live_appointment", "live_appointment_now"} == set(i18n.JS_KEYS)
    strings = i18n.js_strings("en")
    assert strings["live_summary"] == "{position}. Estimated wait: {wait}."
    assert strings["cldr_minutes"][1] == "1 minute" and strings["cldr_hours"][12] == "12 hours"
    assert i18n.js_strings("fr")["cldr_and"] == "{0} et {1}"


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
    assert i18n.plural("fr", "school_pupils", 1) == "1 élève"
    assert i18n.plural("fr", "school_pupils", 0) == "0 élève"  # French singular for 0 and 1
    assert i18n.plural("fr", "school_pupils", 2) == "2 élèves"
    assert i18n.plural("fr", "school_pupils", 1500) == "1\u202f500 élèves"
    assert i18n.plural("en", "school_pupils", 1) == "1 pupil"
    assert i18n.plural("en", "school_pupils", 0) == "0 pupils"
    with pytest.raises(KeyError):
        i18n.plural("fr", "skip_link", 2)  # not a message with plural forms
    with pytest.raises(KeyError):
        i18n.translate("fr", "school_pupils")  # one that has them


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
        # CLDR's French hours keep the number with its unit (no-break space), not its minutes
        (59 * 60 + 40, "environ 1\u00a0heure", "about 1 hour"),
        (3600, "environ 1\u00a0heure", "about 1 hour"),
        (3600 + 14 * 60, "environ 1\u00a0heure et 15 minutes", "about 1 hour and 15 minutes"),
        (2 * 3600 + 2 * 60, "environ 2\u00a0heures", "about 2 hours"),
        (2 * 3600 + 30 * 60, "environ 2\u00a0heures et 30 minutes", "about 2 hours and 30 minutes"),
        (
            11 * 3600 + 50 * 60,
            "environ 11\u00a0heures et 50 minutes",
            "about 11 hours and 50 minutes",
        ),
        (12 * 3600, "plus de 12\u00a0heures", "more than 12 hours"),
        (30 * 86400, "plus de 12\u00a0heures", "more than 12 hours"),
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
    opening = at("2025-12-01T08:05")  # CLDR's short time: 24 hours, two digits, in both
    assert i18n.format_time("fr", opening) == "08:05"
    assert i18n.format_time("en", opening) == "08:05"  # en_GB: no AM/PM
    assert i18n.format_time("fr", opening, "America/Martinique") == "03:05"
    summer = at("2026-07-01T14:30")  # CEST: the zone, not a fixed offset
    assert i18n.format_time("en", summer) == "14:30"


def test_format_opening_names_the_day_when_it_is_not_today() -> None:
    opening = at("2025-12-01T08:00")  # a Monday
    assert i18n.format_opening("en", opening, now=at("2025-12-01T07:00")) == "08:00"
    assert (
        i18n.format_opening("fr", opening, now=at("2025-11-30T20:00")) == "lundi 1 décembre à 08:00"
    )
    assert (
        i18n.format_opening("en", opening, now=at("2025-11-30T20:00"))
        == "Monday 1 December at 08:00"
    )
    assert i18n.format_date("fr", at("2026-01-15T12:00")) == "jeudi 15 janvier"
    assert i18n.format_date("en", at("2026-01-15T23:30"), "UTC") == "Thursday 15 January"
    assert i18n.format_date("en", at("2026-01-15T23:30"), "Asia/Tokyo") == "Friday 16 January"


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("fr", "EEEE d MMMM"),  # CLDR has "E d MMMM": its weekday widened, as asked
        ("en_GB", "EEEE d MMMM"),  # CLDR has it as asked
        ("en", "EEEE, MMMM d"),
        ("de", "EEEE, d. MMMM"),
    ],
)
def test_a_skeleton_gets_the_widths_it_asks_for(locale: str, expected: str) -> None:
    assert i18n.skeleton_pattern(Locale.parse(locale), "MMMMEEEEd") == expected
    assert i18n.skeleton_pattern(Locale.parse(locale), "MMMMd").count("M") == 4  # not widened


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
            f"var S = {json.dumps(i18n.js_strings(lang))};",
            *(_js_function(source, name) for name in ("fill", "T", "wait")),
            f"console.log(JSON.stringify({json.dumps(seconds)}.map(wait)));",
        ]
    )
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [i18n.format_wait(lang, s) for s in seconds]
