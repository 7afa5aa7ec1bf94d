"""The room-log contract (backends/live.py): one order, history then the rest, epochs, bounds.

Every test runs on MemoryLog where it applies (one process: the only replica) and on RedisLog
over the real Redis and the real Redis Cluster (slow). Two RedisLog instances are two gateway
processes; each test has its own key prefix, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from homeroom.backends.live import Entry, MemoryLog, RoomLog
from homeroom.backends.live_redis import RedisLog
from tests.contract.conftest import ALL, REDIS_ONLY
from tests.redis_servers import command

DEADLINE_S = 10.0


@dataclass
class Replica:
    """One process's view of the log, and what it was given."""

    log: RoomLog
    got: dict[str, list[Entry]] = field(default_factory=dict)

    def deliver(self, room: str, entry: Entry) -> None:
        self.got.setdefault(room, []).append(entry)

    async def open(self, room: str) -> tuple[str, list[Entry]]:
        return await self.log.open(room, self.deliver)

    def entries(self, room: str) -> list[Entry]:
        return self.got.get(room, [])


@dataclass
class Logs:
    kind: str
    url: str = ""
    prefix: str = ""
    opened: list[RoomLog] = field(default_factory=list)

    def replica(self, **options: Any) -> Replica:
        log: RoomLog
        if self.kind == "memory":
            log = MemoryLog()
        else:
            log = RedisLog.from_url(self.url, prefix=self.prefix, **options)
        self.opened.append(log)
        return Replica(log)

    def ports(self) -> list[int]:
        hosts = self.url.split("://", 1)[1].split("/")[0].split(",")
        return [int(host.rpartition(":")[2]) for host in hosts]

    def subscriptions(self, log: RedisLog) -> int:
        """The subscription connections of one replica, on every node."""
        count = 0
        for port in self.ports():
            listing = command(port, "CLIENT", "LIST", "TYPE", "pubsub") or ""
            count += listing.count(f" name=hr-live-{log.writer} ")
        return count

    def kill_subscriptions(self, log: RedisLog) -> int:
        """CLIENT KILL the subscription connections of one replica, on every node."""
        killed = 0
        for port in self.ports():
            listing = command(port, "CLIENT", "LIST", "TYPE", "pubsub") or ""
            for line in listing.splitlines():
                fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
                if fields.get("name") == f"hr-live-{log.writer}":
                    command(port, "CLIENT", "KILL", "ID", fields["id"])
                    killed += 1
        return killed

    def call(self, *args: str) -> str | None:
        """One command, on the node that holds its key (the others answer MOVED)."""
        for port in self.ports():
            reply = command(port, *args)
            if reply is not None and not reply.startswith("-MOVED"):
                return reply
        return None


async def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE_S} s: {what}")
        await asyncio.sleep(0.01)


async def _logs(request: pytest.FixtureRequest, kind: str) -> AsyncIterator[Logs]:
    if kind == "memory":
        logs = Logs(kind)
    else:
        url = request.getfixturevalue("redis_url" if kind == "redis" else "cluster_url")
        logs = Logs(kind, url, f"hr-test-{uuid.uuid4().hex[:12]}")
    try:
        yield logs
    finally:
        for log in logs.opened:
            await log.aclose()
        if kind != "memory":
            for port in logs.ports():
                keys = (command(port, "KEYS", f"{logs.prefix}:*") or "").splitlines()
                for key in keys:
                    if key and not key.startswith(("*", "$")):
                        command(port, "UNLINK", key)


@pytest.fixture(params=ALL)
async def logs(request: pytest.FixtureRequest) -> AsyncIterator[Logs]:
    async for opened in _logs(request, request.param):
        yield opened


@pytest.fixture(params=REDIS_ONLY)
async def redis_logs(request: pytest.FixtureRequest) -> AsyncIterator[Logs]:
    async for opened in _logs(request, request.param):
        yield opened


def numbered(origin: str, n: int) -> Entry:
    return {"op": "msg", "o": origin, "n": n}


# -- every implementation ---------------------------------------------------------------------


async def test_an_entry_reaches_its_appender_once_and_in_order(logs: Logs) -> None:
    one = logs.replica()
    await one.open("r1")
    for n in range(50):
        one.log.append("r1", numbered("a", n))
    await eventually(lambda: len(one.entries("r1")) >= 50, "50 entries delivered")
    await asyncio.sleep(0)  # give a repeat the chance to show
    assert one.entries("r1") == [numbered("a", n) for n in range(50)]


async def test_rooms_are_apart_and_nothing_comes_after_close(logs: Logs) -> None:
    one = logs.replica()
    await one.open("r1")
    await one.open("r2")
    one.log.append("r1", numbered("a", 1))
    one.log.append("r2", numbered("a", 2))
    await eventually(lambda: len(one.entries("r2")) == 1, "r2's entry")
    await eventually(lambda: len(one.entries("r1")) == 1, "r1's entry")
    assert one.entries("r1") == [numbered("a", 1)] and one.entries("r2") == [numbered("a", 2)]
    await one.log.close("r1")
    one.log.append("r1", numbered("a", 3))  # not followed here any more
    one.log.append("r2", numbered("a", 4))
    await eventually(lambda: len(one.entries("r2")) == 2, "r2's second entry")
    assert one.entries("r1") == [numbered("a", 1)]


async def test_the_epoch_is_the_same_for_every_replica_and_while_followed(logs: Logs) -> None:
    one = logs.replica()
    epoch, history = await one.open("r1")
    assert epoch and history == []
    if logs.kind == "memory":
        again, _ = await one.open("r1")
        assert again == epoch
        return
    one.log.append("r1", numbered("a", 1))
    await eventually(lambda: len(one.entries("r1")) == 1, "the entry")
    other = logs.replica()
    seen, history = await other.open("r1")
    assert seen == epoch and history == [numbered("a", 1)]
    await one.log.close("r1")
    again, history = await one.open("r1")
    assert again == epoch and history == [numbered("a", 1)]


# -- many processes: Redis and the Cluster ------------------------------------------------------


async def test_two_replicas_appending_at_once_see_one_order(redis_logs: Logs) -> None:
    a, b = redis_logs.replica(), redis_logs.replica()
    assert (await a.open("r1"))[0] == (await b.open("r1"))[0]
    for n in range(100):
        a.log.append("r1", numbered("a", n))
        b.log.append("r1", numbered("b", n))
        if n % 10 == 0:
            await asyncio.sleep(0)  # the two writers interleave
    await eventually(lambda: len(a.entries("r1")) >= 200, "a sees 200")
    await eventually(lambda: len(b.entries("r1")) >= 200, "b sees 200")
    assert a.entries("r1") == b.entries("r1")
    for origin in "ab":
        mine = [e["n"] for e in a.entries("r1") if e["o"] == origin]
        assert mine == list(range(100))  # each once, in the order it was appended
    origins = [e["o"] for e in a.entries("r1")]
    assert any(x != y for x, y in itertools.pairwise(origins))  # really interleaved


async def test_a_replica_opening_late_gets_the_history_then_the_rest(redis_logs: Logs) -> None:
    a, late = redis_logs.replica(), redis_logs.replica()
    await a.open("r1")
    for n in range(30):
        a.log.append("r1", numbered("a", n))
    await eventually(lambda: len(a.entries("r1")) >= 10, "some entries in")

    async def keep_appending() -> None:
        for n in range(30, 80):
            a.log.append("r1", numbered("a", n))
            await asyncio.sleep(0)

    appending = asyncio.create_task(keep_appending())
    _, history = await late.open("r1")
    await appending
    await eventually(lambda: len(a.entries("r1")) >= 80, "a sees 80")
    await eventually(lambda: len(history) + len(late.entries("r1")) >= 80, "late sees 80")
    assert history + late.entries("r1") == a.entries("r1") == [numbered("a", n) for n in range(80)]


async def test_hundreds_of_rooms_opened_at_once_all_open(redis_logs: Logs) -> None:
    """The receiving side of a drain or a storm: more opens at once than redis-py's pool has
    connections (100) wait their turn instead of failing with MaxConnectionsError."""
    a = redis_logs.replica()
    rooms = [f"burst-{n}" for n in range(400)]
    opened = await asyncio.gather(*(a.open(room) for room in rooms), return_exceptions=True)
    assert [o for o in opened if isinstance(o, BaseException)] == []
    # one subscription connection a node, not one a room that found none open yet (a restarted
    # gateway opening its rooms at once made hundreds, and Redis refused them in time)
    assert isinstance(a.log, RedisLog)
    assert redis_logs.subscriptions(a.log) <= len(redis_logs.ports())
    for room in rooms[:5]:
        a.log.append(room, numbered("a", 0))
    await eventually(lambda: all(a.entries(r) for r in rooms[:5]), "the rooms are live")


async def test_a_lost_subscription_is_made_again_and_caught_up(redis_logs: Logs) -> None:
    a, b = redis_logs.replica(), redis_logs.replica()
    await a.open("r1")
    await b.open("r1")
    assert isinstance(b.log, RedisLog)
    assert redis_logs.kill_subscriptions(b.log) == 1
    for n in range(40):  # while b has no subscription
        a.log.append("r1", numbered("a", n))
    await eventually(lambda: len(a.entries("r1")) == 40, "a sees 40")
    await eventually(lambda: len(b.entries("r1")) >= 40, "b catches up")
    b.log.append("r1", numbered("b", 0))  # and b is live again
    await eventually(lambda: len(a.entries("r1")) == 41, "a sees b's entry")
    await eventually(lambda: len(b.entries("r1")) >= 41, "b sees its entry")
    assert b.entries("r1") == a.entries("r1")


async def test_the_history_is_bounded_and_expires_when_idle(redis_logs: Logs) -> None:
    a = redis_logs.replica(max_entries=100, idle_ttl_s=600)
    await a.open("r1")
    for n in range(1000):
        a.log.append("r1", numbered("a", n))
    await eventually(lambda: len(a.entries("r1")) == 1000, "1000 delivered")
    key = f"{redis_logs.prefix}:{{lr:r1}}:log"
    length = redis_logs.call("XLEN", key) or ""
    assert 100 <= int(length.strip(":\r\n")) < 300  # MAXLEN ~: whole nodes are trimmed
    for suffix in ("log", "epoch", "w"):
        ttl = redis_logs.call("TTL", f"{redis_logs.prefix}:{{lr:r1}}:{suffix}") or ""
        assert 0 < int(ttl.strip(":\r\n")) <= 600


async def test_opening_a_trimmed_log_starts_a_new_epoch_and_the_old_one_is_lost(
    redis_logs: Logs,
) -> None:
    a = redis_logs.replica(max_entries=100)
    old, _ = await a.open("r1")
    for n in range(500):
        a.log.append("r1", numbered("a", n))
    await eventually(lambda: len(a.entries("r1")) == 500, "500 delivered")
    late = redis_logs.replica(max_entries=100)
    new, history = await late.open("r1")
    assert new != old and history == []  # never a room rebuilt from half its inputs
    await eventually(lambda: a.entries("r1")[-1:] == [{"op": "lost"}], "a lost the old epoch")
    late.log.append("r1", numbered("late", 0))
    await eventually(lambda: len(late.entries("r1")) == 1, "the new epoch goes on")
    again, history = await a.open("r1")
    assert again == new and history == [numbered("late", 0)]


async def test_an_append_to_a_log_redis_forgot_loses_the_room_here(redis_logs: Logs) -> None:
    a = redis_logs.replica()
    old, _ = await a.open("r1")
    redis_logs.call("DEL", f"{redis_logs.prefix}:{{lr:r1}}:epoch")  # as after a restart
    a.log.append("r1", numbered("a", 1))
    await eventually(lambda: a.entries("r1") == [{"op": "lost"}], "the room lost here")
    new, history = await a.open("r1")
    assert new != old and history == []


async def test_heartbeats_say_which_processes_are_alive(redis_logs: Logs) -> None:
    a = redis_logs.replica()
    assert isinstance(a.log, RedisLog)
    await a.log.beat("p-alive", 30)
    await a.log.beat("p-short", 0.05)
    short = a.log.heartbeat_key("p-short")
    await eventually(lambda: redis_logs.call("EXISTS", short) == ":0\r\n", "the short one lapses")
    assert await a.log.alive(["p-alive", "p-short", "p-never"]) == {"p-alive"}
