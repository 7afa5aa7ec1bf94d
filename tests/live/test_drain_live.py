"""A gateway draining in process: 1001 `drain` for everyone in the window, probes, a client cut."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from random import Random

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from homeroom.core.live.parts import Role
from homeroom.drain import Drain, DrainCollector, health_answer, serve_agent, serve_health
from homeroom.live.conn import Limits
from tests.live.conftest import Live, receive

NOTICE, WINDOW, DEADLINE = 0.3, 1.2, 4.0


async def closed_at(ws: ClientConnection, began: list[float]) -> tuple[int | None, str, float]:
    """Read until the close; (code, reason, seconds after the drain began)."""
    try:
        while True:
            await ws.recv()
    except ConnectionClosed as exc:
        rcvd = exc.rcvd
    return (
        rcvd.code if rcvd else None,
        rcvd.reason if rcvd else "",
        time.monotonic() - began[0],
    )


async def test_every_client_is_closed_with_1001_drain_inside_the_window(live: Live) -> None:
    clients = [await live.open(f"p{i}").__aenter__() for i in range(40)]
    for ws in clients:
        await receive(ws)
    drain = Drain.of(NOTICE, WINDOW, DEADLINE)
    began: list[float] = []
    watchers = [asyncio.create_task(closed_at(ws, began)) for ws in clients]
    began.append(time.monotonic())
    drain.begin()
    draining = asyncio.create_task(live.server.drain(drain, Random(1)))
    await asyncio.sleep(NOTICE / 2)
    with pytest.raises(OSError):  # it accepts nobody from SIGTERM on
        await asyncio.open_connection("127.0.0.1", live.port)
    assert drain.closed == 0  # the notice: the balancer notices, nobody is closed yet
    results = await asyncio.wait_for(asyncio.gather(*watchers), 10)
    await asyncio.wait_for(draining, 10)
    assert {(code, reason) for code, reason, _ in results} == {(1001, "drain")}
    at = sorted(t for _, _, t in results)
    # their close came in their slot: none before the notice, every one before the cut
    assert at[0] >= NOTICE
    assert at[-1] < NOTICE + WINDOW + (DEADLINE - NOTICE - WINDOW) / 2
    assert drain.closed == 40 and drain.clients_left == 0 and not live.server.connections


async def test_closes_are_spread_not_sent_together(live: Live) -> None:
    clients = [await live.open(f"p{i}").__aenter__() for i in range(30)]
    for ws in clients:
        await receive(ws)
    drain = Drain.of(0.0, WINDOW, DEADLINE)
    began = [time.monotonic()]
    watchers = [asyncio.create_task(closed_at(ws, began)) for ws in clients]
    drain.begin()
    await live.server.drain(drain, Random(2))
    at = sorted(t for _, _, t in await asyncio.gather(*watchers))
    # 30 slots in 1.2 s: the first third of the window holds about a third, not everyone
    assert sum(1 for t in at if t < WINDOW / 3) < 20
    assert sum(1 for t in at if t >= WINDOW / 2) > 5


@pytest.mark.parametrize("limits", [Limits(send_buffer=4608)])
async def test_a_client_that_reads_nothing_is_cut_and_the_drain_ends(live: Live) -> None:
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    stuck.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(stuck, ("127.0.0.1", live.port))
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    head = (
        f"GET /live?token={live.token('quiet')} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(stuck, head.encode())
    async with live.open("t1", Role.TEACHER) as teacher:
        await receive(teacher)
        reading = asyncio.create_task(closed_at(teacher, [time.monotonic()]))  # it reads
        points = [[0.123, 0.456]] * 1000  # about 14 KB a stroke
        for i in range(30):  # the quiet one's buffers fill: the gateway holds what is left
            stroke = {"type": "board.stroke", "id": f"b{i}", "points": points}
            await teacher.send(json.dumps({**stroke, "colour": "#000000", "width": 2}))
        quiet = next(c for c in live.server.connections if c.claims.person == "quiet")
        for _ in range(500):
            if quiet.transport and quiet.transport.get_write_buffer_size() > 0:
                break
            await asyncio.sleep(0.01)
        assert quiet.transport and quiet.transport.get_write_buffer_size() > 0
        drain = Drain.of(0.0, 0.2, 1.0)
        drain.begin()
        await asyncio.wait_for(live.server.drain(drain, Random(3)), 10)
        assert not live.server.connections  # cut: its close frame could never go out
        assert (await reading)[:2] == (1001, "drain")
    stuck.close()


async def test_the_agent_check_and_the_health_port_answer_the_drain() -> None:
    drain = Drain.of(NOTICE, WINDOW, DEADLINE)
    agent = await serve_agent(drain, "127.0.0.1", 0, reuse_port=False)
    health = await serve_health(
        drain, "127.0.0.1", 0, reuse_port=False, metrics=lambda: b"homeroom_draining 0.0\n"
    )
    agent_port = agent.sockets[0].getsockname()[1]
    health_port = health.sockets[0].getsockname()[1]

    async def ask_agent() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", agent_port)
        word = await reader.read()
        writer.close()
        return word

    async def get(path: str) -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", health_port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        raw = await reader.read()
        writer.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        return int(head.split()[1]), body

    try:
        assert await ask_agent() == b"ready\n"
        assert await get("/readyz") == (200, b"ready\n")
        assert await get("/healthz") == (200, b"ok\n")
        assert (await get("/metrics"))[0] == 200
        drain.begin()
        assert await ask_agent() == b"drain\n"
        assert await get("/readyz") == (503, b"draining\n")
        assert await get("/healthz") == (200, b"ok\n")  # alive: do not restart it
        assert (await get("/nowhere"))[0] == 404
    finally:
        agent.close()
        health.close()


def test_health_answers_bad_requests_clearly() -> None:
    drain = Drain.of(1, 1, 3)
    assert health_answer(drain, b"POST /readyz HTTP/1.1").startswith(b"HTTP/1.1 400")
    assert health_answer(drain, b"garbage").startswith(b"HTTP/1.1 400")
    assert health_answer(drain, b"GET /readyz?x=1 HTTP/1.1").startswith(b"HTTP/1.1 200")


def test_the_drain_metrics() -> None:
    drain = Drain.of(1, 1, 3)
    names = {m.name: m.samples[0].value for m in DrainCollector(drain, gateway=True).collect()}
    assert names == {
        "homeroom_draining": 0.0,
        "homeroom_drain_clients_left": 0.0,
        "homeroom_drain_clients_closed": 0.0,
    }
    drain.begin()
    drain.clients_left, drain.closed = 7, 3
    names = {m.name: m.samples[0].value for m in DrainCollector(drain, gateway=True).collect()}
    assert names["homeroom_draining"] == 1.0
    assert names["homeroom_drain_clients_left"] == 7.0
    assert names["homeroom_drain_clients_closed"] == 3.0
    assert drain.agent_word() == b"drain\n" and not drain.begin()
