"""`make bench-fanout`: does routing a class by its room cut Redis fan-out? One JSON object per line.

    python bench/cluster_fanout.py            # 30 rooms of 30 people, 10 messages a room
    BENCH_QUICK=1 python bench/cluster_fanout.py

For each of HAProxy's two ways to send WebSockets to the gateways (`hash`: consistent hashing
on the `room` URL parameter with hash-balance-factor 150; `leastconn`), a whole `homeroom
cluster` is started (homeroom.deploy: three nodes, Redis Cluster of 3+3, PgBouncer), every
client connects through HAProxy, one person a room sends messages, and the bench waits until
everyone has every message. Redis's side of it:

- `deliveries_per_entry`: how many gateway processes Redis sends each entry of a room to, the
  room's sharded channel's subscribers (PUBSUB SHARDNUMSUB on the primary that owns it);
- `redis_out_bytes_per_entry`: all six nodes' total_net_output_bytes over the sending, divided
  by the entries sent (replication to the replicas is in both runs alike).

Loopback and the nodes' namespaces only; every process started here is stopped on any exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import redis  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

from homeroom.config import load_settings  # noqa: E402
from homeroom.core.live.parts import Role  # noqa: E402
from homeroom.deploy import cluster  # noqa: E402
from homeroom.deploy.topology import LiveBalance, Topology  # noqa: E402
from homeroom.keys import live_join_key  # noqa: E402
from homeroom.live.jointoken import JoinClaims, JoinTokens  # noqa: E402

QUICK = bool(os.environ.get("BENCH_QUICK"))
ROOMS = 10 if QUICK else 30
PEOPLE = 10 if QUICK else 30
MESSAGES = 5 if QUICK else 10
DEADLINE_S = 120


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def redis_clients(t: Topology) -> list[redis.Redis]:
    return [redis.Redis(host=t.host_address, port=p, socket_timeout=5) for p in t.redis_ports]


def out_bytes(t: Topology) -> int:
    total = 0
    for client in redis_clients(t):
        with client:
            total += int(client.info("stats")["total_net_output_bytes"])
    return total


def subscribers_per_room(t: Topology) -> dict[str, int]:
    """room -> gateway processes subscribed to its channel (on the primary that serves it)."""
    out: dict[str, int] = {}
    for client in redis_clients(t):
        with client:
            if client.execute_command("ROLE")[0] not in (b"master", "master"):
                continue
            for raw in client.execute_command("PUBSUB", "SHARDCHANNELS"):
                channel = raw.decode() if isinstance(raw, bytes) else str(raw)
                if "{lr:bench-" not in channel:
                    continue
                reply = client.execute_command("PUBSUB", "SHARDNUMSUB", channel)
                room = channel.split("{lr:", 1)[1].split("}", 1)[0]
                out[room] = int(reply[1])
    return out


async def run_once(t: Topology, balance: LiveBalance) -> dict[str, Any]:
    tokens = JoinTokens(live_join_key(load_settings(secret_keys=t.secret_keys)))
    expires = int(time.time()) + 3600
    rooms = [f"bench-{i}" for i in range(ROOMS)]
    sockets: dict[str, list[ClientConnection]] = {room: [] for room in rooms}
    received = {room: [0] * PEOPLE for room in rooms}
    done = asyncio.Event()
    want = ROOMS * PEOPLE * MESSAGES

    async def reader(room: str, i: int, ws: ClientConnection) -> None:
        async for raw in ws:
            message = json.loads(raw)
            if message.get("type") == "chat.message":
                received[room][i] += 1
                if sum(sum(r) for r in received.values()) >= want:
                    done.set()

    readers = []
    # everyone arrives in one mixed crowd (8:00), as the bounded load sees a morning: a room
    # arriving alone while the deployment is empty would be spread by the bound itself
    people = [(room, i) for room in rooms for i in range(PEOPLE)]
    random.Random(1).shuffle(people)
    for room, i in people:
        role = Role.TEACHER if i == 0 else Role.PUPIL
        claims = JoinClaims(room, f"{room}-p{i}", role, f"P{i}", expires)
        url = f"{t.live_url}?room={room}&token={tokens.issue(claims)}"
        ws = await connect(url, open_timeout=30, max_queue=None)
        sockets[room].append(ws)
        readers.append(asyncio.create_task(reader(room, len(sockets[room]) - 1, ws)))
    await asyncio.sleep(2)  # every gateway has subscribed to its rooms
    subscribers = subscribers_per_room(t)
    before = out_bytes(t)
    started = time.monotonic()
    for n in range(MESSAGES):
        for room in rooms:
            message = {"v": 1, "type": "chat.send", "id": f"{room}-{n}", "text": f"m{n}"}
            await sockets[room][0].send(json.dumps({**message, "to": "all"}))
        await asyncio.sleep(0.3)
    with contextlib.suppress(TimeoutError):  # counted below: delivered against wanted
        await asyncio.wait_for(done.wait(), DEADLINE_S)
    elapsed = time.monotonic() - started
    after = out_bytes(t)
    got = sum(sum(r) for r in received.values())
    for task in readers:
        task.cancel()
    for room_sockets in sockets.values():
        for ws in room_sockets:
            await ws.close()
    entries = ROOMS * MESSAGES
    spread = list(subscribers.values()) or [0]
    return {
        "bench": "cluster_fanout",
        "balance": balance,
        "rooms": ROOMS,
        "people_per_room": PEOPLE,
        "entries": entries,
        "delivered": got,
        "wanted": want,
        "deliveries_per_entry": round(sum(spread) / max(1, len(spread)), 3),
        "rooms_on_one_gateway": sum(1 for s in spread if s == 1),
        "max_gateways_per_room": max(spread),
        "redis_out_bytes_per_entry": round((after - before) / entries),
        "seconds": round(elapsed, 2),
        "nodes": len(t.nodes),
        "mode": t.mode,
        "note": "busy shared machine",
    }


def main() -> int:
    results = {}
    for balance in ("hash", "leastconn"):
        folder = Path(tempfile.mkdtemp(prefix="homeroom-fanout-")) / "cluster"
        with contextlib.redirect_stdout(sys.stderr):  # stdout: the JSON lines only
            t = cluster.up(folder, live_balance=balance)  # type: ignore[arg-type]
        try:
            results[balance] = asyncio.run(run_once(t, balance))  # type: ignore[arg-type]
            emit(**results[balance])
        finally:
            cluster.down(folder)
    hashed, spread = results["hash"], results["leastconn"]
    emit(
        bench="cluster_fanout_ratio",
        deliveries_leastconn_over_hash=round(
            spread["deliveries_per_entry"] / max(0.001, hashed["deliveries_per_entry"]), 2
        ),
        out_bytes_leastconn_over_hash=round(
            spread["redis_out_bytes_per_entry"] / max(1, hashed["redis_out_bytes_per_entry"]), 2
        ),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
