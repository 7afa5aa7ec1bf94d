"""The rooms of one gateway process and their connections: fan-out, catch-up, effects.

A `Hub` keeps, per room, the room's state machine (core/live/room.py) and the set of its open
connections here. It turns each `Outcome` into writes: an event is encoded once and the same
frame written to every connection its audience reaches; a connection whose writes back up is
skipped and caught up when it drains, from the journal or with a snapshot (docs/live.md).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from homeroom.core.live.journal import Event
from homeroom.core.live.room import Close, Outcome, Room, SendSnapshot, Store
from homeroom.live.jointoken import JoinClaims
from homeroom.live.wire import json_frame as encode

log = logging.getLogger("homeroom.live")


class Link(Protocol):
    """One WebSocket connection, as the hub sees it."""

    claims: JoinClaims
    last_seq: int  # the last room event written to it
    lagging: bool  # its writes back up: send it nothing until it drains

    def send(self, frame: bytes) -> None: ...

    def close(self, code: int, reason: str) -> None: ...


class Recorder(Protocol):
    """Where durable records go (chat messages, poll results): the school database, in batches."""

    def record(self, room: str, kind: str, data: dict[str, Any]) -> None: ...


@dataclass
class MemoryRecorder:
    records: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def record(self, room: str, kind: str, data: dict[str, Any]) -> None:
        self.records.append((room, kind, data))


ROOM_IDLE_S = 15 * 60  # a room nobody is connected to is forgotten after this


@dataclass
class Host:
    """One room in this process."""

    room: Room
    links: set[Link] = field(default_factory=set)
    empty_since: float | None = None


class Hub:
    def __init__(
        self,
        recorder: Recorder | None = None,
        *,
        clock: Callable[[], float],
        epoch: Callable[[], str] = lambda: secrets.token_hex(8),
        lobby: bool = False,
    ) -> None:
        self.rooms: dict[str, Host] = {}
        self.recorder = recorder or MemoryRecorder()
        self.clock = clock
        self._epoch = epoch
        self._lobby = lobby

    def host(self, room_id: str) -> Host:
        host = self.rooms.get(room_id)
        if host is None:
            host = self.rooms[room_id] = Host(Room(room_id, self._epoch(), lobby=self._lobby))
        return host

    # -- connections ------------------------------------------------------------------------

    def join(self, link: Link, epoch: str | None, last_seq: int | None) -> None:
        """A connection opened: into its room, then caught up from `last_seq` or a snapshot."""
        claims = link.claims
        host = self.host(claims.room)
        outcome = host.room.join(claims.person, claims.name, claims.role, self.clock())
        refused = any(isinstance(e, Close) and e.person == claims.person for e in outcome.effects)
        self.apply(host, outcome, sender=None)
        if refused:
            link.close(*_close_of(outcome, claims.person))
            return
        self._sync(host, link, epoch, last_seq)
        host.links.add(link)
        host.empty_since = None

    def leave(self, link: Link) -> None:
        host = self.rooms.get(link.claims.room)
        if host is None or link not in host.links:
            return
        host.links.discard(link)
        self.apply(host, host.room.leave(link.claims.person, self.clock()), sender=None)
        if not host.links:
            host.empty_since = self.clock()

    def forget_idle(self, now: float) -> int:
        """Drop rooms nobody has been connected to for ROOM_IDLE_S; returns how many."""
        idle = [
            room_id
            for room_id, host in self.rooms.items()
            if host.empty_since is not None and now - host.empty_since >= ROOM_IDLE_S
        ]
        for room_id in idle:
            del self.rooms[room_id]
        return len(idle)

    def message(self, link: Link, message: object) -> None:
        host = self.rooms.get(link.claims.room)
        if host is None or link not in host.links:
            return
        outcome = host.room.handle(link.claims.person, message, self.clock())
        self.apply(host, outcome, sender=link)

    def drained(self, link: Link) -> None:
        """A lagging connection's writes went through: catch it up."""
        host = self.rooms.get(link.claims.room)
        link.lagging = False
        if host is not None and link in host.links:
            self._sync(host, link, host.room.epoch, link.last_seq)

    # -- applying an outcome ----------------------------------------------------------------

    def apply(self, host: Host, outcome: Outcome, sender: Link | None) -> None:
        for event in outcome.events:
            self._fan_out(host, event)
        if sender is not None:
            for reply in outcome.replies:
                sender.send(encode(reply))
        for effect in outcome.effects:
            if isinstance(effect, Store):
                self.recorder.record(host.room.id, effect.kind, dict(effect.data))
            elif isinstance(effect, SendSnapshot):
                for link in self._links_of(host, effect.person):
                    self._snapshot(host, link)
            elif isinstance(effect, Close):
                targets = (
                    host.links if effect.person is None else self._links_of(host, effect.person)
                )
                for link in list(targets):
                    link.close(effect.code, effect.reason)

    def _fan_out(self, host: Host, event: Event) -> None:
        room = host.room
        frame: bytes | None = None
        for link in host.links:
            if link.lagging or not room.reaches(event, link.claims.person):
                continue
            if frame is None:
                frame = encode(event.message(room.epoch))  # once, for everyone it reaches
            link.send(frame)
            link.last_seq = event.seq

    def _links_of(self, host: Host, person: str) -> Iterable[Link]:
        return [link for link in host.links if link.claims.person == person]

    def _sync(self, host: Host, link: Link, epoch: str | None, last_seq: int | None) -> None:
        room = host.room
        missed = None
        if epoch is not None and last_seq is not None:
            missed = room.resume(link.claims.person, epoch, last_seq)
        if missed is None:
            self._snapshot(host, link)
            return
        for event in missed:
            link.send(encode(event.message(room.epoch)))
        link.last_seq = room.seq

    def _snapshot(self, host: Host, link: Link) -> None:
        link.send(encode(host.room.snapshot(link.claims.person)))
        link.last_seq = host.room.seq


def _close_of(outcome: Outcome, person: str) -> tuple[int, str]:
    for effect in outcome.effects:
        if isinstance(effect, Close) and effect.person == person:
            return effect.code, effect.reason
    raise AssertionError("no close for this person")
