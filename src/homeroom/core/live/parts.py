"""The pieces of a room's state: members, the open poll, the board, the slides (docs/live.md).

Plain data with the few rules that belong to each piece; the room (room.py) decides who may do
what and which events follow.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

RECENT_IDS = 64  # client message ids remembered per person, so a resend is applied once


class Role(StrEnum):
    TEACHER = "teacher"
    PUPIL = "pupil"
    GUEST = "guest"  # invited by link: always waits for the teacher


class Where(StrEnum):
    LOBBY = "lobby"
    IN = "in"
    OUT = "out"  # refused or removed: cannot come back to this session


@dataclass(slots=True)
class Member:
    person: str
    name: str
    role: Role
    where: Where = Where.LOBBY
    links: int = 0  # open connections (tabs, devices), in every gateway process
    origins: dict[str, int] = field(default_factory=dict)  # of which, per gateway process
    admitted: bool = False  # once let in, a reconnection does not wait in the lobby again
    muted: bool = False
    group: int | None = None
    out_code: int = 0  # why they are OUT: the close code given again if they come back
    # the client ids of their last messages, for resends; made at their first message (most
    # pupils of a big room send none, and an empty OrderedDict is one more object to collect)
    recent: OrderedDict[str, int] | None = None

    @property
    def teacher(self) -> bool:
        return self.role is Role.TEACHER

    @property
    def inside(self) -> bool:
        return self.where is Where.IN

    def remember(self, cid: str, seq: int) -> None:
        if self.recent is None:
            self.recent = OrderedDict()
        self.recent[cid] = seq
        if len(self.recent) > RECENT_IDS:
            self.recent.popitem(last=False)

    def applied(self, cid: str) -> int | None:
        """The sequence number of their message `cid` if it was applied already (a resend)."""
        return None if self.recent is None else self.recent.get(cid)

    def view(self) -> dict[str, Any]:
        return {"person": self.person, "name": self.name, "role": self.role.value}


@dataclass(slots=True)
class Poll:
    id: int
    question: str
    choices: tuple[str, ...]
    multiple: bool
    votes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    open: bool = True
    shown: bool = False

    def counts(self) -> list[int]:
        totals = [0] * len(self.choices)
        for chosen in self.votes.values():
            for index in chosen:
                totals[index] += 1
        return totals

    def results(self) -> dict[str, Any]:
        return {"poll": self.id, "counts": self.counts(), "voters": len(self.votes)}

    def view(self, *, teacher: bool, person: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "poll": self.id,
            "question": self.question,
            "choices": list(self.choices),
            "multiple": self.multiple,
            "open": self.open,
            "shown": self.shown,
            "mine": list(self.votes.get(person, ())),
        }
        if teacher or self.shown:
            out.update(self.results())
        return out

    def record(self) -> dict[str, Any]:
        """What is kept after the class (no names: the counts)."""
        return {
            "poll": self.id,
            "question": self.question,
            "choices": list(self.choices),
            "multiple": self.multiple,
            **self.results(),
        }


@dataclass(slots=True)
class Board:
    max_points: int
    everyone: bool = False  # pupils may draw too
    strokes: list[dict[str, Any]] = field(default_factory=list)
    points: int = 0

    def add(self, stroke: dict[str, Any], points: int) -> bool:
        if self.points + points > self.max_points:
            return False
        self.strokes.append(stroke)
        self.points += points
        return True

    def clear(self) -> None:
        self.strokes.clear()
        self.points = 0


@dataclass(slots=True)
class Slides:
    doc: str
    pages: int
    page: int = 1

    def view(self) -> dict[str, Any]:
        return {"doc": self.doc, "pages": self.pages, "page": self.page}
