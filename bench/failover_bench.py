"""A Redis primary dies: the gate's and a class's figures across a kill -9, one JSON object per line.

    python bench/failover_bench.py [step ...]   # gate, gate-lost, class, class-lost, both;
                                                # all when none named

Each step starts its own Redis Cluster of 3 primaries and 3 replicas (cluster-node-timeout
1000 ms, AOF everysec: tests/redis_servers.py), real `homeroom run` or `homeroom live` processes,
and kills the primary of the lane's or the room's slot with SIGKILL. `-lost` steps first make
that primary's replica miss the last writes (tests/redis_servers.py `detach`), the worst a
failover can do. Figures: `failover_gate_gap_s` (kill to the first pass given after it),
`failover_gate_over_admitted` and `failover_gate_doubled` (people let in beyond capacity, numbers
admitted twice), `failover_promoted_s` (kill to the promotion, as the cluster tells it),
`failover_class_gap_s` (the longest a client went without a room event across the kill), and
the class's missing, doubled and lost counts (goal 0). `both` kills one primary that holds a
gate lane's slot and a busy room's, with people queueing and a class chatting at once (issue 10
§3.2). Every process is stopped on any exit.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.steps import Steps, emit  # noqa: E402
from redis.crc import key_slot  # noqa: E402
from tests.e2e.chat_clients import ChatClient, Outcome, applied_once, settled  # noqa: E402
from tests.e2e.gate_failover import LANE_KEY, Result, env, queue_through_a_kill  # noqa: E402
from tests.e2e.test_live_failover import KEYS, LiveProcess, channel, people  # noqa: E402
from tests.gate_process import GateProcess  # noqa: E402
from tests.redis_servers import RedisClusterProcesses, command  # noqa: E402

CAPACITY = 500
steps = Steps()


def _cluster() -> RedisClusterProcesses:
    directory = Path(tempfile.mkdtemp(prefix="homeroom-failover-"))
    return RedisClusterProcesses(directory, replicas=1, node_timeout_ms=1000)


def _gate(lost_writes: bool) -> None:
    with _cluster() as cluster:
        settings = env(cluster.url, CAPACITY, rate_per_min=6000)
        gates = [GateProcess(settings), GateProcess(settings)]
        try:
            for gate in gates:
                gate.start()
            result = asyncio.run(
                queue_through_a_kill(
                    cluster,
                    gates,
                    capacity=CAPACITY,
                    people=100,
                    arrivals_per_s=50,
                    kill_after_admitted=200,
                    missed=50,
                    lost_writes=lost_writes,
                    deadline_s=90,
                )
            )
        finally:
            for gate in gates:
                gate.stop()
    _emit_gate(result, lost_writes)


def _emit_gate(result: Result, lost_writes: bool, **more: object) -> None:
    extra = {"lost_writes": lost_writes, "capacity": CAPACITY, "processes": 2, **more}
    emit("failover_gate_gap_s", result.gap_s, "s", **extra)
    emit("failover_promoted_s", result.promoted_s, "s", part="gate", **extra)
    emit("failover_gate_over_admitted", result.over_admitted, "people", **extra)
    emit("failover_gate_doubled", result.doubled, "numbers", **extra)
    emit("failover_gate_5xx", sum(n for s, n in result.statuses.items() if s >= 500), "answers",
         statuses={str(s): n for s, n in sorted(result.statuses.items())}, **extra)  # fmt: skip


@steps("gate")
def gate() -> None:
    _gate(lost_writes=False)


@steps("gate-lost")
def gate_lost() -> None:
    _gate(lost_writes=True)


async def _chat(cluster: RedisClusterProcesses, gateways: list[LiveProcess], lost: bool) -> None:
    import time

    clients = people(gateways, cluster, 20)
    talking = True

    async def talk(c: object) -> None:
        while talking:
            c.say()  # type: ignore[attr-defined]
            await asyncio.sleep(2.0)

    try:
        for c in clients:
            c.start()
        await settled(clients, 60)
        tasks = [asyncio.create_task(talk(c)) for c in clients]
        await asyncio.sleep(3)
        old = cluster.primary_for(channel(clients))
        if lost:
            assert command(old, "WAIT", "1", "5000") == ":1\r\n"
            cluster.detach(cluster.replica_of(old))
            await asyncio.sleep(1)
        kill_at = time.monotonic()
        cluster.kill(old)
        await asyncio.to_thread(cluster.wait_promoted, channel(clients), old)
        outcome = Outcome(clients, kill_at, time.monotonic() - kill_at)
        await asyncio.sleep(5)
        talking = False
        await asyncio.gather(*tasks)
        await settled(clients, 60)
    finally:
        talking = False
        for c in clients:
            await c.stop()
    _emit_class(clients, outcome, lost)


def _emit_class(clients: list[ChatClient], outcome: Outcome, lost: bool, **more: object) -> None:
    lost_n, doubled_n = applied_once(clients)
    extra = {"clients": len(clients), "gateways": 2, "lost_writes": lost, **more}
    emit("failover_class_gap_s", outcome.gap_s(), "s", **extra)
    emit("failover_promoted_s", outcome.promoted_s, "s", part="class", **extra)
    emit("failover_class_missing", outcome.missing(), "events", **extra)
    emit("failover_class_doubled", outcome.doubled(), "events", **extra)
    emit("failover_class_lost_messages", lost_n, "messages", **extra)
    emit("failover_class_doubled_messages", doubled_n, "messages", **extra)
    epochs = max(len(c.audit.epochs) for c in clients)
    emit("failover_class_epochs", epochs, "epochs", **extra)


def _class(lost: bool) -> None:
    with _cluster() as cluster:
        environment = {
            "HOMEROOM_BACKEND_URL": cluster.url,
            "HOMEROOM_SECRET_KEYS": KEYS,
            "HOMEROOM_LIVE_HEARTBEAT_S": "5",
            "HOMEROOM_LIVE_SLOT_REFRESH_S": "1",
        }
        gateways = [LiveProcess(environment), LiveProcess(environment)]
        try:
            for gateway in gateways:
                gateway.start()
            asyncio.run(_chat(cluster, gateways, lost))
        finally:
            for gateway in gateways:
                gateway.stop()


@steps("class")
def class_() -> None:
    _class(lost=False)


@steps("class-lost")
def class_lost() -> None:
    _class(lost=True)


def _room_beside(cluster: RedisClusterProcesses, key: str) -> str:
    """A room name whose channel lives on the primary that serves `key`'s slot."""
    primary = cluster.primary_for(key)
    node = next(n for n in cluster.nodes() if n.port == primary)
    for i in range(100_000):
        room = f"s-both-{i}"
        if node.serves(key_slot(f"hr:{{lr:{room}}}:ch".encode())):
            return room
    raise RuntimeError("no room name found on that primary")


async def _both(
    cluster: RedisClusterProcesses, gates: list[GateProcess], gateways: list[LiveProcess]
) -> None:
    room = _room_beside(cluster, LANE_KEY)
    clients = people(gateways, cluster, 20, room=room)
    talking = True

    async def talk(c: ChatClient) -> None:
        while talking:
            c.say()
            await asyncio.sleep(2.0)

    try:
        for c in clients:
            c.start()
        await settled(clients, 60)
        tasks = [asyncio.create_task(talk(c)) for c in clients]
        result = await queue_through_a_kill(
            cluster,
            gates,
            capacity=CAPACITY,
            people=100,
            arrivals_per_s=50,
            kill_after_admitted=200,
            missed=50,
            lost_writes=True,
            deadline_s=90,
        )
        talking = False
        await asyncio.gather(*tasks)
        await settled(clients, 60)
    finally:
        talking = False
        for c in clients:
            await c.stop()
    _emit_gate(result, True, both=True)
    _emit_class(clients, Outcome(clients, result.kill_at, result.promoted_s), True, both=True)


@steps("both")
def both() -> None:
    with _cluster() as cluster:
        settings = env(cluster.url, CAPACITY, rate_per_min=6000)
        environment = {
            "HOMEROOM_BACKEND_URL": cluster.url,
            "HOMEROOM_SECRET_KEYS": KEYS,
            "HOMEROOM_LIVE_HEARTBEAT_S": "5",
            "HOMEROOM_LIVE_SLOT_REFRESH_S": "1",
        }
        gates = [GateProcess(settings), GateProcess(settings)]
        gateways = [LiveProcess(environment), LiveProcess(environment)]
        try:
            for gate in gates:
                gate.start()
            for gateway in gateways:
                gateway.start()
            asyncio.run(_both(cluster, gates, gateways))
        finally:
            for gate in gates:
                gate.stop()
            for gateway in gateways:
                gateway.stop()


if __name__ == "__main__":
    sys.exit(steps.run(sys.argv[1:]))
