"""Sharing one admission budget between lanes: bounds, guarantees, work conservation (docs/gate.md)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homeroom.core.lanes import DEFAULT_SHARES, LANES, Lane, allocate, normalise_shares

FAST = settings(max_examples=200, deadline=None)

shares_st = st.dictionaries(
    st.sampled_from(LANES), st.floats(min_value=0.0, max_value=10.0), min_size=1
).filter(lambda s: sum(s.values()) > 0)
demand_st = st.dictionaries(st.sampled_from(LANES), st.integers(min_value=0, max_value=20_000))
budget_st = st.integers(min_value=-5, max_value=20_000)


@FAST
@given(budget=budget_st, shares=shares_st, demand=demand_st)
def test_allocate_never_exceeds_budget_or_any_lane_demand(budget, shares, demand):
    grant = allocate(budget, shares, demand)
    assert set(grant) == set(LANES)
    assert all(g >= 0 for g in grant.values())
    assert sum(grant.values()) <= max(0, budget)
    for lane in LANES:
        assert grant[lane] <= demand.get(lane, 0)


@FAST
@given(budget=budget_st, shares=shares_st, demand=demand_st)
def test_no_lane_falls_below_its_share_when_it_has_people_waiting(budget, shares, demand):
    grant = allocate(budget, shares, demand)
    norm = normalise_shares(shares)
    for lane in LANES:
        guaranteed = min(demand.get(lane, 0), math.floor(norm[lane] * max(0, budget)))
        assert grant[lane] >= guaranteed, lane


@FAST
@given(budget=budget_st, shares=shares_st, demand=demand_st)
def test_allocate_is_work_conserving(budget, shares, demand):
    """A share a lane does not use flows to the others: the budget or the demand runs out."""
    grant = allocate(budget, shares, demand)
    total_demand = sum(max(0, d) for d in demand.values())
    assert sum(grant.values()) == min(max(0, budget), total_demand)


@FAST
@given(budget=budget_st, shares=shares_st, demand=demand_st)
def test_allocate_is_deterministic(budget, shares, demand):
    first = allocate(budget, shares, demand)
    assert allocate(budget, dict(shares), dict(demand)) == first
    # The order in which the caller lists lanes does not matter either.
    assert allocate(budget, dict(reversed(shares.items())), dict(reversed(demand.items()))) == first


def test_allocate_gives_exact_shares_when_everyone_waits():
    grant = allocate(100, DEFAULT_SHARES, {lane: 1_000 for lane in LANES})
    assert grant == {Lane.STAFF: 20, Lane.PRIORITY: 10, Lane.PUPILS: 60, Lane.GUESTS: 10}


def test_unused_share_flows_to_lanes_with_people_waiting():
    demand = {Lane.STAFF: 1, Lane.PRIORITY: 0, Lane.PUPILS: 1_000, Lane.GUESTS: 1_000}
    grant = allocate(100, DEFAULT_SHARES, demand)
    assert grant[Lane.STAFF] == 1
    assert grant[Lane.PRIORITY] == 0
    assert sum(grant.values()) == 100
    # The spare 29 go to pupils and guests in proportion to their shares, roughly 6 : 1.
    assert grant[Lane.PUPILS] > grant[Lane.GUESTS] >= 10


def test_a_lane_with_zero_share_still_gets_spare_budget():
    grant = allocate(10, {Lane.PUPILS: 1.0}, {Lane.GUESTS: 4})
    assert grant[Lane.GUESTS] == 4


def test_no_budget_admits_nobody():
    full = {lane: 10 for lane in LANES}
    assert sum(allocate(0, DEFAULT_SHARES, full).values()) == 0
    assert sum(allocate(-3, DEFAULT_SHARES, full).values()) == 0


def test_all_zero_shares_are_refused():
    with pytest.raises(ValueError, match="zero"):
        allocate(10, {lane: 0.0 for lane in LANES}, {Lane.PUPILS: 5})
    with pytest.raises(ValueError):
        normalise_shares({})


def test_normalise_shares_covers_every_lane_and_sums_to_one():
    norm = normalise_shares({Lane.PUPILS: 3, Lane.STAFF: 1})
    assert set(norm) == set(LANES)
    assert norm[Lane.PUPILS] == pytest.approx(0.75)
    assert norm[Lane.GUESTS] == 0.0
    assert sum(norm.values()) == pytest.approx(1.0)


def test_operator_percentages_are_guaranteed_exactly():
    # An operator sets 5 % / 55 % / 30 % / 10 % and every lane is crowded: with a budget of 10,
    # pupils are owed floor(30 % × 10) = 3 and guests floor(10 % × 10) = 1. Regression: the
    # shares sum to 1.0000000000000002 in floats, and 0.3 / that × 10 = 2.999… used to floor to 2.
    shares = {Lane.STAFF: 0.05, Lane.PRIORITY: 0.55, Lane.PUPILS: 0.30, Lane.GUESTS: 0.10}
    grant = allocate(10, shares, {lane: 1_000 for lane in LANES})
    assert grant[Lane.PUPILS] >= 3
    assert grant[Lane.GUESTS] >= 1


@settings(max_examples=150, deadline=None)
@given(
    budget=st.integers(min_value=0, max_value=7),
    ticks=st.integers(min_value=20, max_value=80),
)
def test_credit_gives_every_crowded_lane_its_share_over_many_small_ticks(
    budget: int, ticks: int
) -> None:
    from homeroom.core.lanes import share_out

    credit: dict[Lane, float] = {}
    total = dict.fromkeys(LANES, 0)
    for _ in range(ticks):
        grant, credit = share_out(budget, DEFAULT_SHARES, dict.fromkeys(LANES, 10**6), credit)
        assert sum(grant.values()) == budget
        for lane in LANES:
            total[lane] += grant[lane]
    for lane in LANES:
        assert abs(total[lane] - DEFAULT_SHARES[lane] * budget * ticks) <= 2, total
