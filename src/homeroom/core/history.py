"""When each number was admitted, without per-person state (docs/gate.md#claim-window).

The controller records (time, horizon) each tick the horizon moves. Number n was admitted at the
time of the first step whose horizon reaches n. That answers whether a claim has lapsed, how
many admitted numbers are still inside their claim window, and the recent admission rate from
which a waiting person's wait is estimated.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from enum import StrEnum


class Claim(StrEnum):
    NOT_YET = "not_yet"  # number above the horizon: keep waiting
    OPEN = "open"  # admitted and within the claim window: may be redeemed
    LAPSED = "lapsed"  # admitted too long ago: the place was given back


@dataclass(frozen=True, slots=True)
class Step:
    at: int  # unix seconds
    horizon: int


@dataclass(frozen=True, slots=True)
class History:
    """Steps in order of time, horizons non-decreasing."""

    steps: tuple[Step, ...] = ()

    def record(self, at: int, horizon: int, keep_s: int) -> History:
        """Add a step if the horizon moved, and drop steps no longer needed after `keep_s`.

        One step older than the retention is kept, so that the horizon at the start of the
        window stays known.
        """
        steps = list(self.steps)
        if not steps or horizon > steps[-1].horizon:
            steps.append(Step(at, horizon))
        cut = at - keep_s
        while len(steps) >= 2 and steps[1].at <= cut:
            steps.pop(0)
        return History(tuple(steps))

    def horizon_at(self, at: float) -> int:
        """The horizon as it stood at time `at` (0 before the first step)."""
        times = [s.at for s in self.steps]
        i = bisect.bisect_right(times, at)
        return self.steps[i - 1].horizon if i else 0

    def admitted_at(self, number: int) -> int | None:
        """When `number` was admitted, or None if no recorded step reaches it."""
        horizons = [s.horizon for s in self.steps]
        i = bisect.bisect_left(horizons, number)
        return self.steps[i].at if i < len(self.steps) else None

    def claim(self, number: int, horizon: int, now: float, window_s: int) -> Claim:
        """The state of a claim on `number`, given the live `horizon`."""
        if number > horizon:
            return Claim.NOT_YET
        at = self.admitted_at(number)
        if at is None:  # admitted since the last recorded step (at once, by the safety net)
            return Claim.OPEN
        return Claim.OPEN if now - at < window_s else Claim.LAPSED

    def rate(self, now: float, span_s: int = 60) -> float:
        """Admissions per second over the last `span_s` seconds."""
        if not self.steps:
            return 0.0
        span = min(float(span_s), now - self.steps[0].at)  # a young history: what it has seen
        if span <= 0:
            return 0.0
        moved = self.steps[-1].horizon - self.horizon_at(now - span)
        return max(0.0, moved / span)


def estimated_wait_s(position: int, rate_per_s: float) -> int | None:
    """Seconds until a person `position` places behind the horizon is admitted; None if unknown."""
    if position <= 0:
        return 0
    if rate_per_s <= 0:
        return None
    return math.ceil(position / rate_per_s)
