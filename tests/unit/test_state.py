"""The public state document and its pre-encoded bytes and ETag (docs/api.md#state)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from homeroom.core.lanes import LANES, Lane
from homeroom.core.policy import GatePolicy, Mode
from homeroom.core.state import SCHEMA_VERSION, LaneState, document, encode, poll_interval_s

NOW = 1_700_000_000
LANE_STATES = {
    lane: LaneState(issued=10 * (i + 1), horizon=i, rate=0.5) for i, lane in enumerate(LANES)
}


def test_document_fields():
    policy = GatePolicy(mode=Mode.QUEUE, opening_at=NOW + 600, prequeue_s=1_800)
    doc = document("g1", policy, LANE_STATES, NOW, capacity=500, degraded=False)
    assert set(doc) == {
        "v", "gate", "at", "mode", "degraded", "capacity", "opening_at", "prequeue", "poll_s", "lanes",
    }  # fmt: skip
    assert doc["v"] == SCHEMA_VERSION
    assert doc["gate"] == "g1"
    assert doc["at"] == NOW
    assert doc["mode"] == "queue"
    assert doc["degraded"] is False
    assert doc["capacity"] == 500
    assert doc["opening_at"] == NOW + 600
    assert doc["prequeue"] is True
    assert doc["poll_s"] == 4
    assert doc["lanes"] == {
        lane.value: {"issued": s.issued, "horizon": s.horizon, "rate": 0.5, "born": 0}
        for lane, s in LANE_STATES.items()
    }


def test_document_without_an_opening():
    doc = document("g1", GatePolicy(), LANE_STATES, NOW, capacity=1, degraded=True)
    assert doc["opening_at"] is None
    assert doc["prequeue"] is False
    assert doc["degraded"] is True


def test_rate_is_rounded_so_the_bytes_stay_stable():
    lanes = dict(LANE_STATES)
    lanes[Lane.PUPILS] = LaneState(issued=5, horizon=1, rate=1 / 3)
    doc = document("g1", GatePolicy(), lanes, NOW, capacity=1, degraded=False)
    assert doc["lanes"]["pupils"]["rate"] == 0.333
    lanes[Lane.PUPILS] = LaneState(issued=5, horizon=1, rate=1 / 3 + 1e-6)
    again = document("g1", GatePolicy(), lanes, NOW, capacity=1, degraded=False)
    assert encode(again) == encode(doc)


def test_poll_interval_grows_with_the_crowd():
    queue, paused = GatePolicy(mode=Mode.QUEUE), GatePolicy(mode=Mode.PAUSED)
    assert poll_interval_s(queue, 0) == 4
    assert poll_interval_s(paused, 0) == 15
    assert poll_interval_s(queue, 1_001) == 8
    assert poll_interval_s(queue, 100_001) == 15
    assert poll_interval_s(queue, 1_000_001) == 30
    big = {lane: LaneState(issued=400_000, horizon=0, rate=1.0) for lane in LANES}
    assert document("g", queue, big, NOW, 1, False)["poll_s"] == 30  # waiting summed over lanes


def test_encode_is_compact_sorted_json():
    doc = document("g1", GatePolicy(), LANE_STATES, NOW, capacity=1, degraded=False)
    encoded = encode(doc)
    assert json.loads(encoded.body) == doc
    assert b" " not in encoded.body
    assert encoded.body == json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    assert encoded.etag.startswith('"') and encoded.etag.endswith('"') and len(encoded.etag) == 26


def test_encode_is_deterministic_whatever_the_key_order():
    doc = document("g1", GatePolicy(), LANE_STATES, NOW, capacity=1, degraded=False)
    shuffled = dict(reversed(list(doc.items())))
    assert encode(shuffled) == encode(doc)
    assert encode(doc).etag == encode(json.loads(encode(doc).body)).etag


lane_states = st.fixed_dictionaries(
    {
        lane: st.builds(
            LaneState,
            issued=st.integers(0, 10**9),
            horizon=st.integers(0, 10**9),
            rate=st.floats(0, 10**4),
        )
        for lane in LANES
    }
)


@settings(max_examples=200, deadline=None)
@given(
    a=lane_states,
    b=lane_states,
    mode=st.sampled_from(list(Mode)),
    at=st.integers(0, 2**32),
    degraded=st.booleans(),
)
def test_etag_changes_iff_the_bytes_change(a, b, mode, at, degraded):
    policy = GatePolicy(mode=mode)
    first = encode(document("g", policy, a, NOW, 1, False))
    second = encode(document("g", policy, b, at, 1, degraded))
    assert (first.etag == second.etag) == (first.body == second.body)
