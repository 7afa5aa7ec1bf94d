"""An instance's load estimated from its subscribers' streams, and its state as the store keeps it (docs/av.md#instance-ceilings)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homeroom.core import avload
from homeroom.core.avload import AUDIO_PPS, SUBSCRIBER_CPU, VIDEO_PPS, dumps, load, loads, part, top
from homeroom.core.ladder import LOAD_LIMITS, RUNGS, TOP, Instance, Load, LoadLimits, Rung

rungs = st.sampled_from(list(Rung))
streams = st.lists(st.one_of(st.none(), st.integers(0, 2)), max_size=6)
watchers = st.lists(st.tuples(rungs, streams), max_size=30)


def test_a_part_counts_subscribers_by_rung_and_streams_by_kind_and_layer() -> None:
    assert part([(Rung.P180, [None, 0]), (Rung.P180, [None, 0, 0]), (Rung.AUDIO, [None])]) == {
        "sub:180p": 2,
        "sub:audio": 1,
        "audio": 3,
        "video:0": 3,
    }
    assert part([]) == {}
    with pytest.raises(ValueError, match="video layer"):
        part([(Rung.P720, [3])])


def test_the_load_of_one_pupil_on_each_rung_is_bench_av_s_measure() -> None:
    # a pupil receiving the teacher's camera and microphone at each measured rung
    assert load(part([(Rung.P180, [None, 0])]), 1) == Load(83, SUBSCRIBER_CPU[Rung.P180])
    assert load(part([(Rung.P360, [None, 1])]), 1) == Load(114, 0.00315)
    assert load(part([(Rung.P720, [None, 2])]), 1) == Load(304, SUBSCRIBER_CPU[Rung.P720])
    assert load(part([(Rung.AUDIO, [None])]), 1) == Load(51, 0.00203)
    assert load(part([(Rung.TEXT, [])]), 1) == Load(0, 0)
    # a core: the same work on a Janus of four cores is a quarter of each
    assert load(part([(Rung.P360, [None, 1])] * 4), 4) == Load(114, 0.00315)


def test_every_rung_has_a_cost_and_a_higher_video_rung_costs_more() -> None:
    assert set(SUBSCRIBER_CPU) == set(RUNGS)
    assert SUBSCRIBER_CPU[Rung.TEXT] == 0
    assert SUBSCRIBER_CPU[Rung.P180] < SUBSCRIBER_CPU[Rung.P360] < SUBSCRIBER_CPU[Rung.P720]
    assert list(VIDEO_PPS) == sorted(VIDEO_PPS) and AUDIO_PPS > 0


def test_unknown_keys_count_nothing_and_bad_figures_are_refused() -> None:
    assert load({"sub:4k": 9, "hologram": 3, "video:7": 2}, 1) == Load(0, 0)
    with pytest.raises(ValueError, match="count"):
        load({"audio": -1}, 1)
    for cores in (0, -1, math.inf, math.nan):
        with pytest.raises(ValueError, match="cores"):
            load({}, cores)


def test_the_highest_rung_in_use() -> None:
    assert top({"sub:180p": 2, "sub:720p": 0, "sub:audio": 1, "audio": 9}) is Rung.P180
    assert top({"audio": 4}) is Rung.TEXT
    assert top({}) is Rung.TEXT


@settings(max_examples=200, deadline=None)
@given(a=watchers, b=watchers, cores=st.floats(0.25, 64))
def test_summing_the_gateways_parts_sums_their_loads(a, b, cores) -> None:
    """What makes the store's sum right: the load of the parts summed is the sum of their
    loads, so it does not matter which gateway holds which pupil."""
    pa, pb = part(a), part(b)
    both = {k: pa.get(k, 0) + pb.get(k, 0) for k in set(pa) | set(pb)}
    assert both == part(a + b)
    la, lb, lab = load(pa, cores), load(pb, cores), load(both, cores)
    assert math.isclose(lab.pps, la.pps + lb.pps, abs_tol=1e-9)
    assert math.isclose(lab.cpu, la.cpu + lb.cpu, abs_tol=1e-9)
    assert top(both) == max(top(pa), top(pb))


@settings(max_examples=200, deadline=None)
@given(a=watchers, rung=rungs, lower=rungs)
def test_more_subscribers_never_weigh_less_and_a_lower_rung_never_more(a, rung, lower) -> None:
    before = load(part(a), 1)
    after = load(part([*a, (rung, [None, 0])]), 1)
    assert after.pps > before.pps and after.cpu >= before.cpu
    # the same pupil a rung lower receives fewer packets (the layer below, or none)
    if Rung.P180 <= lower < rung:
        hi = load(part([(rung, [None, RUNGS[rung].camera])]), 1)
        lo = load(part([(lower, [None, RUNGS[lower].camera])]), 1)
        assert lo.pps < hi.pps


def test_with_one_stream_a_pupil_the_cpu_mark_comes_before_the_packets_mark() -> None:
    """The defaults' reason (docs/av.md#instance-ceilings): at every rung bench-av measured, a
    core reaches `cpu_high` with fewer packets than `pps_high`, so the packets mark is for
    pupils receiving several video streams, which the CPU a subscriber does not see."""
    packets = {}
    for rung in (Rung.P180, Rung.P360, Rung.AUDIO):
        layers = [None] if RUNGS[rung].camera is None else [None, RUNGS[rung].camera]
        one = load(part([(rung, layers)]), 1)
        pupils = math.ceil(LOAD_LIMITS.cpu_high / one.cpu)  # the first over the CPU mark
        packets[rung] = pupils * one.pps
        assert packets[rung] <= LOAD_LIMITS.pps_high, rung
    # at 180p, the rung of the most packets a core, the two marks nearly meet
    assert max(packets.values()) == packets[Rung.P180] > 0.95 * LOAD_LIMITS.pps_high


instances = st.builds(
    Instance,
    ceiling=rungs,
    changed_at=st.one_of(st.just(-math.inf), st.floats(-1e12, 1e12)),
    calm_since=st.one_of(st.none(), st.floats(-1e12, 1e12)),
)


@given(s=instances)
def test_an_instance_s_state_comes_back_from_the_store_as_it_went(s: Instance) -> None:
    assert loads(dumps(s)) == s
    assert " " not in dumps(s)  # the store keeps "<state> <until>"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "nope",
        "[]",
        '{"ceiling":"720p"}',
        '{"ceiling":"4k","changed_at":null,"calm_since":null}',
        '{"ceiling":"720p","changed_at":"soon","calm_since":null}',
        '{"ceiling":"720p","changed_at":null,"calm_since":1e999}',
        '{"ceiling":"720p","changed_at":null,"calm_since":null,"more":1}',
    ],
)
def test_a_state_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        avload.loads(text)


def test_a_fresh_state_has_no_ceiling() -> None:
    assert loads(dumps(Instance())) == Instance(TOP)


def test_load_limits_refuse_a_low_mark_above_its_high_one() -> None:
    with pytest.raises(ValueError, match="low mark"):
        LoadLimits(pps_high=10, pps_low=20)
    with pytest.raises(ValueError, match="low mark"):
        LoadLimits(cpu_high=0.5, cpu_low=0.6)
    with pytest.raises(ValueError, match="calm_s"):
        LoadLimits(calm_s=-1)
