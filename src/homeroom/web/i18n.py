"""What every page says, in the language asked for, and how waits and times are said (docs/translating.md).

The words are in gettext catalogues, one per language (`locale/<locale>/LC_MESSAGES/messages.po`,
loaded by web/catalogues.py); the languages are those catalogues, French first: it is the
default whenever the browser asks for none of them, and the source the others translate.
Messages are named by symbolic keys (`translate(lang, "title_waiting")`); a key chosen at run
time is written out once with `N_()` so that `make words` finds it.

Numbers, times, days and durations follow each catalogue's CLDR locale through Babel. The
waiting page's script receives the few messages it needs, and the durations already said, from
the same catalogue (`js_strings`): `format_wait` here and `wait()` in static/gate.js say a
wait the same way, from the same strings; keep their arithmetic in step.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from typing import Final
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime, match_skeleton, tokenize_pattern, untokenize_pattern
from babel.dates import format_time as babel_format_time
from babel.numbers import format_decimal
from babel.units import format_unit

from homeroom.web.catalogues import Catalogue, Catalogues, load

Lang = str  # a language of the catalogues: "fr", "en"

CATALOGUES: Catalogues = load(files("homeroom") / "locale")
DEFAULT_LANG: Final = CATALOGUES.default
LANGS: Final = CATALOGUES.langs  # the package's languages; the functions below read CATALOGUES
DEFAULT_ZONE: Final = "Europe/Paris"

MAX_WAIT_HOURS: Final = 12  # beyond this an estimate means nothing: "more than 12 hours"


def N_(key: str) -> str:  # gettext's name for a marker
    """`key` itself: marks a message chosen at run time, so that extraction finds it."""
    return key


# What static/gate.js reads from the page's <script id="hr-i18n"> block, as raw templates; the
# page swaps the two live_appointment ones in for an appointment (gate/templates/wait.html).
JS_KEYS: Final[tuple[str, ...]] = (
    "position",
    "live_summary",
    "live_admitted",
    "live_continue",
    "live_busy",
    "live_offline",
    "live_closed",
    "live_opening",
    "live_opening_now",
    N_("live_appointment"),
    N_("live_appointment_now"),
    "lead_paused",
    "lead_lapsed",
    "rejoin",
    "wait_unknown",
    "wait_less_minute",
    "wait_about",
    "wait_more",
)


def known(lang: str | None) -> bool:
    """Whether `lang` ("fr", "en") is the language of one of the catalogues."""
    return lang in CATALOGUES.by_lang


def supported(lang: str | None) -> Lang:
    """`lang` if it is one of ours (e.g. from a ?lang= query), else the default."""
    return lang if lang is not None and known(lang) else CATALOGUES.default


_Q_VALUE = re.compile(r"(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)\Z")
_MAX_HEADER = 1024  # a longer Accept-Language is cut: no browser sends one
_MAX_RANGES = 32


def negotiate(accept_language: str | None) -> Lang:
    """The language to answer in, from an Accept-Language header (RFC 9110 §12.5.4).

    The language of ours with the highest q-value wins, the earlier one on a tie; a region
    ("fr-CA", "en-US") counts as its language. q=0 means "not this one". Anything else, and a
    missing or malformed header, gives the default (French).
    """
    best = CATALOGUES.default
    if not accept_language:
        return best
    best_q = 0.0
    for item in accept_language[:_MAX_HEADER].split(",")[:_MAX_RANGES]:
        tag, _, params = item.partition(";")
        primary = tag.strip().lower().split("-", 1)[0]
        q = _quality(params)
        if q > best_q and known(primary):
            best, best_q = primary, q
    return best


def _quality(params: str) -> float:
    """The q-value of one language range's parameters; a malformed one counts as 0."""
    for param in params.split(";"):
        name, sep, value = param.partition("=")
        if name.strip().lower() == "q":
            value = value.strip()
            return float(value) if sep and _Q_VALUE.match(value) else 0.0
    return 1.0


def _text(lang: str, key: str) -> str:
    if key not in CATALOGUES.keys:
        raise KeyError(key)
    return CATALOGUES.get(lang).words.gettext(key)


def translate(lang: str, key: str, **kw: object) -> str:
    """The message `key` in `lang`, its {placeholders} filled from `kw`; KeyError if unknown."""
    return _text(lang, key).format(**kw)


def plural(lang: str, key: str, n: int) -> str:
    """The plural message `key` for `n` (the catalogue's Plural-Forms choose), {n} filled."""
    if key not in CATALOGUES.plurals:
        raise KeyError(key)
    text = CATALOGUES.get(lang).words.ngettext(key, key, n)
    return text.format(n=format_number(lang, n))


def texts(lang: str, prefix: str) -> dict[str, str]:
    """Every simple message whose key starts with `prefix`, raw, for a page's script."""
    return {key: _text(lang, key) for key in sorted(CATALOGUES.keys) if key.startswith(prefix)}


def locale_of(lang: str) -> Locale:
    """The CLDR locale `lang`'s numbers, dates and durations follow ("en" → en_GB)."""
    return CATALOGUES.get(lang).locale


def format_number(lang: str, n: int) -> str:
    """12345 as the locale writes it: "12 345" (narrow no-break space) in French, "12,345"."""
    return format_decimal(n, locale=locale_of(lang))


@dataclass(frozen=True, slots=True)
class _Durations:
    minutes: tuple[str, ...]  # "1 minute" ... "59 minutes", at their number
    hours: tuple[str, ...]  # "1 heure" ... "12 heures"
    both: str  # CLDR's pattern joining two: "{0} et {1}"


@functools.lru_cache(maxsize=32)
def _durations(catalogue: Catalogue) -> _Durations:
    """Every duration a wait can say, in CLDR's long units: the page and its script share them."""

    def said(n: int, unit: str) -> str:
        return "" if n == 0 else format_unit(n, unit, length="long", locale=catalogue.locale)

    return _Durations(
        tuple(said(n, "duration-minute") for n in range(60)),
        tuple(said(n, "duration-hour") for n in range(MAX_WAIT_HOURS + 1)),
        catalogue.locale.list_patterns["standard"]["2"],
    )


@functools.lru_cache(maxsize=32)
def _js_strings(catalogue: Catalogue) -> Mapping[str, object]:
    durations = _durations(catalogue)
    return {
        **{key: _text(catalogue.lang, key) for key in JS_KEYS},
        "cldr_minutes": list(durations.minutes),  # lists, as the page's JSON gives them back
        "cldr_hours": list(durations.hours),
        "cldr_and": durations.both,
    }


def js_strings(lang: str) -> Mapping[str, object]:
    """What static/gate.js needs, to embed in the page as JSON: messages and said durations."""
    return _js_strings(CATALOGUES.get(lang))


def wait_seconds(position: int | None, rate: float) -> float | None:
    """Seconds until a `position` is reached at `rate` admissions a second; None if unknown."""
    if position is None or rate <= 0 or not math.isfinite(rate):
        return None
    return max(0.0, position / rate)


def _round(x: float) -> int:
    return math.floor(x + 0.5)  # as JavaScript's Math.round, so the page's script agrees


def format_wait(lang: str, seconds: float | None) -> str:
    """A wait as a person says it: "moins d'une minute", "about 3 minutes", "about 2 hours"."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return translate(lang, "wait_unknown")
    if seconds < 60:
        return translate(lang, "wait_less_minute")
    said = _durations(CATALOGUES.get(lang))
    minutes = _round(seconds / 60)
    if minutes < 60:
        return translate(lang, "wait_about", duration=said.minutes[minutes])
    hours, rest = divmod(5 * _round(minutes / 5), 60)
    if hours >= MAX_WAIT_HOURS:
        return translate(lang, "wait_more", duration=said.hours[MAX_WAIT_HOURS])
    duration = said.hours[hours]
    if rest:
        duration = said.both.format(duration, said.minutes[rest])
    return translate(lang, "wait_about", duration=duration)


def _instant(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)


def format_time(lang: str, at: float, zone: str = DEFAULT_ZONE) -> str:
    """The time of day of unix time `at` in `zone`, CLDR's short form: "08:05" in French."""
    return babel_format_time(_instant(at), "short", tzinfo=ZoneInfo(zone), locale=locale_of(lang))


@functools.lru_cache(maxsize=64)
def skeleton_pattern(locale: Locale, skeleton: str) -> str:
    """The locale's pattern for a CLDR skeleton, its text fields as wide as asked.

    Babel matches a skeleton ("MMMMEEEEd") to the closest the locale has ("MMMMEd": "E d MMMM")
    but keeps that one's widths; UTS #35 (2.6.2.1) widens them, as Intl.DateTimeFormat does.
    """
    options = locale.datetime_skeletons
    best = skeleton if skeleton in options else match_skeleton(skeleton, options)
    if best is None:
        raise ValueError(f"{locale} has nothing close to the skeleton {skeleton!r}")
    asked = {v[0]: v[1] for k, v in tokenize_pattern(skeleton) if not isinstance(v, str)}
    tokens: list[tuple[str, str | tuple[str, int]]] = []
    for kind, value in tokenize_pattern(options[best].pattern):
        if not isinstance(value, str):
            field, width = value
            wanted = asked.get("M" if field == "L" else field, width)
            if field == "E" or (field in "ML" and min(width, wanted) >= 3):  # names, not numbers
                value = (field, wanted)
        tokens.append((kind, value))
    return str(untokenize_pattern(tokens))


def format_date(lang: str, at: float, zone: str = DEFAULT_ZONE) -> str:
    """The day of unix time `at` in `zone`: "lundi 1 décembre", "Monday 1 December"."""
    locale = locale_of(lang)
    pattern = skeleton_pattern(locale, "MMMMEEEEd")
    return format_datetime(_instant(at), pattern, tzinfo=ZoneInfo(zone), locale=locale)


def format_opening(lang: str, at: float, now: float, zone: str = DEFAULT_ZONE) -> str:
    """When something opens: the time alone if it is today in `zone`, else day and time."""
    tz = ZoneInfo(zone)
    time = format_time(lang, at, zone)
    if datetime.fromtimestamp(at, tz).date() == datetime.fromtimestamp(now, tz).date():
        return time
    return translate(lang, "date_time", date=format_date(lang, at, zone), time=time)
