"""The GateStore contract (backends/gate.py), run on memory, Redis and Redis Cluster alike."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from redis.crc import key_slot

from homeroom.backends.factory import open_gate_store
from homeroom.backends.gate import (
    BITMAP_CHUNK_BITS,
    BackendUnavailable,
    GateStore,
    Issued,
    PrequeueFreeze,
    RedeemOutcome,
)
from homeroom.backends.memory import MemoryGateStore
from homeroom.backends.redis import RedisGateStore, RedisKeys
from homeroom.core.adaptive import Health
from homeroom.core.history import History, Step
from homeroom.core.lanes import LANES, Lane
from homeroom.core.policy import GatePolicy, Mode
from tests.contract.conftest import Backend
from tests.redis_servers import RedisClusterProcesses, RedisServer

G = "national"
OTHER = "academie-lyon"
P = Lane.PUPILS
B = BITMAP_CHUNK_BITS
OK, NOT_YET, DUPLICATE = RedeemOutcome.OK, RedeemOutcome.NOT_YET, RedeemOutcome.DUPLICATE


async def set_horizon(store: GateStore, lane: Lane, horizon: int, ceiling: int = 0) -> None:
    await store.advance(G, {lane: horizon}, {lane: ceiling}, at=1, keep_s=60, now_bucket=0)


# Numbers


async def test_issue_takes_consecutive_blocks(store: GateStore) -> None:
    assert await store.issue(G, P, 1, False) == Issued(1, 1, False, 0)
    assert await store.issue(G, P, 3, False) == Issued(2, 4, False, 0)
    assert await store.issue(G, Lane.STAFF, 2, False) == Issued(1, 2, False, 0)
    assert await store.issue(OTHER, P, 1, False) == Issued(1, 1, False, 0)
    counters = await store.counters(G, 0)
    assert set(counters) == set(LANES)
    assert (counters[P].issued, counters[Lane.STAFF].issued, counters[Lane.GUESTS].issued) == (
        4,
        2,
        0,
    )


async def test_concurrent_issues_never_share_a_number(store: GateStore) -> None:
    counts = [1 + i % 3 for i in range(60)]
    results = await asyncio.gather(*(store.issue(G, P, c, False) for c in counts))
    for count, issued in zip(counts, results, strict=True):
        assert issued.last - issued.first + 1 == count
    numbers = sorted(n for r in results for n in range(r.first, r.last + 1))
    assert numbers == list(range(1, sum(counts) + 1))
    assert (await store.counters(G, 0))[P].issued == sum(counts)


async def test_two_processes_racing_share_numbers_and_redemptions(backend: Backend) -> None:
    one, two = backend.store, backend.peer()
    issued = await asyncio.gather(*((one, two)[i % 2].issue(G, P, 1, False) for i in range(80)))
    assert sorted(r.first for r in issued) == list(range(1, 81))
    await one.advance(G, {P: 80}, {}, at=1, keep_s=60, now_bucket=0)
    attempts = [(n, i) for n in range(1, 81) for i in range(3)]
    outcomes = await asyncio.gather(
        *((one, two)[i % 2].redeem(G, P, n, expiry_bucket=10) for n, i in attempts)
    )
    ok = Counter(n for (n, _), outcome in zip(attempts, outcomes, strict=True) if outcome == OK)
    assert ok == Counter(range(1, 81))  # every number exactly once
    assert Counter(outcomes) == {OK: 80, DUPLICATE: 160}
    for view in (one, two):
        lane = (await view.counters(G, 0))[P]
        assert (lane.issued, lane.redeemed, lane.active) == (80, 80, 80)
    assert await two.redeemed_between(G, P, 0, 80) == 80


# Instant admission


async def test_arrivals_are_admitted_at_once_up_to_the_ceiling(store: GateStore) -> None:
    await store.advance(G, {}, {P: 5}, at=1, keep_s=60, now_bucket=0)
    assert (await store.counters(G, 0))[P].ceiling == 5
    assert await store.issue(G, P, 3, False) == Issued(1, 3, False, 3)
    assert await store.issue(G, P, 3, False) == Issued(4, 6, False, 5)  # capped by the ceiling
    # Number 6 waits, so 7 is not admitted even once the ceiling is raised.
    assert await store.issue(G, P, 1, False) == Issued(7, 7, False, 5)
    await store.advance(G, {}, {P: 20}, at=2, keep_s=60, now_bucket=0)
    assert await store.issue(G, P, 1, False) == Issued(8, 8, False, 5)
    assert (await store.counters(G, 0))[Lane.STAFF].horizon == 0


async def test_no_instant_admission_without_a_ceiling(store: GateStore) -> None:
    assert await store.issue(G, P, 2, False) == Issued(1, 2, False, 0)
    await store.advance(G, {P: 2}, {P: 4}, at=1, keep_s=60, now_bucket=0)
    assert await store.issue(G, P, 3, False) == Issued(3, 5, False, 4)
    lane = (await store.counters(G, 0))[P]
    assert (lane.issued, lane.horizon, lane.ceiling) == (5, 4, 4)


async def test_a_lane_left_out_of_advance_gets_its_horizon_as_ceiling(store: GateStore) -> None:
    await store.advance(G, {P: 3}, {P: 9}, at=1, keep_s=60, now_bucket=0)
    await store.advance(G, {}, {}, at=2, keep_s=60, now_bucket=0)
    lane = (await store.counters(G, 0))[P]
    assert (lane.horizon, lane.ceiling) == (3, 3)


# Pre-queue


async def test_prequeue_numbers_freeze_and_reset(store: GateStore) -> None:
    await store.advance(G, {}, {P: 100}, at=1, keep_s=60, now_bucket=0)
    assert await store.issue(G, P, 1, True) == Issued(1, 1, True, 0)  # never admitted at once
    assert await store.issue(G, P, 2, True) == Issued(2, 3, True, 0)
    assert await store.issue(G, P, 2, False) == Issued(1, 2, False, 2)
    assert await store.issue(G, Lane.STAFF, 1, True) == Issued(1, 1, True, 0)

    assert await store.freeze_prequeue(G, P) == PrequeueFreeze(base=2, count=3)
    assert await store.freeze_prequeue(G, P) == PrequeueFreeze(base=2, count=3)  # idempotent
    lane = (await store.counters(G, 0))[P]
    assert (lane.issued, lane.prequeue, lane.frozen) == (5, 3, PrequeueFreeze(2, 3))
    assert (await store.counters(G, 0))[Lane.STAFF].frozen is None
    # After the freeze, pre-queue arrivals take main numbers (and wait behind the ranks).
    assert await store.issue(G, P, 1, True) == Issued(6, 6, False, 2)
    assert await store.issue(G, Lane.STAFF, 1, True) == Issued(2, 2, True, 0)

    await store.reset_prequeue(G)
    for lane in (await store.counters(G, 0)).values():
        assert (lane.prequeue, lane.frozen) == (0, None)
    assert await store.issue(G, P, 1, True) == Issued(1, 1, True, 2)
    assert await store.freeze_prequeue(G, P) == PrequeueFreeze(base=6, count=1)
    assert (await store.counters(G, 0))[P].issued == 7


async def test_freezing_an_empty_prequeue(store: GateStore) -> None:
    await store.issue(G, P, 4, False)
    assert await store.freeze_prequeue(G, P) == PrequeueFreeze(base=4, count=0)
    assert await store.issue(G, P, 1, True) == Issued(5, 5, False, 0)


# Redemption and active passes


async def test_redeem_outcomes(store: GateStore) -> None:
    assert await store.redeem(G, P, 1, 10) == NOT_YET
    await set_horizon(store, P, 3)
    assert await store.redeem(G, P, 0, 10) == NOT_YET
    assert await store.redeem(G, P, -1, 10) == NOT_YET
    assert await store.redeem(G, P, 4, 10) == NOT_YET
    assert await store.redeem(G, P, 1, 10) == OK
    assert await store.redeem(G, P, 1, 10) == DUPLICATE
    assert await store.redeem(G, P, 3, 11) == OK
    assert await store.redeem(G, Lane.STAFF, 1, 10) == NOT_YET  # lanes are separate
    lane = (await store.counters(G, 9))[P]
    assert (lane.redeemed, lane.active) == (2, 2)


async def test_numbers_at_or_below_the_released_horizon_have_lapsed(store: GateStore) -> None:
    await set_horizon(store, P, 10)
    await store.advance(G, {P: 10}, {}, 1000, 3600, 0, released={P: 4})
    assert await store.redeem(G, P, 4, 10) == RedeemOutcome.LAPSED
    assert await store.redeem(G, P, 1, 10) == RedeemOutcome.LAPSED
    assert await store.redeem(G, P, 5, 10) == OK
    await store.advance(G, {P: 10}, {}, 1001, 3600, 0, released={P: 2})  # never lowered
    assert await store.redeem(G, P, 3, 10) == RedeemOutcome.LAPSED
    assert await store.redeem(G, Lane.STAFF, 1, 10) == NOT_YET  # lanes are separate
    lane = (await store.counters(G, 0))[P]
    assert (lane.redeemed, lane.active) == (1, 1)


async def test_concurrent_redeems_of_one_number_give_one_ok(store: GateStore) -> None:
    await set_horizon(store, P, 5)
    outcomes = await asyncio.gather(*(store.redeem(G, P, 2, 10) for _ in range(50)))
    assert Counter(outcomes) == {OK: 1, DUPLICATE: 49}
    lane = (await store.counters(G, 0))[P]
    assert (lane.redeemed, lane.active) == (1, 1)


async def test_active_passes_are_counted_by_expiry_bucket(store: GateStore) -> None:
    await set_horizon(store, P, 10)
    assert await store.redeem(G, P, 1, 100) == OK
    assert await store.redeem(G, P, 2, 101) == OK

    async def active(now_bucket: int) -> int:
        return (await store.counters(G, now_bucket))[P].active

    assert [await active(m) for m in (98, 99, 100, 101)] == [2, 2, 1, 0]
    assert await store.renew(G, P, 1, 100, 102)
    assert [await active(m) for m in (99, 100, 101, 102)] == [2, 2, 1, 0]
    assert await store.leave(G, P, 2, 101)
    assert not await store.leave(G, P, 2, 101)  # uncounted once only
    assert not await store.renew(G, P, 2, 101, 103)
    assert [await active(m) for m in (99, 101, 102)] == [1, 1, 0]
    assert await store.renew(G, P, 1, 102, 102)  # same bucket: no change
    assert await active(101) == 1
    assert (await store.counters(G, 0))[P].redeemed == 2  # leaving does not un-redeem


async def test_advance_drops_expired_buckets(store: GateStore) -> None:
    await set_horizon(store, P, 10)
    for number, minute in ((1, 100), (2, 101), (3, 102)):
        assert await store.redeem(G, P, number, minute) == OK
    await store.advance(G, {}, {}, at=2, keep_s=60, now_bucket=101)
    # Buckets 100 and 101 are gone: counting from before them shows only bucket 102.
    assert (await store.counters(G, 0))[P].active == 1
    # A renewal from a dropped bucket must not make the count go negative.
    assert await store.renew(G, P, 1, 100, 105)
    assert (await store.counters(G, 101))[P].active == 2


async def test_redeemed_between_crosses_bitmap_chunks(store: GateStore) -> None:
    await set_horizon(store, P, B + 10)
    redeemed = [1, 2, B - 1, B, B + 1, B + 5]
    for number in redeemed:
        assert await store.redeem(G, P, number, 10) == OK
    cases = {
        (0, 2): 2,
        (1, 2): 1,
        (2, 2): 0,
        (5, 2): 0,
        (-5, 1): 1,
        (0, B - 1): 3,
        (B - 2, B): 2,
        (B - 1, B): 1,
        (B - 1, B + 1): 2,
        (B - 2, B - 1): 1,
        (B, B + 10): 2,
        (B + 5, B + 100): 0,
        (0, B + 10): 6,
        (2, 2 * B + 3): 4,
    }
    got = {r: await store.redeemed_between(G, P, *r) for r in cases}
    assert got == cases
    assert await store.redeemed_between(G, Lane.STAFF, 0, B + 10) == 0


# Horizons and history


async def test_advance_never_lowers_a_horizon_and_records_history(store: GateStore) -> None:
    keep = 10
    await store.advance(G, {P: 5}, {P: 7}, at=100, keep_s=keep, now_bucket=0)
    await store.advance(G, {P: 3}, {P: 1}, at=101, keep_s=keep, now_bucket=0)
    lanes = await store.counters(G, 0)
    assert (lanes[P].horizon, lanes[P].ceiling) == (5, 5)
    assert lanes[P].history == History((Step(100, 5),))
    assert lanes[Lane.STAFF].history == History((Step(100, 0),))  # first record, as History

    await store.advance(G, {P: 8}, {P: 8}, at=105, keep_s=keep, now_bucket=0)
    await store.advance(G, {P: 9}, {P: 9}, at=112, keep_s=keep, now_bucket=0)
    steps = (await store.counters(G, 0))[P].history.steps
    assert steps == (Step(100, 5), Step(105, 8), Step(112, 9))
    await store.advance(G, {P: 9}, {P: 9}, at=114, keep_s=keep, now_bucket=0)
    assert len((await store.counters(G, 0))[P].history.steps) == 3  # 105 is inside the window
    await store.advance(G, {P: 9}, {P: 9}, at=115, keep_s=keep, now_bucket=0)
    steps = (await store.counters(G, 0))[P].history.steps
    assert steps == (Step(105, 8), Step(112, 9))  # one step at or before the window is kept
    await store.advance(G, {P: 9}, {P: 9}, at=200, keep_s=keep, now_bucket=0)
    assert (await store.counters(G, 0))[P].history.steps == (Step(112, 9),)


async def test_history_matches_history_record(store: GateStore) -> None:
    reference = History()
    horizon = 0
    for at, proposed in [(1, 0), (2, 4), (3, 4), (5, 2), (9, 11), (20, 12), (21, 30), (40, 30)]:
        horizon = max(horizon, proposed)
        reference = reference.record(at, horizon, keep_s=8)
        await store.advance(G, {P: proposed}, {P: proposed}, at=at, keep_s=8, now_bucket=0)
        assert (await store.counters(G, 0))[P].history == reference


async def test_an_instant_admission_shows_in_the_next_history_step(store: GateStore) -> None:
    await store.advance(G, {}, {P: 10}, at=1, keep_s=60, now_bucket=0)
    await store.issue(G, P, 4, False)
    await store.advance(G, {}, {P: 10}, at=2, keep_s=60, now_bucket=0)
    assert (await store.counters(G, 0))[P].history.steps == (Step(1, 0), Step(2, 4))


# Policy, lease, health


async def test_policy_round_trip(store: GateStore) -> None:
    assert await store.get_policy(G) is None
    policy = GatePolicy(
        mode=Mode.QUEUE,
        capacity=1234,
        rate_per_min=600,
        shares={Lane.STAFF: 0.5, Lane.PRIORITY: 0.125, Lane.PUPILS: 0.3, Lane.GUESTS: 0.075},
        safety_threshold=0.75,
        opening_at=1_700_000_000,
        adaptive=True,
        target_error_rate=0.005,
    )
    await store.set_policy(G, policy)
    assert await store.get_policy(G) == policy
    await store.set_policy(G, GatePolicy(mode=Mode.PAUSED))
    assert await store.get_policy(G) == GatePolicy(mode=Mode.PAUSED)
    assert await store.get_policy(OTHER) is None


async def test_lease_has_one_holder_at_a_time(backend: Backend) -> None:
    store = backend.store
    assert await store.acquire_lease(G, "a", 0.2)
    assert await store.acquire_lease(G, "a", 0.2)  # the holder extends
    assert not await store.acquire_lease(G, "b", 0.2)
    assert await store.acquire_lease(OTHER, "b", 0.2)  # another gate, another lease
    await backend.eventually(lambda: store.acquire_lease(G, "b", 0.2), within_s=3)
    assert not await store.acquire_lease(G, "a", 0.2)


async def test_extending_the_lease_keeps_it(backend: Backend) -> None:
    store = backend.store
    assert await store.acquire_lease(G, "a", 0.2)
    assert await store.acquire_lease(G, "a", 30)
    await backend.elapse(0.4)
    assert not await store.acquire_lease(G, "b", 0.2)


async def test_health_reports_expire(backend: Backend) -> None:
    store = backend.store
    fast, slow = Health(120.0, 0.01, 50), Health(900.5, 0.2, 30)
    await store.report_health(G, "p1", Health(1.0, 0.0, 1), ttl_s=1)
    await store.report_health(G, "p1", fast, ttl_s=1)  # replaces p1's report
    await store.report_health(G, "p2", slow, ttl_s=60)
    assert sorted(await store.health(G), key=lambda h: h.p95_ms) == [fast, slow]
    assert await store.health(OTHER) == []

    async def one_left() -> bool:
        return len(await store.health(G)) == 1

    await backend.eventually(one_left, within_s=3)
    assert await store.health(G) == [slow]


async def test_ping(store: GateStore) -> None:
    assert await store.ping() is None


# Redis specifics


def test_each_lane_and_each_gate_is_one_cluster_slot() -> None:
    keys = RedisKeys("hr")
    for lane in LANES:
        names = [
            keys.counters(G, lane),
            keys.redeemed(G, lane, 0),
            keys.redeemed(G, lane, 7),
            keys.left(G, lane, 3),
            keys.active(G, lane),
            keys.history(G, lane),
        ]
        assert len({key_slot(n.encode()) for n in names}) == 1, names
    assert keys.counters(G, P) == "hr:{national:pupils}:n"
    gate = [keys.gate(G, what) for what in ("policy", "lease", "health")]
    assert len({key_slot(n.encode()) for n in gate}) == 1


async def test_scripts_are_loaded_again_after_a_script_flush(redis_backend: Backend) -> None:
    store = redis_backend.store
    await set_horizon(store, P, 3)
    admin = await redis_backend.admin()
    try:
        await admin.script_flush()
    finally:
        await admin.aclose()
    assert await store.issue(G, P, 1, False) == Issued(1, 1, False, 3)
    assert await store.redeem(G, P, 1, 10) == OK
    await store.advance(G, {P: 4}, {}, at=2, keep_s=60, now_bucket=0)
    assert (await store.counters(G, 0))[P].horizon == 4


def test_factory_chooses_the_backend_from_the_url() -> None:
    assert isinstance(open_gate_store("memory://"), MemoryGateStore)
    assert isinstance(open_gate_store("redis://127.0.0.1:6379/0"), RedisGateStore)
    assert isinstance(open_gate_store("redis+cluster://127.0.0.1:7000,h:7001"), RedisGateStore)
    with pytest.raises(ValueError, match="scheme 'postgresql'") as refused:
        open_gate_store("postgresql://user:s3cret@db/homeroom")
    assert "s3cret" not in str(refused.value)
    with pytest.raises(ValueError, match="HOST:PORT"):
        open_gate_store("redis+cluster://127.0.0.1")


def _calls(store: GateStore) -> dict[str, Callable[[], Awaitable[object]]]:
    return {
        "get_policy": lambda: store.get_policy(G),
        "set_policy": lambda: store.set_policy(G, GatePolicy()),
        "issue": lambda: store.issue(G, P, 1, False),
        "redeem": lambda: store.redeem(G, P, 1, 10),
        "renew": lambda: store.renew(G, P, 1, 10, 11),
        "leave": lambda: store.leave(G, P, 1, 11),
        "counters": lambda: store.counters(G, 0),
        "redeemed_between": lambda: store.redeemed_between(G, P, 0, 10),
        "advance": lambda: store.advance(G, {P: 1}, {}, at=1, keep_s=60, now_bucket=0),
        "freeze_prequeue": lambda: store.freeze_prequeue(G, P),
        "reset_prequeue": lambda: store.reset_prequeue(G),
        "acquire_lease": lambda: store.acquire_lease(G, "a", 1),
        "report_health": lambda: store.report_health(G, "a", Health(1.0, 0.0, 1), 5),
        "health": lambda: store.health(G),
        "ping": store.ping,
    }


@pytest.mark.slow
async def test_outage_fails_fast_and_the_store_recovers(tmp_path: Path) -> None:
    server = RedisServer(tmp_path).start()
    store = RedisGateStore.from_url(server.url, prefix="hr-outage")
    try:
        assert await store.issue(G, P, 1, False) == Issued(1, 1, False, 0)
        server.stop()
        for name, call in _calls(store).items():
            started = time.monotonic()
            with pytest.raises(BackendUnavailable, match="unavailable"):
                await call()
            assert time.monotonic() - started < 1.0, name
        server.start()  # same port, empty: no persistence
        for call in _calls(store).values():
            await call()  # raises if the client did not reconnect
        assert (await store.counters(G, 0))[P].horizon == 1
        assert await store.issue(G, P, 1, False) == Issued(2, 2, False, 1)
    finally:
        await store.aclose()
        server.stop()


@pytest.mark.slow
async def test_a_stuck_server_fails_within_the_socket_timeout() -> None:
    # A listening socket that never answers: connections open, replies never come.
    with socket.create_server(("127.0.0.1", 0), backlog=16) as silent:
        port = silent.getsockname()[1]
        store = RedisGateStore.from_url(f"redis://127.0.0.1:{port}/0", socket_timeout=0.2)
        try:
            started = time.monotonic()
            with pytest.raises(BackendUnavailable, match="TimeoutError"):
                await store.counters(G, 0)
            assert time.monotonic() - started < 0.6
        finally:
            await store.aclose()


@pytest.mark.slow
async def test_cluster_outage_fails_fast_and_the_store_recovers(tmp_path: Path) -> None:
    cluster = RedisClusterProcesses(tmp_path).start()
    store = RedisGateStore.from_url(cluster.url, prefix="hr-outage")
    try:
        await set_horizon(store, P, 1)
        assert await store.redeem(G, P, 1, 10) == OK
        cluster.stop()
        for name, call in _calls(store).items():
            started = time.monotonic()
            with pytest.raises(BackendUnavailable, match="unavailable"):
                await call()
            assert time.monotonic() - started < 1.0, name
        cluster.start_again()  # same ports and node identities, no data
        for call in _calls(store).values():
            await call()
        assert (await store.counters(G, 0))[P].horizon == 1
    finally:
        await store.aclose()
        cluster.stop()


async def test_claim_window_reads_horizon_active_and_redeemed_together(store: GateStore) -> None:
    base = BITMAP_CHUNK_BITS - 3  # the window crosses a bitmap chunk
    await set_horizon(store, P, base + 6)
    for n in (base - 1, base + 1, base + 3, base + 5):
        assert await store.redeem(G, P, n, 20) == OK
    seen = await store.window(G, P, base, base + 100, now_bucket=10)
    assert (seen.horizon, seen.active, seen.redeemed) == (base + 6, 4, 3)
    assert (
        await store.window(G, P, base, base + 2, now_bucket=10)
    ).redeemed == 1  # bounded by high
    assert (await store.window(G, P, base, base + 100, now_bucket=20)).active == 0  # expired bucket
    assert (await store.window(G, P, base + 6, base + 100, now_bucket=0)).redeemed == 0
    empty = await store.window(G, Lane.GUESTS, 0, 0, now_bucket=0)
    assert (empty.horizon, empty.active, empty.redeemed) == (0, 0, 0)


async def test_redeeming_again_after_leaving_says_left(store: GateStore) -> None:
    await set_horizon(store, P, 3)
    assert await store.redeem(G, P, 2, 10) == OK
    assert await store.redeem(G, P, 2, 10) == DUPLICATE
    assert await store.leave(G, P, 2, 10) is True
    assert await store.redeem(G, P, 2, 10) == RedeemOutcome.LEFT
    assert await store.redeem(G, P, 3, 10) == OK  # its neighbour in the same chunk is unaffected
    lane = (await store.counters(G, 0))[P]
    assert (lane.redeemed, lane.active) == (2, 1)


# -- when a lane's state began (a store that loses it is found out by it) ------------------------


async def test_the_first_write_with_a_time_stamps_when_a_lane_began(backend: Backend) -> None:
    store = backend.store
    assert (await store.counters(G, 0))[P].born == 0  # no state yet
    await store.issue(G, P, 2, False, at=1_000)
    await store.advance(G, {P: 2}, {P: 2}, 2_000, 60, 0)
    await store.issue(G, P, 1, False, at=3_000)
    counters = await store.counters(G, 0)
    assert counters[P].born == 1_000  # later writes keep it
    assert counters[Lane.STAFF].born == 2_000  # its first write was the advance
    await store.freeze_prequeue(OTHER, P, at=4_000)
    assert (await store.counters(OTHER, 0))[P].born == 4_000


async def test_a_lane_first_written_without_a_time_stays_of_unknown_birth(backend: Backend) -> None:
    await backend.store.issue(G, P, 1, False)  # a state from before the stamp existed
    await backend.store.advance(G, {}, {}, 5_000, 60, 0)
    assert (await backend.store.counters(G, 0))[P].born == 0


async def test_a_lane_whose_keys_are_lost_is_born_again(redis_backend: Backend) -> None:
    store = redis_backend.store
    await store.issue(G, P, 5, False, at=1_000)
    admin = await redis_backend.admin()
    try:  # what a Redis restarted without persistence holds: nothing
        keys = [k async for k in admin.scan_iter(match=f"{redis_backend.prefix}:*", count=1000)]
        for key in keys:
            await admin.unlink(key)
    finally:
        await admin.aclose()
    issued = await store.issue(G, P, 1, False, at=9_000)
    assert issued.first == 1  # the count began again, which is what `born` tells the gate
    assert (await store.counters(G, 0))[P].born == 9_000
