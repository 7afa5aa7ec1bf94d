"""The rooms of one gateway process and their connections: the log, fan-out, catch-up, effects.

Every input of a room (a connection joins or leaves, a message arrives) is appended to the
room's log (backends/live.py) and applied when the log delivers it, in the log's order, to this
process's copy of the room. So all processes holding a room compute the same numbered events;
each writes them to its own connections, encoded once per event. Replies, and the records for
the school database, are the business of the process where the input came from.

A connection whose writes back up is skipped and caught up when it drains, from the journal or
with a snapshot (docs/live.md#gateway).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from homeroom.backends.live import Entry, MemoryLog, RoomLog
from homeroom.core.live.commands import client_id
from homeroom.core.live.journal import ALL, Event
from homeroom.core.live.parts import Member, Role, Where
from homeroom.core.live.room import Close, Outcome, Room, SendSnapshot, Store, error
from homeroom.live.faults import CLOSE_INTERNAL, Faults
from homeroom.live.jointoken import JoinClaims
from homeroom.live.wire import json_frame as encode

log = logging.getLogger("homeroom.live")

ROOM_IDLE_S = 15 * 60  # a room nobody here is connected to is let go after this
CLOSE_AGAIN = 1012  # "service restart": reconnect now (the room was let go here)
CLOSE_LATER = 1013  # "try again later": the room's log could not be opened; back off
OPEN_TRIES = 3  # a room's log is asked this many times before its joiners are sent away
OPEN_PAUSE_S = 0.5  # then 1 s: a Redis node slow at the height of a storm has time to answer


class Link(Protocol):
    """One WebSocket connection, as the hub sees it."""

    claims: JoinClaims
    ref: int  # unique in this process
    last_seq: int  # the last room event written to it
    lagging: bool  # its writes back up: send it nothing until it drains
    closing: bool  # closed by us: nothing more is written to it
    member: Member | None  # its person in this process's copy of the room, once joined
    write: Callable[[bytes], object]  # the transport's write: the fan-out's one call

    def send(self, frame: bytes) -> None: ...

    def close(self, code: int, reason: str) -> None: ...


class Recorder(Protocol):
    """Where durable records go (chat messages, poll results): the school database, in batches."""

    def record(self, room: str, kind: str, data: dict[str, Any]) -> None: ...


class AvSide(Protocol):
    """The gateway's audio and video (live/av.py): `av.*` messages never enter the room's log."""

    @property
    def enabled(self) -> bool: ...

    def message(self, link: Link, room: Room, message: Mapping[str, Any]) -> None: ...

    def left(self, link: Link) -> None: ...

    def events(self, host: Host, kinds: Sequence[tuple[str, Mapping[str, Any]]]) -> None: ...


# what stops a publication, or moves a person's audio and video to another group's room
AV_EVENTS = frozenset(
    {
        "floor.given",
        "floor.taken",
        "av.muted",
        "breakout.started",
        "breakout.ended",
        "breakout.assigned",
        "breakout.visit",
    }
)


@dataclass
class MemoryRecorder:
    records: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def record(self, room: str, kind: str, data: dict[str, Any]) -> None:
        self.records.append((room, kind, data))


@dataclass
class Joining:
    link: Link
    epoch: str | None
    last_seq: int | None


@dataclass
class Host:
    """One room in this process: its copy of the room, and its connections here."""

    room_id: str
    room: Room | None = None  # None while the log is being opened
    links: set[Link] = field(default_factory=set)  # joined: they get the room's events
    joining: dict[int, Joining] = field(default_factory=dict)  # their join not applied yet
    waiting: list[Joining] = field(default_factory=list)  # until the room is open here
    empty_since: float | None = None
    by_person: dict[str, set[Link]] = field(default_factory=dict)  # the same links, by person

    def add(self, link: Link) -> None:
        self.links.add(link)
        self.by_person.setdefault(link.claims.person, set()).add(link)

    def discard(self, link: Link) -> None:
        self.links.discard(link)
        mine = self.by_person.get(link.claims.person)
        if mine is not None:
            mine.discard(link)
            if not mine:
                del self.by_person[link.claims.person]


class Hub:
    def __init__(
        self,
        room_log: RoomLog | None = None,
        recorder: Recorder | None = None,
        *,
        clock: Callable[[], float],
        origin: str | None = None,
        lobby: bool = False,
    ) -> None:
        self.log = room_log or MemoryLog()
        self.recorder = recorder or MemoryRecorder()
        self.clock = clock
        self.origin = origin or secrets.token_hex(6)  # this process, in the rooms' logs
        self.rooms: dict[str, Host] = {}
        self._lobby = lobby
        self._refs = 0
        self._opening: set[asyncio.Task[None]] = set()
        self.faults = Faults(log)  # bugs met, logged sparsely (live/faults.py)
        self.av: AvSide | None = None  # set by the server when it relays audio and video

    def new_ref(self) -> int:
        self._refs += 1
        return self._refs

    # -- connections ------------------------------------------------------------------------

    def join(self, link: Link, epoch: str | None, last_seq: int | None) -> None:
        """A connection opened: it joins its room, then is caught up from `last_seq`."""
        room_id = link.claims.room
        host = self.rooms.get(room_id)
        joining = Joining(link, epoch, last_seq)
        if host is None:
            host = self.rooms[room_id] = Host(room_id)
            task = asyncio.ensure_future(self._open(host))
            self._opening.add(task)
            task.add_done_callback(self._opening.discard)
        host.empty_since = None
        if host.room is None:
            host.waiting.append(joining)
            return
        self._append_join(host, joining)

    def leave(self, link: Link) -> None:
        host = self.rooms.get(link.claims.room)
        if host is None:
            return
        host.waiting = [j for j in host.waiting if j.link is not link]
        if self.av is not None:
            self.av.left(link)
        if link in host.links or link.ref in host.joining:
            host.discard(link)
            self._append(host, {"op": "leave", "p": link.claims.person, "l": link.ref})
        if not host.links and not host.joining and not host.waiting:
            host.empty_since = self.clock()

    def message(self, link: Link, message: object) -> None:
        host = self.rooms.get(link.claims.room)
        if host is not None and link in host.links:
            if _is_av(message):  # the gateway's own business: not in the log (live/av.py)
                if self.av is None or host.room is None:
                    link.send(encode(error("av_off", client_id(message))))
                else:
                    self.av.message(link, host.room, message)  # type: ignore[arg-type]
                return
            self._append(host, {"op": "msg", "p": link.claims.person, "l": link.ref, "m": message})

    def links_named(self, room: str | None, person: str | None) -> list[Link]:
        """The links here of this room and person (None: any), joined or still joining: a
        revocation's connections, found without looking at everyone else's."""
        hosts = self.rooms.values() if room is None else filter(None, [self.rooms.get(room)])
        out: list[Link] = []
        for host in hosts:
            pending = [*(j.link for j in host.joining.values()), *(j.link for j in host.waiting)]
            if person is None:
                out += host.links
            else:
                out += host.by_person.get(person, ())
                pending = [link for link in pending if link.claims.person == person]
            out += pending
        return out

    def drained(self, link: Link) -> None:
        """A lagging connection's writes went through: catch it up."""
        host = self.rooms.get(link.claims.room)
        link.lagging = False
        if host is not None and host.room is not None and link in host.links:
            self._sync(host.room, link, host.room.epoch, link.last_seq)

    def forget_idle(self, now: float) -> int:
        """Let go of rooms nobody here has been connected to for ROOM_IDLE_S."""
        idle = [
            host
            for host in self.rooms.values()
            if host.empty_since is not None and now - host.empty_since >= ROOM_IDLE_S
        ]
        for host in idle:
            del self.rooms[host.room_id]
            task = asyncio.ensure_future(self.log.close(host.room_id))
            self._opening.add(task)
            task.add_done_callback(self._opening.discard)
        return len(idle)

    # -- the log ----------------------------------------------------------------------------

    async def _open(self, host: Host) -> None:
        """Follow the room's log here, then let its waiting connections join. The log (Redis)
        may be slow or away for a moment: it is asked again, and only then are the room's
        connections closed with 1013 (they back off and come back; docs/live.md#close-codes)."""
        for attempt in range(OPEN_TRIES):
            try:
                epoch, history = await self.log.open(host.room_id, self._deliver)
                break
            except Exception as exc:
                if attempt + 1 < OPEN_TRIES and self.rooms.get(host.room_id) is host:
                    await asyncio.sleep(OPEN_PAUSE_S * 2**attempt)
                    continue
                log.warning(
                    "room %s: its log could not be opened after %d tries (%s: %s)",
                    host.room_id,
                    attempt + 1,
                    type(exc).__name__,
                    exc,
                )
                for joining in host.waiting:
                    joining.link.close(CLOSE_LATER, "room_unavailable")
                if self.rooms.get(host.room_id) is host:
                    del self.rooms[host.room_id]
                return
        if self.rooms.get(host.room_id) is not host:  # let go while it opened
            if host.room_id not in self.rooms:  # and nobody here follows it now
                await self.log.close(host.room_id)
            return
        av = self.av is not None and self.av.enabled
        room = Room(host.room_id, epoch, lobby=self._lobby, av=av)
        for entry in history:  # what happened before this process held the room
            _input(room, entry)
        host.room = room
        waiting, host.waiting = host.waiting, []
        for joining in waiting:
            self._append_join(host, joining)

    def _append_join(self, host: Host, joining: Joining) -> None:
        claims = joining.link.claims
        host.joining[joining.link.ref] = joining
        entry = {"op": "join", "p": claims.person, "n": claims.name, "r": claims.role.value}
        self._append(host, {**entry, "l": joining.link.ref})

    def _append(self, host: Host, entry: Entry) -> None:
        self.log.append(host.room_id, {**entry, "t": self.clock(), "o": self.origin})

    def _deliver(self, room_id: str, entry: Entry) -> None:
        host = self.rooms.get(room_id)
        if host is None or host.room is None:
            return
        if entry.get("op") == "lost" or (entry.get("op") == "gone" and entry["g"] == self.origin):
            self._let_go(host)
            return
        try:
            outcome = _input(host.room, entry)
        except Exception:  # a bug must not stop the room for everyone
            self.faults.report(f"in room {room_id} applying {str(entry.get('op'))[:20]!r}")
            return
        mine = entry.get("o") == self.origin
        joining = host.joining.pop(entry.get("l", -1), None) if mine else None
        sender = joining.link if joining is not None else self._link(host, entry) if mine else None
        # What the room decided is done; a bug writing it must not stop the room for everyone,
        # nor leave a joining person counted in it with no connection (a ghost).
        failed = not self._guarded(self.apply, host, outcome, sender=sender, mine=mine)
        if joining is not None and entry["op"] == "join":
            failed |= not self._guarded(self._joined, host, host.room, joining, outcome)
        if failed and sender is not None:
            sender.close(CLOSE_INTERNAL, "internal_error")

    def _guarded(self, step: Callable[..., None], *args: Any, **kwargs: Any) -> bool:
        """Run one step of applying an input; False (logged sparsely) if a bug stopped it."""
        try:
            step(*args, **kwargs)
        except Exception:
            self.faults.report(f"applying an input ({getattr(step, '__name__', step)})")
            return False
        return True

    def _let_go(self, host: Host) -> None:
        """This copy of the room can no longer follow the log (the log was lost, or the others
        took this process for dead): drop it; its clients reconnect and resume or take a
        snapshot of the room as the log has it."""
        log.warning("room %s: lost here, its connections reconnect", host.room_id)
        del self.rooms[host.room_id]
        links = [*host.links, *(j.link for j in host.joining.values())]
        links += [j.link for j in host.waiting]
        for link in links:
            link.close(CLOSE_AGAIN, "try_again")
        task = asyncio.ensure_future(self.log.close(host.room_id))
        self._opening.add(task)
        task.add_done_callback(self._opening.discard)

    def _link(self, host: Host, entry: Entry) -> Link | None:
        ref = entry.get("l")
        for link in host.by_person.get(entry.get("p", ""), ()):  # once a message: no generator
            if link.ref == ref:
                return link
        return None

    def _joined(self, host: Host, room: Room, joining: Joining, outcome: Outcome) -> None:
        link = joining.link
        person = link.claims.person
        for effect in outcome.effects:
            if isinstance(effect, Close) and effect.person == person:
                link.close(effect.code, effect.reason)
                return
        link.member = room.members[person]
        host.add(link)  # first: should the catch-up fail, closing the link is a leave
        self._sync(room, link, joining.epoch, joining.last_seq)

    # -- applying an outcome ----------------------------------------------------------------

    def apply(self, host: Host, outcome: Outcome, *, sender: Link | None, mine: bool) -> None:
        room = host.room
        assert room is not None
        for event in outcome.events:
            self._fan_out(host, room, event)
        if self.av is not None and any(e.kind in AV_EVENTS for e in outcome.events):
            self.av.events(host, [(e.kind, e.data) for e in outcome.events])
        if sender is not None:
            for reply in outcome.replies:
                sender.send(encode(reply))
        for effect in outcome.effects:
            if isinstance(effect, Store):
                if mine:  # one process records it: the one the input came from
                    self.recorder.record(room.id, effect.kind, dict(effect.data))
            elif isinstance(effect, SendSnapshot):
                for link in self._links_of(host, effect.person):
                    self._snapshot(room, link)
            elif isinstance(effect, Close):
                targets = (
                    host.links if effect.person is None else self._links_of(host, effect.person)
                )
                for link in list(targets):
                    link.close(effect.code, effect.reason)

    def _fan_out(self, host: Host, room: Room, event: Event) -> None:
        if event.audience is ALL:
            self._fan_out_all(host, room, event)
            return
        frame: bytes | None = None
        for link in self._audience(host, room, event):
            if link.lagging or not room.reaches(event, link.claims.person):
                continue
            if frame is None:
                frame = encode(event.message(room.epoch))  # once, for everyone it reaches
            link.send(frame)
            link.last_seq = event.seq

    @staticmethod
    def _fan_out_all(host: Host, room: Room, event: Event) -> None:
        """An event for everyone in the room: the hot loop, a few attribute reads and one write
        a recipient (a lagging link's buffer is bounded by pause_writing, so no size check).

        uvloop raises on a write to a transport that the peer has just reset and whose
        `connection_lost` has not run yet; in a reconnect storm thousands are in that state at
        once, and one must not stop the event for the rest of the class (nor close the sender
        with 1011, as a failed input does)."""
        frame: bytes | None = None
        seq, inside = event.seq, Where.IN
        for link in host.links:
            member = link.member
            if link.lagging or link.closing or member is None or member.where is not inside:
                continue
            if frame is None:
                frame = encode(event.message(room.epoch))
            try:
                link.write(frame)
            except RuntimeError:  # uvloop: the peer reset it, its connection_lost is still due
                continue  # (a try costs nothing until it catches: the loop stays lean)
            link.last_seq = seq

    @staticmethod
    def _audience(host: Host, room: Room, event: Event) -> Iterable[Link]:
        """The links an event may reach: all of them, or only those of the people it names.

        In a room of thousands most events are for the teachers or one person: looking at
        every link for each would make a crowd's arrival cost O(n²).
        """
        audience = event.audience
        if audience.everyone:
            return host.links
        people = set(audience.people)
        if audience.staff:
            people.update(room.teachers)
        return [link for person in people for link in host.by_person.get(person, ())]

    def _links_of(self, host: Host, person: str) -> Iterable[Link]:
        return list(host.by_person.get(person, ()))

    def _sync(self, room: Room, link: Link, epoch: str | None, last_seq: int | None) -> None:
        missed = None
        if epoch is not None and last_seq is not None:
            missed = room.resume(link.claims.person, epoch, last_seq)
        if missed is None:
            self._snapshot(room, link)
            return
        for event in missed:
            link.send(encode(event.message(room.epoch)))
        link.last_seq = room.seq

    def _snapshot(self, room: Room, link: Link) -> None:
        link.send(encode(room.snapshot(link.claims.person)))
        link.last_seq = room.seq


def _is_av(message: object) -> bool:
    """An `av.*` message for the gateway (`av.mute` is a room command)."""
    kind = message.get("type") if isinstance(message, dict) else None
    return isinstance(kind, str) and kind.startswith("av.") and kind != "av.mute"


def _input(room: Room, entry: Entry) -> Outcome:
    """Apply one log entry to a room."""
    op, now, origin = entry["op"], float(entry["t"]), str(entry["o"])
    if op == "join":
        return room.join(entry["p"], entry["n"], Role(entry["r"]), now, origin)
    if op == "leave":
        return room.leave(entry["p"], now, origin)
    if op == "msg":
        return room.handle(entry["p"], entry["m"], now)
    if op == "gone":
        return room.gone(entry["g"], now)
    raise ValueError(f"unknown log entry {op!r}")
