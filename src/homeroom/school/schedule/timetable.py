"""Weekly timetable slots made into dated class sessions in UTC, and the gate's appointments.

Pure: dates, times and `now` go in, UTC datetimes come out (docs/school.md, "Times").

A slot says "Mondays at 9:00, 55 minutes, from 1 September to 3 July" in the school's local time
(Europe/Paris unless the school says otherwise; La Réunion, Guadeloupe, Mayotte… each have their
zone). Each session is placed at that wall-clock time on its own date, so a 9:00 class stays at
9:00 local time on both sides of a daylight-saving change; in UTC it moves by an hour. Sessions
are stored in UTC and shown with `local_view`.

Wall-clock times that do not exist or exist twice follow RFC 5545 (section 3.3.5), as calendar
clients do:

- a time in the spring-forward gap (02:30 on the last Sunday of March in Paris) is read with the
  UTC offset from before the gap, so it lands as much later as the gap is long (03:30 CEST);
- a time in the autumn overlap (02:30 on the last Sunday of October) is its first occurrence
  (02:30 CEST, not CET).

This is what `zoneinfo` gives with `fold=0`. A session's length is elapsed time: a 60-minute
class lasts 60 minutes even across a change.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from homeroom.errors import BadRequest
from homeroom.school.data.models import DEFAULT_ZONE

MAX_MINUTES: Final = 12 * 60  # a live class, not a day
MAX_SPAN_DAYS: Final = 2 * 366  # two school years at most in one slot
SOON: Final = dt.timedelta(hours=1)  # a class this close is on the dashboard even if tomorrow's
UTC: Final = dt.UTC


@dataclass(frozen=True, slots=True)
class WeeklySlot:
    """What a `TimetableEntry` says, with the school's zone."""

    weekday: int  # 0 = Monday … 6 = Sunday
    local_start: dt.time  # wall-clock time in `zone`, naive
    minutes: int
    first_day: dt.date
    last_day: dt.date  # included
    zone: str = DEFAULT_ZONE


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One dated session of a slot."""

    day: dt.date  # the local date
    starts_at: dt.datetime  # UTC, aware
    ends_at: dt.datetime  # UTC, aware


@dataclass(frozen=True, slots=True)
class Appointment:
    """Come back at `come_back_at` (UTC): the class starts at `starts_at` (UTC)."""

    starts_at: dt.datetime
    come_back_at: dt.datetime

    def wait_s(self, now: dt.datetime) -> int:
        """Whole seconds until `come_back_at`, rounded up (a Retry-After)."""
        return max(0, math.ceil((self.come_back_at - now).total_seconds()))


def zone_info(name: str) -> ZoneInfo:
    """The IANA zone, or `BadRequest(unknown_zone)`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise _invalid(
            "unknown_zone",
            f"fuseau horaire inconnu « {name[:64]} »",
            f'unknown time zone "{name[:64]}"',
        ) from exc


def to_utc(day: dt.date, local_start: dt.time, zone: str) -> dt.datetime:
    """The UTC instant of a wall-clock time on a local date, by the rule of the module docstring."""
    if local_start.tzinfo is not None:
        raise ValueError("local_start must be a naive wall-clock time")
    wall = dt.datetime.combine(day, local_start, tzinfo=zone_info(zone))  # fold=0
    return wall.astimezone(UTC)


def local_view(utc_dt: dt.datetime, zone: str) -> dt.datetime:
    """An aware datetime shown in the school's zone."""
    if utc_dt.tzinfo is None:
        raise ValueError("a stored time must be aware (UTC)")
    return utc_dt.astimezone(zone_info(zone))


def same_local_day(a: dt.datetime, b: dt.datetime, zone: str) -> bool:
    """Whether two instants fall on the same date in `zone`."""
    return local_view(a, zone).date() == local_view(b, zone).date()


def on_the_dashboard(
    starts_at: dt.datetime, ends_at: dt.datetime, zone: str, now: dt.datetime
) -> bool:
    """Whether a session belongs on the page of `now`: it starts on the local day of `now`, in
    its school's zone, or it is in progress or starts within `SOON`, whatever the day.

    At 23:55 the class of 00:05 is there, and so is the one that began at 23:30 after midnight.
    """
    return same_local_day(starts_at, now, zone) or (starts_at < now + SOON and ends_at > now)


def days(first: dt.date, last: dt.date) -> frozenset[dt.date]:
    """Every date from `first` to `last` included: a holiday period, for `expand`."""
    return frozenset(first + dt.timedelta(days=n) for n in range((last - first).days + 1))


def expand(slot: WeeklySlot, holidays: Iterable[dt.date] = ()) -> list[Occurrence]:
    """The slot's sessions in date order, none on a holiday (local dates)."""
    _check(slot)
    skipped = frozenset(holidays)
    length = dt.timedelta(minutes=slot.minutes)
    day = slot.first_day + dt.timedelta(days=(slot.weekday - slot.first_day.weekday()) % 7)
    out: list[Occurrence] = []
    while day <= slot.last_day:
        if day not in skipped:
            starts_at = to_utc(day, slot.local_start, slot.zone)
            out.append(Occurrence(day, starts_at, starts_at + length))
        day += dt.timedelta(days=7)
    return out


def appointment(
    next_start: dt.datetime | None, now: dt.datetime, lead_minutes: int
) -> Appointment | None:
    """An appointment if the next class starts more than `lead_minutes` after `now`, else None.

    None means "queue now": there is no next class, it starts within `lead_minutes`, or it has
    started. "Your class starts at 9:00; come back from 8:50" is `lead_minutes=10`.
    """
    if lead_minutes < 0:
        raise ValueError("lead_minutes must be >= 0")
    if next_start is None:
        return None
    if next_start.tzinfo is None or now.tzinfo is None:
        raise ValueError("next_start and now must be aware")
    come_back_at = next_start - dt.timedelta(minutes=lead_minutes)
    if come_back_at <= now:
        return None
    return Appointment(next_start.astimezone(UTC), come_back_at.astimezone(UTC))


def _check(slot: WeeklySlot) -> None:
    zone_info(slot.zone)
    if not 0 <= slot.weekday <= 6:
        raise _invalid(
            "bad_weekday",
            "jour de la semaine invalide (0 = lundi … 6 = dimanche)",
            "invalid weekday (0 = Monday … 6 = Sunday)",
        )
    if not 0 < slot.minutes <= MAX_MINUTES:
        raise _invalid(
            "bad_duration",
            f"durée invalide : de 1 à {MAX_MINUTES} minutes",
            f"invalid length: 1 to {MAX_MINUTES} minutes",
        )
    if slot.local_start.tzinfo is not None:
        raise _invalid(
            "bad_time", "l'heure doit être une heure locale", "the time must be a local time"
        )
    if slot.last_day < slot.first_day:
        raise _invalid(
            "bad_dates",
            "la date de fin précède la date de début",
            "the last day is before the first day",
        )
    if (slot.last_day - slot.first_day).days > MAX_SPAN_DAYS:
        raise _invalid(
            "bad_dates",
            f"période trop longue : {MAX_SPAN_DAYS} jours au plus",
            f"period too long: at most {MAX_SPAN_DAYS} days",
        )


def _invalid(reason: str, french: str, english: str) -> BadRequest:
    return BadRequest(reason, french, english)
