"""The client's real address from a trusted balancer's PROXY header, at real `homeroom run` and
`homeroom live` processes (docs/server.md#the-clients-real-address): a raw socket from
127.0.0.2 plays HAProxy (trusted), one from 127.0.0.1 plays anyone else. Two client blocks behind
the one balancer are limited separately, by the gate's ticket limit and by the door's unfinished
heads; a header from an untrusted peer and a trusted peer without one are refused, and counted.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeroom.core.proxyproto import V2_SIGNATURE
from homeroom.school.data.db import upgrade
from tests.e2e.test_door import metric
from tests.e2e.test_live_processes import KEYS, LiveProcess
from tests.gate_process import GateProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
BALANCER = "127.0.0.2"  # trusted
ANYONE = "127.0.0.1"  # not
A, B = "203.0.113.7", "198.51.100.9"  # two clients' blocks
TICKET = b"POST /gate/national/ticket HTTP/1.1\r\nhost: x\r\naccept: application/json\r\n"
TICKET += b"content-length: 0\r\nconnection: close\r\n\r\n"
METRICS = b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
ENV = {"HOMEROOM_TRUSTED_PROXIES": f"{BALANCER}/32", "HOMEROOM_HEADS_PER_BLOCK": "2"}


def v2(client: str, port: int = 40000) -> bytes:
    """The header HAProxy's send-proxy-v2 writes for a TCP/IPv4 client."""
    body = ipaddress.IPv4Address(client).packed + bytes([127, 0, 0, 1])
    body += struct.pack("!HH", port, 8000)
    return V2_SIGNATURE + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


def connect(port: int, source: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    return sock


def answer(port: int, data: bytes, source: str = BALANCER) -> bytes:
    """The status line of what the server answers to `data` sent in one piece."""
    with connect(port, source) as sock:
        sock.sendall(data)
        received = b""
        while b"\r\n" not in received:
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
    return received.split(b"\r\n", 1)[0]


def hold_heads(port: int, client: str, count: int, head: bytes) -> list[socket.socket]:
    """`count` connections from `client` behind the balancer, their heads unfinished."""
    held = []
    for i in range(count):
        sock = connect(port, BALANCER)
        sock.sendall(v2(client, 40000 + i) + head)
        held.append(sock)
    return held


def wait_heads(base: str, count: int) -> None:
    deadline = time.monotonic() + 10
    while metric(base, "homeroom_door_unfinished_heads") < count:
        assert time.monotonic() < deadline, "the held heads never counted"
        time.sleep(0.05)


@pytest.fixture
def run() -> Iterator[GateProcess]:
    env = {**ENV, "HOMEROOM_LIVE_PORT": "0", "HOMEROOM_TICKET_LIMIT": "2/minute"}
    env["HOMEROOM_POW_ABOVE"] = "100/minute"
    with GateProcess(env) as process:
        yield process


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveProcess]:
    database = f"sqlite+aiosqlite:///{tmp_path / 'school.db'}"
    upgrade(database)
    env = {**ENV, "HOMEROOM_SECRET_KEYS": KEYS, "HOMEROOM_DATABASE_URL": database}
    process = LiveProcess(env).start()
    try:
        yield process
    finally:
        process.stop()


def test_the_gate_limits_each_client_block_behind_one_balancer(run: GateProcess) -> None:
    port = run.port
    firsts = [answer(port, v2(A, 40000 + i) + TICKET) for i in range(2)]
    assert all(line.startswith(b"HTTP/1.1 201") for line in firsts), firsts
    assert answer(port, v2(A, 40002) + TICKET).startswith(b"HTTP/1.1 429")  # A's third
    # A naming another address in X-Forwarded-For is still A: only the PROXY header counts
    forged = TICKET.replace(b"content-length", f"x-forwarded-for: {B}\r\ncontent-length".encode())
    assert answer(port, v2(A, 40003) + forged).startswith(b"HTTP/1.1 429")
    # B, behind the same balancer, is another block: not limited by A's tickets
    assert answer(port, v2(B) + TICKET).startswith(b"HTTP/1.1 201")
    # and the balancer's own address is counted as no one's (a plain request from it is refused)
    assert answer(port, TICKET).startswith(b"HTTP/1.1 400")


def test_the_door_of_run_counts_unfinished_heads_in_the_clients_block(run: GateProcess) -> None:
    held = hold_heads(run.port, A, 2, b"GET /healthz HTTP/1.1\r\n")
    try:
        wait_heads(run.base, 2)
        assert answer(run.port, v2(A) + METRICS).startswith(b"HTTP/1.1 503")  # A is full
        assert answer(run.port, v2(B) + METRICS).startswith(b"HTTP/1.1 200")  # B is not
    finally:
        for sock in held:
            sock.close()
    assert metric(run.base, "homeroom_door_refused_total", reason="block") == 1


def test_run_refuses_a_header_from_anyone_else_and_a_balancer_without_one(
    run: GateProcess,
) -> None:
    assert answer(run.port, v2(A) + TICKET, source=ANYONE) == b"HTTP/1.1 400 Bad Request"
    assert answer(run.port, TICKET, source=BALANCER) == b"HTTP/1.1 400 Bad Request"
    bad = V2_SIGNATURE + bytes([0x21, 0x11, 0x40, 0x00])  # 16 KB of addresses: oversize
    assert answer(run.port, bad) == b"HTTP/1.1 400 Bad Request"
    assert metric(run.base, "homeroom_door_refused_total", reason="proxy") == 3
    # no header from anyone else: served as before
    assert answer(run.port, METRICS, source=ANYONE).startswith(b"HTTP/1.1 200")


@pytest.fixture
def forwarded() -> Iterator[GateProcess]:
    env = {**ENV, "HOMEROOM_HTTP_PROXY_HEADER": "forwarded", "HOMEROOM_LIVE_PORT": "0"}
    env |= {"HOMEROOM_TICKET_LIMIT": "2/minute", "HOMEROOM_POW_ABOVE": "100/minute"}
    with GateProcess(env) as process:
        yield process


def with_forwarded_for(client: str) -> bytes:
    return TICKET.replace(
        b"content-length", f"x-forwarded-for: {client}\r\ncontent-length".encode()
    )


def test_run_told_forwarded_believes_x_forwarded_for_from_the_balancer_alone(
    forwarded: GateProcess,
) -> None:
    """HOMEROOM_HTTP_PROXY_HEADER=forwarded: the balancer's connections carry no PROXY header
    (they are shared between clients) and name each request's client in X-Forwarded-For."""
    port = forwarded.port
    # two tickets of A over ONE kept-alive connection from the balancer, then B's on it too
    with connect(port, BALANCER) as sock:
        keep = [with_forwarded_for(c).replace(b"connection: close", b"connection: keep-alive")
                for c in (A, A, B)]  # fmt: skip
        lines = []
        for data in keep:
            sock.sendall(data)
            received = b""
            while b"\r\n\r\n" not in received:
                received += sock.recv(65536)
            head, _, rest = received.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            while len(rest) < length:
                rest += sock.recv(65536)
            lines.append(head.split(b"\r\n", 1)[0])
    assert all(line.startswith(b"HTTP/1.1 201") for line in lines), lines
    assert answer(port, with_forwarded_for(A)).startswith(b"HTTP/1.1 429")  # A's third
    # anyone else naming B is not believed: counted as its own address (a fresh block)
    assert answer(port, with_forwarded_for(B), source=ANYONE).startswith(b"HTTP/1.1 201")
    assert answer(port, with_forwarded_for(B)).startswith(b"HTTP/1.1 201")  # B's second
    assert answer(port, with_forwarded_for(B)).startswith(b"HTTP/1.1 429")  # B's third
    # a PROXY header is not read in this mode: the balancer's connection is refused by the parser
    assert answer(port, v2(A) + TICKET).startswith(b"HTTP/1.1 400")
    assert metric(forwarded.base, "homeroom_door_refused_total", reason="proxy") == 0


def test_the_gateways_door_counts_handshakes_in_the_clients_block(live: LiveProcess) -> None:
    base = f"http://127.0.0.1:{live.port}"
    held = hold_heads(live.port, A, 2, b"GET /live?token=x HTTP/1.1\r\n")
    try:
        wait_heads(base, 2)
        assert answer(live.port, v2(A) + METRICS).startswith(b"HTTP/1.1 503")
        assert answer(live.port, v2(B) + METRICS).startswith(b"HTTP/1.1 200")
    finally:
        for sock in held:
            sock.close()
    assert answer(live.port, v2(A) + METRICS, source=ANYONE) == b"HTTP/1.1 400 Bad Request"
    assert answer(live.port, METRICS, source=BALANCER) == b"HTTP/1.1 400 Bad Request"
    assert metric(base, "homeroom_door_refused_total", reason="block") == 1
    assert metric(base, "homeroom_door_refused_total", reason="proxy") == 2
