"""The settings of gates in front of a workspace homeroom does not own: health URLs, staff
address blocks, anonymous lanes and first policies per gate; a bad value names its variable."""

from __future__ import annotations

import pytest

from homeroom.config import ConfigError, load_settings
from homeroom.core.blocks import Networks
from homeroom.core.lanes import Lane

GATES = "national,ent,moodle"


def test_each_gate_its_own_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMEROOM_GATES", GATES)
    monkeypatch.setenv("HOMEROOM_GATE_HEALTH", "ent=http://10.1.0.5/health, moodle=https://m/ok")
    monkeypatch.setenv(
        "HOMEROOM_STAFF_NETWORKS", "ent=10.0.0.0/8,192.0.2.0/24,moodle=2001:db8::/32"
    )
    monkeypatch.setenv("HOMEROOM_ANONYMOUS_LANES", "moodle=guests")
    monkeypatch.setenv(
        "HOMEROOM_GATE_POLICY", "ent.capacity=5000,ent.adaptive=true,ent.target_p95_ms=250.5"
    )
    s = load_settings()
    assert s.health_urls() == {"ent": "http://10.1.0.5/health", "moodle": "https://m/ok"}
    assert s.staff_blocks() == {"ent": ["10.0.0.0/8", "192.0.2.0/24"], "moodle": ["2001:db8::/32"]}
    assert s.anonymous_lane_of("moodle") is Lane.GUESTS
    assert s.anonymous_lane_of("ent") is Lane.PUPILS  # HOMEROOM_ANONYMOUS_LANE
    assert s.policy_changes() == {
        "ent": {"capacity": 5000, "adaptive": True, "target_p95_ms": 250.5}
    }


def test_nothing_set_changes_nothing() -> None:
    s = load_settings()
    assert s.health_urls() == {} and s.staff_blocks() == {} and s.policy_changes() == {}
    assert s.anonymous_lane_of("national") is s.anonymous_lane


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("gate_health", "ent=ftp://x/health", "is not an http(s) URL"),
        ("gate_health", "ent", "expected gate=http://host/health"),
        ("gate_health", "elsewhere=http://x/", "gate 'elsewhere' is not one of HOMEROOM_GATES"),
        ("staff_networks", "10.0.0.0/8", "expected gate=cidr first"),
        ("staff_networks", "ent=10.0.0.300", "is not an address or CIDR block"),
        ("anonymous_lanes", "ent=vip", "'vip' is not a lane"),
        ("gate_policy", "ent.capacityy=3", "unknown setting(s): capacityy"),
        ("gate_policy", "ent.capacity=-3", "capacity must be ≥ 0"),
        ("gate_policy", "capacity=3", "expected gate.field=value"),
        ("gate_policy", "ent.mode=sometimes", "gate ent: mode"),
    ],
)
def test_a_bad_value_names_its_variable(name: str, value: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(gates=GATES, **{name: value})
    assert f"HOMEROOM_{name.upper()}: " in str(caught.value)
    assert words in str(caught.value)


def test_address_blocks_cover_their_addresses_only() -> None:
    blocks = Networks.parse(["10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32"])
    assert blocks.covers("10.200.0.1") and blocks.covers("192.0.2.99")
    assert blocks.covers("2001:db8::7") and blocks.covers("::ffff:192.0.2.1")
    assert not blocks.covers("192.0.3.1") and not blocks.covers("unknown")
    assert not blocks.covers(None) and not Networks().covers("10.0.0.1")
