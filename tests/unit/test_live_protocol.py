"""The room speaks protocol v1 as docs/live-protocol.schema.json says: every event, reply and
snapshot of a class driven through every command validates, and so does every command sent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from homeroom.core.live import commands
from homeroom.core.live.parts import Role
from homeroom.core.live.room import Outcome, Room
from tests.live.conftest import SCHEMA, check, protocol

T, P1, P2, P3, G = "t1", "p1", "p2", "p3", "g:1"
SCHEMA_DEFS = json.loads(SCHEMA.read_text(encoding="utf-8"))["$defs"]
EVENT_KINDS = set(SCHEMA_DEFS["event"]["properties"]["type"]["enum"])
ERRORS = set(SCHEMA_DEFS["error"]["properties"]["error"]["enum"])


class Recorded:
    """A room whose every message out is validated and kept, and every command in validated."""

    def __init__(self) -> None:
        self.room = Room("s1", "epoch-a", lobby=True)
        self.n = 0
        self.kinds: set[str] = set()
        self.replies: list[dict[str, Any]] = []
        self.snapshots = 0

    def _outcome(self, out: Outcome) -> Outcome:
        for event in out.events:
            message = event.message(self.room.epoch)
            check("server", message)
            check("event", message)
            self.kinds.add(event.kind)
        for reply in out.replies:
            check("server", reply)
            self.replies.append(reply)
        return out

    def join(self, person: str, role: Role = Role.PUPIL) -> Outcome:
        return self._outcome(self.room.join(person, person.upper(), role, 100.0))

    def leave(self, person: str) -> Outcome:
        return self._outcome(self.room.leave(person, 101.0))

    def send(self, who: str, kind: str, /, *, cid: str | None = None, **fields: Any) -> Outcome:
        self.n += 1
        message = {"v": 1, "type": kind, "id": cid or f"m{self.n}", **fields}
        check("client", message)
        out = self._outcome(self.room.handle(who, message, 102.0 + self.n))
        assert out.replies, message
        # What the schema accepts, the parser accepts: a refusal, if any, is the room's.
        assert out.replies[-1].get("error") not in PARSE_ERRORS, (message, out.replies)
        return out

    def ok(self, who: str, kind: str, /, **fields: Any) -> None:
        reply = self.send(who, kind, **fields).replies[-1]
        assert reply["type"] == "ack", (kind, reply)

    def refused(self, who: str, kind: str, reason: str, /, **fields: Any) -> None:
        reply = self.send(who, kind, **fields).replies[-1]
        assert (reply["type"], reply["error"]) == ("error", reason), (kind, reply)

    def snapshot_everyone(self) -> None:
        for person in self.room.members:
            check("server", self.room.snapshot(person))
            self.snapshots += 1


PARSE_ERRORS = {
    "bad_field",
    "bad_text",
    "empty",
    "too_long",
    "unknown_type",
    "bad_version",
    "not_an_object",
}


def test_a_whole_class_validates_event_by_event() -> None:
    c = Recorded()
    c.join(T, Role.TEACHER)
    c.join(P1)
    c.join(G, Role.GUEST)
    c.snapshot_everyone()  # in the class, in the lobby
    c.ok(T, "lobby.admit", person=P1)
    c.ok(T, "lobby.refuse", person=G)
    c.join(P2)
    c.leave(P2)
    c.join(P2)
    c.snapshot_everyone()  # someone out, someone waiting
    c.ok(T, "lobby.set", on=False)  # lets P2 in

    c.ok(P1, "chat.send", text="  bonjour  ", to="all")
    c.ok(P1, "chat.send", text="deux\nlignes\tet 😀 \u202e", to="all")
    c.ok(P1, "chat.send", text="une question", to="teacher")
    c.ok(T, "chat.send", text="x" * commands.CHAT_MAX, to="all")
    c.ok(P1, "hand.raise")
    c.ok(T, "hand.lower", person=P1)
    c.ok(P2, "hand.raise")
    c.ok(P2, "hand.lower", person=None)
    c.ok(P1, "hand.raise")
    for emoji in sorted(commands.REACTIONS):
        c.ok(P2, "react", emoji=emoji)

    c.ok(T, "poll.open", question="2 + 2 ?", choices=["3", "4", "5"])
    c.ok(P1, "poll.vote", poll=1, choices=[1])
    c.refused(P1, "poll.vote", "already_voted", poll=1, choices=[0])
    c.snapshot_everyone()  # a poll open: counts for the teacher only
    c.ok(T, "poll.show", poll=1)
    c.ok(T, "poll.close", poll=1)
    c.snapshot_everyone()
    c.ok(T, "poll.open", question="Lesquels ?", choices=["a", "b"], multiple=True)
    c.ok(P2, "poll.vote", poll=2, choices=[0, 1])

    points = [[0, 0], [0.5, 0.25], [1, 1.0]]
    c.ok(T, "board.stroke", points=points, colour="#FF0000", width=3)
    c.refused(P1, "board.stroke", "not_allowed", points=points, colour="#00ff00", width=1)
    c.ok(T, "board.access", everyone=True)
    c.ok(P1, "board.stroke", points=points[:1], colour="#00ff00", width=40, erase=True)
    c.ok(T, "slides.open", doc="deck-1", pages=12)
    c.ok(T, "slides.page", page=12)
    c.refused(T, "slides.page", "bad_page", page=13)
    c.snapshot_everyone()  # board, slides
    c.ok(T, "board.clear")

    c.ok(T, "mod.mute", person=P1, on=True)
    c.refused(P1, "chat.send", "muted", text="chut", to="all")
    c.ok(T, "mod.mute", person=P1, on=False)
    c.ok(T, "mod.mute", person=None, on=True)
    c.ok(T, "mod.mute", on=False)
    c.ok(T, "mod.lock", on=True)
    c.join(P3)  # refused: a Close, no event
    c.ok(T, "mod.lock", on=False)

    c.ok(T, "breakout.start", groups=2)
    c.join(P3)  # arrives during breakout: assigned a group
    c.ok(P1, "chat.send", text="dans le groupe", to="all")
    c.ok(T, "breakout.visit", group=1)
    c.ok(T, "chat.send", text="je passe", to="all")
    c.snapshot_everyone()  # breakout groups, group chat
    c.ok(T, "breakout.visit", group=None)
    c.refused(T, "breakout.visit", "no_such_group", group=3)
    c.ok(T, "breakout.end")

    c.ok(T, "floor.give", person=P1, video=True)
    c.refused(P1, "floor.give", "not_allowed", person=P2, video=False)
    c.ok(T, "av.mute", person=P1)
    c.snapshot_everyone()  # the floor, the muted
    c.ok(P1, "floor.take")
    c.refused(T, "floor.take", "no_floor", person=P1)
    c.ok(T, "floor.give", person=P2, video=False)
    c.ok(T, "mod.remove", person=P2)  # and the floor with it
    c.leave(P1)  # presence.left, and the hand goes down
    c.join(P1)
    c.snapshot_everyone()
    c.ok(T, "class.end")  # closes poll 2
    c.snapshot_everyone()

    assert c.kinds == EVENT_KINDS, EVENT_KINDS ^ c.kinds
    assert c.snapshots >= 30


def test_replies_validate_acks_duplicates_and_every_kind_of_error() -> None:
    c = Recorded()
    c.join(T, Role.TEACHER)
    c.join(P1)
    c.ok(T, "lobby.admit", person=None)
    first = c.send(P1, "hand.raise", cid="same").replies[-1]
    again = c.send(P1, "hand.raise", cid="same").replies[-1]
    assert again == {**first, "duplicate": True}
    c.refused(P1, "poll.open", "not_allowed", question="?", choices=["a", "b"])
    c.refused(T, "poll.vote", "no_such_poll", poll=9, choices=[0])
    c.refused(T, "lobby.refuse", "not_waiting", person="nobody")
    c.refused(T, "mod.remove", "no_such_person", person="nobody")
    c.refused(T, "breakout.end", "breakout_off")
    for message in ([], {"type": "nope", "id": "a"}, {"v": 2, "type": "hand.raise", "id": "b"}):
        out = c.room.handle(P1, message, 200.0)
        check("server", out.replies[-1])  # what the parser refuses gets a valid error too
    bad = c.room.handle(P1, {"type": "react", "id": "c", "emoji": "🐍"}, 200.0).replies[-1]
    check("server", bad)
    assert bad["detail"] == "emoji"
    check("server", c.room.handle("stranger", {"type": "hand.raise", "id": "d"}, 200.0).replies[-1])
    # an id is sent back only if it is a client id: it goes into a frame as it is
    for cid in ("\ud800", "a b", "x" * 65, 7):
        odd = c.room.handle(P1, {"type": "teleport", "id": cid}, 200.0).replies[-1]
        assert odd == {"v": 1, "type": "error", "error": "unknown_type"}
    text = c.room.handle(P1, {"type": "chat.send", "id": "e", "text": "\x00", "to": "all"}, 200.0)
    assert text.replies[-1] == {
        "v": 1,
        "type": "error",
        "error": "bad_text",
        "id": "e",
        "detail": "text",
    }
    c.ok(T, "class.end")
    c.refused(T, "mod.lock", "ended", on=True)
    assert {r["error"] for r in c.replies if r["type"] == "error"} <= ERRORS


@pytest.mark.parametrize(
    "message",
    [
        {"type": "chat.send", "id": "a", "text": "   ", "to": "all"},
        {"type": "chat.send", "id": "a", "text": "x" * 501, "to": "all"},
        {"type": "chat.send", "id": "a", "text": "hi", "to": "group"},
        {"type": "chat.send", "text": "no id", "to": "all"},
        {"type": "chat.send", "id": "a b", "text": "hi", "to": "all"},
        {"type": "poll.vote", "id": "a", "poll": "one", "choices": [0]},
        {"type": "poll.vote", "id": "a", "poll": 1, "choices": [0, 0]},
        {"type": "poll.open", "id": "a", "question": "?", "choices": ["only one"]},
        {"type": "board.stroke", "id": "a", "points": [[2, 0]], "colour": "#000000", "width": 1},
        {"type": "board.stroke", "id": "a", "points": [[0, 0]], "colour": "red", "width": 1},
        {"type": "breakout.start", "id": "a", "groups": 1},
        {"type": "react", "id": "a", "emoji": "🐍"},
        {"type": "chat.send", "id": "a", "text": "a \ud800 b", "to": "all"},
        {"type": "chat.send", "id": "a", "text": "bell \x07", "to": "all"},
        {"type": "chat.send", "id": "a", "text": "nul \x00", "to": "all"},
        {"type": "chat.send", "id": "a", "text": "c1 \x85 inside", "to": "all"},
        {"type": "poll.open", "id": "a", "question": "esc \x1b[2J", "choices": ["a", "b"]},
        {"type": "poll.open", "id": "a", "question": "?", "choices": ["a", "\udfff"]},
        {"type": "chat.send", "id": "\ud800", "text": "hi", "to": "all"},
        {"type": "mod.lock", "id": "a"},
        {"type": "hand.raise", "id": "a", "v": 2},
        {"type": "teleport", "id": "a"},
    ],
)
def test_what_the_parser_refuses_the_schema_refuses(message: dict[str, Any]) -> None:
    with pytest.raises(commands.Invalid):
        commands.parse(message)
    assert not protocol("client").is_valid(message)


def test_a_ping_is_a_client_message_and_an_unknown_server_message_is_not() -> None:
    check("client", {"type": "ping", "id": "p"})
    assert not protocol("server").is_valid({"v": 1, "type": "chat.send", "seq": 1, "epoch": "e"})
    event = {"v": 1, "type": "hand.raised", "seq": 3, "epoch": "e", "person": "p1"}
    check("server", event)
    assert not protocol("server").is_valid({**event, "extra": True})  # no undocumented fields
