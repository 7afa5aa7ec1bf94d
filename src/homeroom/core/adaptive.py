"""Adaptive capacity: additive increase, multiplicative decrease from the protected app's health.

As in Netflix's concurrency-limits AIMD limit: while the protected services answer within their
latency target and error budget, capacity grows by a step each interval; when either is exceeded
it is cut by a factor. It stays between the operator's bounds, and an operator who sets capacity
by hand switches adaptation off (docs/gate.md#adaptive-capacity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from homeroom.core.policy import GatePolicy


@dataclass(frozen=True, slots=True)
class Health:
    p95_ms: float
    error_rate: float
    samples: int


INCREASE_FRACTION = 0.02  # of the current capacity, at least one
DECREASE_FACTOR = 0.8
MIN_SAMPLES = 20  # fewer observations say nothing


def next_capacity(
    policy: GatePolicy, current: int, health: Health | None, *, min_samples: int = MIN_SAMPLES
) -> int:
    """The capacity for the next interval. `min_samples`: fewer observations leave it as it is
    (one is enough for a probe of a workspace's health URL: core/probing.py)."""
    if not policy.adaptive:
        return policy.capacity
    low, high = policy.capacity_min, policy.capacity_max
    if (
        health is None
        or health.samples < min_samples
        or not (math.isfinite(health.p95_ms) and math.isfinite(health.error_rate))
    ):
        return min(max(current, low), high)
    overloaded = (
        health.p95_ms > policy.target_p95_ms or health.error_rate > policy.target_error_rate
    )
    if overloaded:
        new = math.floor(current * DECREASE_FACTOR)
    else:
        new = current + max(1, math.floor(current * INCREASE_FRACTION))
    return min(max(new, low), high)
