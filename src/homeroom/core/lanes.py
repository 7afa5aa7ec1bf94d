"""Lanes of the waiting room and how one admission budget is shared between them (docs/gate.md)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum


class Lane(StrEnum):
    """A group with its own queue and a guaranteed share of admissions."""

    STAFF = "staff"  # teachers, heads: the class cannot start without them
    PRIORITY = "priority"  # pupils with accommodations, exam candidates
    PUPILS = "pupils"
    GUESTS = "guests"  # parents, visitors, anyone without a role yet


LANES: tuple[Lane, ...] = tuple(Lane)
LANE_INDEX: dict[Lane, int] = {lane: i for i, lane in enumerate(LANES)}

DEFAULT_SHARES: dict[Lane, float] = {
    Lane.STAFF: 0.20,
    Lane.PRIORITY: 0.10,
    Lane.PUPILS: 0.60,
    Lane.GUESTS: 0.10,
}


def normalise_shares(shares: Mapping[Lane, float]) -> dict[Lane, float]:
    """Shares for every lane, summing to 1; a lane left out gets 0."""
    total = sum(max(0.0, shares.get(lane, 0.0)) for lane in LANES)
    if total <= 0:
        raise ValueError("lane shares must not all be zero")
    return {lane: max(0.0, shares.get(lane, 0.0)) / total for lane in LANES}


def allocate(
    budget: int, shares: Mapping[Lane, float], demand: Mapping[Lane, int]
) -> dict[Lane, int]:
    """Split `budget` admissions between lanes for one tick (see `share_out`)."""
    return share_out(budget, shares, demand)[0]


def share_out(
    budget: int,
    shares: Mapping[Lane, float],
    demand: Mapping[Lane, int],
    credit: Mapping[Lane, float] | None = None,
) -> tuple[dict[Lane, int], dict[Lane, float]]:
    """Split `budget` admissions between lanes; return the grants and the credit to carry.

    Each lane first gets up to floor(share × budget), capped by its demand: its guarantee,
    whatever happened before. The rest goes to the lanes that still have demand, towards their
    share of the budget among the lanes that have demand (what a lane does not use flows to the
    others) plus the credit carried from earlier ticks, largest shortfall first. A lane still
    waiting carries the fraction it was owed (within ±1) to the next tick, so that over many
    ticks of a small budget every lane gets its share instead of the biggest share taking every
    rounding. Never exceeds a lane's demand or the budget; uses the whole budget while demand
    lasts.
    """
    norm = normalise_shares(shares)
    want = {lane: max(0, demand.get(lane, 0)) for lane in LANES}
    owed = credit or {}
    grant = {lane: min(want[lane], _floor(norm[lane] * max(0, budget))) for lane in LANES}
    left = max(0, budget) - sum(grant.values())
    hungry = [lane for lane in LANES if want[lane] > 0]
    weight = sum(norm[lane] for lane in hungry)
    ideal = {
        lane: (norm[lane] / weight if weight > 0 else 1 / len(hungry)) * budget
        + owed.get(lane, 0.0)
        for lane in hungry
    }
    target = dict(ideal)
    for _ in range(2 * len(LANES)):
        open_lanes = [lane for lane in hungry if grant[lane] < want[lane]]
        if left <= 0 or not open_lanes:
            break
        shortfall = {lane: max(0.0, target[lane] - grant[lane]) for lane in open_lanes}
        total = sum(shortfall.values())
        if total <= 0:  # every open lane has its due: spread the rest by share, and go round again
            spread = sum(norm[lane] for lane in open_lanes)
            for lane in open_lanes:
                part = norm[lane] / spread if spread > 0 else 1 / len(open_lanes)
                target[lane] = grant[lane] + part * left
            continue
        scale = min(1.0, left / total)
        for lane in open_lanes:
            step = min(want[lane] - grant[lane], _floor(shortfall[lane] * scale), left)
            grant[lane] += step
            left -= step
        by_need = sorted(
            open_lanes, key=lambda la: (-(target[la] - grant[la]), -norm[la], LANE_INDEX[la])
        )
        for lane in by_need:  # the roundings, one each, largest shortfall first
            if left > 0 and grant[lane] < want[lane] and target[lane] - grant[lane] > 0:
                grant[lane] += 1
                left -= 1
    for lane in sorted(LANES, key=lambda la: -norm[la]):  # anything rounding left over
        extra = min(left, want[lane] - grant[lane])
        grant[lane] += extra
        left -= extra
    carried = {
        lane: max(-1.0, min(1.0, ideal[lane] - grant[lane]))
        if lane in ideal and grant[lane] < want[lane]
        else 0.0
        for lane in LANES
    }
    return grant, carried


def _floor(x: float) -> int:
    """floor that forgives float noise: 2.9999999999 is 3 (a 30 % share of 10 is 3 places)."""
    return math.floor(x + 1e-9)
