"""What a gate process puts back after a failover to a replica behind its primary (gate/failover.py).

The memory store stands for the cluster: a copy taken before the last writes is the replica that
is promoted. Real processes and a real cluster: tests/e2e/test_gate_failover.py.
"""

from __future__ import annotations

import copy

from homeroom.backends.gate import RedeemOutcome, bucket_now, bucket_of
from homeroom.backends.memory import MemoryGateStore
from homeroom.core.lanes import Lane
from homeroom.gate.failover import Memory

GATE, LANE, NOW = "national", Lane.PUPILS, 1_800_000_000.0
EXPIRY = bucket_of(int(NOW) + 1200)  # the bucket of a pass given now (20 minutes)


async def _counters(store: MemoryGateStore, memory: Memory) -> None:
    for lane, c in (await store.counters(GATE, bucket_now(NOW))).items():
        memory.saw(lane, c)


async def test_a_replica_behind_gets_back_numbers_horizon_and_redemptions() -> None:
    primary, memory = MemoryGateStore(), Memory()
    memory.issued(LANE, await primary.issue(GATE, LANE, 10, False, at=int(NOW)))
    await primary.advance(GATE, {LANE: 5}, {LANE: 5}, int(NOW), 600, bucket_now(NOW))
    await _counters(primary, memory)
    for number in (1, 2):
        assert await primary.redeem(GATE, LANE, number, EXPIRY) is RedeemOutcome.OK
        memory.redeemed(LANE, number, EXPIRY, NOW)
    replica = copy.deepcopy(primary)  # what the replica has when the primary dies

    memory.issued(LANE, await primary.issue(GATE, LANE, 5, False, at=int(NOW)))  # 11..15
    await primary.advance(GATE, {LANE: 8}, {LANE: 8}, int(NOW), 600, bucket_now(NOW))
    await _counters(primary, memory)
    for number in (3, 7):
        assert await primary.redeem(GATE, LANE, number, EXPIRY) is RedeemOutcome.OK
        memory.redeemed(LANE, number, EXPIRY, NOW + 1)

    before = (await replica.counters(GATE, bucket_now(NOW)))[LANE]
    assert (before.issued, before.horizon, before.active) == (10, 5, 2)
    restored = await memory.confirm(
        replica, GATE, await replica.counters(GATE, bucket_now(NOW)), NOW + 2, 600
    )
    assert [(r.issued, r.horizon, r.redeemed) for r in restored] == [(5, 3, 2)]
    after = (await replica.counters(GATE, bucket_now(NOW)))[LANE]
    assert (after.issued, after.horizon, after.active) == (15, 8, 4)
    assert (await replica.issue(GATE, LANE, 1, False, at=int(NOW))).first == 16  # none twice
    for number in (1, 2, 3, 7):  # each redeemed once, whichever side it was on
        assert await replica.redeem(GATE, LANE, number, EXPIRY) is RedeemOutcome.DUPLICATE
    assert (
        await memory.confirm(
            replica, GATE, await replica.counters(GATE, bucket_now(NOW)), NOW + 3, 600
        )
        == []
    )  # nothing more to put back: idempotent


async def test_a_lane_born_again_is_left_to_the_born_stamp() -> None:
    store, memory = MemoryGateStore(), Memory()
    memory.issued(LANE, await store.issue(GATE, LANE, 10, False, at=int(NOW)))
    await _counters(store, memory)
    empty = MemoryGateStore()  # came back empty: a new count, born later
    await empty.issue(GATE, LANE, 1, False, at=int(NOW) + 100)
    counters = await empty.counters(GATE, bucket_now(NOW))
    assert await memory.confirm(empty, GATE, counters, NOW + 101, 600) == []
    assert (await empty.counters(GATE, bucket_now(NOW)))[LANE].issued == 1
