"""Whatever a client sends the gateway, over real WebSockets on 127.0.0.1: every message the
server sends matches the protocol's schema, a connection it closes gets a documented code (never
1011, which means a bug), and afterwards a fresh client still joins and chats.

One gateway for all the examples of a test, on an event loop of the test's own (hypothesis runs
examples one after the other, synchronously). Each example: a teacher and a pupil connect, each
sends generated messages (the teacher's never end the class), the teacher puts the room back in
order (lobby off, unlocked, chat open, board clear, no groups), and a newcomer joins and chats.
Bounded here; `-m slow` runs many more examples.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

from homeroom.backends.av_placement import MemoryPlacement
from homeroom.core.live.parts import Role
from homeroom.live.av import AvRelay, AvSettings
from homeroom.live.conn import Limits
from homeroom.live.hub import MemoryRecorder
from homeroom.live.jointoken import JoinTokens
from homeroom.live.server import LiveServer
from tests.live.conftest import SECRET, Clock, Live, receive
from tests.live.strategies import texts

# Close codes a client may be given for what it sent (docs/live.md#close-codes); 1011 is a bug.
DOCUMENTED = {1002, 1003, 1007, 1008, 1009, 4401, 4429}


# A frame-level misdeed now and then, besides the messages.
def _reserved() -> bytes:
    frame = bytearray(Frame(Opcode.TEXT, b"{}").serialize(mask=True))
    frame[0] |= 0x20  # RSV2: no extension was agreed (websockets will not write it itself)
    return bytes(frame)


FRAMES = {
    "binary": Frame(Opcode.BINARY, b"\x00\x01").serialize(mask=True),
    "not_utf8": Frame(Opcode.TEXT, b"\xed\xa0\x80").serialize(mask=True),  # a surrogate
    "orphan": Frame(Opcode.CONT, b"x").serialize(mask=True),
    "reserved": _reserved(),
}
# What the teacher does after each example, and the refusals that only say it was done already.
RESET = [
    ("lobby.set", {"on": False}, None),
    ("mod.lock", {"on": False}, None),
    ("mod.mute", {"on": False}, None),
    ("board.clear", {}, None),
    ("breakout.end", {}, "breakout_off"),
]
sends = st.lists(texts | st.sampled_from(sorted(FRAMES)), max_size=8)
teachers = st.lists(texts.filter(lambda text: "class.end" not in text), max_size=4)


@pytest.fixture
def gateway() -> Iterator[tuple[asyncio.AbstractEventLoop, Live]]:
    loop = asyncio.new_event_loop()
    clock, recorder = Clock(), MemoryRecorder()
    # the rate limit apart: examples follow each other faster than a pupil types
    # audio and video on, towards a Janus that is not there: every av.* message is checked,
    # and those that pass the checks get janus_unavailable (tests/av/test_relay.py has Janus)
    nowhere = AvSettings(("ws://127.0.0.1:9",), "s" * 20, "k" * 20, timeout_s=1)
    server = LiveServer(
        SECRET,
        recorder=recorder,
        limits=Limits(rate="1000000 per second"),
        clock=clock,
        av=AvRelay(nowhere, MemoryPlacement(clock)),
    )
    port = loop.run_until_complete(server.start("127.0.0.1", 0))
    try:
        yield loop, Live(server, port, clock, recorder, JoinTokens(SECRET))
    finally:
        loop.run_until_complete(server.stop())
        loop.close()


async def deliver(ws: ClientConnection, items: list[str]) -> int | None:
    """Send `items`, then a ping, and read (and check) everything until its pong; the close
    code if the server closed the connection instead."""
    try:
        for item in items:
            if item in FRAMES:
                ws.transport.write(FRAMES[item])
            else:
                await ws.send(item)
        await ws.send('{"type": "ping", "id": "end"}')
        while (await receive(ws)) != {"v": 1, "type": "pong", "id": "end"}:
            pass
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "closed without a close frame"
        return closed.rcvd.code
    return None


async def command(ws: ClientConnection, kind: str, cid: str, **fields: Any) -> dict[str, Any]:
    await ws.send(json.dumps({"type": kind, "id": cid, **fields}))
    while True:
        message = await receive(ws)
        if message.get("id") == cid and message["type"] in ("ack", "error"):
            return message


async def example(live: Live, n: int, pupil_sends: list[str], teacher_sends: list[str]) -> None:
    async with live.open("t1", Role.TEACHER) as teacher, live.open(f"p{n}") as pupil:
        await receive(teacher)
        await receive(pupil)
        for code in await asyncio.gather(
            deliver(pupil, pupil_sends), deliver(teacher, teacher_sends)
        ):
            assert code is None or code in DOCUMENTED, code
    async with live.open("t1", Role.TEACHER) as teacher:
        await receive(teacher)
        # the board and the groups too, or every snapshot would grow with the examples
        for kind, fields, done_already in RESET:
            reply = await command(teacher, kind, f"{kind.replace('.', '-')}-{n}", **fields)
            assert reply["type"] == "ack" or reply.get("error") == done_already, reply
        async with live.open(f"new{n}") as newcomer:
            snapshot = await receive(newcomer)
            assert snapshot["type"] == "snapshot" and snapshot["you"]["where"] == "in"
            reply = await command(newcomer, "chat.send", "c1", text="bonjour", to="all")
            assert reply["type"] == "ack", reply


def exercise(gateway: tuple[asyncio.AbstractEventLoop, Live], examples: int) -> None:
    loop, live = gateway
    numbers = itertools.count()

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(sends, teachers)
    def run(pupil_sends: list[str], teacher_sends: list[str]) -> None:
        coroutine = example(live, next(numbers), pupil_sends, teacher_sends)
        loop.run_until_complete(asyncio.wait_for(coroutine, 30))

    run()
    assert live.server.hub.faults.count == 0  # no bug met, logged or not


def test_whatever_clients_send_the_gateway_the_class_goes_on(
    gateway: tuple[asyncio.AbstractEventLoop, Live],
) -> None:
    exercise(gateway, 25)


@pytest.mark.slow
def test_whatever_clients_send_the_gateway_the_class_goes_on_at_length(
    gateway: tuple[asyncio.AbstractEventLoop, Live],
) -> None:
    exercise(gateway, 250)
