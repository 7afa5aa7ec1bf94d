"""What a probe of a workspace's health URL says (core/probing.py), and how one probe is one
step of adaptive capacity."""

from __future__ import annotations

import pytest

from homeroom.core.adaptive import Health, next_capacity
from homeroom.core.policy import GatePolicy
from homeroom.core.probing import BODY_READ, Outcome, classify, health_of

MARKER = "quota de connexions atteint"
POLICY = GatePolicy(adaptive=True, capacity_min=100, capacity_max=2_000, target_p95_ms=500.0)


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, b'{"ok": true}', Outcome.OK),
        (204, b"", Outcome.OK),
        (302, b"", Outcome.OK),  # sent to a sign-in page: the workspace answered
        (500, b"", Outcome.SERVER_ERROR),
        (503, b"Quota de connexions atteint", Outcome.SERVER_ERROR),
        (429, b"", Outcome.SERVER_ERROR),
        (200, b"<p>QUOTA DE CONNEXIONS ATTEINT</p>", Outcome.QUOTA),
        (404, b"not found", Outcome.UNUSABLE),
        (401, b"", Outcome.UNUSABLE),
    ],
)
def test_an_answer_is_classified(status: int, body: bytes, outcome: Outcome) -> None:
    assert classify(status, body, MARKER) is outcome


def test_the_marker_is_looked_for_in_the_first_bytes_only_and_can_be_off() -> None:
    late = b"x" * BODY_READ + MARKER.encode()
    assert classify(200, late, MARKER) is Outcome.OK
    assert classify(200, MARKER.encode(), "") is Outcome.OK
    assert classify(200, b"\xff\xfe" + MARKER.encode(), MARKER) is Outcome.QUOTA  # not UTF-8


def test_errors_and_what_says_nothing() -> None:
    errors = {o for o in Outcome if o.error}
    assert errors == {Outcome.TIMEOUT, Outcome.UNREACHABLE, Outcome.SERVER_ERROR, Outcome.QUOTA}
    assert health_of(Outcome.UNUSABLE, 0.01) is None  # a mistyped URL must not cut capacity
    assert health_of(Outcome.OK, 0.25) == Health(250.0, 0.0, 1)
    assert health_of(Outcome.TIMEOUT, 2.0) == Health(2000.0, 1.0, 1)


def test_one_probe_is_one_step_of_the_controller_within_bounds() -> None:
    fast, slow = health_of(Outcome.OK, 0.05), health_of(Outcome.OK, 0.9)
    failed = health_of(Outcome.UNREACHABLE, 0.001)
    assert next_capacity(POLICY, 1_000, fast) == 1_000  # one sample is not enough for requests
    assert next_capacity(POLICY, 1_000, fast, min_samples=1) == 1_020
    assert next_capacity(POLICY, 1_000, slow, min_samples=1) == 800
    assert next_capacity(POLICY, 1_000, failed, min_samples=1) == 800
    assert next_capacity(POLICY, 110, failed, min_samples=1) == 100  # capacity_min
    assert next_capacity(POLICY, 1_990, fast, min_samples=1) == 2_000  # capacity_max
    by_hand = GatePolicy(adaptive=False, capacity=700)
    assert next_capacity(by_hand, 1_000, failed, min_samples=1) == 700  # the override wins
