"""Adaptive capacity: AIMD from the protected app's health (docs/gate.md#adaptive-capacity)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homeroom.core.adaptive import MIN_SAMPLES, Health, next_capacity
from homeroom.core.policy import GatePolicy

POLICY = GatePolicy(
    adaptive=True,
    capacity_min=100,
    capacity_max=10_000,
    target_p95_ms=500.0,
    target_error_rate=0.01,
)
HEALTHY = Health(p95_ms=100.0, error_rate=0.0, samples=1_000)


def test_additive_increase_while_healthy():
    assert next_capacity(POLICY, 1_000, HEALTHY) == 1_020  # + 2 %
    assert next_capacity(POLICY, 120, HEALTHY) == 122
    assert next_capacity(POLICY, 100, HEALTHY) == 102
    assert next_capacity(POLICY, 101, HEALTHY) == 103  # at least one


def test_at_the_target_is_still_healthy():
    at_target = Health(p95_ms=500.0, error_rate=0.01, samples=MIN_SAMPLES)
    assert next_capacity(POLICY, 1_000, at_target) == 1_020


@pytest.mark.parametrize(
    "health",
    [
        Health(p95_ms=501.0, error_rate=0.0, samples=1_000),
        Health(p95_ms=100.0, error_rate=0.02, samples=1_000),
        Health(p95_ms=5_000.0, error_rate=0.5, samples=MIN_SAMPLES),
    ],
)
def test_multiplicative_decrease_on_high_latency_or_errors(health):
    assert next_capacity(POLICY, 1_000, health) == 800


def test_stays_within_bounds():
    sick = Health(p95_ms=5_000.0, error_rate=0.0, samples=1_000)
    assert next_capacity(POLICY, 110, sick) == 100
    assert next_capacity(POLICY, 9_990, HEALTHY) == 10_000
    assert next_capacity(POLICY, 50, HEALTHY) == 100
    assert next_capacity(POLICY, 50_000, sick) == 10_000


@settings(max_examples=200, deadline=None)
@given(
    current=st.integers(0, 10**6),
    p95=st.floats(0.0, 10_000.0),
    errors=st.floats(0.0, 1.0),
    samples=st.integers(0, 10_000),
)
def test_always_within_bounds(current, p95, errors, samples):
    policy = GatePolicy(adaptive=True, capacity_min=100, capacity_max=10_000)
    new = next_capacity(policy, current, Health(p95, errors, samples))
    assert 100 <= new <= 10_000


def test_converges_down_under_overload_and_back_up():
    sick = Health(p95_ms=5_000.0, error_rate=0.0, samples=1_000)
    capacity = 10_000
    for _ in range(30):
        capacity = next_capacity(POLICY, capacity, sick)
    assert capacity == 100
    for _ in range(300):
        capacity = next_capacity(POLICY, capacity, HEALTHY)
    assert capacity == 10_000


@pytest.mark.parametrize("current", [10, 1_000, 50_000])
@pytest.mark.parametrize("health", [None, HEALTHY, Health(5_000.0, 1.0, 1_000)])
def test_adaptive_off_is_the_operators_capacity(current, health):
    """An operator who sets capacity by hand switches adaptation off: their figure holds."""
    manual = GatePolicy(adaptive=False, capacity=1_234, capacity_min=100, capacity_max=10_000)
    assert next_capacity(manual, current, health) == 1_234


@pytest.mark.parametrize("samples", [0, 1, MIN_SAMPLES - 1])
def test_too_few_samples_leave_capacity_unchanged(samples):
    sick = Health(p95_ms=5_000.0, error_rate=1.0, samples=samples)
    assert next_capacity(POLICY, 1_000, sick) == 1_000
    assert next_capacity(POLICY, 1_000, Health(1.0, 0.0, samples)) == 1_000


def test_no_health_report_leaves_capacity_unchanged():
    assert next_capacity(POLICY, 1_000, None) == 1_000
