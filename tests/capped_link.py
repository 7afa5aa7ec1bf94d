"""A model of a pupil's link capped by a tbf, as the ladder's browser reports would see it.

Shared by tests/unit/test_ladder.py, which asserts how the ladder settles on it, and
bench/ladder_bench.py, which times its step down and recovery. A model, not a measure: what
exceeds the cap is lost, the queue raises the round trip; the real figures come from Chromium
behind a real `tbf` (issue #12, `make bench-av`).
"""

from __future__ import annotations

from homeroom.core.ladder import BOTTOM, RUNGS, Pupil, Report, observe, tick

SOCKET_KBPS = 5.0  # below this the class's socket itself stalls: no report arrives


def through(p: Pupil, cap_kbps: float, estimate: bool) -> Report | None:
    """What the browser reports on a link capped at `cap_kbps`; None when no report gets through."""
    if cap_kbps < SOCKET_KBPS:
        return None
    if p.rung is BOTTOM:
        return Report(rtt_s=0.1)  # no media, so no estimate either
    cost = RUNGS[p.rung].kbps(p.screen)
    loss = 0.0 if cost <= cap_kbps else 1 - cap_kbps / cost
    return Report(
        loss=loss,
        rtt_s=0.6 if loss else 0.1,  # the queue fills
        available_kbps=cap_kbps if estimate else None,
        received_kbps=min(cost, cap_kbps),
    )


def step(p: Pupil, cap_kbps: float, estimate: bool, now: float) -> tuple[Pupil, Report | None]:
    """One report period: the report, or the gateway's tick when none arrives."""
    report = through(p, cap_kbps, estimate)
    return (tick(p, now) if report is None else observe(p, report, now)), report
