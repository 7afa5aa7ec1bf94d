"""The admission controller: from counters to new horizons, once a tick (docs/gate.md#controller).

Each tick the I/O layer reads, per lane, how many tickets were issued, the admitted horizon, the
active passes and the admitted numbers still within their claim window (pending), calls
`plan_tick`, and writes the horizons and ceilings back. A number ≤ horizon may be redeemed; an
arrival whose number is ≤ ceiling, with nobody waiting ahead of it, is admitted at once (safety
net). Both are bounded by free capacity (capacity − active − pending) and by the rate cap, so
active + pending never exceeds capacity by more than what lapsing claims can add in one tick.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from homeroom.core.lanes import LANES, Lane, allocate, share_out
from homeroom.core.policy import GatePolicy


@dataclass(frozen=True, slots=True)
class LaneView:
    issued: int  # highest ticket number handed out in the lane
    horizon: int  # highest number admitted
    active: int = 0  # passes not yet expired
    pending: int = 0  # admitted within the claim window and not yet redeemed
    arrived: int = 0  # tickets issued since the previous tick

    @property
    def waiting(self) -> int:
        return max(0, self.issued - self.horizon)


@dataclass(frozen=True, slots=True)
class TickPlan:
    horizons: dict[Lane, int]
    ceilings: dict[Lane, int]
    admitted: dict[Lane, int]  # advanced by this tick, queue only
    free: int  # capacity − active − pending before this tick
    budget: int  # what this tick could admit, queue and instant together
    carry: float  # fraction of the rate budget kept for the next tick
    credit: dict[Lane, float]  # what each lane is owed towards its share, for the next tick


def plan_tick(
    policy: GatePolicy,
    lanes: Mapping[Lane, LaneView],
    dt: float,
    capacity: int,
    carry: float = 0.0,
    credit: Mapping[Lane, float] | None = None,
) -> TickPlan:
    """Decide this tick's horizons and ceilings. `capacity` may differ from the policy's (adaptive)."""
    active = sum(v.active for v in lanes.values())
    pending = sum(v.pending for v in lanes.values())
    free = max(0, capacity - active - pending)
    horizons = {lane: lanes[lane].horizon for lane in LANES}
    rules = policy.rules
    if not rules.admits:
        zero = {lane: 0 for lane in LANES}
        return TickPlan(horizons, dict(horizons), zero, free, 0, 0.0, dict(credit or {}))
    allowance = policy.rate_per_min / 60.0 * max(0.0, dt) + carry
    rate_budget = math.floor(allowance)
    budget = min(free, rate_budget)
    # Unused rate allowance is not banked beyond one second's worth: no burst after a lull.
    cap = max(1.0, policy.rate_per_min / 60.0)  # below one a second, save up to one admission
    carry = min(allowance - budget, cap) if budget == rate_budget else 0.0
    waiting = {lane: lanes[lane].waiting for lane in LANES}
    grant, owed = share_out(budget, policy.shares, waiting, credit)
    for lane in LANES:
        horizons[lane] += grant[lane]
    ceilings = dict(horizons)
    left = budget - sum(grant.values())
    if rules.instant and left > 0:
        room = (
            math.floor(policy.safety_threshold * capacity) - active - pending - sum(grant.values())
        )
        room = max(0, min(left, room))
        # Expect as many arrivals as last tick (at least one per lane), guarantee the shares,
        # then hand out what is left by share so a lane's sudden crowd is not turned away.
        expected = {lane: max(1, 2 * lanes[lane].arrived) for lane in LANES}
        first = allocate(room, policy.shares, expected)
        rest = allocate(room - sum(first.values()), policy.shares, {lane: room for lane in LANES})
        for lane in LANES:
            if lanes[lane].waiting <= grant[lane]:  # nobody left waiting ahead of an arrival
                ceilings[lane] = max(lanes[lane].issued, horizons[lane]) + first[lane] + rest[lane]
    return TickPlan(horizons, ceilings, grant, free, budget, carry, owed)
