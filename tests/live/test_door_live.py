"""The live gateway's door, in process: a handshake's deadline, the limit per address block, and
the counters on the gateway's /metrics (homeroom/door.py, docs/server.md). The door's clock is
the test's; its deadlines are checked when the test calls `tick`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from websockets.asyncio.client import connect

from homeroom.core.door import DoorLimits
from homeroom.core.live.parts import Role
from homeroom.door import Doorman
from homeroom.live.jointoken import JoinClaims, JoinTokens
from homeroom.live.server import LiveServer
from tests.live.conftest import NOW, SECRET, Clock
from tests.live.test_gateway import wait_for
from tests.service.test_http_door import Server as Listening

PARTIAL = b"GET /live?token=x HTTP/1.1\r\nHost: door\r\nUpgrade: websocket\r\n"


@dataclass
class Gateway(Listening):
    """A gateway, and a door whose clock the test moves (`open`: a raw connection)."""

    live: LiveServer

    def url(self) -> str:
        claims = JoinClaims("s1", "p1", Role.PUPIL, "P1", int(NOW + 3600))
        return f"ws://127.0.0.1:{self.port}/live?token={JoinTokens(SECRET).issue(claims)}"


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    clock = Clock()
    limits = DoorLimits(head_s=10, per_block=2, files=10_000)
    doorman = Doorman(limits, clock=clock, count_files=lambda: 0)
    server = LiveServer(SECRET, clock=Clock(), door=doorman)
    port = await server.start("127.0.0.1", 0)
    try:
        yield Gateway(port, doorman, clock, server)
    finally:
        await server.stop()


async def answer(reader: asyncio.StreamReader) -> bytes:
    """Everything the gateway sends until it closes the connection."""
    return await asyncio.wait_for(reader.read(), 5)


async def test_a_handshake_past_its_deadline_is_answered_408_and_closed(gateway: Gateway) -> None:
    reader, writer = await gateway.open()  # sends nothing: bytes the gateway had not read yet
    policy = gateway.doorman.policy
    await wait_for(lambda: policy.heads == 1)
    gateway.clock.now += 9.9
    assert gateway.doorman.tick() == 0
    gateway.clock.now += 0.1
    assert gateway.doorman.tick() == 1
    assert (await answer(reader)).startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    await wait_for(lambda: policy.connections == 0)
    writer.close()
    # (a client that sent part of a head may read a reset instead of the 408: its bytes
    # were unread when the gateway closed; tests/e2e/test_door.py trickles heads for real)


async def test_a_block_with_two_unfinished_handshakes_gets_a_503_for_a_third(
    gateway: Gateway,
) -> None:
    first, second = await gateway.open(), await gateway.open()
    for _, writer in (first, second):
        writer.write(PARTIAL)
    await wait_for(lambda: gateway.doorman.policy.heads_of("127.0.0.0/24") == 2)
    reader, writer = await gateway.open("127.0.0.9")  # the same /24
    refused = await answer(reader)
    assert refused.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"retry-after: 5\r\n" in refused
    _, other = await gateway.open("127.0.1.1")  # another block is let in
    other.write(PARTIAL)
    await wait_for(lambda: gateway.doorman.policy.heads == 3)
    first[1].close()  # a place in the block frees: a whole handshake gets in
    await wait_for(lambda: gateway.doorman.policy.heads_of("127.0.0.0/24") == 1)
    async with connect(gateway.url(), open_timeout=5) as ws:
        await ws.ping()
    for w in (second[1], writer, other):
        w.close()


async def test_an_open_websocket_is_not_the_doors_to_close(gateway: Gateway) -> None:
    policy = gateway.doorman.policy
    async with connect(gateway.url(), open_timeout=5) as ws:
        assert (policy.settled, policy.heads) == (1, 0)  # counted, not watched
        gateway.clock.now += 3600
        assert gateway.doorman.tick() == 0
        pong = await ws.ping()
        await asyncio.wait_for(pong, 5)
    await wait_for(lambda: policy.connections == 0)


async def test_the_gateways_metrics_count_what_the_door_refused(gateway: Gateway) -> None:
    reader, writer = await gateway.open()
    await wait_for(lambda: gateway.doorman.policy.heads == 1)
    gateway.clock.now += 10
    gateway.doorman.tick()
    await answer(reader)
    reader, writer = await gateway.open()
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: door\r\n\r\n")
    text = (await answer(reader)).decode()
    assert text.startswith("HTTP/1.1 200 OK\r\n")
    assert "content-type: text/plain; version=0.0.4" in text
    process = gateway.live.hub.origin  # each process on a shared port has its own series
    assert f'homeroom_door_refused_total{{process="{process}",reason="late"}} 1.0' in text
    assert f'homeroom_door_refused_total{{process="{process}",reason="block"}} 0.0' in text
