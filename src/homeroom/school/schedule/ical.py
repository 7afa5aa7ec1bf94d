"""A person's class sessions as an iCalendar feed (RFC 5545), written by `icalendar`.

Pure: sessions and the export time go in, bytes come out (docs/school.md). Times are written
in UTC (`DTSTART:20260105T080000Z`), so no VTIMEZONE is needed and every client shows them in
its own zone. Escaping of commas, semicolons, backslashes and line breaks, and the folding of
long lines, are the library's; this module only removes control characters, which TEXT values
may not hold, and makes the output deterministic (events by start, then id).

A session's UID is `session-<id>@<host>`: the same session keeps its UID from one export to the
next, so a subscribed calendar updates it instead of adding a copy.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from icalendar import Calendar, Event
from icalendar.prop import vText

import homeroom
from homeroom.web.i18n import Lang

MEDIA_TYPE: Final = "text/calendar; charset=utf-8"
PRODID: Final = f"-//homeroom//homeroom {homeroom.__version__}//FR"
LABELS: Final[dict[Lang, tuple[str, str, str]]] = {
    "fr": ("Classe : ", "Professeur : ", "Rejoindre : "),
    "en": ("Class: ", "Teacher: ", "Join: "),
}

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # TEXT may hold tab and (escaped) LF
_URI_JUNK = re.compile(r"[\x00-\x20\x7f-\x9f]")  # never in a URI


@dataclass(frozen=True, slots=True)
class SessionView:
    """What the feed says of one class session."""

    id: int
    title: str
    starts_at: dt.datetime  # aware; written in UTC
    ends_at: dt.datetime
    group_name: str  # "6e B"
    teacher_name: str  # display name
    join_url: str


def session_uid(session_id: int, host: str) -> str:
    return f"session-{session_id}@{host}"


def export(
    sessions: Iterable[SessionView],
    *,
    name: str,
    host: str,
    stamp: dt.datetime,
    lang: Lang = "fr",
) -> bytes:
    """The VCALENDAR of `sessions`, named `name` (X-WR-CALNAME), exported at `stamp` (DTSTAMP).

    `host` is the platform's host name, for UIDs. With no session the calendar has no VEVENT:
    RFC 5545 asks for at least one component, but an empty feed is what a person without
    classes must get, and calendar clients accept it.
    """
    if stamp.tzinfo is None:
        raise ValueError("stamp must be aware")
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    # icalendar 7 types NAME and X-WR-CALNAME as UNKNOWN and would write them unescaped (a line
    # break would even fail): they are TEXT (RFC 7986), so give it the TEXT value.
    title = _text(" ".join(name.split()))
    calendar.add("name", vText(title))
    calendar.add("x-wr-calname", vText(title))
    utc_stamp = stamp.astimezone(dt.UTC)
    for session in sorted(sessions, key=lambda s: (s.starts_at, s.id)):
        calendar.add_component(_event(session, host, utc_stamp, lang))
    data: bytes = calendar.to_ical()
    return data


def _event(session: SessionView, host: str, stamp: dt.datetime, lang: Lang) -> Event:
    if session.starts_at.tzinfo is None or session.ends_at.tzinfo is None:
        raise ValueError(f"session {session.id}: times must be aware")
    if session.ends_at <= session.starts_at:
        raise ValueError(f"session {session.id}: it must end after it starts")
    group, teacher, join = LABELS[lang]
    description = "\n".join(
        (
            group + session.group_name,
            teacher + session.teacher_name,
            join + session.join_url,
        )
    )
    event = Event()
    event.add("uid", session_uid(session.id, host))
    event.add("dtstamp", stamp)
    event.add("dtstart", session.starts_at.astimezone(dt.UTC))
    event.add("dtend", session.ends_at.astimezone(dt.UTC))
    event.add("summary", _text(session.title))
    event.add("description", _text(description))
    event.add("url", _URI_JUNK.sub("", session.join_url))
    return event


def _text(value: str) -> str:
    """Line breaks as LF (the library writes them `\\n`); other control characters dropped."""
    return _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))
