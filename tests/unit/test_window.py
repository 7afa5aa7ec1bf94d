"""The in-process sliding-window counters of the gate's rate limits (core/window.py)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homeroom.core.window import SlidingWindows

T0 = 1_790_000_040.0  # the start of a 60 s window


def test_the_limit_holds_in_a_window_and_a_refused_hit_counts_nothing() -> None:
    w = SlidingWindows(10, 60)
    assert all(w.hit("a", T0 + i) for i in range(10))
    assert not w.hit("a", T0 + 10)
    assert not w.hit("a", T0 + 11)
    assert w.hit("b", T0 + 11)  # another key has its own count
    # refused hits were not counted: half a window later, half of the 10 still weigh
    assert sum(w.hit("a", T0 + 90) for _ in range(20)) == 5


def test_the_previous_window_weighs_by_the_share_still_inside_the_period() -> None:
    w = SlidingWindows(100, 60)
    for _ in range(60):
        assert w.hit("a", T0 + 1)
    # 45 s into the next window, a quarter of the previous window is still inside: 15 weigh
    accepted = sum(w.hit("a", T0 + 105) for _ in range(200))
    assert accepted == 100 - 15
    # two windows on, nothing of the first remains
    assert sum(w.hit("a", T0 + 240) for _ in range(200)) == 100


def test_a_cost_above_the_limit_is_refused_and_a_zero_limit_refuses_all() -> None:
    assert not SlidingWindows(5, 60).hit("a", T0, cost=6)
    assert SlidingWindows(5, 60).hit("a", T0, cost=5)
    assert not SlidingWindows(0, 60).hit("a", T0)
    with pytest.raises(ValueError):
        SlidingWindows(1, 0)


def test_reset_in_says_when_a_hit_fits_again() -> None:
    w = SlidingWindows(3, 60)
    assert w.reset_in("a", T0) == 0.0  # nothing counted
    for _ in range(3):
        w.hit("a", T0 + 20)
    assert w.reset_in("a", T0 + 20) == pytest.approx(40)  # the end of this window
    # next window, 30 s in: 3 hits of the previous weigh 1.5; the weight loses one step of
    # 60 / 3 = 20 s every 20 s, the next at 10 s from now
    assert w.reset_in("a", T0 + 90) == pytest.approx(10)


def test_keys_of_past_windows_are_dropped() -> None:
    w = SlidingWindows(10, 60)
    for i in range(1000):
        w.hit(f"block-{i}", T0 + 1)
    assert len(w) == 1000
    w.hit("late", T0 + 61)  # the next window: the others still weigh as its previous
    assert len(w) == 1001
    w.hit("later", T0 + 121)  # two windows on: they count nothing and are gone
    assert len(w) == 2


class Model:
    """The rule written out as the `limits` documentation gives it, from every accepted hit."""

    def __init__(self, limit: int, period: int) -> None:
        self.limit, self.period = limit, period
        self.hits: list[tuple[float, str, int]] = []

    def hit(self, key: str, now: float, cost: int) -> bool:
        window = int(now / self.period)

        def count(index: int) -> int:
            return sum(c for t, k, c in self.hits if k == key and int(t / self.period) == index)

        left = (1 - ((now - self.period) / self.period) % 1) * self.period
        weight = count(window - 1) * left / self.period + count(window)
        if cost > self.limit or math.floor(weight) + cost > self.limit:
            return False
        self.hits.append((now, key, cost))
        return True


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(0, 12),
    period=st.sampled_from([1, 10, 60, 3600]),
    steps=st.lists(
        st.tuples(st.floats(0, 40, allow_nan=False), st.sampled_from("abc"), st.integers(1, 4)),
        max_size=120,
    ),
)
def test_every_decision_is_the_rule_of_the_sliding_window_counter(
    limit: int, period: int, steps: list[tuple[float, str, int]]
) -> None:
    windows, model = SlidingWindows(limit, period), Model(limit, period)
    now = T0
    for advance, key, cost in steps:
        now += advance * period / 20  # up to two periods a step
        assert windows.hit(key, now, cost) == model.hit(key, now, cost), (now, key, cost)
