"""The in-process gate store: the embedded default, the reference semantics and the test fake.

Every method runs to completion without awaiting anything else, so within one event loop each
is atomic, as the Redis scripts are.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from homeroom.backends.gate import (
    ClaimWindow,
    Issued,
    LaneCounters,
    PersonRecord,
    PrequeueFreeze,
    RedeemOutcome,
)
from homeroom.core.adaptive import Health
from homeroom.core.history import History
from homeroom.core.lanes import LANES, Lane
from homeroom.core.policy import GatePolicy


class Bitmap:
    """A growable bit set of numbers, 1 bit each, like a Redis string with SETBIT."""

    __slots__ = ("_bits",)

    def __init__(self) -> None:
        self._bits = bytearray()

    def set(self, n: int) -> bool:
        """Set bit n; return its previous value."""
        byte, bit = divmod(n, 8)
        if byte >= len(self._bits):
            self._bits.extend(bytes(byte + 1 - len(self._bits) + 4096))
        mask = 0x80 >> bit
        old = bool(self._bits[byte] & mask)
        self._bits[byte] |= mask
        return old

    def get(self, n: int) -> bool:
        byte, bit = divmod(n, 8)
        return byte < len(self._bits) and bool(self._bits[byte] & (0x80 >> bit))

    def count(self, low: int, high: int) -> int:
        """Set bits in [low, high]."""
        if high < low:
            return 0
        return (
            sum(1 for n in range(low, high + 1) if self.get(n))
            if high - low < 64
            else (self._count_bytes(low, high))
        )

    def _count_bytes(self, low: int, high: int) -> int:
        first, last = low // 8 + 1, high // 8  # whole bytes strictly inside
        total = sum(1 for n in range(low, first * 8) if self.get(n))
        total += sum(1 for n in range(last * 8, high + 1) if self.get(n))
        chunk = bytes(self._bits[first:last])
        return total + int.from_bytes(chunk, "big").bit_count()

    @property
    def nbytes(self) -> int:
        return len(self._bits)


@dataclass
class _Lane:
    issued: int = 0
    horizon: int = 0
    ceiling: int = 0
    released: int = 0
    redeemed_count: int = 0
    prequeue: int = 0
    frozen: PrequeueFreeze | None = None
    redeemed: Bitmap = field(default_factory=Bitmap)
    left: Bitmap = field(default_factory=Bitmap)
    buckets: dict[int, int] = field(default_factory=dict)
    history: History = field(default_factory=History)
    born: int = 0
    written: bool = False  # what a Redis lane hash's existence says

    def begin(self, at: int | None) -> None:
        """A write: the first one with a time stamps the lane's birth (as the Redis scripts)."""
        if not self.written and at is not None:
            self.born = at
        self.written = True


@dataclass
class _Gate:
    policy: GatePolicy | None = None
    lanes: dict[Lane, _Lane] = field(default_factory=lambda: {lane: _Lane() for lane in LANES})
    lease: tuple[str, float] | None = None
    health: dict[str, tuple[Health, float]] = field(default_factory=dict)
    people: dict[str, tuple[PersonRecord, float]] = field(default_factory=dict)


class MemoryGateStore:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._gates: dict[str, _Gate] = {}
        self._clock = clock
        self.closed = False

    def _gate(self, gate: str) -> _Gate:
        found = self._gates.get(gate)
        if found is None:
            found = self._gates[gate] = _Gate()
        return found

    async def get_policy(self, gate: str) -> GatePolicy | None:
        return self._gate(gate).policy

    async def set_policy(self, gate: str, policy: GatePolicy) -> None:
        self._gate(gate).policy = policy

    async def issue(
        self, gate: str, lane: Lane, count: int, prequeue: bool, at: int | None = None
    ) -> Issued:
        state = self._gate(gate).lanes[lane]
        state.begin(at)
        if prequeue and state.frozen is None:
            first = state.prequeue + 1
            state.prequeue += count
            return Issued(first, state.prequeue, True, state.horizon)
        first = state.issued + 1
        state.issued += count
        if state.horizon >= first - 1:
            state.horizon = max(state.horizon, min(state.issued, state.ceiling))
        return Issued(first, state.issued, False, state.horizon)

    async def redeem(self, gate: str, lane: Lane, number: int, expiry_bucket: int) -> RedeemOutcome:
        state = self._gate(gate).lanes[lane]
        if number < 1 or number > state.horizon:
            return RedeemOutcome.NOT_YET
        if number <= state.released:
            return RedeemOutcome.LAPSED
        if state.redeemed.set(number):
            return RedeemOutcome.LEFT if state.left.get(number) else RedeemOutcome.DUPLICATE
        state.redeemed_count += 1
        state.buckets[expiry_bucket] = state.buckets.get(expiry_bucket, 0) + 1
        return RedeemOutcome.OK

    async def renew(
        self, gate: str, lane: Lane, number: int, old_bucket: int, new_bucket: int
    ) -> bool:
        state = self._gate(gate).lanes[lane]
        if state.left.get(number):
            return False
        state.buckets[old_bucket] = state.buckets.get(old_bucket, 0) - 1
        state.buckets[new_bucket] = state.buckets.get(new_bucket, 0) + 1
        return True

    async def leave(self, gate: str, lane: Lane, number: int, bucket: int) -> bool:
        state = self._gate(gate).lanes[lane]
        if state.left.set(number):
            return False
        state.buckets[bucket] = state.buckets.get(bucket, 0) - 1
        return True

    async def counters(self, gate: str, now_bucket: int) -> dict[Lane, LaneCounters]:
        out: dict[Lane, LaneCounters] = {}
        for lane, s in self._gate(gate).lanes.items():
            active = sum(c for m, c in s.buckets.items() if m > now_bucket)
            out[lane] = LaneCounters(
                issued=s.issued,
                horizon=s.horizon,
                ceiling=s.ceiling,
                redeemed=s.redeemed_count,
                active=max(0, active),
                prequeue=s.prequeue,
                frozen=s.frozen,
                history=s.history,
                born=s.born,
            )
        return out

    async def redeemed_between(self, gate: str, lane: Lane, low: int, high: int) -> int:
        return self._gate(gate).lanes[lane].redeemed.count(max(low + 1, 0), high)

    async def window(
        self, gate: str, lane: Lane, low: int, high: int, now_bucket: int
    ) -> ClaimWindow:
        s = self._gate(gate).lanes[lane]
        active = sum(c for m, c in s.buckets.items() if m > now_bucket)
        redeemed = s.redeemed.count(max(low + 1, 0), min(high, s.horizon))
        return ClaimWindow(s.horizon, max(0, active), redeemed)

    async def advance(
        self,
        gate: str,
        horizons: dict[Lane, int],
        ceilings: dict[Lane, int],
        at: int,
        keep_s: int,
        now_bucket: int,
        released: dict[Lane, int] | None = None,
    ) -> None:
        for lane, s in self._gate(gate).lanes.items():
            s.begin(at)
            s.horizon = max(s.horizon, horizons.get(lane, s.horizon))
            s.released = max(s.released, (released or {}).get(lane, 0))
            s.ceiling = max(s.horizon, ceilings.get(lane, s.horizon))
            s.history = s.history.record(at, s.horizon, keep_s)
            for bucket in [m for m in s.buckets if m <= now_bucket]:
                del s.buckets[bucket]

    async def freeze_prequeue(self, gate: str, lane: Lane, at: int | None = None) -> PrequeueFreeze:
        s = self._gate(gate).lanes[lane]
        s.begin(at)
        if s.frozen is None:
            s.frozen = PrequeueFreeze(base=s.issued, count=s.prequeue)
            s.issued += s.prequeue
        return s.frozen

    async def reset_prequeue(self, gate: str) -> None:
        for s in self._gate(gate).lanes.values():
            s.prequeue = 0
            s.frozen = None

    def _person(self, g: _Gate, who: str) -> PersonRecord | None:
        held = g.people.get(who)
        if held is None:
            return None
        if held[1] <= self._clock():
            del g.people[who]  # expired, as a Redis key with a TTL
            return None
        return held[0]

    async def person(self, gate: str, who: str) -> PersonRecord | None:
        return self._person(self._gate(gate), who)

    async def people(self, gate: str, whos: Sequence[str]) -> dict[str, PersonRecord]:
        g = self._gate(gate)
        found = {who: self._person(g, who) for who in whos}
        return {who: record for who, record in found.items() if record is not None}

    async def hold_person(
        self, gate: str, who: str, record: PersonRecord, ttl_s: int, over: str = ""
    ) -> PersonRecord:
        g = self._gate(gate)
        current = self._person(g, who)
        if current is None or (over and current.place.startswith(over)):
            g.people[who] = (record, self._clock() + ttl_s)
            return record
        return current

    async def forget_person(self, gate: str, who: str, over: str) -> None:
        g = self._gate(gate)
        current = self._person(g, who)
        if current is not None and over and current.place.startswith(over):
            del g.people[who]

    async def acquire_lease(self, gate: str, holder: str, ttl_s: float) -> bool:
        g = self._gate(gate)
        now = self._clock()
        if g.lease is None or g.lease[0] == holder or g.lease[1] <= now:
            g.lease = (holder, now + ttl_s)
            return True
        return False

    async def report_health(self, gate: str, holder: str, health: Health, ttl_s: int) -> None:
        self._gate(gate).health[holder] = (health, self._clock() + ttl_s)

    async def health(self, gate: str) -> list[Health]:
        now = self._clock()
        return [h for h, until in self._gate(gate).health.values() if until > now]

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        self.closed = True

    def people_held(self, gate: str) -> int:
        """Person records held for `gate`, expired ones included until read (for tests)."""
        return len(self._gate(gate).people)

    def footprint_bytes(self, gate: str) -> int:
        """Bytes of bitmaps held for `gate` (for the benchmark's memory figure)."""
        return sum(s.redeemed.nbytes + s.left.nbytes for s in self._gate(gate).lanes.values())
