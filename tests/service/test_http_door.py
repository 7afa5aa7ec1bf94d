"""`homeroom run`'s HTTP protocol and its door, in process: uvicorn with `DoorProtocol` on
127.0.0.1:0 in the test's loop, a plain ASGI app, the door's clock the test's (httpserver.py,
docs/server.md). Deadlines are checked when the test calls `tick`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn

from homeroom.core.door import DoorLimits, Refusal
from homeroom.door import Doorman
from homeroom.httpserver import protocol_for
from tests.live.conftest import Clock
from tests.live.test_gateway import wait_for

REQUEST = b"GET / HTTP/1.1\r\nHost: door\r\n\r\n"


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A plain ASGI app: "ok" to everything."""
    assert scope["type"] == "http"
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


@dataclass
class Server:
    """Something listening with a door whose clock the test moves (`open`: a raw connection)."""

    port: int
    doorman: Doorman
    clock: Clock

    async def open(
        self, source: str = "127.0.0.1"
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port, local_addr=(source, 0))


@contextlib.asynccontextmanager
async def served(limits: DoorLimits) -> AsyncIterator[Server]:
    clock = Clock()
    doorman = Doorman(limits, clock=clock, count_files=lambda: 0)
    config = uvicorn.Config(
        hello, host="127.0.0.1", port=0, http=protocol_for(doorman), ws="none",
        lifespan="off", log_level="warning", timeout_keep_alive=60,
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Server(port, doorman, clock)
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async with served(DoorLimits(head_s=10, per_block=2, files=10_000)) as one:
        yield one


async def status(reader: asyncio.StreamReader) -> bytes:
    """The status line and headers of one answer (its body is two bytes)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    if b"content-length: 2" in head:
        await reader.readexactly(2)
    return head


async def test_a_kept_alive_connection_is_idle_between_requests_and_busy_during_one(
    server: Server,
) -> None:
    reader, writer = await server.open()
    policy = server.doorman.policy
    for _ in range(3):
        writer.write(REQUEST)
        assert (await status(reader)).startswith(b"HTTP/1.1 200 OK")
        await wait_for(lambda: policy.idle == 1)
    assert (policy.connections, policy.heads) == (1, 0)
    writer.close()
    await wait_for(lambda: policy.connections == 0)


async def test_a_head_in_pieces_on_a_kept_alive_connection_has_a_deadline(server: Server) -> None:
    reader, writer = await server.open()
    writer.write(REQUEST)
    await status(reader)
    writer.write(b"GET / HTTP/1.1\r\n")  # the next request's head, unfinished
    policy = server.doorman.policy
    await wait_for(lambda: policy.heads == 1)
    server.clock.now += 9.9
    assert server.doorman.tick() == 0
    writer.write(b"Host: door\r\n\r\n")  # finished in time: answered
    assert (await status(reader)).startswith(b"HTTP/1.1 200 OK")
    writer.write(b"GET / HTTP/1.1\r\n")
    await wait_for(lambda: policy.heads == 1)
    server.clock.now += 10
    assert server.doorman.tick() == 1
    assert (await status(reader)).startswith(b"HTTP/1.1 408 Request Timeout")
    writer.close()


async def test_a_block_with_two_unfinished_heads_gets_a_503_for_a_third(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    held = [await server.open(), await server.open()]
    policy = server.doorman.policy
    await wait_for(lambda: policy.heads_of("127.0.0.0/24") == 2)
    reader, writer = await server.open("127.0.0.7")
    refused = await asyncio.wait_for(reader.read(), 5)  # all of it, to the close
    assert refused.startswith(b"HTTP/1.1 503 Service Unavailable")
    assert b"retry-after: 5" in refused
    other_reader, other = await server.open("127.0.1.1")  # another block
    other.write(REQUEST)
    assert (await status(other_reader)).startswith(b"HTTP/1.1 200 OK")
    assert server.doorman.policy.refused == {Refusal.BLOCK: 1}
    assert "door: 127.0.0.0/24 has 2 unfinished heads; refusing more" in caplog.messages
    for _, w in [*held, (reader, writer), (other_reader, other)]:
        w.close()


async def test_at_the_high_water_mark_the_oldest_idle_connection_makes_room() -> None:
    async with served(DoorLimits(files=5, high_water=0.8)) as server:  # room for four
        policy = server.doorman.policy
        kept = []
        for _ in range(4):
            reader, writer = await server.open()
            writer.write(REQUEST)
            await status(reader)
            kept.append((reader, writer))
        await wait_for(lambda: server.doorman.policy.idle == 4)
        reader, writer = await server.open()  # the fifth: the first idle one goes
        writer.write(REQUEST)
        assert (await status(reader)).startswith(b"HTTP/1.1 200 OK")
        assert await asyncio.wait_for(kept[0][0].read(), 5) == b""
        assert policy.shed_idle == 1 and policy.refused == {}
        kept[1][1].write(REQUEST)  # the others are still served
        assert (await status(kept[1][0])).startswith(b"HTTP/1.1 200 OK")
        for _, w in [*kept, (reader, writer)]:
            w.close()
