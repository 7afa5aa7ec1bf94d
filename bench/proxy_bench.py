"""`make bench-proxy`: what reading the PROXY header costs, one JSON object per line.

    python bench/proxy_bench.py [step ...]     # steps: micro, ticket; every step when none
    BENCH_QUICK=1 python bench/proxy_bench.py  # 3 s a measure while developing

`micro`: the door's work on a connection's first bytes (`Doorman.unwrap`: a v2 or v1 header
from a trusted peer, the first bytes of plain HTTP from another), in ns a call, in this process.
`ticket`: a real `homeroom run` (memory backend, pinned to core 0; the client on core 1) answering
POST /gate/national/ticket to 32 concurrent clients, without trusted_proxies and with it (each
connection then begins with a v2 header naming a client of its own /24), on kept-alive
connections (one header for many requests) and on a new connection per request (one header a
request): requests a second.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import struct
import sys
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.steps import Steps, emit, process_cpu_s  # noqa: E402
from tests.gate_process import GateProcess  # noqa: E402

from homeroom.core.door import DoorLimits  # noqa: E402
from homeroom.core.proxyproto import V2_SIGNATURE, Trusted  # noqa: E402
from homeroom.door import Doorman  # noqa: E402

QUICK = os.environ.get("BENCH_QUICK") == "1"
SECONDS = 3.0 if QUICK else 10.0
CLIENTS = 32
BALANCER = "127.0.0.2"
TICKET = (
    b"POST /gate/national/ticket HTTP/1.1\r\nhost: bench\r\naccept: application/json\r\n"
    b"content-length: 0\r\n\r\n"
)

step = Steps()


def v2(client: str, port: int = 40000) -> bytes:
    body = ipaddress.IPv4Address(client).packed + bytes([127, 0, 0, 1])
    body += struct.pack("!HH", port, 8000)
    return V2_SIGNATURE + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


@step("micro")
def micro() -> None:
    async def measure() -> None:
        door = Doorman(DoorLimits(), count_files=lambda: 0, trusted=Trusted.parse([BALANCER]))
        visitor = object()  # never closed: nothing is refused here
        cases = {
            "v2": (v2("203.0.113.7") + TICKET, True),
            "v1": (b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 8000\r\n" + TICKET, True),
            "untrusted_plain_http": (TICKET, False),
        }
        for name, (data, trusted) in cases.items():
            number = 20_000 if QUICK else 200_000

            def once(data: bytes = data, trusted: bool = trusted) -> None:
                door.policy.arrive(visitor, "", 0.0)  # type: ignore[arg-type]
                door.unwrap(visitor, data, trusted)  # type: ignore[arg-type]
                door.policy.leave(visitor)  # type: ignore[arg-type]

            def bare() -> None:
                door.policy.arrive(visitor, "", 0.0)  # type: ignore[arg-type]
                door.policy.leave(visitor)  # type: ignore[arg-type]

            spent = min(timeit.repeat(once, number=number, repeat=3)) / number
            base = min(timeit.repeat(bare, number=number, repeat=3)) / number
            emit("proxy_unwrap", (spent - base) * 1e9, "ns/connection", case=name)
        door.stop()

    asyncio.run(measure())


async def client(port: int, n: int, proxied: bool, fresh: bool, until: float) -> int:
    """Requests answered by `until` from one client: client n is 10.n.0.x behind the balancer."""
    source = BALANCER if proxied else "127.0.0.1"
    done = 0
    reader = writer = None
    while time.monotonic() < until:
        if writer is None:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=(source, 0)
            )
            if proxied:
                writer.write(v2(f"10.{n}.0.{done % 250 + 1}"))
        assert reader is not None
        writer.write(TICKET)
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 201"), head[:100]
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        done += 1
        if fresh:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()
    return done


def rate(port: int, pid: int, proxied: bool, fresh: bool) -> tuple[float, float]:
    """Requests a second, and the server's CPU µs a request (steadier on a shared machine)."""

    async def run() -> int:
        until = time.monotonic() + SECONDS
        counts = await asyncio.gather(
            *(client(port, n, proxied, fresh, until) for n in range(CLIENTS))
        )
        return sum(counts)

    started, cpu = time.monotonic(), process_cpu_s(pid)
    total = asyncio.run(run())
    return total / (time.monotonic() - started), (process_cpu_s(pid) - cpu) / total * 1e6


@step("ticket")
def ticket() -> None:
    os.sched_setaffinity(0, {1})
    env = {"HOMEROOM_LIVE_PORT": "0", "HOMEROOM_TICKET_LIMIT": "100000000/minute",
           "HOMEROOM_POW_ABOVE": "100000000/minute", "HOMEROOM_CAPACITY": "100000000"}  # fmt: skip
    for proxied in (False, True):
        extra = {"HOMEROOM_TRUSTED_PROXIES": f"{BALANCER}/32"} if proxied else {}
        with GateProcess({**env, **extra}, cpu="0") as server:
            assert server.proc is not None
            pid = server.proc.pid
            rate(server.port, pid, proxied, fresh=False)  # warm up
            for fresh in (False, True):
                per_s, cpu_us = rate(server.port, pid, proxied, fresh)
                labels = {"proxy_header": proxied, "clients": CLIENTS, "seconds": SECONDS,
                          "connection": "new each request" if fresh else "kept alive"}  # fmt: skip
                emit("proxy_ticket_rate", per_s, "requests/s", **labels)
                emit("proxy_ticket_cpu", cpu_us, "server CPU µs/request", **labels)


if __name__ == "__main__":
    sys.exit(step.run(sys.argv[1:]))
