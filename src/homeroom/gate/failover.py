"""What one gate process remembers of each lane, to put it back after a failover lost it.

A Redis Cluster replica promoted after its primary died may lack the primary's last writes
(replication is asynchronous): numbers issued, a horizon raised, redemptions counted. Redis keeps
no trace of what it lost, so each process keeps its own: the highest number, horizon and ceiling
it has seen per lane, and the numbers it redeemed in the last RECENT_S seconds. After every
backend outage the process puts them back before it admits anyone again, and the controller
pauses admissions meanwhile (docs/operations.md#a-redis-primary-dies, docs/gate.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field

from homeroom.backends.gate import GateStore, Issued, LaneCounters, RedeemOutcome, bucket_now
from homeroom.core.lanes import Lane

log = logging.getLogger("homeroom.gate")

RECENT_S = 10.0  # redemptions remembered: far longer than a replica lags behind its primary
RECENT_MAX = 100_000  # and at most this many a process (about 100 bytes each)
REPLAY_BATCH = 4096  # redemptions sent again at once (the store batches them further)


@dataclass
class LaneMemory:
    """One lane as this process has seen it since the lane was born."""

    born: int = 0
    issued: int = 0
    horizon: int = 0
    ceiling: int = 0
    # at, number, expiry bucket
    recent: deque[tuple[float, int, int]] = field(default_factory=deque)


@dataclass(frozen=True, slots=True)
class Restored:
    """What a confirmation put back in one lane."""

    lane: Lane
    issued: int  # numbers the store's count had gone back by
    horizon: int  # places the horizon had gone back by
    redeemed: int  # redemptions of this process the store no longer had


class Memory:
    """Per lane: the maxima seen and the recent redemptions of this process."""

    def __init__(self) -> None:
        self.lanes: dict[Lane, LaneMemory] = {}

    def _lane(self, lane: Lane, born: int | None = None) -> LaneMemory:
        mem = self.lanes.get(lane)
        if mem is None or (born is not None and born != mem.born and mem.born):
            mem = self.lanes[lane] = LaneMemory(born=born or 0)  # a lane born again: forget
        elif born and not mem.born:
            mem.born = born
        return mem

    def saw(self, lane: Lane, c: LaneCounters) -> None:
        """Counters just read from the store."""
        mem = self._lane(lane, c.born)
        mem.issued = max(mem.issued, c.issued)
        mem.horizon = max(mem.horizon, c.horizon)
        mem.ceiling = max(mem.ceiling, c.ceiling)

    def issued(self, lane: Lane, issued: Issued) -> None:
        if not issued.prequeue:
            mem = self._lane(lane)
            mem.issued = max(mem.issued, issued.last)
            mem.horizon = max(mem.horizon, issued.horizon)

    def known_issued(self, lane: Lane) -> int:
        mem = self.lanes.get(lane)
        return 0 if mem is None else mem.issued

    def redeemed(self, lane: Lane, number: int, bucket: int, now: float) -> None:
        recent = self._lane(lane).recent
        recent.append((now, number, bucket))
        while recent and (len(recent) > RECENT_MAX or recent[0][0] < now - RECENT_S):
            recent.popleft()

    async def confirm(
        self,
        store: GateStore,
        gate: str,
        counters: dict[Lane, LaneCounters],
        now: float,
        keep_s: int,
    ) -> list[Restored]:
        """Put back in the store what this process knows it had: the count of numbers (so none
        is given twice), the horizon and ceiling (never lowered), then every redemption of the
        last RECENT_S seconds (so a number redeemed once is not redeemed again, and each
        holder counts against capacity). Idempotent; raises BackendUnavailable."""
        out: list[Restored] = []
        for lane, c in counters.items():
            mem = self.lanes.get(lane)
            if mem is None or (mem.born and c.born != mem.born):
                continue  # a lane born again is the born stamp's business (docs/gate.md)
            issued_back = max(0, mem.issued - c.issued)
            if issued_back:  # skip the numbers given before: a retried issue does the same
                await store.issue(gate, lane, issued_back, False, at=int(now))
            horizon_back = max(0, mem.horizon - c.horizon)
            if horizon_back or mem.ceiling > c.ceiling:
                await store.advance(
                    gate,
                    {lane: mem.horizon},
                    {lane: max(mem.ceiling, mem.horizon)},
                    int(now),
                    keep_s,
                    bucket_now(now),
                )
            recent = [(n, m) for at, n, m in mem.recent if at >= now - RECENT_S]
            redeemed_back = 0
            for i in range(0, len(recent), REPLAY_BATCH):
                batch = recent[i : i + REPLAY_BATCH]
                outcomes = await asyncio.gather(*(store.redeem(gate, lane, n, m) for n, m in batch))
                redeemed_back += sum(1 for o in outcomes if o is RedeemOutcome.OK)
            if issued_back or horizon_back or redeemed_back:
                out.append(Restored(lane, issued_back, horizon_back, redeemed_back))
        for r in out:
            log.error(
                "gate %s, lane %s: the store had lost writes (a failover to a replica behind its "
                "primary?): put back %d issued numbers, %d places of horizon, %d redemptions",
                gate,
                r.lane.value,
                r.issued,
                r.horizon,
                r.redeemed,
            )
        return out
