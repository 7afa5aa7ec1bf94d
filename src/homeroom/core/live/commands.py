"""What a client may ask of a room (protocol v1): parsed and bounded before the room sees it.

`parse` turns a decoded JSON message into one frozen command or raises `Invalid` with a stable
reason word; the room never sees a field of the wrong type or size, nor text that could not be
written back to everyone (docs/live.md#what-a-client-may-send). The JSON itself is decoded by
`core/clientjson.py`, with its own bounds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from homeroom.core.clientjson import printable

VERSION = 1
CHAT_MAX = 500  # characters
QUESTION_MAX = 300
CHOICE_MAX = 100
CHOICES = (2, 10)
STROKE_POINTS = 1000
GROUPS = (2, 20)
FLOOR_MAX = 3  # pupils holding the floor at once (publishing through Janus): docs/av.md
PAGES = 500
REACTIONS = frozenset({"👍", "👏", "😀", "❓", "🎉", "❤️", "🙋"})
_CID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PERSON = re.compile(r"[A-Za-z0-9_:.-]{1,64}")
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
_DOC = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TO = re.compile("all|teacher")


class Invalid(Exception):
    """A message the room refuses; `reason` is a stable word sent back in the error."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Command:
    cid: str  # the client's id for this message: a resend is applied once


@dataclass(frozen=True, slots=True)
class ChatSend(Command):
    text: str
    to_teacher: bool


@dataclass(frozen=True, slots=True)
class HandRaise(Command):
    pass


@dataclass(frozen=True, slots=True)
class HandLower(Command):
    person: str | None  # None: one's own hand; a teacher may lower anyone's


@dataclass(frozen=True, slots=True)
class React(Command):
    emoji: str


@dataclass(frozen=True, slots=True)
class PollOpen(Command):
    question: str
    choices: tuple[str, ...]
    multiple: bool


@dataclass(frozen=True, slots=True)
class PollVote(Command):
    poll: int
    choices: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PollClose(Command):
    poll: int


@dataclass(frozen=True, slots=True)
class PollShow(Command):
    poll: int


@dataclass(frozen=True, slots=True)
class BoardStroke(Command):
    points: tuple[tuple[float, float], ...]  # in [0, 1] × [0, 1] of the board
    colour: str
    width: int
    erase: bool


@dataclass(frozen=True, slots=True)
class BoardClear(Command):
    pass


@dataclass(frozen=True, slots=True)
class BoardAccess(Command):
    everyone: bool


@dataclass(frozen=True, slots=True)
class SlidesOpen(Command):
    doc: str
    pages: int


@dataclass(frozen=True, slots=True)
class SlidesPage(Command):
    page: int


@dataclass(frozen=True, slots=True)
class LobbyAdmit(Command):
    person: str | None  # None: everyone waiting


@dataclass(frozen=True, slots=True)
class LobbyRefuse(Command):
    person: str


@dataclass(frozen=True, slots=True)
class LobbySet(Command):
    on: bool


@dataclass(frozen=True, slots=True)
class Mute(Command):
    person: str | None  # None: every pupil's chat
    on: bool


@dataclass(frozen=True, slots=True)
class Remove(Command):
    person: str


@dataclass(frozen=True, slots=True)
class Lock(Command):
    on: bool


@dataclass(frozen=True, slots=True)
class End(Command):
    pass


@dataclass(frozen=True, slots=True)
class BreakoutStart(Command):
    groups: int


@dataclass(frozen=True, slots=True)
class BreakoutVisit(Command):
    group: int | None  # None: back to the main room


@dataclass(frozen=True, slots=True)
class BreakoutEnd(Command):
    pass


@dataclass(frozen=True, slots=True)
class FloorGive(Command):
    person: str
    video: bool


@dataclass(frozen=True, slots=True)
class FloorTake(Command):
    person: str | None  # None: one's own floor


@dataclass(frozen=True, slots=True)
class AvMute(Command):
    person: str


# -- fields ---------------------------------------------------------------------------------


def _text(msg: Mapping[str, Any], name: str, limit: int) -> str:
    value = msg.get(name)
    if not isinstance(value, str):
        raise Invalid("bad_field", name)
    value = value.strip()
    if not value:
        raise Invalid("empty", name)
    if len(value) > limit:
        raise Invalid("too_long", name)
    if not printable(value):  # a lone surrogate would break every frame and row it went into
        raise Invalid("bad_text", name)
    return value


def _flag(msg: Mapping[str, Any], name: str, default: bool | None = None) -> bool:
    value = msg.get(name, default)
    if not isinstance(value, bool):
        raise Invalid("bad_field", name)
    return value


def _int(msg: Mapping[str, Any], name: str, low: int, high: int) -> int:
    value = msg.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise Invalid("bad_field", name)
    return value


def _match(msg: Mapping[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    value = msg.get(name)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise Invalid("bad_field", name)
    return value


def _person(msg: Mapping[str, Any], name: str = "person", *, optional: bool = False) -> str | None:
    if optional and msg.get(name) is None:
        return None
    return _match(msg, name, _PERSON)


def _choices(msg: Mapping[str, Any]) -> tuple[str, ...]:
    value = msg.get("choices")
    if not isinstance(value, list) or not CHOICES[0] <= len(value) <= CHOICES[1]:
        raise Invalid("bad_field", "choices")
    return tuple(_text({"choices": item}, "choices", CHOICE_MAX) for item in value)


def _votes(msg: Mapping[str, Any]) -> tuple[int, ...]:
    value = msg.get("choices")
    if not isinstance(value, list) or not 1 <= len(value) <= CHOICES[1]:
        raise Invalid("bad_field", "choices")
    votes = tuple(_int({"c": item}, "c", 0, CHOICES[1] - 1) for item in value)
    if len(set(votes)) != len(votes):
        raise Invalid("bad_field", "choices")
    return tuple(sorted(votes))


def _points(msg: Mapping[str, Any]) -> tuple[tuple[float, float], ...]:
    value = msg.get("points")
    if not isinstance(value, list) or not 1 <= len(value) <= STROKE_POINTS:
        raise Invalid("bad_field", "points")
    points = []
    for point in value:
        if not isinstance(point, list) or len(point) != 2:
            raise Invalid("bad_field", "points")
        x, y = point
        if not all(_coordinate(c) for c in (x, y)):
            raise Invalid("bad_field", "points")
        points.append((round(float(x), 4), round(float(y), 4)))
    return tuple(points)


def _coordinate(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and 0.0 <= value <= 1.0


def _group(msg: Mapping[str, Any]) -> int | None:
    return None if msg.get("group") is None else _int(msg, "group", 1, GROUPS[1])


# -- the table ------------------------------------------------------------------------------

_Parser = Callable[[str, Mapping[str, Any]], Command]

PARSERS: dict[str, _Parser] = {
    "chat.send": lambda c, m: ChatSend(
        c, _text(m, "text", CHAT_MAX), _match(m, "to", _TO) == "teacher"
    ),
    "hand.raise": lambda c, m: HandRaise(c),
    "hand.lower": lambda c, m: HandLower(c, _person(m, optional=True)),
    "react": lambda c, m: React(c, _emoji(m)),
    "poll.open": lambda c, m: PollOpen(
        c, _text(m, "question", QUESTION_MAX), _choices(m), _flag(m, "multiple", False)
    ),
    "poll.vote": lambda c, m: PollVote(c, _int(m, "poll", 1, 2**31), _votes(m)),
    "poll.close": lambda c, m: PollClose(c, _int(m, "poll", 1, 2**31)),
    "poll.show": lambda c, m: PollShow(c, _int(m, "poll", 1, 2**31)),
    "board.stroke": lambda c, m: BoardStroke(
        c,
        _points(m),
        _match(m, "colour", _COLOUR).lower(),
        _int(m, "width", 1, 40),
        _flag(m, "erase", False),
    ),
    "board.clear": lambda c, m: BoardClear(c),
    "board.access": lambda c, m: BoardAccess(c, _flag(m, "everyone")),
    "slides.open": lambda c, m: SlidesOpen(c, _match(m, "doc", _DOC), _int(m, "pages", 1, PAGES)),
    "slides.page": lambda c, m: SlidesPage(c, _int(m, "page", 1, PAGES)),
    "lobby.admit": lambda c, m: LobbyAdmit(c, _person(m, optional=True)),
    "lobby.refuse": lambda c, m: LobbyRefuse(c, _match(m, "person", _PERSON)),
    "lobby.set": lambda c, m: LobbySet(c, _flag(m, "on")),
    "mod.mute": lambda c, m: Mute(c, _person(m, optional=True), _flag(m, "on")),
    "mod.remove": lambda c, m: Remove(c, _match(m, "person", _PERSON)),
    "mod.lock": lambda c, m: Lock(c, _flag(m, "on")),
    "class.end": lambda c, m: End(c),
    "breakout.start": lambda c, m: BreakoutStart(c, _int(m, "groups", *GROUPS)),
    "breakout.visit": lambda c, m: BreakoutVisit(c, _group(m)),
    "breakout.end": lambda c, m: BreakoutEnd(c),
    "floor.give": lambda c, m: FloorGive(c, _match(m, "person", _PERSON), _flag(m, "video")),
    "floor.take": lambda c, m: FloorTake(c, _person(m, optional=True)),
    "av.mute": lambda c, m: AvMute(c, _match(m, "person", _PERSON)),
}


def _emoji(msg: Mapping[str, Any]) -> str:
    value = msg.get("emoji")
    if not isinstance(value, str) or value not in REACTIONS:  # a list is not even hashable
        raise Invalid("bad_field", "emoji")
    return value


def client_id(message: object) -> str | None:
    """The message's `id` if it is a well-formed client id (ASCII: always safe to send back)."""
    cid = message.get("id") if isinstance(message, dict) else None
    return cid if isinstance(cid, str) and _CID.fullmatch(cid) else None


def parse(message: object) -> Command:
    """One command from a decoded JSON message; raises Invalid."""
    if not isinstance(message, dict):
        raise Invalid("not_an_object")
    if message.get("v", VERSION) != VERSION:
        raise Invalid("bad_version")
    kind = message.get("type")
    parser = PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        raise Invalid("unknown_type")
    cid = client_id(message)
    if cid is None:
        raise Invalid("bad_field", "id")
    return parser(cid, message)
