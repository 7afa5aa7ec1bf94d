"""What a mischievous pupil sends, over real WebSockets on 127.0.0.1: each gets its documented
error or close code, and the class goes on for everyone (docs/live.md#what-a-client-may-send)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode

from homeroom.core.live import commands
from homeroom.core.live.parts import Role
from homeroom.core.live.room import Room
from homeroom.live import conn
from homeroom.live.conn import Limits
from homeroom.live.jointoken import JoinClaims
from tests.live.conftest import Live, receive, teacher_and_pupil, until


def chat(text: str, cid: str) -> str:
    return json.dumps({"type": "chat.send", "id": cid, "text": text, "to": "all"})


def answer(message: dict[str, Any]) -> bool:
    return message["type"] in ("ack", "error", "pong")


async def still_chats(ws: ClientConnection, text: str, cid: str) -> dict[str, Any]:
    await ws.send(chat(text, cid))
    ack = await until(ws, answer)
    assert ack == {"v": 1, "type": "ack", "id": cid, "seq": ack["seq"]}, ack
    return ack


async def a_newcomer_joins(live: Live, person: str) -> dict[str, Any]:
    """A fresh client joins the class and chats; its snapshot is returned."""
    async with live.open(person) as newcomer:
        snapshot = await receive(newcomer)
        assert snapshot["type"] == "snapshot" and snapshot["you"]["where"] == "in"
        await still_chats(newcomer, f"hello from {person}", "n1")
        return snapshot


# A lone UTF-16 surrogate: valid JSON, plain ASCII on the wire, and no UTF-8 can carry it.
SURROGATE_CHAT = '{"type": "chat.send", "id": "c1", "text": "a \\ud800 b", "to": "all"}'


async def test_a_chat_with_a_lone_surrogate_is_refused_and_everyone_can_still_join(
    live: Live,
) -> None:
    async with teacher_and_pupil(live) as (teacher, pupil):
        await pupil.send(SURROGATE_CHAT)
        refused = await until(pupil, answer)
        assert refused == {"v": 1, "type": "error", "error": "bad_text"}
        await still_chats(pupil, "sorry", "c2")
        snapshot = await a_newcomer_joins(live, "p2")
        assert [m["text"] for m in snapshot["chat"]] == ["sorry"]
        here = {m["person"] for m in snapshot["participants"]}
        assert here == {"t1", "p1", "p2"}
        await still_chats(teacher, "on continue", "t1")
    assert [data["text"] for _, kind, data in live.recorder.records if kind == "chat"] == [
        "sorry",
        "hello from p2",
        "on continue",
    ]


@pytest.mark.parametrize(
    "message",
    [
        '{"type": "ping", "id": "\\ud800"}',
        '{"type": "teleport", "id": "\\udfff"}',
        '{"type": "hand.raise", "id": "\\udbff\\udbff"}',
        '{"type": "hand.raise", "id": "h1", "\\ud800": 1}',
        '{"type": "chat.send", "id": "c1", "text": "nul \\u0000 byte", "to": "all"}',
    ],
    ids=["ping_id", "unknown_id", "command_id", "key", "nul"],
)
async def test_text_that_cannot_be_written_back_is_refused_wherever_it_is(
    live: Live, message: str
) -> None:
    async with live.open("t1", Role.TEACHER) as teacher:
        await receive(teacher)
        await teacher.send(message)
        assert await until(teacher, answer) == {"v": 1, "type": "error", "error": "bad_text"}
        await teacher.send('{"type": "ping", "id": "p2"}')
        assert await until(teacher, answer) == {"v": 1, "type": "pong", "id": "p2"}
        await a_newcomer_joins(live, "p1")


async def test_control_characters_in_a_chat_are_refused_with_the_field(live: Live) -> None:
    async with live.open("t1", Role.TEACHER) as teacher:
        await receive(teacher)
        await teacher.send(chat("bell \x07", "c1"))
        assert await until(teacher, answer) == {
            "v": 1,
            "type": "error",
            "error": "bad_text",
            "id": "c1",
            "detail": "text",
        }
        await still_chats(teacher, "two\nlines\tand a tab", "c2")


async def test_a_ping_id_that_is_not_a_client_id_is_not_echoed(live: Live) -> None:
    async with live.open("p1") as pupil:
        await receive(pupil)
        for odd in ("a b", "x" * 65, "é"):
            await pupil.send(json.dumps({"type": "ping", "id": odd}))
            assert await until(pupil, answer) == {"v": 1, "type": "pong"}


@pytest.mark.parametrize(
    "message",
    [
        "[" * 2000 + "]" * 2000,
        '{"type": "hand.raise", "id": "h1", "x": ' + "[" * 2000 + "]" * 2000 + "}",
        '{"type": "ping", "a":' * 600 + "1" + "}" * 600,
    ],
    ids=["arrays", "inside_a_command", "objects"],
)
async def test_deep_nesting_gets_an_error_and_the_connection_goes_on(
    live: Live, message: str
) -> None:
    async with teacher_and_pupil(live) as (_teacher, pupil):
        await pupil.send(message)
        assert await until(pupil, answer) == {"v": 1, "type": "error", "error": "too_deep"}
        await still_chats(pupil, "still here", "c1")
        await a_newcomer_joins(live, "p2")


@pytest.mark.parametrize(
    "number",
    ["NaN", "Infinity", "-Infinity", "1e400", "-1E+999", "1" * 400 + ".5", "1" * 5000],
    ids=["nan", "infinity", "minus_infinity", "1e400", "minus_1e999", "400_digits", "10**5000"],
)
async def test_numbers_json_cannot_carry_get_bad_json(live: Live, number: str) -> None:
    async with live.open("t1", Role.TEACHER) as teacher:
        await receive(teacher)
        await teacher.send(f'{{"type": "hand.raise", "id": "h1", "n": {number}}}')
        assert await until(teacher, answer) == {"v": 1, "type": "error", "error": "bad_json"}
        await still_chats(teacher, "still here", "c1")


async def test_a_bug_meeting_a_message_closes_that_connection_with_1011_and_logs_once(
    live: Live, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(link: object, message: object) -> None:
        raise RuntimeError("a bug in the hub")

    async with live.open("t1", Role.TEACHER) as teacher:
        await receive(teacher)
        monkeypatch.setattr(live.server.hub, "message", broken)
        caplog.set_level(logging.ERROR, "homeroom.live")
        for person in ("p1", "p2"):
            async with live.open(person) as pupil:
                await receive(pupil)
                await pupil.send('{"type": "hand.raise", "id": "h1"}')
                with pytest.raises(ConnectionClosed) as closed:
                    await until(pupil, lambda m: False)
                assert closed.value.rcvd is not None
                assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
                    1011,
                    "internal_error",
                )
        monkeypatch.undo()
        await still_chats(teacher, "still here", "c1")
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert len(tracebacks) == 1 and "a bug in the hub" in str(tracebacks[0].exc_info)
    assert len(caplog.records) == 1  # the second time is only counted: no traceback storm


async def test_a_join_that_fails_leaves_no_ghost_in_the_presence_list(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Room.snapshot

    def snapshot(room: Room, person: str) -> dict[str, Any]:
        if person == "p1":
            raise RuntimeError("a bug in the snapshot")
        return real(room, person)

    async with live.open("t1", Role.TEACHER) as teacher:
        await receive(teacher)
        monkeypatch.setattr(Room, "snapshot", snapshot)
        async with live.open("p1") as ghost:
            with pytest.raises(ConnectionClosed) as closed:
                await receive(ghost)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
        left = await until(teacher, lambda m: m["type"] == "presence.left")
        assert left["person"] == "p1"
        snapshot_of_p2 = await a_newcomer_joins(live, "p2")
        assert {m["person"] for m in snapshot_of_p2["participants"]} == {"t1", "p2"}


async def test_without_the_parser_s_check_the_encoder_still_keeps_the_class_going(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: were a lone surrogate ever in a room, every frame is still written."""
    monkeypatch.setattr(commands, "printable", lambda text: True)
    monkeypatch.setattr(conn, "decode", json.loads)
    async with live.open("t1", Role.TEACHER) as teacher:
        await receive(teacher)
        await teacher.send(SURROGATE_CHAT)
        got = json.loads(await teacher.recv())  # not `receive`: it refuses lone surrogates
        assert got["type"] == "chat.message" and got["text"] == "a \ud800 b"
        async with live.open("p1") as pupil:
            snapshot = json.loads(await pupil.recv())
            assert snapshot["chat"][0]["text"] == "a \ud800 b"


@pytest.mark.parametrize("limits", [Limits(rate="5 per 60 seconds", strikes=3)])
async def test_a_flood_of_pings_counts_like_messages_and_is_closed_with_4429(live: Live) -> None:
    """Ping frames and `ping` messages are frames to parse and answers to write: a read of
    256 KB of empty pings is 43,000 of them, so they count against the rate limit too."""
    async with teacher_and_pupil(live) as (teacher, pupil):
        for n in range(3):
            await pupil.send(json.dumps({"type": "ping", "id": f"p{n}"}))
            assert (await until(pupil, answer))["type"] == "pong"
        pongs = [await pupil.ping() for _ in range(2)]  # the websockets client's ping frames
        for waiter in pongs:
            await asyncio.wait_for(waiter, 5)
        flood = Frame(Opcode.PING, b"").serialize(mask=True) * 43_000
        pupil.transport.write(flood)  # below the client library: one write, all at once
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await receive(pupil)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
        await still_chats(teacher, "on continue", "t1")


async def test_a_join_token_whose_name_cannot_be_stored_is_refused_at_the_door(
    live: Live,
) -> None:
    """Signed by the school, so a school bug: the class must not pay for it. (A lone surrogate
    cannot even be signed: itsdangerous writes the payload as UTF-8.)"""
    claims = JoinClaims("s1", "p9", Role.PUPIL, "Léa\x00", int(live.clock.now + 600))
    with pytest.raises(InvalidStatus) as refused:
        await connect(live.url(live.tokens.issue(claims)), open_timeout=5)
    assert refused.value.response.status_code == 403
    assert live.server.hub.rooms == {}


async def test_a_resume_query_with_digits_that_are_not_ascii_gets_a_snapshot(live: Live) -> None:
    """`"²".isdigit()` is true and `int("²")` raises: it raised out of the handshake."""
    async with live.open("p1", epoch="e", seq="²") as pupil:
        assert (await receive(pupil))["type"] == "snapshot"


async def test_a_poll_choice_that_is_not_text_people_can_read_is_named(live: Live) -> None:
    async with live.open("t1", Role.TEACHER) as teacher:
        await receive(teacher)
        poll = {"type": "poll.open", "id": "o1", "question": "?", "choices": ["a", "b\x1b"]}
        await teacher.send(json.dumps(poll))
        refused = await until(teacher, answer)
        assert (refused["error"], refused["detail"]) == ("bad_text", "choices")


async def test_a_bug_meeting_a_handshake_closes_that_connection_and_the_class_goes_on(
    live: Live, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(token: str, now: float) -> JoinClaims:
        raise RuntimeError("a bug in the token check")

    async with live.open("t1", Role.TEACHER) as teacher:
        await receive(teacher)
        caplog.set_level(logging.ERROR, "homeroom.live")
        monkeypatch.setattr(live.server.gateway.tokens, "verify", broken)
        with pytest.raises(InvalidStatus) as refused:
            async with live.open("p1"):
                pass
        assert refused.value.response.status_code == 500
        monkeypatch.undo()
        await still_chats(teacher, "still here", "c1")
        await a_newcomer_joins(live, "p2")
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert len(tracebacks) == 1 and "a bug in the token check" in str(tracebacks[0].exc_info)
