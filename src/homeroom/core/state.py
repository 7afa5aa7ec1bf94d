"""The public state document: the same bytes for everyone for a second (docs/api.md#state).

A waiting page computes its own position (its number − the lane's horizon) and wait (position ÷
rate) from it, so it can be served from a cache, a CDN or nginx without touching the gate.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from homeroom.core.lanes import LANES, Lane
from homeroom.core.policy import GatePolicy

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class LaneState:
    issued: int
    horizon: int
    rate: float  # admissions per second, recent
    born: int = 0  # when the lane's count began (docs/gate.md#when-the-store-loses-its-state)


@dataclass(frozen=True, slots=True)
class Encoded:
    body: bytes
    etag: str


def poll_interval_s(policy: GatePolicy, waiting: int) -> int:
    """How often a waiting page should ask again: less often when the crowd is large."""
    if waiting > 1_000_000:
        return 30
    if waiting > 100_000:
        return 15
    if waiting > 1_000:
        return 8
    return 4 if policy.rules.admits else 15


def document(
    gate_id: str,
    policy: GatePolicy,
    lanes: Mapping[Lane, LaneState],
    now: int,
    capacity: int,
    degraded: bool,
) -> dict[str, object]:
    waiting = sum(max(0, s.issued - s.horizon) for s in lanes.values())
    return {
        "v": SCHEMA_VERSION,
        "gate": gate_id,
        "at": now,
        "mode": policy.mode.value,
        "degraded": degraded,
        "capacity": capacity,
        "opening_at": policy.opening_at or None,
        "prequeue": policy.prequeue_open(now),
        "poll_s": poll_interval_s(policy, waiting),
        "lanes": {
            lane.value: {
                "issued": lanes[lane].issued,
                "horizon": lanes[lane].horizon,
                "rate": round(lanes[lane].rate, 3),
                "born": lanes[lane].born,
            }
            for lane in LANES
        },
    }


def encode(doc: Mapping[str, object]) -> Encoded:
    body = json.dumps(doc, separators=(",", ":"), sort_keys=True, allow_nan=False).encode()
    return Encoded(body, '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"')
