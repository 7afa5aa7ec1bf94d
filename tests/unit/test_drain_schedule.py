"""The drain's close schedule (core/drain.py): a slot in the window for everyone, a bounded rate."""

from __future__ import annotations

import math
from random import Random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homeroom.config import ConfigError, load_settings
from homeroom.core.drain import CloseSchedule, Timeline, slots


def most_in_any_stretch(times: list[float], stretch: float) -> int:
    """The most slots any half-open stretch [a, a + stretch) holds (a sliding window)."""
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= stretch:
            start += 1
        most = max(most, end - start + 1)
    return most


@settings(max_examples=200, deadline=None)
@given(
    count=st.integers(min_value=0, max_value=3_000),
    window=st.floats(min_value=0.001, max_value=600, allow_nan=False),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_every_client_gets_one_slot_inside_the_window_in_order(count, window, seed):
    times = slots(count, window, Random(seed))
    assert len(times) == count
    assert all(0 <= t < window for t in times)
    assert times == sorted(times)


@settings(max_examples=200, deadline=None)
@given(
    count=st.integers(min_value=1, max_value=3_000),
    window=st.floats(min_value=0.01, max_value=600, allow_nan=False),
    fraction=st.floats(min_value=0.0001, max_value=1),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_no_stretch_holds_more_than_its_share_plus_two(count, window, fraction, seed):
    times = slots(count, window, Random(seed))
    stretch = window * fraction
    assert most_in_any_stretch(times, stretch) <= stretch * count / window + 2


def test_plain_uniform_draws_would_break_that_bound():
    """The bound is the stratification's, not luck: uniform draws of the same count cluster."""
    rng = Random(7)
    count, window = 5_000, 15.0
    uniform = sorted(rng.random() * window for _ in range(count))
    stretch = window / count * 3
    assert most_in_any_stretch(uniform, stretch) > stretch * count / window + 2
    assert most_in_any_stretch(slots(count, window, rng), stretch) <= 5


def test_no_client_and_one_client():
    assert slots(0, 15, Random(1)) == []
    (only,) = slots(1, 15, Random(1))
    assert 0 <= only < 15
    schedule = CloseSchedule([], 15, Random(1))
    assert schedule.next_at() is None and schedule.due(100) == [] and schedule.left == 0


def test_a_huge_drain_stays_inside_the_window_and_spread():
    count, window = 1_000_000, 15.0
    times = slots(count, window, Random(3))
    assert len(times) == count and times[-1] < window and times == sorted(times)
    per_second = [0] * 15
    for t in times:
        per_second[int(t)] += 1
    assert max(per_second) <= count / window + 2


def test_the_last_slot_never_rounds_up_to_the_window_itself():
    class Almost(Random):
        def random(self) -> float:
            return math.nextafter(1.0, 0.0)

    for count in (1, 3, 7, 1_000, 999_999):
        assert slots(count, 0.3, Almost())[-1] < 0.3


def test_a_window_of_zero_closes_everyone_at_once():
    schedule = CloseSchedule(list(range(5)), 0, Random(2))
    assert sorted(schedule.due(0.0)) == [0, 1, 2, 3, 4]
    assert schedule.left == 0


@settings(max_examples=100, deadline=None)
@given(
    count=st.integers(min_value=0, max_value=500),
    ticks=st.lists(st.floats(min_value=0, max_value=20, allow_nan=False), max_size=30),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_due_gives_each_client_once_and_all_by_the_window_end(count, ticks, seed):
    schedule = CloseSchedule(list(range(count)), 15.0, Random(seed))
    times = schedule.times()
    seen: list[int] = []
    for now in sorted(ticks):
        due = schedule.due(now)
        assert all(t <= now for t in times[len(seen) : len(seen) + len(due)])
        seen += due
        nxt = schedule.next_at()
        assert nxt is None or nxt > now
    seen += schedule.due(15.0)
    assert sorted(seen) == list(range(count))
    assert schedule.left == 0 and schedule.next_at() is None


def test_the_order_is_shuffled_so_one_class_is_not_closed_together():
    schedule = CloseSchedule(list(range(1_000)), 15.0, Random(5))
    order = schedule.due(15.0)
    assert order != list(range(1_000))
    first_class = set(range(30))
    positions = [i for i, c in enumerate(order) if c in first_class]
    assert positions[-1] - positions[0] > 500  # spread over most of the window


def test_timeline():
    line = Timeline(notice_s=5, window_s=15, deadline_s=25)
    assert line.window_ends_s == 20 and line.grace_s == 5


def test_the_deadline_must_exceed_notice_plus_window():
    assert load_settings().drain_deadline_s == 25
    with pytest.raises(ConfigError, match="HOMEROOM_DRAIN_DEADLINE_S: must exceed"):
        load_settings(drain_notice_s=10, drain_window_s=15, drain_deadline_s=25)
    with pytest.raises(ConfigError, match="HOMEROOM_LIVE_AGENT_PORT"):
        load_settings(live_agent_port=70_000)
