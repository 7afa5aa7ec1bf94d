"""`homeroom run`'s HTTP protocol reading a trusted balancer's PROXY header, in process: uvicorn
with `DoorProtocol` on 127.0.0.1:0, an ASGI app that answers the scope's client
(httpserver.py, docs/server.md#the-clients-real-address). 127.0.0.2 is trusted, 127.0.0.1 not.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from homeroom.core.door import DoorLimits, Refusal
from homeroom.core.proxyproto import Trusted
from homeroom.door import Doorman
from homeroom.httpserver import protocol_for
from tests.live.conftest import Clock
from tests.live.test_gateway import wait_for
from tests.unit.test_proxyproto import v2

REQUEST = b"GET / HTTP/1.1\r\nHost: door\r\n\r\n"
BALANCER = "127.0.0.2"


async def who(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app answering `host:port` of the scope's client."""
    body = "{}:{}".format(*scope["client"]).encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@contextlib.asynccontextmanager
async def served() -> AsyncIterator[tuple[int, Doorman]]:
    doorman = Doorman(
        DoorLimits(head_s=10, per_block=2, files=10_000),
        clock=Clock(),
        count_files=lambda: 0,
        trusted=Trusted.parse([BALANCER]),
    )
    config = uvicorn.Config(
        who, host="127.0.0.1", port=0, http=protocol_for(doorman), ws="none",
        lifespan="off", log_level="warning", timeout_keep_alive=60,
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started)
    try:
        yield server.servers[0].sockets[0].getsockname()[1], doorman
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def server() -> AsyncIterator[tuple[int, Doorman]]:
    async with served() as one:
        yield one


async def exchange(port: int, source: str, *pieces: bytes) -> bytes:
    """Everything the server sends back to `pieces` (sent apart) until it closes or answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.01)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        return head + await reader.readexactly(length)
    finally:
        writer.close()


async def test_the_scope_client_is_the_one_the_header_names(server: tuple[int, Doorman]) -> None:
    port, _door = server
    answer = await exchange(port, BALANCER, v2("203.0.113.7", 5555) + REQUEST)
    assert answer.endswith(b"\r\n\r\n203.0.113.7:5555")
    # in pieces: the header cut in two, then the request
    whole = v2("2001:db8::7", 443)
    answer = await exchange(port, BALANCER, whole[:7], whole[7:], REQUEST)
    assert answer.endswith(b"\r\n\r\n2001:db8::7:443")


async def test_a_kept_alive_connection_keeps_its_client_for_every_request(
    server: tuple[int, Doorman],
) -> None:
    port, _door = server
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(BALANCER, 0))
    writer.write(v2("198.51.100.4", 4000) + REQUEST)
    for _ in range(3):
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        assert await reader.readexactly(length) == b"198.51.100.4:4000"
        writer.write(REQUEST)  # no header again: it comes once a connection
    writer.close()


async def test_a_local_header_keeps_the_balancers_own_address(
    server: tuple[int, Doorman],
) -> None:
    port, _door = server
    local = b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x20, 0x00, 0, 0])  # HAProxy's health check
    answer = await exchange(port, BALANCER, local + REQUEST)
    assert b"\r\n\r\n127.0.0.2:" in answer


async def test_refusals_are_400_and_counted(server: tuple[int, Doorman]) -> None:
    port, door = server
    assert (await exchange(port, BALANCER, REQUEST)).startswith(b"HTTP/1.1 400 Bad Request")
    assert (await exchange(port, "127.0.0.1", v2("203.0.113.7") + REQUEST)).startswith(
        b"HTTP/1.1 400 Bad Request"
    )
    assert (
        await exchange(port, BALANCER, b"PROXY TCP4 1.2.3 4.5.6.7 1 2\r\n" + REQUEST)
    ).startswith(b"HTTP/1.1 400 Bad Request")
    assert door.policy.refused[Refusal.PROXY] == 3
    # plain HTTP from anyone else: served, with its own address
    answer = await exchange(port, "127.0.0.1", REQUEST)
    assert b"\r\n\r\n127.0.0.1:" in answer
    await wait_for(lambda: door.policy.connections == 0)
