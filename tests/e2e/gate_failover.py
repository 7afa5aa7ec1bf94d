"""People queueing at two real `homeroom run` processes while the Redis primary of their lane dies.

A private Redis Cluster of 3 primaries and 3 replicas; people arrive, take a ticket, and poll
redeem until they hold a pass; the primary of the lane's slot is killed with SIGKILL (after its
replica was made to miss the last writes, when `lost_writes`). What comes out: how long after the
kill the gate admitted again, how many people it let in beyond its capacity, and how many numbers
were admitted twice. Used by tests/e2e/test_gate_failover.py and bench/failover_bench.py.
"""

from __future__ import annotations

import asyncio
import base64
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from tests.gate_process import GateProcess
from tests.redis_servers import RedisClusterProcesses, command

JSON = {"accept": "application/json"}
LANE_KEY = "hr:{national:pupils}:n"
POLL_S = 0.5


@dataclass
class Result:
    capacity: int
    kill_at: float = 0.0
    promoted_s: float = 0.0
    admitted: list[tuple[float, int]] = field(default_factory=list)  # when, number
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def gap_s(self) -> float:
        """From the kill to the first pass given after the promotion (the lane's node was dead
        until then: a pass arriving in between was decided before the kill, its answer on its
        way). Measured from when the test saw every node agree, so never less than the truth."""
        after = [t for t, _ in self.admitted if t > self.kill_at + self.promoted_s]
        return (min(after) - self.kill_at) if after else float("inf")

    @property
    def over_admitted(self) -> int:
        return max(0, len(self.admitted) - self.capacity)

    @property
    def doubled(self) -> int:
        """Numbers admitted for more than one person."""
        return sum(n - 1 for n in Counter(number for _, number in self.admitted).values() if n > 1)


def env(url: str, capacity: int, rate_per_min: int) -> dict[str, str]:
    keys = "1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return {
        "HOMEROOM_BACKEND_URL": url,
        "HOMEROOM_SECRET_KEYS": keys,
        "HOMEROOM_MODE": "queue",
        "HOMEROOM_TICK_S": "0.2",
        "HOMEROOM_CAPACITY": str(capacity),
        "HOMEROOM_RATE_PER_MIN": str(rate_per_min),
        "HOMEROOM_FAILOVER_PAUSE_S": "1",
        "HOMEROOM_TICKET_LIMIT": "100000000/minute",  # everyone comes from 127.0.0.1
        "HOMEROOM_POW_ABOVE": "100000000/minute",
    }


async def _person(base: str, result: Result, stop: asyncio.Event) -> None:
    await asyncio.sleep(random.uniform(0, 2))  # not all in one instant
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        number = 0
        while not stop.is_set():
            try:
                response = await client.post("/gate/national/ticket", headers=JSON)
            except httpx.HTTPError:
                response = None
            if response is not None:
                result.statuses[response.status_code] += 1
                if response.status_code in (200, 201):
                    number = int(response.json()["number"])
                    break
            await asyncio.sleep(POLL_S * random.uniform(0.5, 1.5))
        while not stop.is_set():
            try:
                response = await client.post("/gate/national/redeem", headers=JSON)
            except httpx.HTTPError:
                response = None
            if response is not None:
                result.statuses[response.status_code] += 1
                if response.status_code == 200:
                    result.admitted.append((time.monotonic(), number))
                    return
                if response.status_code in (409, 410):
                    return
            await asyncio.sleep(POLL_S * random.uniform(0.5, 1.5))


async def queue_through_a_kill(
    cluster: RedisClusterProcesses,
    gates: list[GateProcess],
    *,
    capacity: int = 300,
    people: int = 50,
    arrivals_per_s: float = 30.0,
    kill_after_admitted: int = 100,
    missed: int = 30,
    lost_writes: bool = True,
    deadline_s: float = 60.0,
) -> Result:
    """Run the queue: `people` at once, then a steady flow of arrivals, each admitted soon
    after taking a number while there is room (so numbers, horizon and redemptions all move
    in the last second before the kill). Kill the lane's primary once `kill_after_admitted`
    are in; when `lost_writes`, its replica stops following `missed` admissions before. Stop
    once capacity is reached and a few seconds more have shown nobody else gets in, or at
    `deadline_s`."""
    result = Result(capacity)
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    def arrive(i: int) -> None:
        tasks.append(asyncio.create_task(_person(gates[i % len(gates)].base, result, stop)))

    for i in range(people):
        arrive(i)
    start = time.monotonic()

    async def arrivals() -> None:
        i = people
        while not stop.is_set():
            await asyncio.sleep(1 / arrivals_per_s)
            arrive(i)
            i += 1

    more = asyncio.create_task(arrivals())
    try:
        while len(result.admitted) < kill_after_admitted - missed * lost_writes:
            await _tick(start, deadline_s, "admissions before the kill")
        old = cluster.primary_for(LANE_KEY)
        if lost_writes:
            assert command(old, "WAIT", "1", "5000") == ":1\r\n"
            cluster.detach(cluster.replica_of(old))
            while len(result.admitted) < kill_after_admitted:
                await _tick(start, deadline_s, "admissions the replica misses")
        result.kill_at = time.monotonic()
        cluster.kill(old)
        await asyncio.to_thread(cluster.wait_promoted, LANE_KEY, old)
        result.promoted_s = time.monotonic() - result.kill_at
        while len(result.admitted) < capacity:
            if time.monotonic() - start > deadline_s:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(3.0)  # several ticks more: nobody beyond capacity
    finally:
        stop.set()
        more.cancel()
        await asyncio.gather(more, *tasks, return_exceptions=True)
    return result


async def _tick(start: float, deadline_s: float, what: str) -> None:
    if time.monotonic() - start > deadline_s:
        raise TimeoutError(f"not within {deadline_s} s: {what}")
    await asyncio.sleep(0.02)
