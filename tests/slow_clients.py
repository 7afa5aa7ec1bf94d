"""Slow clients against a real server: a siege of sockets that trickle a request head, probes from
another address, and an honest slow client (docs/server.md#how-it-is-tested).

Shared by tests/e2e/test_door.py, which asserts what the server does, and bench/door_bench.py,
which prints the figures. Loopback only, bounded in time: everything stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

# Linux's IP_BIND_ADDRESS_NO_PORT (24): bind the source address now, choose the port at connect,
# so thousands of sockets from one address do not search the ephemeral range at bind time.
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
ANSWER_TIMEOUT_S = 10.0  # generous: a probe that takes this long has not answered


def _loopback(host: str) -> None:
    if not host.startswith("127."):
        raise ValueError(f"slow clients go to loopback addresses only, not {host}")


@dataclass(frozen=True)
class Siege:
    """`sockets` connections from `source`, each sending `head` (an unfinished request head) and
    one more header line every `line_every_s`, for `duration_s`."""

    host: str
    port: int
    head: bytes
    sockets: int = 5000
    source: str = "127.5.5.5"
    line_every_s: float = 4.0
    duration_s: float = 45.0
    connects_per_s: int = 2500  # a burst the listen backlog takes without dropping SYNs


@dataclass
class Answer:
    """One complete request from elsewhere: when it started (s into the siege), how long it took
    to the status line, and the status (0: no answer within ANSWER_TIMEOUT_S, or an error)."""

    at: float
    seconds: float
    status: int


@dataclass
class Report:
    sockets: int
    connected: int = 0  # connections the server accepted
    closed_at: list[float] = field(default_factory=list)  # s into the siege, closed by the server
    probes: list[Answer] = field(default_factory=list)
    honest: list[Answer] = field(default_factory=list)

    def closed_within(self, seconds: float) -> float:
        """The fraction of the siege's sockets the server had closed (or refused) by `seconds`."""
        return sum(1 for t in self.closed_at if t <= seconds) / self.sockets

    @property
    def worst_probe_s(self) -> float:
        return max((p.seconds for p in self.probes), default=0.0)


def _socket(source: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
    sock.bind((source, 0))
    return sock


async def _slow_one(siege: Siege, t0: float, report: Report, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    sock = _socket(siege.source)
    try:
        await loop.sock_connect(sock, (siege.host, siege.port))
        report.connected += 1
        await loop.sock_sendall(sock, siege.head)
        lines = 0
        while not stop.is_set():
            try:
                data = await asyncio.wait_for(loop.sock_recv(sock, 4096), siege.line_every_s)
            except TimeoutError:
                lines += 1
                await loop.sock_sendall(sock, b"X-Slow-%d: still typing\r\n" % lines)
                continue
            if not data:  # the server closed it (an answer, if any, came before)
                report.closed_at.append(time.monotonic() - t0)
                return
    except OSError:  # refused, reset, or a write to a closed connection
        report.closed_at.append(time.monotonic() - t0)
    except asyncio.CancelledError:
        pass
    finally:
        sock.close()


async def _status(host: str, port: int, source: str, pieces: list[bytes], gap_s: float) -> int:
    """Send the request in `pieces`, `gap_s` apart; the status of the answer's first line."""
    loop = asyncio.get_running_loop()
    sock = _socket(source)
    try:
        await loop.sock_connect(sock, (host, port))
        for i, piece in enumerate(pieces):
            if i:
                await asyncio.sleep(gap_s)
            await loop.sock_sendall(sock, piece)
        first = b""
        while b"\r\n" not in first:
            data = await loop.sock_recv(sock, 4096)
            if not data:
                return 0
            first += data
        return int(first.split(b" ", 2)[1])
    finally:
        sock.close()


async def answer(
    host: str,
    port: int,
    request: bytes,
    *,
    source: str = "127.0.0.1",
    pieces: int = 1,
    spread_s: float = 0.0,
    t0: float | None = None,
) -> Answer:
    """One request, whole or split into `pieces` sent over `spread_s`; never raises."""
    _loopback(host)
    start = time.monotonic()
    size = -(-len(request) // pieces)
    chunks = [request[i : i + size] for i in range(0, len(request), size)]
    gap = spread_s / max(1, len(chunks) - 1)
    try:
        status = await asyncio.wait_for(
            _status(host, port, source, chunks, gap), spread_s + ANSWER_TIMEOUT_S
        )
    except (OSError, TimeoutError, ValueError, IndexError):
        status = 0
    return Answer(start - (t0 if t0 is not None else start), time.monotonic() - start, status)


async def _every(period_s: float, until: float, make: Callable[[], Awaitable[None]]) -> None:
    """Start `make()` every `period_s` until `until`, without waiting for the previous one."""
    tasks = []
    while time.monotonic() < until:
        tasks.append(asyncio.create_task(make()))
        await asyncio.sleep(period_s)
    await asyncio.gather(*tasks)


async def besiege(
    siege: Siege,
    probe: bytes,
    *,
    probe_every_s: float = 0.25,
    honest_at: tuple[float, ...] = (5.0, 30.0),
    honest_spread_s: float = 3.0,
) -> Report:
    """Run the siege; meanwhile probe with the whole `probe` request from 127.0.0.1, and send it
    in pieces over `honest_spread_s` (an honest slow client) from 127.9.9.9 at `honest_at`."""
    _loopback(siege.host)
    report = Report(siege.sockets)
    stop = asyncio.Event()
    t0 = time.monotonic()
    end = t0 + siege.duration_s
    slow: list[asyncio.Task[None]] = []

    async def open_all() -> None:
        for i in range(siege.sockets):
            slow.append(asyncio.create_task(_slow_one(siege, t0, report, stop)))
            if i % 100 == 99:
                await asyncio.sleep(100 / siege.connects_per_s)

    async def one_probe() -> None:
        report.probes.append(await answer(siege.host, siege.port, probe, t0=t0))

    async def honest(at: float) -> None:
        await asyncio.sleep(at)
        report.honest.append(
            await answer(
                siege.host,
                siege.port,
                probe,
                source="127.9.9.9",
                pieces=6,
                spread_s=honest_spread_s,
                t0=t0,
            )
        )

    opener = asyncio.create_task(open_all())
    extra = [honest(at) for at in honest_at if at + honest_spread_s < siege.duration_s]
    await asyncio.gather(_every(probe_every_s, end, one_probe), *extra)
    await opener
    stop.set()
    for task in slow:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*slow, return_exceptions=True)
    return report


def run(siege: Siege, probe: bytes, **options: float | tuple[float, ...]) -> Report:
    """`besiege` in a loop of its own (for tests and benches that are not async)."""
    return asyncio.run(besiege(siege, probe, **options))  # type: ignore[arg-type]


def http_head(host: str, port: int, path: str = "/healthz") -> tuple[bytes, bytes]:
    """(an unfinished head, a whole request) for the HTTP app."""
    start = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: slow\r\n".encode()
    return start, start + b"Connection: close\r\n\r\n"


def websocket_head(host: str, port: int, path: str) -> tuple[bytes, bytes]:
    """(an unfinished handshake, a whole one) for the live gateway; `path` carries the token."""
    start = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    ).encode()
    return start, start + b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
