"""Weekly slots into UTC sessions across daylight-saving changes, and appointments (timetable.py)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homeroom.errors import BadRequest
from homeroom.school.schedule.timetable import (
    Appointment,
    WeeklySlot,
    appointment,
    days,
    expand,
    local_view,
    to_utc,
)

UTC = dt.UTC
PARIS = "Europe/Paris"
MONDAY, SUNDAY = 0, 6
SPRING_2026, AUTUMN_2026 = dt.date(2026, 3, 29), dt.date(2026, 10, 25)  # Paris changes


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def slot(**changes: object) -> WeeklySlot:
    base: dict[str, object] = {
        "weekday": MONDAY,
        "local_start": dt.time(9, 0),
        "minutes": 55,
        "first_day": dt.date(2026, 10, 5),
        "last_day": dt.date(2026, 11, 9),
        "zone": PARIS,
    }
    base.update(changes)
    return WeeklySlot(**base)  # type: ignore[arg-type]


# --- daylight saving ---


def test_a_nine_oclock_class_stays_at_nine_after_the_october_change():
    sessions = expand(slot())
    assert [s.day for s in sessions] == [
        dt.date(2026, 10, 5) + dt.timedelta(weeks=n) for n in range(6)
    ]
    assert [s.starts_at.hour for s in sessions] == [7, 7, 7, 8, 8, 8]  # CEST then CET
    for session in sessions:
        local = local_view(session.starts_at, PARIS)
        assert (local.date(), local.time()) == (session.day, dt.time(9, 0))
        assert session.starts_at.tzinfo is UTC
        assert session.ends_at - session.starts_at == dt.timedelta(minutes=55)


def test_a_nine_oclock_class_stays_at_nine_after_the_march_change():
    sessions = expand(slot(first_day=dt.date(2026, 3, 16), last_day=dt.date(2026, 4, 6)))
    assert [s.starts_at for s in sessions] == [
        utc(2026, 3, 16, 8),
        utc(2026, 3, 23, 8),
        utc(2026, 3, 30, 7),
        utc(2026, 4, 6, 7),
    ]


def test_a_time_in_the_spring_gap_moves_forward_by_the_gap():
    # 02:30 does not exist on 29 March 2026 in Paris: read with the offset before the gap (+01:00).
    start = to_utc(SPRING_2026, dt.time(2, 30), PARIS)
    assert start == utc(2026, 3, 29, 1, 30)
    assert local_view(start, PARIS).time() == dt.time(3, 30)


def test_a_time_in_the_autumn_overlap_is_its_first_occurrence():
    # 02:30 happens twice on 25 October 2026 in Paris: the first is 02:30 CEST (00:30 UTC).
    start = to_utc(AUTUMN_2026, dt.time(2, 30), PARIS)
    assert start == utc(2026, 10, 25, 0, 30)
    assert local_view(start, PARIS).utcoffset() == dt.timedelta(hours=2)


def test_sunday_night_sessions_over_both_changes():
    sessions = expand(
        slot(
            weekday=SUNDAY,
            local_start=dt.time(2, 30),
            minutes=60,
            first_day=SPRING_2026,
            last_day=AUTUMN_2026,
        )
    )
    by_day = {s.day: s for s in sessions}
    assert by_day[SPRING_2026].starts_at == utc(2026, 3, 29, 1, 30)
    assert by_day[AUTUMN_2026].starts_at == utc(2026, 10, 25, 0, 30)
    assert by_day[AUTUMN_2026].ends_at == utc(2026, 10, 25, 1, 30)  # elapsed time: 02:30 CET
    assert local_view(by_day[dt.date(2026, 4, 5)].starts_at, PARIS).time() == dt.time(2, 30)


@pytest.mark.parametrize(("zone", "offset"), [("Indian/Reunion", 4), ("America/Guadeloupe", -4)])
def test_overseas_zones_without_daylight_saving_keep_one_utc_time(zone: str, offset: int):
    sessions = expand(
        slot(zone=zone, first_day=dt.date(2026, 3, 1), last_day=dt.date(2026, 11, 30))
    )
    assert len(sessions) == 40  # every Monday from 2 March to 30 November
    assert {s.starts_at.time() for s in sessions} == {dt.time(9 - offset, 0)}
    assert all(local_view(s.starts_at, zone).time() == dt.time(9, 0) for s in sessions)


# --- dates and holidays ---


def test_holidays_are_skipped_and_the_last_day_is_included():
    toussaint = days(dt.date(2026, 10, 17), dt.date(2026, 11, 1))
    sessions = expand(slot(), holidays=toussaint | {dt.date(2026, 11, 9)})
    assert [s.day for s in sessions] == [
        dt.date(2026, 10, 5),
        dt.date(2026, 10, 12),
        dt.date(2026, 11, 2),
    ]
    assert [s.day for s in expand(slot())][-1] == dt.date(2026, 11, 9)


def test_the_first_session_is_the_first_matching_weekday():
    sessions = expand(slot(weekday=2, first_day=dt.date(2026, 9, 1), last_day=dt.date(2026, 9, 16)))
    assert [s.day for s in sessions] == [
        dt.date(2026, 9, 2),
        dt.date(2026, 9, 9),
        dt.date(2026, 9, 16),
    ]


def test_a_range_without_the_weekday_has_no_session():
    assert (
        expand(slot(weekday=4, first_day=dt.date(2026, 9, 7), last_day=dt.date(2026, 9, 10))) == []
    )


def test_days_is_inclusive():
    assert days(dt.date(2026, 1, 1), dt.date(2026, 1, 3)) == {
        dt.date(2026, 1, 1),
        dt.date(2026, 1, 2),
        dt.date(2026, 1, 3),
    }
    assert days(dt.date(2026, 1, 2), dt.date(2026, 1, 1)) == frozenset()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"weekday": 7}, "bad_weekday"),
        ({"weekday": -1}, "bad_weekday"),
        ({"minutes": 0}, "bad_duration"),
        ({"minutes": 721}, "bad_duration"),
        ({"last_day": dt.date(2026, 10, 4)}, "bad_dates"),
        ({"last_day": dt.date(2028, 10, 10)}, "bad_dates"),
        ({"zone": "Europe/Pariss"}, "unknown_zone"),
        ({"zone": "Europe"}, "unknown_zone"),
        ({"zone": "../../etc/passwd"}, "unknown_zone"),
        ({"zone": ""}, "unknown_zone"),
        ({"local_start": dt.time(9, tzinfo=UTC)}, "bad_time"),
    ],
)
def test_a_bad_slot_is_a_clear_error(changes: dict[str, object], reason: str):
    with pytest.raises(BadRequest) as caught:
        expand(slot(**changes))
    assert caught.value.reason == reason
    assert caught.value.message_fr and caught.value.message_en


def test_stored_times_must_be_aware():
    with pytest.raises(ValueError):
        local_view(dt.datetime(2026, 1, 1, 9), PARIS)
    with pytest.raises(ValueError):
        to_utc(dt.date(2026, 1, 1), dt.time(9, tzinfo=UTC), PARIS)


# --- appointments ---

NINE_PARIS = utc(2026, 1, 5, 8)  # 9:00 in Paris in winter


def test_a_class_more_than_the_lead_ahead_gives_an_appointment():
    now = utc(2026, 1, 5, 7, 30)
    got = appointment(NINE_PARIS, now, lead_minutes=10)
    assert got == Appointment(starts_at=NINE_PARIS, come_back_at=utc(2026, 1, 5, 7, 50))
    assert local_view(got.come_back_at, PARIS).time() == dt.time(8, 50)
    assert got.wait_s(now) == 20 * 60
    assert got.wait_s(now + dt.timedelta(seconds=0.5)) == 20 * 60  # rounded up
    assert got.wait_s(utc(2026, 1, 5, 8)) == 0


@pytest.mark.parametrize(
    "now",
    [utc(2026, 1, 5, 7, 50), utc(2026, 1, 5, 7, 55), utc(2026, 1, 5, 8), utc(2026, 1, 5, 8, 30)],
)
def test_within_the_lead_or_after_the_start_there_is_no_appointment(now: dt.datetime):
    assert appointment(NINE_PARIS, now, lead_minutes=10) is None


def test_no_next_class_means_no_appointment():
    assert appointment(None, utc(2026, 1, 5, 7), lead_minutes=10) is None


def test_appointments_take_any_aware_time_and_answer_in_utc():
    paris_now = dt.datetime(2026, 1, 5, 8, 0, tzinfo=ZoneInfo(PARIS))  # 07:00 UTC
    got = appointment(NINE_PARIS.astimezone(ZoneInfo(PARIS)), paris_now, lead_minutes=0)
    assert got == Appointment(NINE_PARIS, NINE_PARIS)
    assert got.come_back_at.tzinfo is UTC
    with pytest.raises(ValueError):
        appointment(dt.datetime(2026, 1, 5, 9), paris_now, lead_minutes=10)
    with pytest.raises(ValueError):
        appointment(NINE_PARIS, paris_now, lead_minutes=-1)


# --- properties ---

ZONES = [
    "Europe/Paris",
    "Indian/Reunion",
    "America/Guadeloupe",
    "Pacific/Noumea",
    "America/New_York",
]


@st.composite
def slots_and_holidays(draw: st.DrawFn) -> tuple[WeeklySlot, frozenset[dt.date]]:
    first = draw(st.dates(dt.date(2025, 1, 1), dt.date(2027, 12, 31)))
    new = WeeklySlot(
        weekday=draw(st.integers(0, 6)),
        local_start=dt.time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 30, 45]))),
        minutes=draw(st.integers(1, 240)),
        first_day=first,
        last_day=first + dt.timedelta(days=draw(st.integers(0, 400))),
        zone=draw(st.sampled_from(ZONES)),
    )
    holidays = draw(st.frozensets(st.dates(new.first_day, new.last_day), max_size=40))
    return new, holidays


def exists(day: dt.date, time: dt.time, zone: str) -> bool:
    """Whether the wall-clock time exists on that day (is not in a spring-forward gap)."""
    wall = dt.datetime.combine(day, time, tzinfo=ZoneInfo(zone))
    return wall.astimezone(UTC).astimezone(ZoneInfo(zone)).replace(tzinfo=None) == wall.replace(
        tzinfo=None
    )


@settings(max_examples=200, deadline=None)
@given(slots_and_holidays())
def test_every_session_is_on_its_weekday_at_its_local_time(
    case: tuple[WeeklySlot, frozenset[dt.date]],
):
    entry, holidays = case
    sessions = expand(entry, holidays)
    expected_days = [
        day
        for day in sorted(days(entry.first_day, entry.last_day))
        if day.weekday() == entry.weekday and day not in holidays
    ]
    assert [s.day for s in sessions] == expected_days
    for session in sessions:
        assert session.starts_at.tzinfo is UTC
        assert session.ends_at - session.starts_at == dt.timedelta(minutes=entry.minutes)
        local = local_view(session.starts_at, entry.zone)
        assert local.date() == session.day
        if exists(session.day, entry.local_start, entry.zone):
            assert local.time() == entry.local_start
            twice = {
                dt.datetime.combine(session.day, entry.local_start, tzinfo=ZoneInfo(entry.zone))
                .replace(fold=fold)
                .astimezone(UTC)
                for fold in (0, 1)
            }
            assert session.starts_at == min(twice)  # the first, when it happens twice
        else:
            assert local.time() > entry.local_start  # moved forward past the gap
