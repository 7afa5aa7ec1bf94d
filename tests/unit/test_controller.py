"""The admission controller's tick: bounds, shares, rate cap, modes (docs/gate.md#controller)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homeroom.core.controller import LaneView, TickPlan, plan_tick
from homeroom.core.lanes import DEFAULT_SHARES, LANES, Lane, normalise_shares
from homeroom.core.policy import MODE_RULES, GatePolicy, Mode


@st.composite
def lane_views(draw: st.DrawFn) -> LaneView:
    issued = draw(st.integers(0, 5_000))
    return LaneView(
        issued=issued,
        horizon=draw(st.integers(0, issued)),
        active=draw(st.integers(0, 3_000)),
        pending=draw(st.integers(0, 1_000)),
        arrived=draw(st.integers(0, 200)),
    )


views_st = st.fixed_dictionaries({lane: lane_views() for lane in LANES})
shares_st = st.fixed_dictionaries({lane: st.floats(0.0, 1.0) for lane in LANES}).filter(
    lambda s: sum(s.values()) > 0
)
policy_st = st.builds(
    GatePolicy,
    mode=st.sampled_from(list(Mode)),
    rate_per_min=st.integers(0, 120_000),
    shares=shares_st,
    safety_threshold=st.floats(0.05, 1.0),
)


def extension(plan: TickPlan, views: dict[Lane, LaneView], lane: Lane) -> int:
    """Arrivals the safety net may admit at once in `lane` before the next tick."""
    return max(0, plan.ceilings[lane] - max(views[lane].issued, plan.horizons[lane]))


@settings(max_examples=200, deadline=None)
@given(
    policy=policy_st,
    views=views_st,
    dt=st.floats(0.0, 5.0),
    capacity=st.integers(0, 10_000),
    carry=st.floats(0.0, 0.999),
)
def test_plan_tick_invariants(policy, views, dt, capacity, carry):
    plan = plan_tick(policy, views, dt, capacity, carry)
    active = sum(v.active for v in views.values())
    pending = sum(v.pending for v in views.values())
    admitted = sum(plan.admitted.values())
    instant = sum(extension(plan, views, lane) for lane in LANES)

    assert plan.free == max(0, capacity - active - pending)
    assert 0 <= admitted <= plan.budget <= plan.free
    assert plan.budget <= math.floor(policy.rate_per_min / 60 * dt + carry)
    assert admitted + instant <= plan.budget
    # What this tick admits, queue and instant together, fits in the capacity.
    if admitted + instant > 0:
        assert active + pending + admitted + instant <= capacity
    assert plan.carry >= 0
    for lane in LANES:
        view = views[lane]
        assert 0 <= plan.admitted[lane] <= view.waiting
        assert plan.horizons[lane] == view.horizon + plan.admitted[lane]
        assert plan.horizons[lane] <= view.issued
        assert plan.ceilings[lane] >= plan.horizons[lane]
    if not MODE_RULES[policy.mode].admits:
        assert admitted == 0 and plan.budget == 0
        assert plan.horizons == plan.ceilings == {lane: views[lane].horizon for lane in LANES}


@settings(max_examples=200, deadline=None)
@given(
    policy=policy_st,
    views=views_st,
    dt=st.floats(0.0, 5.0),
    capacity=st.integers(0, 10_000),
)
def test_no_lane_falls_below_its_share_when_it_has_people_waiting(policy, views, dt, capacity):
    plan = plan_tick(policy, views, dt, capacity)
    norm = normalise_shares(policy.shares)
    for lane in LANES:
        owed = min(views[lane].waiting, math.floor(norm[lane] * plan.budget))
        assert plan.admitted[lane] >= owed, lane


@settings(max_examples=200, deadline=None)
@given(policy=policy_st, views=views_st, capacity=st.integers(0, 10_000))
def test_safety_net_ceilings_only_when_nobody_waits_and_under_the_threshold(
    policy, views, capacity
):
    plan = plan_tick(policy, views, 1.0, capacity)
    instant = {lane: extension(plan, views, lane) for lane in LANES}
    if sum(instant.values()) == 0:
        return
    assert MODE_RULES[policy.mode].instant
    for lane in LANES:
        if plan.ceilings[lane] > views[lane].issued:
            assert plan.horizons[lane] == views[lane].issued  # nobody left waiting
    active = sum(v.active for v in views.values())
    pending = sum(v.pending for v in views.values())
    used = active + pending + sum(plan.admitted.values()) + sum(instant.values())
    assert used <= math.floor(policy.safety_threshold * capacity)


def full(waiting: int, **changes: int) -> dict[Lane, LaneView]:
    return {lane: LaneView(issued=waiting, horizon=0, **changes) for lane in LANES}


@pytest.mark.parametrize("mode", [Mode.PAUSED, Mode.CLOSED])
def test_paused_and_closed_admit_nothing(mode):
    views = {lane: LaneView(issued=100, horizon=7) for lane in LANES}
    plan = plan_tick(GatePolicy(mode=mode), views, dt=1.0, capacity=10_000)
    assert plan.admitted == {lane: 0 for lane in LANES}
    assert plan.horizons == plan.ceilings == {lane: 7 for lane in LANES}
    assert plan.budget == 0


@pytest.mark.parametrize("mode", [Mode.PAUSED, Mode.CLOSED])
def test_paused_and_closed_withdraw_the_safety_net_ceilings(mode):
    views = {lane: LaneView(issued=0, horizon=0) for lane in LANES}
    plan = plan_tick(GatePolicy(mode=mode), views, dt=1.0, capacity=10_000)
    assert plan.ceilings == {lane: 0 for lane in LANES}


@pytest.mark.parametrize("mode", [Mode.QUEUE, Mode.UNDER_ATTACK])
def test_queue_mode_ceilings_are_the_horizons(mode):
    for views in (full(0), full(10), full(10_000)):
        plan = plan_tick(GatePolicy(mode=mode), views, dt=1.0, capacity=10_000)
        assert plan.ceilings == plan.horizons


def test_queue_admits_up_to_free_capacity():
    views = full(1_000, active=20, pending=5)
    plan = plan_tick(GatePolicy(mode=Mode.QUEUE, rate_per_min=60_000), views, 1.0, capacity=200)
    assert plan.free == 200 - 4 * 25
    assert sum(plan.admitted.values()) == plan.budget == 100
    assert plan.admitted == {Lane.STAFF: 20, Lane.PRIORITY: 10, Lane.PUPILS: 60, Lane.GUESTS: 10}


def test_full_gate_admits_nobody():
    views = full(1_000, active=50)
    plan = plan_tick(GatePolicy(mode=Mode.QUEUE), views, 1.0, capacity=150)
    assert plan.free == 0 and sum(plan.admitted.values()) == 0
    assert plan.carry == 0.0


def test_rate_cap_bounds_one_tick():
    plan = plan_tick(GatePolicy(mode=Mode.QUEUE, rate_per_min=600), full(1_000), 1.0, 10**6)
    assert sum(plan.admitted.values()) == 10


def run_ticks(rate_per_min: int, ticks: int, dt: float = 1.0) -> list[int]:
    """Admissions per tick of a crowded, roomy gate whose rate cap is the only bound."""
    policy = GatePolicy(mode=Mode.QUEUE, rate_per_min=rate_per_min)
    horizon, carry, out = 0, 0.0, []
    for _ in range(ticks):
        views = {lane: LaneView(issued=10**6, horizon=horizon) for lane in LANES}
        plan = plan_tick(policy, views, dt, capacity=10**7, carry=carry)
        carry = plan.carry
        out.append(sum(plan.admitted.values()))
        horizon = min(plan.horizons.values())
    return out


# Regression for 1, 20, 29: the carry was capped at rate_per_min / 60, so below 30 a minute
# (dt = 1 s) the allowance never reached 1 and nobody was ever admitted.
@pytest.mark.parametrize("rate_per_min", [1, 20, 29, 30, 45, 50, 59, 60, 90, 100, 6_000])
def test_rate_cap_with_carry_over_many_ticks(rate_per_min):
    ticks = 600
    per_tick = run_ticks(rate_per_min, ticks)
    allowed = rate_per_min / 60 * ticks
    assert sum(per_tick) <= allowed
    assert sum(per_tick) >= math.floor(allowed) - 1  # the carry keeps the fractions
    # No tick admits more than one tick's allowance plus the carried fraction.
    assert max(per_tick) <= math.floor(rate_per_min / 60) + 1


def test_rate_cap_with_short_ticks():
    per_tick = run_ticks(60, ticks=100, dt=0.1)
    assert 9 <= sum(per_tick) <= 10  # ten seconds at one a second, less a float's rounding
    assert max(per_tick) == 1


def test_no_burst_after_a_lull():
    policy = GatePolicy(mode=Mode.QUEUE, rate_per_min=600)
    carry = 0.0
    for _ in range(60):  # a minute with nobody waiting
        carry = plan_tick(policy, full(0), 1.0, 10**6, carry).carry
    plan = plan_tick(policy, full(1_000), 1.0, 10**6, carry)
    assert sum(plan.admitted.values()) <= 11


def test_safety_net_admits_at_once_under_the_threshold():
    policy = GatePolicy(mode=Mode.SAFETY_NET, rate_per_min=60_000, safety_threshold=0.5)
    views = {lane: LaneView(issued=5, horizon=5, active=10) for lane in LANES}
    plan = plan_tick(policy, views, 1.0, capacity=200)
    room = sum(plan.ceilings[lane] - 5 for lane in LANES)
    assert room == 100 - 40  # 50 % of 200, less the 40 active
    assert all(plan.ceilings[lane] > 5 for lane in LANES)


def test_safety_net_sets_no_ceiling_above_the_threshold():
    policy = GatePolicy(mode=Mode.SAFETY_NET, rate_per_min=60_000, safety_threshold=0.5)
    views = {lane: LaneView(issued=5, horizon=5, active=30) for lane in LANES}
    plan = plan_tick(policy, views, 1.0, capacity=200)  # 120 active > 100
    assert plan.ceilings == plan.horizons == {lane: 5 for lane in LANES}


def test_safety_net_sets_no_ceiling_where_people_wait():
    policy = GatePolicy(mode=Mode.SAFETY_NET, rate_per_min=600, safety_threshold=1.0)
    views = {lane: LaneView(issued=5, horizon=5) for lane in LANES}
    views[Lane.PUPILS] = LaneView(issued=500, horizon=0)
    plan = plan_tick(policy, views, 1.0, capacity=10_000)
    assert plan.ceilings[Lane.PUPILS] == plan.horizons[Lane.PUPILS] < 500
    assert plan.ceilings[Lane.STAFF] == 5  # the budget went to the queue, none left for arrivals


def test_safety_net_expects_a_lane_crowd_like_the_last_tick():
    policy = GatePolicy(mode=Mode.SAFETY_NET, rate_per_min=6_000, safety_threshold=1.0)
    views = {lane: LaneView(issued=0, horizon=0) for lane in LANES}
    views[Lane.GUESTS] = LaneView(issued=40, horizon=40, arrived=40)
    plan = plan_tick(policy, views, 1.0, capacity=10_000)
    assert plan.ceilings[Lane.GUESTS] - 40 >= 80  # twice last tick's arrivals
    assert sum(plan.ceilings[lane] - views[lane].issued for lane in LANES) == plan.budget == 100


def test_default_policy_shares_are_the_defaults():
    assert GatePolicy().shares == DEFAULT_SHARES


def test_small_lanes_get_their_share_over_time_when_places_free_up_slowly():
    """A full gate frees 3 places a tick (passes expiring): every lane is crowded for 100 ticks."""
    policy = GatePolicy(mode=Mode.QUEUE, rate_per_min=60_000)
    horizons = {lane: 0 for lane in LANES}
    credit: dict[Lane, float] = {}
    for _ in range(100):
        views = {
            lane: LaneView(
                issued=10**6, horizon=horizons[lane], active=(997 if lane is Lane.PUPILS else 0)
            )
            for lane in LANES
        }
        plan = plan_tick(policy, views, 1.0, capacity=1_000, credit=credit)
        assert plan.budget == 3
        horizons, credit = plan.horizons, plan.credit
    total = sum(horizons.values())
    for lane in LANES:
        assert horizons[lane] >= math.floor(DEFAULT_SHARES[lane] * total) - 1, horizons
