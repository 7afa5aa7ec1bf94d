"""HOMEROOM_PASS_IDLE and HOMEROOM_PASS_SHARED: per-gate pass times and gates sharing passes."""

from __future__ import annotations

import pytest

from homeroom.config import ConfigError, load_settings

GATES = "national,ent-normandie,moodle-normandie,pronote"


def test_a_gate_not_named_keeps_the_global_times() -> None:
    settings = load_settings(gates=GATES, pass_idle="ent-normandie=120")
    assert settings.pass_times("national") == (1200, 300)
    assert settings.pass_times("ent-normandie") == (120, 30)  # renewed at a quarter


def test_idle_and_renew_age_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMEROOM_GATES", GATES)
    monkeypatch.setenv("HOMEROOM_PASS_IDLE", "ent-normandie=10/3, pronote=4000")
    settings = load_settings()
    assert settings.pass_times("ent-normandie") == (10, 3)
    assert settings.pass_times("pronote") == (4000, 300)  # never above pass_renew_after_s


def test_groups_share_both_ways_and_a_gate_may_be_in_two() -> None:
    settings = load_settings(
        gates=GATES, pass_shared="ent-normandie=moodle-normandie,pronote=ent-normandie"
    )
    assert settings.pass_shares("moodle-normandie") == ("ent-normandie",)
    assert settings.pass_shares("ent-normandie") == ("moodle-normandie", "pronote")
    assert settings.pass_shares("pronote") == ("ent-normandie",)
    assert settings.pass_shares("national") == ()


@pytest.mark.parametrize(
    ("setting", "value", "word"),
    [
        ("pass_idle", "ent-normandie=9", "at least 10 s"),
        ("pass_idle", "ent-normandie=60/60", "below the idle time"),
        ("pass_idle", "ent-normandie=60/0", "at least 1 s"),
        ("pass_idle", "ent-normandie=1m", "expected gate=IDLE"),
        ("pass_idle", "=60", "expected gate=IDLE"),
        ("pass_idle", "elsewhere=60", "is not one of HOMEROOM_GATES"),
        ("pass_idle", "pronote=60,pronote=90", "named twice"),
        ("pass_shared", "ent-normandie", "two gates or more"),
        ("pass_shared", "ent-normandie=ent-normandie", "two gates or more"),
        ("pass_shared", "ent-normandie=", "two gates or more"),
        ("pass_shared", "ent-normandie=elsewhere", "is not one of HOMEROOM_GATES"),
    ],
)
def test_a_bad_value_names_the_variable(setting: str, value: str, word: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(gates=GATES, **{setting: value})
    assert f"HOMEROOM_{setting.upper()}" in str(caught.value)
    assert word in str(caught.value)
