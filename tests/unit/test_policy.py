"""What an operator sets on a gate, and the table of what each mode does (docs/gate.md#modes)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homeroom.core.controller import LaneView, plan_tick
from homeroom.core.lanes import DEFAULT_SHARES, LANES, Lane
from homeroom.core.policy import MODE_RULES, GatePolicy, Mode, PolicyError


def test_defaults_are_valid():
    policy = GatePolicy()
    policy.check()
    assert policy.mode is Mode.SAFETY_NET
    assert policy.shares == DEFAULT_SHARES
    assert GatePolicy.from_dict({}) == policy


def test_every_mode_has_rules():
    assert set(MODE_RULES) == set(Mode)
    for mode in Mode:
        assert GatePolicy(mode=mode).rules is MODE_RULES[mode]


def test_mode_table():
    paused = MODE_RULES[Mode.PAUSED]
    assert not paused.admits and not paused.instant
    assert paused.passes_valid and not paused.maintenance

    closed = MODE_RULES[Mode.CLOSED]
    assert closed.maintenance and not closed.passes_valid and not closed.admits

    attack = MODE_RULES[Mode.UNDER_ATTACK]
    assert attack.proof_of_work and attack.admits and not attack.instant

    queue = MODE_RULES[Mode.QUEUE]
    assert queue.admits and not queue.instant and not queue.proof_of_work

    safety = MODE_RULES[Mode.SAFETY_NET]
    assert safety.admits and safety.instant and not safety.proof_of_work

    # Only under attack asks for proof of work; only closed shows maintenance.
    assert [m for m in Mode if MODE_RULES[m].proof_of_work] == [Mode.UNDER_ATTACK]
    assert [m for m in Mode if MODE_RULES[m].maintenance] == [Mode.CLOSED]
    assert [m for m in Mode if MODE_RULES[m].instant] == [Mode.SAFETY_NET]


@pytest.mark.parametrize(
    "data, field",
    [
        ({"capacty": 10}, "capacty"),
        ({"mode": "queue", "colour": "red"}, "colour"),
        ({"mode": "open"}, "mode"),
        ({"mode": 3}, "mode"),
        ({"mode": None}, "mode"),
        ({"shares": {lane.value: 0 for lane in LANES}}, "shares"),
        ({"shares": {}}, "shares"),
        ({"shares": {"teachers": 1}}, "shares"),
        ({"shares": [0.5, 0.5]}, "shares"),
        ({"shares": {"pupils": "lots"}}, "shares"),
        ({"capacity": -1}, "capacity"),
        ({"capacity": "many"}, "capacity"),
        ({"capacity": True}, "capacity"),
        ({"capacity": None}, "capacity"),
        ({"capacity": [1]}, "capacity"),
        ({"rate_per_min": -5}, "rate_per_min"),
        ({"safety_threshold": 0}, "safety_threshold"),
        ({"safety_threshold": -0.1}, "safety_threshold"),
        ({"safety_threshold": 1.01}, "safety_threshold"),
        ({"safety_threshold": float("nan")}, "safety_threshold"),
        ({"safety_threshold": "high"}, "safety_threshold"),
        ({"claim_window_s": 9}, "claim_window_s"),
        ({"opening_at": -1}, "opening_at"),
        ({"prequeue_s": -1}, "prequeue_s"),
        ({"capacity_min": 10, "capacity_max": 5}, "capacity_min"),
        ({"adaptive": "yes"}, "adaptive"),
        ({"adaptive": 1}, "adaptive"),
    ],
)
def test_from_dict_refuses_bad_settings_naming_the_field(data, field):
    with pytest.raises(PolicyError, match=field):
        GatePolicy.from_dict(data)


@pytest.mark.parametrize("threshold", [1e-9, 0.5, 1, 1.0, "0.8"])
def test_threshold_in_zero_one_is_accepted(threshold):
    assert GatePolicy.from_dict({"safety_threshold": threshold}).safety_threshold == float(
        threshold
    )


def test_from_dict_coerces_json_values():
    policy = GatePolicy.from_dict(
        {"mode": "queue", "capacity": "250", "shares": {"pupils": 1, "staff": "1"}}
    )
    assert policy.mode is Mode.QUEUE
    assert policy.capacity == 250
    assert policy.shares == {
        Lane.STAFF: 1.0,
        Lane.PRIORITY: 0.0,
        Lane.PUPILS: 1.0,
        Lane.GUESTS: 0.0,
    }


def test_updated_keeps_other_fields_and_checks():
    policy = GatePolicy(mode=Mode.QUEUE, capacity=50)
    assert policy.updated({"capacity": 60}) == GatePolicy(mode=Mode.QUEUE, capacity=60)
    with pytest.raises(PolicyError):
        policy.updated({"capacity": -60})
    assert policy.capacity == 50


policies = st.builds(
    GatePolicy,
    mode=st.sampled_from(list(Mode)),
    capacity=st.integers(0, 10**7),
    rate_per_min=st.integers(0, 10**6),
    shares=st.fixed_dictionaries({lane: st.floats(0.0, 1.0) for lane in LANES}).filter(
        lambda s: sum(s.values()) > 0
    ),
    safety_threshold=st.floats(min_value=0.01, max_value=1.0),
    claim_window_s=st.integers(10, 10**5),
    opening_at=st.integers(0, 2**32),
    prequeue_s=st.integers(0, 10**5),
    adaptive=st.booleans(),
    capacity_min=st.integers(0, 1000),
    capacity_max=st.integers(1000, 10**7),
    target_p95_ms=st.floats(1.0, 10_000.0),
    target_error_rate=st.floats(0.0, 1.0),
)


@settings(max_examples=200, deadline=None)
@given(policy=policies)
def test_round_trip_through_a_json_dict(policy):
    data = json.loads(json.dumps(policy.to_dict()))
    assert GatePolicy.from_dict(data) == policy


def test_to_dict_is_plain_json():
    data = GatePolicy(mode=Mode.PAUSED).to_dict()
    assert data["mode"] == "paused"
    assert data["shares"] == {lane.value: DEFAULT_SHARES[lane] for lane in LANES}
    json.dumps(data)


def test_prequeue_window():
    policy = GatePolicy(opening_at=10_000, prequeue_s=1_000)
    assert policy.before_prequeue(8_999)
    assert not policy.prequeue_open(8_999)
    assert policy.prequeue_open(9_000)
    assert policy.prequeue_open(9_999.5)
    assert not policy.prequeue_open(10_000)
    assert not policy.before_prequeue(10_000)
    none = GatePolicy()
    assert not none.prequeue_open(0) and not none.before_prequeue(0)


def test_infinite_capacity_is_a_policy_error():
    # Regression: int(inf) raised OverflowError, which escaped; json.loads accepts Infinity.
    with pytest.raises(PolicyError, match="capacity"):
        GatePolicy.from_dict(json.loads('{"capacity": Infinity}'))


def test_an_accepted_share_never_crashes_the_controller():
    # Regression: an infinite share passed validation, then inf / inf = nan crashed plan_tick.
    try:
        policy = GatePolicy.from_dict({"mode": "queue", "shares": {"pupils": float("inf")}})
    except PolicyError:
        return
    views = {lane: LaneView(issued=10, horizon=0) for lane in LANES}
    plan_tick(policy, views, dt=1.0, capacity=100)


def test_negative_share_is_refused():
    # Regression: a negative share used to be read as 0 without a word.
    with pytest.raises(PolicyError, match="shares"):
        GatePolicy.from_dict({"shares": {"pupils": 1, "guests": -0.5}})
