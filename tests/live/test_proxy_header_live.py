"""The live gateway behind a trusted balancer, in process: a WebSocket opened after a PROXY
header, handshakes counted in the client's block, refusals (live/conn.py,
docs/server.md#the-clients-real-address). 127.0.0.2 is trusted, 127.0.0.1 not.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator

import pytest

from homeroom.core.door import DoorLimits, Refusal
from homeroom.core.proxyproto import Trusted
from homeroom.door import Doorman
from homeroom.live.server import LiveServer
from tests.live.conftest import SECRET, Clock
from tests.live.test_door_live import PARTIAL, Gateway
from tests.live.test_gateway import wait_for
from tests.unit.test_proxyproto import v2

BALANCER = "127.0.0.2"


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    clock = Clock()
    limits = DoorLimits(head_s=10, per_block=2, files=10_000)
    trusted = Trusted.parse([BALANCER])
    doorman = Doorman(limits, clock=clock, count_files=lambda: 0, trusted=trusted)
    server = LiveServer(SECRET, clock=Clock(), door=doorman)
    port = await server.start("127.0.0.1", 0)
    try:
        yield Gateway(port, doorman, clock, server)
    finally:
        await server.stop()


def upgrade(path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: door\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def first_line(gateway: Gateway, source: str, data: bytes) -> bytes:
    reader, writer = await gateway.open(source)
    writer.write(data)
    try:
        return (await asyncio.wait_for(reader.readline(), 5)).rstrip()
    finally:
        writer.close()


async def test_a_websocket_opens_after_the_header(gateway: Gateway) -> None:
    path = gateway.url().removeprefix(f"ws://127.0.0.1:{gateway.port}")
    line = await first_line(gateway, BALANCER, v2("203.0.113.7") + upgrade(path))
    assert line == b"HTTP/1.1 101 Switching Protocols"


async def test_handshakes_are_counted_in_the_clients_block(gateway: Gateway) -> None:
    held = []
    for i in range(2):
        _reader, writer = await gateway.open(BALANCER)
        writer.write(v2("203.0.113.7", 4000 + i) + PARTIAL)
        held.append(writer)
    policy = gateway.doorman.policy
    await wait_for(lambda: policy.heads_of("203.0.113.0/24") == 2)
    assert policy.heads_of("127.0.0.0/24") == 0
    full = await first_line(gateway, BALANCER, v2("203.0.113.9") + upgrade("/metrics"))
    assert full.startswith(b"HTTP/1.1 503")
    other = await first_line(gateway, BALANCER, v2("198.51.100.9") + upgrade("/metrics"))
    assert other == b"HTTP/1.1 200 OK"
    for writer in held:
        writer.close()
    assert policy.refused[Refusal.BLOCK] == 1


async def test_a_header_from_anyone_else_or_none_from_the_balancer_is_refused(
    gateway: Gateway,
) -> None:
    assert await first_line(gateway, "127.0.0.1", v2("203.0.113.7") + PARTIAL) == (
        b"HTTP/1.1 400 Bad Request"
    )
    assert await first_line(gateway, BALANCER, PARTIAL) == b"HTTP/1.1 400 Bad Request"
    assert gateway.doorman.policy.refused[Refusal.PROXY] == 2
    # a slow header is the head's deadline's: 408
    reader, writer = await gateway.open(BALANCER)
    writer.write(v2("203.0.113.7")[:10])
    policy = gateway.doorman.policy
    await wait_for(lambda: policy.heads == 1)
    gateway.clock.now += 10
    assert gateway.doorman.tick() == 1
    assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 408")
    writer.close()
