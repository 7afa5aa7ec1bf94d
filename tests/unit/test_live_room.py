"""The room state machine: lobby, chat, hands, polls, board, slides, moderation, breakout."""

from __future__ import annotations

from typing import Any

import pytest

from homeroom.core.live.journal import Event
from homeroom.core.live.parts import Role
from homeroom.core.live.room import (
    CLOSE_ENDED,
    CLOSE_LOCKED,
    CLOSE_REFUSED,
    CLOSE_REMOVED,
    Close,
    Outcome,
    Room,
    SendSnapshot,
    Store,
)

T, P1, P2, G = "t1", "p1", "p2", "g1"


class Class:
    """A room and a counter for client message ids."""

    def __init__(self, *, lobby: bool = True) -> None:
        self.room = Room("r1", "epoch-a", lobby=lobby)
        self.n = 0

    def join(self, person: str, role: Role = Role.PUPIL) -> Outcome:
        return self.room.join(person, person.upper(), role, 100.0)

    def send(self, who: str, kind: str, /, **fields: Any) -> Outcome:
        self.n += 1
        return self.room.handle(who, {"v": 1, "type": kind, "id": f"m{self.n}", **fields}, 100.0)

    def ok(self, who: str, kind: str, /, **fields: Any) -> list[Event]:
        out = self.send(who, kind, **fields)
        assert out.replies and out.replies[-1]["type"] == "ack", out.replies
        return out.events

    def refused(self, who: str, kind: str, /, **fields: Any) -> str:
        out = self.send(who, kind, **fields)
        assert not out.events and out.replies[-1]["type"] == "error", out
        reason: str = out.replies[-1]["error"]
        return reason

    def receivers(self, event: Event) -> set[str]:
        return {p for p in self.room.members if self.room.reaches(event, p)}

    def where(self, person: str) -> str:
        return self.room.members[person].where.value


def kinds(events: list[Event]) -> list[str]:
    return [e.kind for e in events]


def started(*, lobby: bool = False) -> Class:
    c = Class(lobby=lobby)
    c.join(T, Role.TEACHER)
    c.join(P1)
    c.join(P2)
    if lobby:
        c.ok(T, "lobby.admit", person=None)
    return c


# -- the lobby --------------------------------------------------------------------------------


def test_pupils_before_the_teacher_wait_and_are_let_in_when_the_lobby_is_off() -> None:
    c = Class(lobby=False)
    waiting = c.join(P1)
    assert kinds(waiting.events) == ["lobby.waiting"] and c.where(P1) == "lobby"
    assert c.receivers(waiting.events[0]) == {P1}  # no teacher yet; the pupil hears of it
    arrival = c.join(T, Role.TEACHER)
    assert kinds(arrival.events) == ["presence.joined", "lobby.admitted", "presence.joined"]
    assert SendSnapshot(P1) in arrival.effects and c.where(P1) == "in"
    assert kinds(c.join(P2).events) == ["presence.joined"]  # teacher here, lobby off: straight in


def test_with_the_lobby_on_the_teacher_sees_who_waits_and_admits_one_or_everyone() -> None:
    c = Class(lobby=True)
    c.join(T, Role.TEACHER)
    c.join(P1)
    c.join(P2)
    snap = c.room.snapshot(T)
    assert [p["person"] for p in snap["lobby"]] == [P1, P2]
    assert "participants" not in c.room.snapshot(P1)  # the lobby sees nothing of the class
    events = c.ok(T, "lobby.admit", person=P1)
    assert kinds(events) == ["lobby.admitted", "presence.joined"]
    assert c.where(P1) == "in" and c.where(P2) == "lobby"
    c.ok(T, "lobby.admit", person=None)
    assert c.where(P2) == "in"
    assert c.refused(T, "lobby.admit", person=P2) == "not_waiting"


def test_a_guest_always_waits_for_the_teacher() -> None:
    c = Class(lobby=False)
    c.join(T, Role.TEACHER)
    assert kinds(c.join(G, Role.GUEST).events) == ["lobby.waiting"]
    c.ok(T, "lobby.set", on=True)
    c.ok(T, "lobby.set", on=False)  # switching the lobby off lets pupils in, not guests
    assert c.where(G) == "lobby"
    c.ok(T, "lobby.admit", person=G)
    assert c.where(G) == "in"


def test_a_refused_person_is_disconnected_and_cannot_come_back() -> None:
    c = Class(lobby=True)
    c.join(T, Role.TEACHER)
    c.join(P1)
    out = c.send(T, "lobby.refuse", person=P1)
    assert Close(P1, CLOSE_REFUSED, "refused") in out.effects
    again = c.join(P1)
    assert again.effects == [Close(P1, CLOSE_REFUSED, "refused")] and not again.events


def test_someone_admitted_once_comes_back_in_without_waiting_again() -> None:
    c = started(lobby=True)
    c.room.leave(P1, 101.0)
    assert kinds(c.join(P1).events) == ["presence.joined"] and c.where(P1) == "in"


def test_a_second_tab_is_one_presence() -> None:
    c = started()
    assert c.join(P1).events == []  # already here in another tab
    assert c.room.leave(P1, 1).events == []
    assert kinds(c.room.leave(P1, 1).events) == ["presence.left"]


def test_the_lobby_cannot_act_in_the_class() -> None:
    c = Class(lobby=True)
    c.join(T, Role.TEACHER)
    c.join(P1)
    assert c.refused(P1, "chat.send", text="hello", to="all") == "in_lobby"


# -- chat -------------------------------------------------------------------------------------


def test_public_chat_reaches_the_class_and_private_chat_only_the_teacher() -> None:
    c = started()
    c.join("p3")  # still waiting? no: teacher here and lobby off
    public = c.ok(P1, "chat.send", text="  bonjour  ", to="all")[0]
    assert public.data["text"] == "bonjour" and c.receivers(public) == {T, P1, P2, "p3"}
    private = c.ok(P2, "chat.send", text="j'ai une question", to="teacher")[0]
    assert c.receivers(private) == {T, P2}
    assert [m["text"] for m in c.room.snapshot(P1)["chat"]] == ["bonjour"]
    assert [m["text"] for m in c.room.snapshot(T)["chat"]] == ["bonjour", "j'ai une question"]


def test_chat_messages_are_stored_with_their_sequence_number() -> None:
    c = started()
    out = c.send(P1, "chat.send", text="hello", to="all")
    (store,) = [e for e in out.effects if isinstance(e, Store)]
    assert store.kind == "chat" and store.data["seq"] == out.events[0].seq
    assert store.data["text"] == "hello" and store.data["person"] == P1


def test_a_resent_message_is_applied_once() -> None:
    c = started()
    message = {"v": 1, "type": "chat.send", "id": "abc", "text": "hi", "to": "all"}
    first = c.room.handle(P1, message, 1)
    second = c.room.handle(P1, message, 2)
    assert len(first.events) == 1 and second.events == []
    assert second.replies == [
        {"v": 1, "type": "ack", "id": "abc", "seq": first.events[0].seq, "duplicate": True}
    ]


def test_muting_one_pupil_or_everyone() -> None:
    c = started()
    muted = c.ok(T, "mod.mute", person=P1, on=True)[0]
    assert c.receivers(muted) == {T, P1}
    assert c.refused(P1, "chat.send", text="x", to="all") == "muted"
    c.ok(P2, "chat.send", text="x", to="all")
    c.ok(T, "mod.mute", person=None, on=True)
    assert c.refused(P2, "chat.send", text="x", to="all") == "muted"
    c.ok(T, "chat.send", text="the teacher still speaks", to="all")
    c.ok(T, "mod.mute", person=None, on=False)
    c.ok(P2, "chat.send", text="x", to="all")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"text": "x" * 501, "to": "all"}, "too_long"),
        ({"text": "   ", "to": "all"}, "empty"),
        ({"text": 5, "to": "all"}, "bad_field"),
        ({"text": "x", "to": "everyone"}, "bad_field"),
    ],
)
def test_bad_chat_messages_get_an_error(fields: dict[str, Any], reason: str) -> None:
    c = started()
    assert c.refused(P1, "chat.send", **fields) == reason


@pytest.mark.parametrize(
    "message",
    [None, [], "text", {"type": "chat.send"}, {"type": "nope", "id": "1"}, {"v": 2, "id": "1"}],
)
def test_malformed_messages_get_an_error_and_change_nothing(message: object) -> None:
    c = started()
    seq = c.room.seq
    out = c.room.handle(P1, message, 1)
    assert out.events == [] and out.replies[0]["type"] == "error" and c.room.seq == seq


# -- hands, reactions -------------------------------------------------------------------------


def test_hands_are_kept_in_order_of_raising() -> None:
    c = started()
    c.ok(P2, "hand.raise")
    c.ok(P1, "hand.raise")
    assert c.ok(P1, "hand.raise") == []  # already up
    assert c.room.snapshot(T)["hands"] == [P2, P1]
    assert c.refused(P1, "hand.lower", person=P2) == "not_allowed"
    c.ok(T, "hand.lower", person=P2)
    c.room.leave(P1, 1)
    assert c.room.hands == []


def test_a_reaction_reaches_everyone() -> None:
    c = started()
    (event,) = c.ok(P1, "react", emoji="👍")
    assert c.receivers(event) == {T, P1, P2}
    assert c.refused(P1, "react", emoji="💣") == "bad_field"


# -- polls ------------------------------------------------------------------------------------


def test_a_poll_each_pupil_votes_once_results_for_the_teacher_until_shown() -> None:
    c = started()
    (opened,) = c.ok(T, "poll.open", question="2 + 2 ?", choices=["3", "4"], multiple=False)
    poll = opened.data["poll"]
    (results,) = c.ok(P1, "poll.vote", poll=poll, choices=[1])
    assert results.data["counts"] == [0, 1] and c.receivers(results) == {T, P1}
    assert c.refused(P1, "poll.vote", poll=poll, choices=[0]) == "already_voted"
    assert c.refused(P2, "poll.vote", poll=poll, choices=[0, 1]) == "bad_choice"
    assert c.refused(P2, "poll.vote", poll=poll, choices=[5]) == "bad_choice"
    assert c.refused(T, "poll.vote", poll=poll, choices=[0]) == "not_allowed"
    assert "counts" not in c.room.snapshot(P2)["poll"]
    assert c.room.snapshot(T)["poll"]["counts"] == [0, 1]
    c.ok(T, "poll.show", poll=poll)
    assert c.room.snapshot(P2)["poll"]["counts"] == [0, 1]
    out = c.send(T, "poll.close", poll=poll)
    (store,) = [e for e in out.effects if isinstance(e, Store)]
    assert store.kind == "poll" and store.data["counts"] == [0, 1] and store.data["voters"] == 1
    assert c.refused(P2, "poll.vote", poll=poll, choices=[0]) == "poll_closed"


def test_a_multiple_choice_poll_counts_each_choice() -> None:
    c = started()
    c.ok(T, "poll.open", question="Which?", choices=["a", "b", "c"], multiple=True)
    c.ok(P1, "poll.vote", poll=1, choices=[0, 2])
    c.ok(P2, "poll.vote", poll=1, choices=[2])
    assert c.room.poll is not None and c.room.poll.counts() == [1, 0, 2]
    assert c.refused(P1, "poll.open", question="q", choices=["a", "b"]) == "not_allowed"
    assert c.refused(T, "poll.open", question="q", choices=["a", "b"]) == "poll_open"


# -- board and slides -------------------------------------------------------------------------


def test_the_board_is_the_teachers_unless_opened_and_a_late_joiner_gets_it() -> None:
    c = started()
    stroke = {"points": [[0.1, 0.2], [0.3, 0.4]], "colour": "#112233", "width": 3}
    c.ok(T, "board.stroke", **stroke)
    assert c.refused(P1, "board.stroke", **stroke) == "not_allowed"
    c.ok(T, "board.access", everyone=True)
    c.ok(P1, "board.stroke", **stroke, erase=True)
    c.join("p3")
    board = c.room.snapshot("p3")["board"]
    assert [s["by"] for s in board] == [T, P1] and board[1]["erase"] is True
    c.ok(T, "board.clear")
    assert c.room.snapshot("p3")["board"] == []
    assert c.refused(T, "board.stroke", points=[[2, 0]], colour="#000000", width=1) == "bad_field"


def test_slides_follow_the_teacher_and_a_late_joiner_lands_on_the_page() -> None:
    c = started()
    c.ok(T, "slides.open", doc="doc1", pages=12)
    c.ok(T, "slides.page", page=7)
    assert c.refused(T, "slides.page", page=13) == "bad_page"
    assert c.refused(P1, "slides.page", page=2) == "not_allowed"
    c.join("p3")
    assert c.room.snapshot("p3")["slides"] == {"doc": "doc1", "pages": 12, "page": 7}


# -- moderation -------------------------------------------------------------------------------


def test_a_removed_pupil_is_disconnected_and_cannot_rejoin() -> None:
    c = started()
    c.ok(P1, "hand.raise")
    out = c.send(T, "mod.remove", person=P1)
    assert Close(P1, CLOSE_REMOVED, "removed") in out.effects
    assert "hand.lowered" in kinds(out.events) and c.room.hands == []
    assert c.join(P1).effects == [Close(P1, CLOSE_REMOVED, "removed")]
    assert c.refused(T, "mod.remove", person=T) == "no_such_person"


def test_a_locked_room_takes_nobody_new_but_lets_its_own_back() -> None:
    c = started()
    c.ok(T, "mod.lock", on=True)
    assert c.join("p3").effects == [Close("p3", CLOSE_LOCKED, "locked")]
    assert "p3" not in c.room.members
    c.room.leave(P1, 1)
    assert kinds(c.join(P1).events) == ["presence.joined"]


def test_ending_the_class_tells_everyone_even_the_lobby_and_closes_every_connection() -> None:
    c = started(lobby=True)
    c.join("p3")  # waiting in the lobby
    c.ok(T, "poll.open", question="q", choices=["a", "b"])
    out = c.send(T, "class.end")
    assert kinds(out.events) == ["poll.closed", "class.ended"]
    assert c.receivers(out.events[-1]) == {T, P1, P2, "p3"}
    assert Close(None, CLOSE_ENDED, "ended") in out.effects
    assert any(isinstance(e, Store) and e.kind == "poll" for e in out.effects)
    assert c.join("p4").effects == [Close("p4", CLOSE_ENDED, "ended")]


# -- breakout groups --------------------------------------------------------------------------


def test_breakout_groups_split_the_class_and_keep_their_chat_to_themselves() -> None:
    c = started()
    c.join("p3")
    c.join("p4")
    (started_event,) = c.ok(T, "breakout.start", groups=2)
    groups = started_event.data["groups"]
    assert sorted(groups) == ["1", "2"]
    assert sorted(p for members in groups.values() for p in members) == [P1, P2, "p3", "p4"]
    (message,) = c.ok(P1, "chat.send", text="in my group", to="all")
    mates = set(groups[str(c.room.members[P1].group)])
    assert c.receivers(message) == mates | {T}
    assert kinds(c.ok(T, "breakout.visit", group=2)) == ["breakout.visit"]
    late = c.join("p5").events
    assert kinds(late) == ["breakout.assigned", "presence.joined"]
    c.ok(T, "breakout.end")
    assert all(m.group is None for m in c.room.members.values())
    (everyone,) = c.ok(P1, "chat.send", text="back", to="all")
    assert c.receivers(everyone) == {T, P1, P2, "p3", "p4", "p5"}


def test_a_gateway_process_that_dies_takes_its_connections_with_it_once() -> None:
    room = Room("r", "e", lobby=False)
    room.join("t1", "T", Role.TEACHER, 0, origin="a")
    room.join("p1", "P1", Role.PUPIL, 0, origin="b")
    room.join("p2", "P2", Role.PUPIL, 0, origin="a")
    room.join("p2", "P2", Role.PUPIL, 0, origin="b")  # a second device, on the other process
    room.handle("p1", {"type": "hand.raise", "id": "h"}, 1)
    out = room.gone("b", 2)
    assert kinds(out.events) == ["hand.lowered", "presence.left"]
    assert out.events[-1].data == {"person": "p1"}
    assert room.members["p2"].links == 1 and room.gone("b", 3).events == []
    assert room.leave("p2", 4, origin="b").events == []  # not a connection of b any more
    assert kinds(room.leave("p2", 4, origin="a").events) == ["presence.left"]


def test_in_a_crowd_pupils_hear_only_of_the_teachers_and_a_join_costs_o_1() -> None:
    room = Room("assembly", "e", lobby=False, crowd=3)
    room.join("t1", "T", Role.TEACHER, 0)
    for n in range(2):
        room.join(f"p{n}", f"P{n}", Role.PUPIL, 0)
    assert not room.crowded  # three people: not yet a crowd
    late = room.join("p9", "P9", Role.PUPIL, 0).events
    assert room.crowded and kinds(late) == ["presence.joined"]
    assert {p for p in room.members if room.reaches(late[0], p)} == {"t1", "p9"}
    pupil_view = room.snapshot("p9")
    assert pupil_view["crowd"] is True
    assert [p["person"] for p in pupil_view["participants"]] == ["t1"]
    assert len(room.snapshot("t1")["participants"]) == 4  # the teacher sees everyone
    (message,) = room.handle(
        "t1", {"type": "chat.send", "id": "c", "text": "hi", "to": "all"}, 1
    ).events
    assert {p for p in room.members if room.reaches(message, p)} == set(room.members)
