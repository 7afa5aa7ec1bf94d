"""Whatever clients send a room, it speaks the protocol, every frame it makes can be written, and
a newcomer can still join and chat (docs/live.md#what-a-client-may-send).

The room is fed what the gateway would give it — the text decoded by core/clientjson.py, when
it is accepted — and also raw values the decoder would refuse (lone surrogates, NaN, deep lists),
since the parser must hold on its own. Bounded here; `-m slow` runs many more examples.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homeroom.core.clientjson import Refused, decode
from homeroom.core.live.parts import Role, Where
from homeroom.core.live.room import CLOSE_ENDED, Close, Outcome, Room, Store
from homeroom.live.wire import json_frame
from tests.live.conftest import check_server, strict
from tests.live.strategies import commands, json_values, texts

PEOPLE = {"t": Role.TEACHER, "p1": Role.PUPIL, "p2": Role.PUPIL, "g:1": Role.GUEST}
NEWCOMER = "p9"


def decoded(text: str) -> Any:
    """What the gateway hands the room for this text, or a marker that it refused it."""
    try:
        return decode(text)
    except Refused:
        return Refused


inputs = st.one_of(commands(), json_values, texts.map(decoded))
scripts = st.lists(st.tuples(st.sampled_from(sorted(PEOPLE)), inputs), max_size=15)


def sent(frame_of: dict[str, Any]) -> None:
    """The message validates, and its frame is strict JSON in UTF-8 that reads back the same."""
    check_server(frame_of)
    frame = json_frame(frame_of)
    payload = frame[2:] if frame[1] < 126 else frame[4:] if frame[1] == 126 else frame[10:]
    strict(json.loads(payload.decode("utf-8")))


def speaks(out: Outcome, room: Room) -> Outcome:
    for event in out.events:
        sent(event.message(room.epoch))
    for reply in out.replies:
        sent(reply)
    for effect in out.effects:
        if isinstance(effect, Store):
            strict(dict(effect.data))  # it goes into the school's database
    return out


def run(script: list[tuple[str, Any]]) -> None:
    room = Room("s1", "e1", lobby=True)
    for person, role in PEOPLE.items():
        speaks(room.join(person, person.upper(), role, 0.0), room)
    for n, (person, message) in enumerate(script, start=1):
        if message is not Refused:
            out = speaks(room.handle(person, message, float(n)), room)
            assert len(out.replies) == 1, out
    for person in room.members:
        sent(room.snapshot(person))
    a_newcomer_joins_and_chats(room, float(len(script) + 1))


def a_newcomer_joins_and_chats(room: Room, now: float) -> None:
    if room.ended:  # the teacher ended the class: nobody new comes in, and is told why
        effects = room.join(NEWCOMER, "New", Role.PUPIL, now).effects
        assert effects == [Close(NEWCOMER, CLOSE_ENDED, "ended")]
        return
    for kind, fields in (("mod.lock", {"on": False}), ("mod.mute", {"on": False})):
        reply = teacher_does(room, kind, now, **fields)
        assert reply["type"] == "ack", reply
    speaks(room.join(NEWCOMER, "New", Role.PUPIL, now), room)
    if room.members[NEWCOMER].where is Where.LOBBY:
        assert teacher_does(room, "lobby.admit", now, person=NEWCOMER)["type"] == "ack"
    sent(room.snapshot(NEWCOMER))
    message = {"type": "chat.send", "id": "new1", "text": "bonjour", "to": "all"}
    reply = speaks(room.handle(NEWCOMER, message, now), room).replies[0]
    assert reply["type"] == "ack", reply


def teacher_does(room: Room, kind: str, now: float, **fields: Any) -> dict[str, Any]:
    message = {"type": kind, "id": "reset-" + kind.replace(".", "-"), **fields}
    reply: dict[str, Any] = speaks(room.handle("t", message, now), room).replies[0]
    return reply


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scripts)
def test_whatever_clients_send_a_room_speaks_the_protocol(script: list[tuple[str, Any]]) -> None:
    run(script)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scripts)
def test_whatever_clients_send_a_room_speaks_the_protocol_at_length(
    script: list[tuple[str, Any]],
) -> None:
    run(script)
