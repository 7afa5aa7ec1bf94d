"""When each number was admitted, claims and the admission rate (docs/gate.md#claim-window)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homeroom.core.history import Claim, History, Step, estimated_wait_s

T0 = 1_700_000_000


def build(*points: tuple[int, int], keep_s: int = 10**9) -> History:
    history = History()
    for at, horizon in points:
        history = history.record(at, horizon, keep_s)
    return history


def test_record_adds_a_step_only_when_the_horizon_moves():
    history = build((T0, 5), (T0 + 1, 5), (T0 + 2, 4), (T0 + 3, 9))
    assert history.steps == (Step(T0, 5), Step(T0 + 3, 9))


def test_record_is_a_pure_function():
    empty = History()
    one = empty.record(T0, 1, 60)
    assert empty.steps == ()
    assert one.steps == (Step(T0, 1),)


def test_record_trims_but_keeps_one_step_older_than_the_retention():
    history = build(*((T0 + i, i + 1) for i in range(100)), keep_s=10)
    last = T0 + 99
    assert history.steps[0].at <= last - 10 < history.steps[1].at
    assert history.steps[0] == Step(last - 10, 90)
    assert history.steps[-1] == Step(last, 100)
    assert len(history.steps) == 11


def test_trimming_happens_even_when_the_horizon_stands_still():
    history = build((T0, 1), (T0 + 1, 2), (T0 + 2, 3), keep_s=10)
    history = history.record(T0 + 100, 3, 10)
    assert history.steps == (Step(T0 + 2, 3),)
    assert history.horizon_at(T0 + 95) == 3


@settings(max_examples=200, deadline=None)
@given(
    moves=st.lists(st.tuples(st.integers(1, 30), st.integers(-3, 20)), min_size=1, max_size=40),
    keep_s=st.integers(1, 200),
)
def test_horizon_at_is_right_within_the_retention(moves, keep_s):
    """Against a full log of (time, horizon): trimming never changes an answer inside keep_s."""
    history, log, at, horizon = History(), [], T0, 0
    for gap, step in moves:
        at += gap
        horizon = max(horizon, horizon + step)
        history = history.record(at, horizon, keep_s)
        log.append((at, horizon))
    times = [s.at for s in history.steps]
    assert times == sorted(times)
    assert [s.horizon for s in history.steps] == sorted({s.horizon for s in history.steps})
    for t in range(at - keep_s, at + 2):
        expected = max((h for a, h in log if a <= t), default=0)
        assert history.horizon_at(t) == expected, t


def test_horizon_at():
    history = build((T0, 10), (T0 + 5, 20))
    assert history.horizon_at(T0 - 1) == 0
    assert history.horizon_at(T0) == 10
    assert history.horizon_at(T0 + 4.9) == 10
    assert history.horizon_at(T0 + 5) == 20
    assert history.horizon_at(T0 + 10**6) == 20
    assert History().horizon_at(T0) == 0


def test_admitted_at_is_the_first_step_reaching_the_number():
    history = build((T0, 10), (T0 + 5, 20))
    assert history.admitted_at(1) == T0
    assert history.admitted_at(10) == T0
    assert history.admitted_at(11) == T0 + 5
    assert history.admitted_at(20) == T0 + 5
    assert history.admitted_at(21) is None
    assert History().admitted_at(1) is None


def test_claim_states():
    history = build((T0, 10), (T0 + 5, 20))
    window = 60
    assert history.claim(21, 20, T0 + 6, window) is Claim.NOT_YET
    assert history.claim(11, 10, T0 + 6, window) is Claim.NOT_YET  # live horizon says no
    assert history.claim(5, 20, T0 + 6, window) is Claim.OPEN
    assert history.claim(15, 20, T0 + 64, window) is Claim.OPEN
    assert history.claim(5, 20, T0 + 61, window) is Claim.LAPSED
    assert history.claim(15, 20, T0 + 66, window) is Claim.LAPSED
    # Admitted at once since the last step (safety net): open until a step records it.
    assert history.claim(25, 30, T0 + 10**6, window) is Claim.OPEN


def test_a_claim_lapses_exactly_when_the_controller_gives_its_place_back():
    # Regression: `now - at <= window` kept a claim OPEN at now == at + window, when the
    # controller's pending (horizon - horizon_at(now - window) - redeemed) had already given the
    # place back, so whoever redeemed at that second over-admitted.
    history = build((T0, 10))
    window = 60
    now = T0 + window
    given_back = history.horizon_at(now - window)  # what the controller no longer counts
    assert given_back == 10
    assert history.claim(10, 10, now, window) is Claim.LAPSED


@settings(max_examples=200, deadline=None)
@given(
    gaps=st.lists(st.tuples(st.integers(1, 5), st.integers(1, 10)), min_size=1, max_size=30),
    number=st.integers(1, 400),
    later=st.integers(0, 40),
    window=st.integers(10, 30),
)
def test_claim_agrees_with_what_the_controller_counts_as_pending(gaps, number, later, window):
    """LAPSED exactly for the admitted numbers at or below horizon_at(now − window)."""
    history, at, horizon = History(), T0, 0
    for gap, moved in gaps:
        at, horizon = at + gap, horizon + moved
        history = history.record(at, horizon, keep_s=max(window, 60))
    now = at + later
    claim = history.claim(number, horizon, now, window)
    if number > horizon:
        assert claim is Claim.NOT_YET
    else:
        given_back = number <= history.horizon_at(now - window)
        assert (claim is Claim.LAPSED) == given_back


def test_rate_over_the_last_span():
    history = build((T0, 0), (T0 + 30, 30), (T0 + 60, 120))
    assert history.rate(T0 + 60, 60) == pytest.approx(2.0)
    assert history.rate(T0 + 60, 30) == pytest.approx(3.0)
    assert history.rate(T0 + 200, 60) == 0.0  # nothing moved lately
    assert History().rate(T0) == 0.0


def test_a_young_history_gives_the_rate_over_what_it_has_seen():
    # Five seconds after opening, 10 admitted: 2 a second, not 10 over a full minute.
    history = build((T0, 0), (T0 + 5, 10))
    assert history.rate(T0 + 5, 60) == pytest.approx(2.0)
    assert build((T0, 60)).rate(T0, 60) == 0.0  # one step says nothing about a rate yet


@pytest.mark.parametrize(
    "position, rate, expected",
    [(0, 0.0, 0), (-5, 1.0, 0), (10, 0.0, None), (10, -1.0, None), (10, 2.0, 5), (10, 3.0, 4)],
)
def test_estimated_wait_s(position, rate, expected):
    assert estimated_wait_s(position, rate) == expected


@settings(max_examples=200, deadline=None)
@given(position=st.integers(1, 10**7), rate=st.floats(1e-3, 1e5))
def test_estimated_wait_is_enough_time_to_reach_the_position(position, rate):
    wait = estimated_wait_s(position, rate)
    assert wait is not None
    assert wait * rate >= position * (1 - 1e-12)
    assert (wait - 1) * rate < position
