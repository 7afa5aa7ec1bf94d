"""The gateway over real WebSockets on 127.0.0.1: tokens, fan-out, resume, bad input, expiry."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from homeroom.core.live.parts import Role
from homeroom.live.server import sweep
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
        swept = sweep(live.server.gateway, live.clock.now)
        assert swept.expired == 1
        with pytest.raises(ConnectionClosed) as closed:
            await receive(pupil)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "token_expired")


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
