"""One live class as a state machine: joins, leaves and commands in; numbered events out.

The I/O layer (the gateway) calls `join`, `leave` and `handle` and applies the `Outcome`:
events go to every connection their audience reaches (encoded once), replies to the sender,
effects are carried out (close a person's connections, send a snapshot, store a record). Nothing
a client sends raises out of `handle`: a bad message gets an error reply (docs/live.md#room).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from homeroom.core.live import commands as c
from homeroom.core.live.journal import ALL, STAFF, Audience, Event, Journal, staff_and
from homeroom.core.live.parts import Board, Member, Poll, Role, Slides, Where

# Close codes (RFC 6455 leaves 4000-4999 to applications); docs/live.md#close-codes.
CLOSE_REMOVED = 4401
CLOSE_REFUSED = 4403
CLOSE_LOCKED = 4423
CLOSE_ENDED = 4410
CROWD = 150  # people in a room above which pupils see only the teachers' presence
CLOSE_REASONS = {
    CLOSE_REMOVED: "removed",
    CLOSE_REFUSED: "refused",
    CLOSE_LOCKED: "locked",
    CLOSE_ENDED: "ended",
}

TEACHER_ONLY = (
    c.PollOpen,
    c.PollClose,
    c.PollShow,
    c.BoardClear,
    c.BoardAccess,
    c.SlidesOpen,
    c.SlidesPage,
    c.LobbyAdmit,
    c.LobbyRefuse,
    c.LobbySet,
    c.Mute,
    c.Remove,
    c.Lock,
    c.End,
    c.BreakoutStart,
    c.BreakoutVisit,
    c.BreakoutEnd,
    c.FloorGive,
    c.AvMute,
)


class Refused(Exception):
    """A well-formed command the room does not apply (not allowed, no such poll, ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Close:
    person: str | None  # None: everyone
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class SendSnapshot:
    person: str


@dataclass(frozen=True, slots=True)
class Store:
    """A durable record for the school database (chat message, poll result)."""

    kind: str
    data: Mapping[str, Any]


Effect = Close | SendSnapshot | Store


@dataclass(slots=True)
class Outcome:
    events: list[Event] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)


def error(reason: str, cid: str | None = None, detail: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"v": 1, "type": "error", "error": reason}
    if cid is not None:
        out["id"] = cid
    if detail:
        out["detail"] = detail
    return out


class Room:
    def __init__(
        self,
        room_id: str,
        epoch: str,
        *,
        lobby: bool = True,
        history: int = 1000,
        chat_kept: int = 200,
        board_points: int = 100_000,
        crowd: int = CROWD,
        av: bool = False,
    ) -> None:
        self.id = room_id
        self.journal = Journal(epoch, history)
        self.members: dict[str, Member] = {}
        self.teachers: dict[str, Member] = {}
        self.crowd = crowd
        self.lobby_on = lobby
        self.locked = False
        self.chat_open = True
        self.ended = False
        self.hands: list[str] = []
        self.poll: Poll | None = None
        self.polls = 0
        self.board = Board(board_points)
        self.slides: Slides | None = None
        self.groups: dict[int, frozenset[str]] | None = None
        self.chat: deque[Event] = deque(maxlen=chat_kept)
        self.av = av  # the platform has Janus: audio and video are offered (docs/av.md)
        self.floor: dict[str, bool] = {}  # pupils who may publish → whether video too
        self.av_muted: set[str] = set()  # pupils muted until given the floor again
        self._out = Outcome()
        self._now = 0.0

    @property
    def epoch(self) -> str:
        return self.journal.epoch

    @property
    def seq(self) -> int:
        return self.journal.seq

    # -- what the gateway calls -------------------------------------------------------------

    def join(self, person: str, name: str, role: Role, now: float, origin: str = "") -> Outcome:
        """A connection of `person` opened (its join token already checked by the gateway).

        `origin` names the gateway process holding the connection, so that the connections of
        a process that died can all be let go at once (`gone`).
        """
        self._begin(now)
        member = self.members.get(person)
        if self.ended:
            return self._finish_close(person, CLOSE_ENDED, "ended")
        if member is not None and member.where is Where.OUT:
            return self._finish_close(person, member.out_code, CLOSE_REASONS[member.out_code])
        if member is None:
            if self.locked and role is not Role.TEACHER:
                return self._finish_close(person, CLOSE_LOCKED, "locked")
            member = self.members[person] = Member(person, name, role)
            if member.teacher:
                self.teachers[person] = member
        member.links += 1
        member.origins[origin] = member.origins.get(origin, 0) + 1
        if member.links == 1:
            self._arrive(member)
        return self._finish()

    def leave(self, person: str, now: float, origin: str = "") -> Outcome:
        """A connection of `person` closed."""
        self._begin(now)
        member = self.members.get(person)
        if member is None or not member.origins.get(origin):
            return self._finish()
        self._unlink(member, origin, 1)
        return self._finish()

    def gone(self, origin: str, now: float) -> Outcome:
        """The gateway process `origin` is gone: all its connections with it. Idempotent."""
        self._begin(now)
        for member in list(self.members.values()):
            count = member.origins.get(origin, 0)
            if count:
                self._unlink(member, origin, count)
        return self._finish()

    def _unlink(self, member: Member, origin: str, count: int) -> None:
        member.links -= count
        left = member.origins[origin] - count
        if left:
            member.origins[origin] = left
        else:
            del member.origins[origin]
        if member.links == 0 and member.where is Where.IN:
            self._drop_hand(member.person)
            self._drop_floor(member.person)
            self._emit("presence.left", {"person": member.person}, self._presence_audience(member))
        elif member.links == 0 and member.where is Where.LOBBY:
            self._emit("lobby.left", {"person": member.person}, STAFF)

    def handle(self, person: str, message: object, now: float) -> Outcome:
        """A message from one of `person`'s connections."""
        self._begin(now)
        member = self.members.get(person)
        cid = c.client_id(message)  # sent back with an error only if it is one
        if member is None or member.links == 0:
            return self._finish_reply(error("not_joined", cid))
        try:
            command = c.parse(message)
        except c.Invalid as exc:
            return self._finish_reply(error(exc.reason, cid, exc.detail))
        seq = member.applied(command.cid)
        if seq is not None:  # a resend after a reconnection: already applied
            return self._finish_reply(_ack(command.cid, seq, duplicate=True))
        try:
            self._apply(member, command)
        except Refused as exc:
            self._out = Outcome()
            return self._finish_reply(error(exc.reason, command.cid))
        seq = self._out.events[-1].seq if self._out.events else self.seq
        member.remember(command.cid, seq)
        return self._finish_reply(_ack(command.cid, seq))

    def resume(self, person: str, epoch: str, last_seq: int) -> list[Event] | None:
        """What `person` missed after `last_seq`, or None when a snapshot must be sent."""
        member = self.members.get(person)
        if member is None or member.where is not Where.IN:
            return None
        return self.journal.since(epoch, last_seq, lambda audience: self._reaches(audience, member))

    def reaches(self, event: Event, person: str) -> bool:
        member = self.members.get(person)
        return member is not None and self._reaches(event.audience, member)

    def snapshot(self, person: str) -> dict[str, Any]:
        """The room as `person` may see it now, with the sequence number it is current at."""
        member = self.members[person]
        out: dict[str, Any] = {
            "v": 1,
            "type": "snapshot",
            "room": self.id,
            "epoch": self.epoch,
            "seq": self.seq,
            "you": {**member.view(), "where": member.where.value, "muted": member.muted},
            "settings": self._settings(),
            "ended": self.ended,
            "av": {"enabled": self.av, "muted": sorted(self.av_muted)},
        }
        if member.where is Where.IN:
            out.update(self._class_view(member))
        return out

    # -- arrival and the lobby --------------------------------------------------------------

    def _arrive(self, member: Member) -> None:
        if member.teacher or member.admitted:
            self._enter(member)
            if member.teacher and not self.lobby_on:
                self._admit_waiting(guests=False)
            return
        if member.role is Role.GUEST or self.lobby_on or not self._teacher_here():
            member.where = Where.LOBBY
            self._emit("lobby.waiting", member.view(), staff_and(member.person))
            return
        self._enter(member)

    def _enter(self, member: Member) -> None:
        member.where = Where.IN
        member.admitted = True
        if self.groups is not None and not member.teacher and member.group is None:
            self._assign(member)
        self._emit("presence.joined", member.view(), self._presence_audience(member))

    @property
    def crowded(self) -> bool:
        """A large room (an assembly): pupils are not told of each other's comings and goings."""
        return len(self.members) > self.crowd

    def _presence_audience(self, member: Member) -> Audience:
        # in a crowd, a pupil's arrival told to everyone makes joining cost O(n) each, O(n²) in all
        return ALL if member.teacher or not self.crowded else staff_and(member.person)

    def _teacher_here(self) -> bool:
        return any(m.links > 0 for m in self.teachers.values())

    def _admit(self, member: Member) -> None:
        self._emit("lobby.admitted", {"person": member.person}, staff_and(member.person))
        self._enter(member)
        self._out.effects.append(SendSnapshot(member.person))

    def _admit_waiting(self, *, guests: bool) -> None:
        for member in list(self.members.values()):
            waiting = member.where is Where.LOBBY and member.links > 0
            if waiting and (guests or member.role is not Role.GUEST):
                self._admit(member)

    def _admit_cmd(self, teacher: Member, cmd: c.LobbyAdmit) -> None:
        if cmd.person is None:
            self._admit_waiting(guests=True)
            return
        self._admit(self._waiting(cmd.person))

    def _refuse(self, teacher: Member, cmd: c.LobbyRefuse) -> None:
        member = self._waiting(cmd.person)
        member.where, member.out_code = Where.OUT, CLOSE_REFUSED
        self._emit("lobby.refused", {"person": member.person}, STAFF)
        self._out.effects.append(Close(member.person, CLOSE_REFUSED, "refused"))

    def _waiting(self, person: str) -> Member:
        member = self.members.get(person)
        if member is None or member.where is not Where.LOBBY:
            raise Refused("not_waiting")
        return member

    def _lobby_set(self, teacher: Member, cmd: c.LobbySet) -> None:
        self.lobby_on = cmd.on
        self._emit("settings", self._settings(), ALL)
        if not cmd.on:
            self._admit_waiting(guests=False)

    # -- chat, hands, reactions -------------------------------------------------------------

    def _chat(self, member: Member, cmd: c.ChatSend) -> None:
        if not member.teacher and (member.muted or not self.chat_open):
            raise Refused("muted")
        audience, to = ALL, "all"
        if cmd.to_teacher and not member.teacher:
            audience, to = staff_and(member.person), "teacher"
        elif member.group is not None and self.groups is not None:
            audience, to = Audience(staff=True, people=self.groups[member.group]), "group"
        data = {**member.view(), "text": cmd.text, "to": to, "at": self._now}
        if member.group is not None:
            data["group"] = member.group
        event = self._emit("chat.message", data, audience)
        self.chat.append(event)
        record = {"room": self.id, "epoch": self.epoch, "seq": event.seq, "cid": cmd.cid, **data}
        self._out.effects.append(Store("chat", record))

    def _raise(self, member: Member, cmd: c.HandRaise) -> None:
        if member.person not in self.hands:
            self.hands.append(member.person)
            self._emit("hand.raised", {"person": member.person}, ALL)

    def _lower(self, member: Member, cmd: c.HandLower) -> None:
        person = cmd.person or member.person
        if person != member.person and not member.teacher:
            raise Refused("not_allowed")
        self._drop_hand(person)

    def _drop_hand(self, person: str) -> None:
        if person in self.hands:
            self.hands.remove(person)
            self._emit("hand.lowered", {"person": person}, ALL)

    def _react(self, member: Member, cmd: c.React) -> None:
        self._emit("reaction", {"person": member.person, "emoji": cmd.emoji}, ALL)

    # -- polls ------------------------------------------------------------------------------

    def _poll_open(self, teacher: Member, cmd: c.PollOpen) -> None:
        if self.poll is not None and self.poll.open:
            raise Refused("poll_open")
        self.polls += 1
        self.poll = Poll(self.polls, cmd.question, cmd.choices, cmd.multiple)
        data = {"poll": self.polls, "question": cmd.question, "choices": list(cmd.choices)}
        self._emit("poll.opened", {**data, "multiple": cmd.multiple}, ALL)

    def _open_poll(self, poll_id: int) -> Poll:
        if self.poll is None or self.poll.id != poll_id:
            raise Refused("no_such_poll")
        return self.poll

    def _poll_vote(self, member: Member, cmd: c.PollVote) -> None:
        poll = self._open_poll(cmd.poll)
        if member.teacher or not poll.open:
            raise Refused("not_allowed" if member.teacher else "poll_closed")
        if member.person in poll.votes:
            raise Refused("already_voted")
        if max(cmd.choices) >= len(poll.choices) or (not poll.multiple and len(cmd.choices) > 1):
            raise Refused("bad_choice")
        poll.votes[member.person] = cmd.choices
        self._emit("poll.results", poll.results(), staff_and(member.person))

    def _poll_show(self, teacher: Member, cmd: c.PollShow) -> None:
        poll = self._open_poll(cmd.poll)
        poll.shown = True
        self._emit("poll.shown", poll.results(), ALL)
        if not poll.open:  # already recorded when it closed: record that it was shown
            self._store_poll(poll)

    def _poll_close(self, teacher: Member, cmd: c.PollClose) -> None:
        poll = self._open_poll(cmd.poll)
        if not poll.open:
            raise Refused("poll_closed")
        self._close_poll(poll)

    def _close_poll(self, poll: Poll) -> None:
        poll.open = False
        self._emit("poll.closed", {"poll": poll.id}, ALL)
        self._store_poll(poll)

    def _store_poll(self, poll: Poll) -> None:
        # The epoch and the poll number together name the poll: numbers start again with a
        # new epoch. `shown`: whether pupils may read the counts after the class.
        record = {"room": self.id, "epoch": self.epoch, **poll.record(), "shown": poll.shown}
        self._out.effects.append(Store("poll", {**record, "at": self._now}))

    # -- board and slides -------------------------------------------------------------------

    def _stroke(self, member: Member, cmd: c.BoardStroke) -> None:
        if not (member.teacher or self.board.everyone):
            raise Refused("not_allowed")
        stroke = {
            "by": member.person,
            "points": [list(p) for p in cmd.points],
            "colour": cmd.colour,
            "width": cmd.width,
            "erase": cmd.erase,
        }
        if not self.board.add(stroke, len(cmd.points)):
            raise Refused("board_full")
        self._emit("board.stroke", stroke, ALL)

    def _board_clear(self, teacher: Member, cmd: c.BoardClear) -> None:
        self.board.clear()
        self._emit("board.cleared", {}, ALL)

    def _board_access(self, teacher: Member, cmd: c.BoardAccess) -> None:
        self.board.everyone = cmd.everyone
        self._emit("settings", self._settings(), ALL)

    def _slides_open(self, teacher: Member, cmd: c.SlidesOpen) -> None:
        self.slides = Slides(cmd.doc, cmd.pages)
        self._emit("slides.opened", self.slides.view(), ALL)

    def _slides_page(self, teacher: Member, cmd: c.SlidesPage) -> None:
        if self.slides is None or cmd.page > self.slides.pages:
            raise Refused("bad_page")
        self.slides.page = cmd.page
        self._emit("slides.page", {"page": cmd.page}, ALL)

    # -- moderation -------------------------------------------------------------------------

    def _mute(self, teacher: Member, cmd: c.Mute) -> None:
        if cmd.person is None:
            self.chat_open = not cmd.on
            self._emit("settings", self._settings(), ALL)
            return
        member = self.members.get(cmd.person)
        if member is None or member.teacher:
            raise Refused("no_such_person")
        member.muted = cmd.on
        self._emit("mod.muted", {"person": member.person, "on": cmd.on}, staff_and(member.person))

    def _remove(self, teacher: Member, cmd: c.Remove) -> None:
        member = self.members.get(cmd.person)
        if member is None or member.teacher or member.where is Where.OUT:
            raise Refused("no_such_person")
        was_inside = member.inside
        member.where, member.out_code = Where.OUT, CLOSE_REMOVED
        self._drop_hand(member.person)
        self._drop_floor(member.person)
        self._emit("mod.removed", {"person": member.person}, ALL if was_inside else STAFF)
        self._out.effects.append(Close(member.person, CLOSE_REMOVED, "removed"))

    def _lock(self, teacher: Member, cmd: c.Lock) -> None:
        self.locked = cmd.on
        self._emit("settings", self._settings(), ALL)

    def _end(self, teacher: Member, cmd: c.End) -> None:
        if self.poll is not None and self.poll.open:
            self._close_poll(self.poll)
        self.ended = True
        self._emit("class.ended", {}, Audience(everyone=True, staff=True, people=self._lobby()))
        self._out.effects.append(Close(None, CLOSE_ENDED, "ended"))

    def _lobby(self) -> frozenset[str]:
        return frozenset(p for p, m in self.members.items() if m.where is Where.LOBBY)

    # -- the floor and audio/video moderation (docs/av.md#the-relay) -------------------------

    def _floor_give(self, teacher: Member, cmd: c.FloorGive) -> None:
        member = self.members.get(cmd.person)
        if member is None or member.teacher or not member.inside or member.links == 0:
            raise Refused("no_such_person")
        if cmd.person not in self.floor and len(self.floor) >= c.FLOOR_MAX:
            raise Refused("floor_full")
        self.floor[cmd.person] = cmd.video
        self.av_muted.discard(cmd.person)  # given the floor again: may speak again
        self._emit("floor.given", {"person": cmd.person, "video": cmd.video}, ALL)

    def _floor_take(self, member: Member, cmd: c.FloorTake) -> None:
        person = cmd.person or member.person
        if person != member.person and not member.teacher:
            raise Refused("not_allowed")
        if person not in self.floor:
            raise Refused("no_floor")
        self._drop_floor(person)

    def _drop_floor(self, person: str) -> None:
        if self.floor.pop(person, None) is not None:
            self._emit("floor.taken", {"person": person}, ALL)

    def _av_mute(self, teacher: Member, cmd: c.AvMute) -> None:
        member = self.members.get(cmd.person)
        if member is None or not member.inside:
            raise Refused("no_such_person")
        if not member.teacher:  # a teacher muted may unmute themselves by publishing again
            self.av_muted.add(member.person)
        self._emit("av.muted", {"person": member.person}, ALL)

    # -- breakout groups --------------------------------------------------------------------

    def _breakout_start(self, teacher: Member, cmd: c.BreakoutStart) -> None:
        if self.groups is not None:
            raise Refused("breakout_on")
        pupils = [m for m in self.members.values() if m.inside and not m.teacher]
        for index, member in enumerate(pupils):
            member.group = index % cmd.groups + 1
        self.groups = {g: frozenset() for g in range(1, cmd.groups + 1)}
        self._regroup()
        self._emit("breakout.started", {"groups": self._group_lists()}, ALL)

    def _assign(self, member: Member) -> None:
        groups = self.groups
        assert groups is not None
        member.group = min(groups, key=lambda g: (len(groups[g]), g))
        self._regroup()
        self._emit("breakout.assigned", {"person": member.person, "group": member.group}, ALL)

    def _regroup(self) -> None:
        assert self.groups is not None
        self.groups = {
            g: frozenset(m.person for m in self.members.values() if m.group == g and not m.teacher)
            for g in self.groups
        }

    def _group_lists(self) -> dict[str, list[str]]:
        assert self.groups is not None
        return {str(g): sorted(people) for g, people in self.groups.items()}

    def _breakout_visit(self, teacher: Member, cmd: c.BreakoutVisit) -> None:
        if self.groups is None or (cmd.group is not None and cmd.group not in self.groups):
            raise Refused("no_such_group")
        teacher.group = cmd.group
        self._emit("breakout.visit", {"person": teacher.person, "group": cmd.group}, ALL)

    def _breakout_end(self, teacher: Member, cmd: c.BreakoutEnd) -> None:
        if self.groups is None:
            raise Refused("breakout_off")
        for member in self.members.values():
            member.group = None
        self.groups = None
        self._emit("breakout.ended", {}, ALL)

    # -- plumbing ---------------------------------------------------------------------------

    def _apply(self, member: Member, command: c.Command) -> None:
        if self.ended:
            raise Refused("ended")
        if not member.inside:
            raise Refused("in_lobby")
        if isinstance(command, TEACHER_ONLY) and not member.teacher:
            raise Refused("not_allowed")
        _HANDLERS[type(command)](self, member, command)

    def _reaches(self, audience: Audience, member: Member) -> bool:
        return audience.reaches(member.person, inside=member.inside, teacher=member.teacher)

    def _emit(self, kind: str, data: Mapping[str, Any], audience: Audience) -> Event:
        event = self.journal.append(kind, data, audience)
        self._out.events.append(event)
        return event

    def _settings(self) -> dict[str, Any]:
        return {
            "lobby": self.lobby_on,
            "locked": self.locked,
            "chat_open": self.chat_open,
            "board_everyone": self.board.everyone,
        }

    def _class_view(self, member: Member) -> dict[str, Any]:
        # in a crowd a pupil sees the teachers only: a snapshot is then O(1), not O(n)
        known = self.members if member.teacher or not self.crowded else self.teachers
        here = [m.view() for m in known.values() if m.inside and m.links > 0]
        waiting = (
            [m.view() for m in self.members.values() if m.where is Where.LOBBY and m.links]
            if member.teacher
            else []
        )
        return {
            "participants": here,
            "crowd": self.crowded,
            "lobby": waiting,
            "hands": list(self.hands),
            "chat": [e.message(self.epoch) for e in self.chat if self._reaches(e.audience, member)],
            "poll": None
            if self.poll is None
            else self.poll.view(teacher=member.teacher, person=member.person),
            "board": list(self.board.strokes),
            "slides": None if self.slides is None else self.slides.view(),
            "breakout": None if self.groups is None else {"groups": self._group_lists()},
            "floor": {person: {"video": video} for person, video in self.floor.items()},
        }

    def _begin(self, now: float) -> None:
        self._out = Outcome()
        self._now = now

    def _finish(self) -> Outcome:
        out, self._out = self._out, Outcome()
        return out

    def _finish_reply(self, reply: dict[str, Any]) -> Outcome:
        self._out.replies.append(reply)
        return self._finish()

    def _finish_close(self, person: str, code: int, why: str) -> Outcome:
        self._out.effects.append(Close(person, code, why))
        return self._finish()


# What each command does: one table for every room (bound methods would be 23 objects a room).
_HANDLERS: dict[type[c.Command], Callable[[Room, Member, Any], None]] = {
    c.ChatSend: Room._chat,
    c.HandRaise: Room._raise,
    c.HandLower: Room._lower,
    c.React: Room._react,
    c.PollOpen: Room._poll_open,
    c.PollVote: Room._poll_vote,
    c.PollClose: Room._poll_close,
    c.PollShow: Room._poll_show,
    c.BoardStroke: Room._stroke,
    c.BoardClear: Room._board_clear,
    c.BoardAccess: Room._board_access,
    c.SlidesOpen: Room._slides_open,
    c.SlidesPage: Room._slides_page,
    c.LobbyAdmit: Room._admit_cmd,
    c.LobbyRefuse: Room._refuse,
    c.LobbySet: Room._lobby_set,
    c.Mute: Room._mute,
    c.Remove: Room._remove,
    c.Lock: Room._lock,
    c.End: Room._end,
    c.BreakoutStart: Room._breakout_start,
    c.BreakoutVisit: Room._breakout_visit,
    c.BreakoutEnd: Room._breakout_end,
    c.FloorGive: Room._floor_give,
    c.FloorTake: Room._floor_take,
    c.AvMute: Room._av_mute,
}


def _ack(cid: str, seq: int, *, duplicate: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"v": 1, "type": "ack", "id": cid, "seq": seq}
    if duplicate:
        out["duplicate"] = True
    return out
