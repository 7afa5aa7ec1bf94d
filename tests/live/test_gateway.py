"""The gateway over real WebSockets on 127.0.0.1: tokens, fan-out, resume, bad input, expiry."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from homeroom.core.live.parts import Role
from homeroom.live.conn import Limits
from homeroom.live.server import PING_AFTER_S, sweep
from homeroom.live.wire import json_frame
from tests.live.conftest import Live, receive, until


def send(kind: str, cid: str, **fields: Any) -> str:
    return json.dumps({"v": 1, "type": kind, "id": cid, **fields})


def chat(text: str, cid: str, to: str = "all") -> str:
    return send("chat.send", cid, text=text, to=to)


def is_chat(message: dict[str, Any]) -> bool:
    return message.get("type") == "chat.message"


async def test_a_connection_without_a_valid_token_is_refused_before_any_room_exists(
    live: Live,
) -> None:
    forged = live.token("p1")[:-2] + "xx"
    expired = live.token("p1", ttl=-1)
    for url in (live.url(""), live.url(forged), live.url(expired)):
        with pytest.raises(InvalidStatus) as refused:
            await connect(url, open_timeout=5)
        assert refused.value.response.status_code == 403
    assert live.server.hub.rooms == {}


async def test_a_chat_message_reaches_the_class_once_with_the_same_sequence_number(
    live: Live,
) -> None:
    async with live.open("t1", Role.TEACHER) as teacher, live.open("p1") as pupil:
        assert (await receive(teacher))["type"] == "snapshot"
        snapshot = await receive(pupil)
        assert snapshot["type"] == "snapshot" and snapshot["you"]["where"] == "in"
        await pupil.send(chat("bonjour <b>", "c1"))
        ack = await until(pupil, lambda m: m["type"] == "ack")
        seen_by_teacher = await until(teacher, is_chat)
        assert seen_by_teacher["text"] == "bonjour <b>" and seen_by_teacher["seq"] == ack["seq"]
    assert live.recorder.records[0][1] == "chat"


async def test_a_reconnecting_pupil_gets_exactly_what_it_missed(live: Live) -> None:
    async with live.open("t1", Role.TEACHER) as teacher:
        await receive(teacher)
        async with live.open("p1") as pupil:
            snapshot = await receive(pupil)
            epoch, seq = snapshot["epoch"], snapshot["seq"]
        for n in range(3):
            await teacher.send(chat(f"message {n}", f"t{n}"))
            await until(teacher, lambda m: m["type"] == "ack")
        async with live.open("p1", epoch=epoch, seq=seq) as pupil:
            texts = []
            while len(texts) < 3:
                message = await receive(pupil)
                assert message["type"] != "snapshot"
                if is_chat(message):
                    texts.append(message["text"])
            assert texts == ["message 0", "message 1", "message 2"]


async def test_a_far_behind_or_foreign_epoch_gets_a_snapshot(live: Live) -> None:
    async with live.open("t1", Role.TEACHER) as teacher:
        await receive(teacher)
        async with live.open("p1", epoch="another", seq=3) as pupil:
            assert (await receive(pupil))["type"] == "snapshot"


async def test_bad_messages_get_an_error_and_the_connection_goes_on(live: Live) -> None:
    async with live.open("t1", Role.TEACHER) as teacher:
        await receive(teacher)
        await teacher.send("{not json")
        assert (await receive(teacher))["error"] == "bad_json"
        await teacher.send(send("poll.vote", "x1", poll="one"))
        assert (await receive(teacher))["error"] == "bad_field"
        await teacher.send(json.dumps({"type": "ping", "id": "p"}))
        assert await receive(teacher) == {"v": 1, "type": "pong", "id": "p"}


async def test_an_oversize_frame_closes_the_connection_and_the_room_goes_on(live: Live) -> None:
    async with live.open("t1", Role.TEACHER) as teacher, live.open("p1") as pupil:
        await receive(teacher)
        await receive(pupil)
        await pupil.send("x" * (live.server.gateway.limits.max_frame + 1))
        with pytest.raises(ConnectionClosed) as closed:
            await receive(pupil)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        left = await until(teacher, lambda m: m["type"] == "presence.left")
        assert left["person"] == "p1"
        await teacher.send(chat("still here", "c9"))
        assert (await until(teacher, is_chat))["text"] == "still here"


async def test_a_binary_frame_is_refused(live: Live) -> None:
    async with live.open("p1") as pupil:
        await receive(pupil)
        await pupil.send(b"\x00\x01")
        with pytest.raises(ConnectionClosed) as closed:
            await receive(pupil)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003


async def test_an_expired_token_closes_the_socket_with_4001(live: Live) -> None:
    async with connect(live.url(live.token("p1", ttl=60))) as pupil:
        await receive(pupil)
        live.clock.now += 61
        swept = await sweep(live.server.gateway, lambda: live.clock.now)
        assert swept.expired == 1
        with pytest.raises(ConnectionClosed) as closed:
            await receive(pupil)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "token_expired")


async def test_the_sweep_pings_a_slice_at_a_time_and_the_loop_runs_in_between(
    live: Live,
) -> None:
    async with live.open("p1") as a, live.open("p2") as b, live.open("p3") as c:
        for pupil in (a, b, c):
            await receive(pupil)
        live.clock.now += PING_AFTER_S
        turns = 0

        async def count_turns() -> None:
            nonlocal turns
            while True:
                turns += 1
                await asyncio.sleep(0)

        counter = asyncio.create_task(count_turns())
        await asyncio.sleep(0)
        before = turns
        swept = await sweep(live.server.gateway, lambda: live.clock.now, size=1)
        counter.cancel()
        assert swept.pinged == 3
        assert turns - before >= 2  # the other task ran between the three slices
        conns = live.server.gateway.open
        # each browser answers its ping by itself, which counts as hearing from it
        await asyncio.wait_for(_until(lambda: all(k.seen == live.clock.now for k in conns)), 5)


async def _until(done: Callable[[], bool]) -> None:
    while not done():
        await asyncio.sleep(0.01)


async def test_a_removed_pupil_is_closed_with_4401_and_cannot_rejoin(live: Live) -> None:
    async with live.open("t1", Role.TEACHER) as teacher, live.open("p1") as pupil:
        await receive(teacher)
        await receive(pupil)
        await teacher.send(send("mod.remove", "r1", person="p1"))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await receive(pupil)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        async with live.open("p1") as again:
            with pytest.raises(ConnectionClosed) as closed:
                await receive(again)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


SLOW = Limits(write_high=2_000, write_hard=200_000, send_buffer=4_096)


def raw_client(live: Live, person: str) -> socket.socket:
    """A client that completes the handshake, then reads only when told to."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4_096)
    sock.connect(("127.0.0.1", live.port))
    token = live.token(person)
    sock.sendall(
        f"GET /live?token={token} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    sock.setblocking(False)
    return sock


async def wait_for(predicate: Callable[[], bool], seconds: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("limits", [SLOW])
async def test_a_client_that_stops_reading_is_skipped_then_caught_up(live: Live) -> None:
    async with live.open("t1", Role.TEACHER) as teacher:
        await receive(teacher)
        sock = raw_client(live, "p1")
        await wait_for(lambda: len(live.server.connections) == 2)
        (conn,) = [c for c in live.server.connections if c.claims.person == "p1"]
        n = 0
        while True:  # fill the socket until it stays full: the kernel may still drain a little
            while not conn.lagging:
                await teacher.send(chat("x" * 400, f"c{n}"))
                await until(teacher, lambda m: m["type"] == "ack")
                n += 1
            await asyncio.sleep(0.3)
            if conn.lagging:
                break
        skipped_from = conn.last_seq
        for k in range(5):  # while it lags, nothing is written to it
            await teacher.send(chat(f"late {k}", f"l{k}"))
            await until(teacher, lambda m: m["type"] == "ack")
        assert conn.last_seq == skipped_from
        received = bytearray()
        loop = asyncio.get_running_loop()
        while b"late 4" not in received:  # the client reads again: it is caught up
            received += await asyncio.wait_for(loop.sock_recv(sock, 65536), 5)
        assert not conn.lagging and conn.last_seq == live.server.hub.rooms["s1"].room.seq
        sock.close()


@pytest.mark.parametrize("limits", [Limits(write_high=2_000, write_hard=20_000, send_buffer=4_096)])
async def test_a_client_that_never_reads_is_cut_off_and_memory_stays_bounded(live: Live) -> None:
    sock = raw_client(live, "p1")
    await wait_for(lambda: len(live.server.connections) == 1)
    (conn,) = live.server.connections
    frame = json_frame({"v": 1, "type": "filler", "data": "y" * 4_000})
    largest = 0
    for _ in range(1_000):
        if conn.transport is None or conn.closing:
            break
        conn.send(frame)  # what a snapshot or a replay does: it writes whatever the lag
        if conn.transport is not None:
            largest = max(largest, conn.transport.get_write_buffer_size())
        await asyncio.sleep(0)
    assert conn.closing, "never cut off"
    assert largest <= 20_000 + len(frame)
    await wait_for(lambda: conn not in live.server.connections)
    sock.close()


@pytest.mark.parametrize("limits", [Limits(rate="5 per 60 seconds", strikes=3)])
async def test_a_flood_of_messages_is_refused_then_closed_and_the_class_goes_on(
    live: Live,
) -> None:
    async with live.open("t1", Role.TEACHER) as teacher, live.open("p1") as pupil:
        await receive(teacher)
        await receive(pupil)
        for n in range(5):  # within the limit: applied
            await pupil.send(send("hand.raise", f"h{n}"))
            assert (await until(pupil, lambda m: m["type"] in ("ack", "error")))["type"] == "ack"
        await pupil.send(send("hand.lower", "x1"))
        assert (await until(pupil, lambda m: m["type"] == "error"))["error"] == "rate_limited"
        for n in range(2):
            await pupil.send(send("hand.lower", f"y{n}"))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await receive(pupil)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
        await teacher.send(chat("on continue", "t9"))
        assert (await until(teacher, is_chat))["text"] == "on continue"


def _reset_under_the_fan_out(data: bytes) -> None:
    """What uvloop's transport.write raises once the peer has reset the socket, until the
    connection's `connection_lost` runs (a reconnect storm has thousands in that state)."""
    raise RuntimeError("unable to perform operation on <TCPTransport closed=True>")


async def test_sockets_reset_under_the_fan_out_do_not_stop_an_event_for_the_others(
    live: Live,
) -> None:
    async with (
        live.open("t1", Role.TEACHER) as teacher,
        live.open("p1") as p1,
        live.open("p2") as p2,
        live.open("p3") as p3,
    ):
        for ws in (teacher, p1, p2, p3):
            await until(ws, lambda m: m["type"] == "snapshot")
        await until(teacher, lambda m: m.get("person") == "p3" and m["type"] == "presence.joined")
        for conn in live.server.connections:
            if conn.claims.person in ("p1", "p2"):
                conn.write = _reset_under_the_fan_out
        await teacher.send(chat("encore là ?", "c1"))
        ack = await until(teacher, lambda m: m["type"] == "ack")
        seen = await until(p3, is_chat)
        assert seen["seq"] == ack["seq"] and seen["text"] == "encore là ?"
        await teacher.send(chat("toujours", "c2"))  # the teacher was not closed for it
        assert (await until(p3, is_chat))["text"] == "toujours"
