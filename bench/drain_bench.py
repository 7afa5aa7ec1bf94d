"""The drain of a gateway with N clients: how its closes spread over the window, and how soon all
are back on the other gateway (docs/operations.md#drain).

    python bench/drain_bench.py                 # 5,000 clients, window 15 s
    BENCH_QUICK=1 python bench/drain_bench.py   # 1,000 clients, window 5 s

A real redis-server and two real `homeroom live` gateways (A and B) sharing the room log; N
clients (raw asyncio protocols on uvloop in this process, rooms of a teacher and 29 pupils)
joined to A. A gets
SIGTERM; each client, closed with 1001 `drain`, waits a full-jitter delay (as the browser does)
and resumes (epoch, seq) on B. JSON lines: the close rate per second over the window (max and
mean), when the first and last close came after SIGTERM, the time from a client's close to its
resume (p50, p99), from SIGTERM to every client resumed, to A's exit, and how many resumes were
not exact (a snapshot instead of the missed events) or were cut without their close.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import secrets
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

import uvloop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.steps import emit, process_cpu_s  # noqa: E402
from tests.redis_servers import RedisServer, free_port  # noqa: E402

from homeroom.config import Settings  # noqa: E402
from homeroom.core.live.parts import Role  # noqa: E402
from homeroom.keys import live_join_key  # noqa: E402
from homeroom.live.jointoken import JoinClaims, JoinTokens  # noqa: E402

QUICK = os.environ.get("BENCH_QUICK") == "1"
CLIENTS = int(os.environ.get("BENCH_DRAIN_CLIENTS", 1_000 if QUICK else 5_000))
NOTICE_S, WINDOW_S = 2.0, 5.0 if QUICK else 15.0
DEADLINE_S = NOTICE_S + WINDOW_S + 8.0
JITTER_S = 2.0  # the browser's bound after a 1001 (static/live-conn.js DRAIN_JITTER_MS)
ROOM = 30
HOMEROOM = str(ROOT / ".venv" / "bin" / "homeroom")
KEYS = "1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
TOKENS = JoinTokens(live_join_key(Settings(secret_keys=KEYS)))
WS_KEY = base64.b64encode(b"homeroom-drain!!").decode()


class Client(asyncio.Protocol):
    """A minimal WebSocket client: the handshake by hand, server frames parsed as far as needed
    for (epoch, seq) and the close code."""

    def __init__(self, owner: Fleet, index: int) -> None:
        self.owner, self.index = owner, index
        self.buf = bytearray()
        self.open = False
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.owner.attach(self)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.open:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buf.startswith(b"HTTP/1.1 101"):
                self.owner.failed += 1
                self._finish()
                return
            del self.buf[: end + 4]
            self.open = True
            self.owner.opened(self)
        while len(self.buf) >= 2:
            n, at = self.buf[1] & 0x7F, 2
            if n == 126:
                if len(self.buf) < 4:
                    return
                n, at = struct.unpack_from("!H", self.buf, 2)[0], 4
            elif n == 127:
                if len(self.buf) < 10:
                    return
                n, at = struct.unpack_from("!Q", self.buf, 2)[0], 10
            if len(self.buf) < at + n:
                return
            opcode, payload = self.buf[0] & 0x0F, bytes(self.buf[at : at + n])
            del self.buf[: at + n]
            if opcode == 0x1:
                self.owner.text(self, payload)
            elif opcode == 0x8:
                code = struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else None
                self.owner.closed(self, code, payload[2:].decode(errors="replace"))
                if self.transport is not None:
                    self.transport.write(b"\x88\x82\x00\x00\x00\x00" + payload[:2])
                    self.transport.close()
                return

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.lost(self)
        self._finish()

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


class Fleet:
    """N people; where each one is, what it last saw, and the times of its drain."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.rng = random.Random(7)
        self.epoch: list[str | None] = [None] * count
        self.seq = [0] * count
        self.snapshots = [0] * count
        self.closed_at: list[float | None] = [None] * count
        self.close_code: list[int | None] = [None] * count
        self.resumed_at: list[float | None] = [None] * count
        self.dialled_at: list[float | None] = [None] * count  # connecting to B began
        self.exits: list[float] = []
        self.joined = 0
        self.failed = 0
        self.cut = 0
        self.closed_after_resume: list[int | None] = []  # closed again once on B: a failure
        self.draining = False
        self.all_joined = asyncio.Event()
        self.all_resumed = asyncio.Event()

    def token(self, i: int) -> str:
        person, role = f"p{i}", Role.TEACHER if i % ROOM == 0 else Role.PUPIL
        claims = JoinClaims(f"r{i // ROOM}", person, role, person, int(time.time()) + 3600)
        return TOKENS.issue(claims)

    def attach(self, client: Client) -> None:
        """A connection is made: send the handshake (with the resume where there is one)."""
        i = client.index
        path = f"/live?token={quote(self.token(i))}"
        if self.epoch[i] is not None:
            path += f"&epoch={self.epoch[i]}&seq={self.seq[i]}"
        assert client.transport is not None
        client.transport.write(
            f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def opened(self, client: Client) -> None:
        if self.draining and self.closed_at[client.index] is not None:
            self.resumed_at[client.index] = time.monotonic()
            if sum(1 for t in self.resumed_at if t is not None) == self.count:
                self.all_resumed.set()

    def text(self, client: Client, payload: bytes) -> None:
        i = client.index
        message: dict[str, Any] = json.loads(payload)
        kind = message.get("type")
        if kind == "snapshot":
            self.snapshots[i] += 1
            self.epoch[i], self.seq[i] = message["epoch"], message["seq"]
            if self.snapshots[i] == 1:
                self.joined += 1
                if self.joined == self.count:
                    self.all_joined.set()
        elif "seq" in message and kind != "ack" and message.get("epoch") == self.epoch[i]:
            self.seq[i] = max(self.seq[i], message["seq"])

    async def some_joined(self, count: int) -> None:
        while self.joined < count:
            await asyncio.sleep(0.05)

    def closed(self, client: Client, code: int | None, reason: str) -> None:
        if self.closed_at[client.index] is None:
            self.closed_at[client.index] = time.monotonic()
            self.close_code[client.index] = code
        elif self.resumed_at[client.index] is not None:
            self.closed_after_resume.append(code)

    def lost(self, client: Client) -> None:
        if self.draining and self.closed_at[client.index] is None:
            self.closed_at[client.index] = time.monotonic()
            self.cut += 1


async def connect(fleet: Fleet, i: int, port: int) -> Client:
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    _, client = await loop.create_connection(lambda: Client(fleet, i), sock=sock)
    return client


async def run(
    a_port: int, b_port: int, gateway: subprocess.Popen[bytes], other: subprocess.Popen[bytes]
) -> dict[str, Any]:
    fleet = Fleet(CLIENTS)
    clients: list[Client] = []
    # Handshakes in flight. A room's first arrival opens its log: a gateway opening a few
    # hundred at once runs out of Redis connections (redis-py's pool of 100: "cannot open
    # room", closed with 1011; docs/operations.md, "Drain").
    gate = asyncio.Semaphore(32)

    async def join(i: int) -> None:
        async with gate:
            clients.append(await connect(fleet, i, a_port))

    teachers = range(0, CLIENTS, ROOM)  # first: pupils before a teacher wait in the lobby
    await asyncio.gather(*(join(i) for i in teachers))
    await fleet.some_joined(len(teachers))
    gate = asyncio.Semaphore(200)
    await asyncio.gather(*(join(i) for i in range(CLIENTS) if i % ROOM))
    await asyncio.wait_for(fleet.all_joined.wait(), 120)
    await asyncio.sleep(1.0)  # the presence of the last joins settles

    async def move(client: Client) -> None:
        await client.done
        await asyncio.sleep(fleet.rng.random() * JITTER_S)  # full jitter, as the browser
        for attempt in range(20):
            try:
                fleet.dialled_at[client.index] = time.monotonic()
                await connect(fleet, client.index, b_port)
                return
            except OSError:
                await asyncio.sleep(fleet.rng.random() * 0.5 * 2 ** min(attempt, 4))

    fleet.draining = True
    moves = [asyncio.create_task(move(c)) for c in clients]
    cpu = (process_cpu_s(gateway.pid), process_cpu_s(other.pid), time.process_time())
    sigterm = time.monotonic()
    gateway.send_signal(signal.SIGTERM)
    exited = asyncio.create_task(asyncio.to_thread(gateway.wait, DEADLINE_S + 10))
    exited.add_done_callback(lambda _: fleet.exits.append(time.monotonic() - sigterm))
    with contextlib.suppress(ProcessLookupError, FileNotFoundError):
        while gateway.poll() is None:  # its CPU, read until it is gone
            a_cpu = process_cpu_s(gateway.pid) - cpu[0]
            await asyncio.sleep(0.2)
    await asyncio.wait_for(fleet.all_resumed.wait(), DEADLINE_S + 60)
    all_resumed = time.monotonic() - sigterm
    used = {
        "a_cpu_s": a_cpu,
        "b_cpu_s": process_cpu_s(other.pid) - cpu[1],
        "clients_cpu_s": time.process_time() - cpu[2],
    }
    await exited
    await asyncio.gather(*moves)
    result = summary(fleet, sigterm, all_resumed, fleet.exits[0], gateway.returncode)
    return {**result, **used}


def summary(
    fleet: Fleet, sigterm: float, all_resumed: float, exit_s: float | None, code: int | None
) -> dict[str, Any]:
    closes = sorted(t - sigterm for t in fleet.closed_at if t is not None)
    per_second: dict[int, int] = {}
    for t in closes:
        per_second[int(t)] = per_second.get(int(t), 0) + 1
    window = [per_second.get(s, 0) for s in range(int(NOTICE_S), int(NOTICE_S + WINDOW_S))]
    moves = sorted(
        r - c
        for r, c in zip(fleet.resumed_at, fleet.closed_at, strict=True)
        if r is not None and c is not None
    )
    handshakes = sorted(
        r - d
        for r, d in zip(fleet.resumed_at, fleet.dialled_at, strict=True)
        if r is not None and d is not None
    )
    return {
        "handshake_p50_s": handshakes[len(handshakes) // 2],
        "handshake_p99_s": handshakes[int(len(handshakes) * 0.99) - 1],
        "clients": fleet.count,
        "per_second": window,
        "close_rate_max": max(window),
        "close_rate_mean": sum(window) / len(window),
        "first_close_s": closes[0],
        "last_close_s": closes[-1],
        "resume_p50_s": moves[len(moves) // 2],
        "resume_p99_s": moves[int(len(moves) * 0.99) - 1],
        "all_resumed_s": all_resumed,
        "exit_s": exit_s,
        "exit_code": code,
        "not_drain_closes": sum(1 for c in fleet.close_code if c != 1001),
        "cut": fleet.cut,
        "snapshot_resumes": sum(1 for n in fleet.snapshots if n > 1),
        "closed_after_resume": len(fleet.closed_after_resume),
    }


class Gateway:
    def __init__(self, redis_url: str) -> None:
        self.port, self.health = free_port(), free_port()
        env = {
            **os.environ,
            "HOMEROOM_LOG_LEVEL": "warning",
            "HOMEROOM_BACKEND_URL": redis_url,
            "HOMEROOM_SECRET_KEYS": KEYS,
            "HOMEROOM_LIVE_PORT": str(self.port),
            "HOMEROOM_LIVE_HEALTH_PORT": str(self.health),
            "HOMEROOM_DRAIN_NOTICE_S": str(NOTICE_S),
            "HOMEROOM_DRAIN_WINDOW_S": str(WINDOW_S),
            "HOMEROOM_DRAIN_DEADLINE_S": str(DEADLINE_S),
        }
        self.proc = subprocess.Popen(
            [HOMEROOM, "live"],
            env=env,
            cwd=tempfile.mkdtemp(prefix="homeroom-drain-bench-"),
            stdout=subprocess.DEVNULL,
        )
        for _ in range(400):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.health}/readyz", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the gateway did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def main() -> int:
    redis = RedisServer().start()
    a = b = None
    try:
        a, b = Gateway(redis.url), Gateway(redis.url)
        result = uvloop.run(run(a.port, b.port, a.proc, b.proc))
    finally:
        for gateway in (a, b):
            if gateway is not None:
                gateway.stop()
        redis.stop()
    extra = {"clients": result["clients"], "window_s": WINDOW_S, "notice_s": NOTICE_S}
    emit("drain_close_rate_max_per_s", result["close_rate_max"], "closes/s", **extra)
    emit("drain_close_rate_mean_per_s", result["close_rate_mean"], "closes/s", **extra)
    emit("drain_first_close_s", result["first_close_s"], "s after SIGTERM", **extra)
    emit("drain_last_close_s", result["last_close_s"], "s after SIGTERM", **extra)
    emit("drain_resume_p50_s", result["resume_p50_s"], "s from close to resumed", **extra)
    emit("drain_resume_p99_s", result["resume_p99_s"], "s from close to resumed", **extra)
    emit("drain_resume_handshake_p50_s", result["handshake_p50_s"], "s from dial to 101", **extra)
    emit("drain_resume_handshake_p99_s", result["handshake_p99_s"], "s from dial to 101", **extra)
    for who in ("a", "b", "clients"):
        emit(f"drain_{who}_cpu_s", result[f"{who}_cpu_s"], "CPU s from SIGTERM", **extra)
    emit("drain_all_resumed_s", result["all_resumed_s"], "s after SIGTERM", **extra)
    emit("drain_exit_s", result["exit_s"] or -1, "s after SIGTERM", exit_code=result["exit_code"])
    emit("drain_not_1001_closes", result["not_drain_closes"], "clients", cut=result["cut"])
    emit("drain_snapshot_resumes", result["snapshot_resumes"], "clients")
    emit("drain_closed_after_resume", result["closed_after_resume"], "clients")
    print(json.dumps({"per_second_closes": result["per_second"]}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
