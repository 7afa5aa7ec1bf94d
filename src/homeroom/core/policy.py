"""What an operator sets on a gate: mode, capacity, rate, shares, schedule (docs/gate.md#modes).

The mode table is the one place that says what each mode does; the controller, the ticket
endpoint and the protecting middleware read it instead of testing modes one by one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

from homeroom.core.lanes import DEFAULT_SHARES, LANES, Lane, normalise_shares


class Mode(StrEnum):
    SAFETY_NET = "safety_net"  # no waiting page below a threshold; queueing starts by itself
    QUEUE = "queue"  # everyone takes a ticket and waits for their number
    PAUSED = "paused"  # no new admissions; passes stay valid
    CLOSED = "closed"  # maintenance page for everyone
    UNDER_ATTACK = "under_attack"  # as queue, and every new ticket needs proof of work


@dataclass(frozen=True, slots=True)
class ModeRules:
    admits: bool  # the controller advances horizons
    instant: bool  # an arrival may be admitted at once while load is under the threshold
    proof_of_work: bool  # every new ticket must carry a solved challenge
    passes_valid: bool  # admitted people keep their way in
    maintenance: bool  # protected routes show the maintenance page


MODE_RULES: dict[Mode, ModeRules] = {
    Mode.SAFETY_NET: ModeRules(True, True, False, True, False),
    Mode.QUEUE: ModeRules(True, False, False, True, False),
    Mode.PAUSED: ModeRules(False, False, False, True, False),
    Mode.CLOSED: ModeRules(False, False, False, False, True),
    Mode.UNDER_ATTACK: ModeRules(True, False, True, True, False),
}


class PolicyError(ValueError):
    """An operator asked for a setting that cannot hold; the message names the field."""


@dataclass(frozen=True, slots=True)
class GatePolicy:
    mode: Mode = Mode.SAFETY_NET
    capacity: int = 10_000  # active passes the protected services can hold
    rate_per_min: int = 6_000  # most new admissions a minute, whatever the free capacity
    shares: dict[Lane, float] = field(default_factory=lambda: dict(DEFAULT_SHARES))
    safety_threshold: float = 0.8  # safety net: admit at once below this fraction of capacity
    claim_window_s: int = 600  # an admitted number not redeemed by then is given back
    opening_at: int = 0  # unix seconds of a scheduled opening; 0 = none
    prequeue_s: int = 1800  # pre-queue opens this long before `opening_at`
    adaptive: bool = False  # capacity follows the protected app's health (AIMD)
    capacity_min: int = 100
    capacity_max: int = 1_000_000
    target_p95_ms: float = 500.0
    target_error_rate: float = 0.01

    @property
    def rules(self) -> ModeRules:
        return MODE_RULES[self.mode]

    def prequeue_open(self, now: float) -> bool:
        """True while arrivals go to the pre-queue of a scheduled opening."""
        return self.opening_at > 0 and self.opening_at - self.prequeue_s <= now < self.opening_at

    def before_prequeue(self, now: float) -> bool:
        return self.opening_at > 0 and now < self.opening_at - self.prequeue_s

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mode"] = self.mode.value
        data["shares"] = {lane.value: share for lane, share in self.shares.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GatePolicy:
        """Build and validate; unknown fields are refused so a typo is not silently ignored."""
        return cls().updated(data)

    def updated(self, changes: Mapping[str, Any]) -> GatePolicy:
        """A copy with `changes` applied and checked; unknown fields are refused."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise PolicyError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for key, value in changes.items():
            values[key] = _coerce(key, value)
        new = replace(self, **values)
        new.check()
        return new

    def check(self) -> None:
        if self.capacity < 0:
            raise PolicyError("capacity must be ≥ 0")
        if self.rate_per_min < 0:
            raise PolicyError("rate_per_min must be ≥ 0")
        if not 0 < self.safety_threshold <= 1:
            raise PolicyError("safety_threshold must be in (0, 1]")
        if self.claim_window_s < 10:
            raise PolicyError("claim_window_s must be ≥ 10")
        if self.prequeue_s < 0 or self.opening_at < 0:
            raise PolicyError("opening_at and prequeue_s must be ≥ 0")
        if not 0 <= self.capacity_min <= self.capacity_max:
            raise PolicyError("capacity_min must be ≤ capacity_max")
        if any(not math.isfinite(v) or v < 0 for v in self.shares.values()):
            raise PolicyError("shares must be finite and ≥ 0")
        try:
            normalise_shares(self.shares)
        except ValueError as exc:
            raise PolicyError(f"shares: {exc}") from exc


def _coerce(key: str, value: Any) -> Any:
    try:
        if key == "mode":
            return Mode(value)
        if key == "shares":
            if not isinstance(value, Mapping):
                raise PolicyError("shares must be an object of lane: share")
            shares = {Lane(k): float(v) for k, v in value.items()}
            if any(not math.isfinite(v) or v < 0 for v in shares.values()):
                raise PolicyError("shares must be finite and ≥ 0")
            return {lane: shares.get(lane, 0.0) for lane in LANES}
        if key == "adaptive":
            if not isinstance(value, bool):
                raise PolicyError("adaptive must be true or false")
            return value
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise PolicyError(f"{key} must be a number")
        number = float(value)
        if not math.isfinite(number):
            raise PolicyError(f"{key} must be a finite number")
        if key in {"safety_threshold", "target_p95_ms", "target_error_rate"}:
            return number
        if isinstance(value, int):
            return value
        if not number.is_integer():
            raise PolicyError(f"{key} must be a whole number")
        return int(number)
    except PolicyError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        raise PolicyError(f"{key}: {exc}") from exc
