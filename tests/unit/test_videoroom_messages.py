"""Janus VideoRoom's requests and answers as data (core.videoroom), without Janus.

The answers are what Debian's Janus 1.1.2 sent (captured against it)."""

from __future__ import annotations

from typing import Any

import pytest

from homeroom.core import videoroom as vr
from homeroom.core.janus import JanusProtocolError, PluginError

KEY = "k" * 20


def test_create_asks_for_a_room_behind_the_admin_key() -> None:
    body = vr.create(77, KEY, publishers=3, bitrate=512_000)
    assert body["request"] == "create" and body["room"] == 77 and body["admin_key"] == KEY
    assert body["publishers"] == 3 and body["bitrate"] == 512_000
    assert body["audiolevel_event"] is True and body["permanent"] is False
    assert "bitrate" not in vr.create(77, KEY)


@pytest.mark.parametrize(
    ("call", "why"),
    [
        (lambda: vr.create(0, KEY), "a room is an integer"),
        (lambda: vr.create(2**53, KEY), "a room is an integer"),
        (lambda: vr.create(True, KEY), "a room is an integer"),
        (lambda: vr.destroy("77"), "a room is an integer"),  # type: ignore[arg-type]
        (lambda: vr.create(1, KEY, publishers=0), "publishers"),
        (lambda: vr.create(1, KEY, bitrate=-1), "bitrate"),
        (lambda: vr.create(1, KEY, audio_level_average=200), "audio_level_average"),
        (lambda: vr.subscribe(1, []), "at least one feed"),
        (lambda: vr.configure_stream("1", substream=3), "substream"),
        (lambda: vr.configure_stream("1", temporal=-1), "temporal"),
    ],
)
def test_bad_arguments_are_refused_clearly(call: Any, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        call()


def test_subscribe_and_configure_bodies() -> None:
    body = vr.subscribe(77, [10, 11], private_id=5)
    assert body["ptype"] == "subscriber" and body["streams"] == [{"feed": 10}, {"feed": 11}]
    assert body["private_id"] == 5
    layer = vr.configure_stream("1", substream=0, temporal=2)
    assert layer == {
        "request": "configure",
        "streams": [{"mid": "1", "send": True, "substream": 0, "temporal": 2}],
    }
    assert vr.configure_stream("1", send=False)["streams"] == [{"mid": "1", "send": False}]
    assert vr.list_rooms(KEY) == {"request": "list", "admin_key": KEY}
    assert vr.join_publisher(77, "teacher") == {
        "request": "join",
        "ptype": "publisher",
        "room": 77,
        "display": "teacher",
    }


def test_answers_are_read() -> None:
    assert vr.answer({"videoroom": "created", "room": 77, "permanent": False}) == vr.Created(77)
    assert vr.answer({"videoroom": "destroyed", "room": 77}) == vr.Destroyed(77)
    rooms = vr.answer({"videoroom": "success", "list": [{"room": 77}, {"room": 5}]})
    assert isinstance(rooms, vr.Rooms) and rooms.ids() == {5, 77}
    assert vr.answer({"videoroom": "success", "room": 77, "exists": True}) == vr.Exists(77, True)
    assert vr.answer({"videoroom": "participants", "room": 77, "participants": []}) == (
        vr.Participants(77, ())
    )
    joined = vr.answer(
        {
            "videoroom": "joined",
            "room": 77,
            "description": "Room 77",
            "id": 4707123154449039,
            "private_id": 2107734255,
            "publishers": [],
        }
    )
    assert joined == vr.Joined(77, 4707123154449039, 2107734255, ())
    talking = vr.answer({"videoroom": "talking", "room": 77, "id": 3, "audio-level-dBov-avg": 31.5})
    assert talking == vr.Talking(77, 3, True, 31.5)
    stopped = vr.answer({"videoroom": "stopped-talking", "room": 77, "id": 3})
    assert stopped == vr.Talking(77, 3, False, None)
    news = vr.answer({"videoroom": "event", "room": 77, "leaving": 3})
    assert isinstance(news, vr.News) and news.data["leaving"] == 3


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (429, "Missing mandatory element (admin_key)"),
        (433, "Unauthorized (wrong admin_key)"),
        (427, "Room 77 already exists"),
        (423, "Unknown request 'bogus'"),
    ],
)
def test_a_refusal_is_raised(code: int, reason: str) -> None:
    with pytest.raises(PluginError) as caught:
        vr.answer({"videoroom": "event", "error_code": code, "error": reason})
    assert caught.value.code == code and caught.value.reason == reason


@pytest.mark.parametrize(
    "data",
    [
        {"room": 1},
        {"videoroom": "created"},
        {"videoroom": "created", "room": "77"},
        {"videoroom": "success", "list": {"room": 1}},
        {"videoroom": "joined", "room": 1, "id": None},
        {"videoroom": "participants", "room": 1, "participants": [1]},
    ],
)
def test_what_the_plugin_cannot_have_said_is_a_clear_error(data: dict[str, Any]) -> None:
    with pytest.raises(JanusProtocolError):
        vr.answer(data)
