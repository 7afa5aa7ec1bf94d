"""The room log across a Redis Cluster failover: subscriptions follow the promoted primary, and a
log that lost its last entries while keeping its epoch starts a new one (docs/live.md).

Each test starts its own cluster of 3 primaries and 3 replicas (tests/redis_servers.py), kills
or demotes the primary of the room's slot, and waits for the promotion by asking the cluster.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from homeroom.backends.live import Entry
from homeroom.backends.live_redis import RedisLog
from tests.redis_servers import RedisClusterProcesses, command, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
DEADLINE_S = 20.0
ROOM = "failover"
CHANNEL = f"hr:{{lr:{ROOM}}}:ch"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[RedisClusterProcesses]:
    with RedisClusterProcesses(tmp_path, replicas=1, node_timeout_ms=1000) as started:
        yield started


class Replica:
    """One gateway process's log, and what it delivered."""

    def __init__(self, url: str, **options: object) -> None:
        self.log = RedisLog.from_url(url, **options)  # type: ignore[arg-type]
        self.got: list[Entry] = []

    def deliver(self, room: str, entry: Entry) -> None:
        self.got.append(entry)

    async def open(self) -> tuple[str, list[Entry]]:
        self.got = []
        return await self.log.open(ROOM, self.deliver)

    def numbers(self) -> list[int]:
        return [e["n"] for e in self.got if e.get("op") == "msg"]


async def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE_S} s: {what}")
        await asyncio.sleep(0.01)


def msg(origin: str, n: int) -> Entry:
    return {"op": "msg", "o": origin, "n": n}


async def _append(replicas: list[Replica], writer: Replica, n: int) -> None:
    writer.log.append(ROOM, msg("a", n))
    for r in replicas:
        await eventually(lambda r=r: n in r.numbers(), f"entry {n} delivered everywhere")


async def test_subscriptions_follow_a_killed_primary(cluster: RedisClusterProcesses) -> None:
    a, b = Replica(cluster.url), Replica(cluster.url)
    try:
        await a.open()
        await b.open()
        await _append([a, b], a, 1)
        old = cluster.primary_for(CHANNEL)
        cluster.kill(old)
        new = await asyncio.to_thread(cluster.wait_promoted, CHANNEL, old)
        assert new != old
        # Published on the promoted primary: only a subscription that moved there gets them,
        # the second one with nothing left to catch up from the stream.
        await _append([a, b], a, 2)
        await _append([a, b], b, 3)
        assert a.numbers() == b.numbers() == [1, 2, 3]
        assert a.got == b.got
    finally:
        await a.log.aclose()
        await b.log.aclose()


async def test_subscriptions_leave_a_demoted_primary(cluster: RedisClusterProcesses) -> None:
    """CLUSTER FAILOVER on the replica: the old primary stays up as a replica, and may not tell
    its subscribers (redis#12558): the periodic look at the slot map moves them."""
    a = Replica(cluster.url, slot_refresh_s=0.2)
    b = Replica(cluster.url, slot_refresh_s=0.2)
    try:
        await a.open()
        await b.open()
        await _append([a, b], a, 1)
        old = cluster.primary_for(CHANNEL)
        replica = cluster.replica_of(old)
        assert command(replica, "CLUSTER", "FAILOVER") == "+OK\r\n"
        assert await asyncio.to_thread(cluster.wait_promoted, CHANNEL, old) == replica
        await _append([a, b], a, 2)
        await _append([a, b], b, 3)
        assert a.numbers() == b.numbers() == [1, 2, 3]
    finally:
        await a.log.aclose()
        await b.log.aclose()


async def test_a_lost_tail_starts_a_new_epoch(cluster: RedisClusterProcesses) -> None:
    """Entries delivered (acknowledged) on the primary, missing on its replica, then the
    primary killed: the replica is promoted with the epoch and without those entries."""
    a, b = Replica(cluster.url), Replica(cluster.url)
    try:
        epoch, _ = await a.open()
        assert (await b.open())[0] == epoch
        for n in (1, 2, 3):
            await _append([a, b], a, n)
        old = cluster.primary_for(CHANNEL)
        replica = cluster.replica_of(old)
        assert command(old, "WAIT", "1", "5000") == ":1\r\n"  # 1..3 are on the replica
        cluster.detach(replica)
        for n in (4, 5):
            await _append([a, b], b, n)  # delivered by both, never on the replica
        cluster.kill(old)
        assert await asyncio.to_thread(cluster.wait_promoted, CHANNEL, old) == replica
        wait_until(lambda: command(replica, "EXISTS", f"hr:{{lr:{ROOM}}}:epoch") == ":1\r\n", 5, "")
        # Both followed the old epoch past what Redis has: both lose it, once.
        for r in (a, b):
            await eventually(lambda r=r: {"op": "lost"} in r.got, "the room lost")
            assert r.got.count({"op": "lost"}) == 1
            assert r.numbers() == [1, 2, 3, 4, 5]
        new_epoch, history = await a.open()
        assert new_epoch != epoch
        assert (await b.open())[0] == new_epoch
        # What survived is carried into the new epoch, and everyone who appended is gone
        # (they come back by joining again).
        assert [e["n"] for e in history if e["op"] == "msg"] == [1, 2, 3]
        assert [e["g"] for e in history if e["op"] == "gone"] == ["a"]
        await _append([a, b], a, 6)
        assert a.numbers() == b.numbers() == [6]
    finally:
        await a.log.aclose()
        await b.log.aclose()


async def test_a_complete_log_keeps_its_epoch_across_a_failover(
    cluster: RedisClusterProcesses,
) -> None:
    """Nothing lost: the promoted replica has every entry, and the epoch stays."""
    a = Replica(cluster.url)
    try:
        epoch, _ = await a.open()
        for n in (1, 2):
            await _append([a], a, n)
        old = cluster.primary_for(CHANNEL)
        assert command(old, "WAIT", "1", "5000") == ":1\r\n"
        cluster.kill(old)
        await asyncio.to_thread(cluster.wait_promoted, CHANNEL, old)
        await _append([a], a, 3)
        assert {"op": "lost"} not in a.got and a.numbers() == [1, 2, 3]
        other = Replica(cluster.url)
        try:
            seen, history = await other.open()
            assert seen == epoch and [e["n"] for e in history] == [1, 2, 3]
        finally:
            await other.log.aclose()
    finally:
        await a.log.aclose()
