"""The door's policy: who may start a request head, until when, and which idle connection goes
first when the process runs short of files (docs/server.md).

Sans-I/O: connections are opaque keys, `now` is an argument, and the answers say what to close;
the server (homeroom/door.py) owns the sockets and the timer. A connection is in one of three
phases:

| phase | what it waits for | leaves it |
|---|---|---|
| HEAD | the rest of a request head (or a WebSocket handshake) | `done` → BUSY; past its deadline: `overdue` |
| BUSY | the application's answer | `rest` → IDLE; a next head begun (pipelined): `begin` → HEAD |
| IDLE | the next request on a kept-alive connection | a head in pieces: `begin` → HEAD; a whole one: `done` → BUSY; under pressure: `arrive` sheds it |
| CLOSING | the server to close it (shed, or late) | `leave` |

A connection whose head ends in something the door need not watch (an open WebSocket) is
`settle`d: forgotten but for a count, so it holds no entry here and still counts among the files.

The deadline of a head counts from the connection's arrival, or, on a kept-alive connection, from
the first read that left a head unfinished: a head that arrives whole in one read (nearly every
one) costs the door two steps a request, `done` and `rest`. The deadline is the same for all, so
heads are kept in order of their deadline and `overdue` costs only what it returns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Refusal(StrEnum):
    """Why a connection was closed at the door (the `reason` of homeroom_door_refused_total)."""

    BLOCK = "block"  # its address block already has `per_block` unfinished heads
    FILES = "files"  # the process is above its high-water mark of files, nothing idle to close
    LATE = "late"  # its head was not complete by the deadline
    PROXY = "proxy"  # no valid PROXY header from a trusted balancer, or one from anyone else


class Phase(Enum):
    HEAD = "head"
    BUSY = "busy"
    IDLE = "idle"
    CLOSING = "closing"  # the door told the server to close it; its file is as good as free


@dataclass(frozen=True, slots=True)
class DoorLimits:
    head_s: float = 10.0  # a whole request head within this
    per_block: int = 1000  # unfinished heads at once per address block; 0: no limit
    files: int = 20_000  # the process's limit of open files (RLIMIT_NOFILE)
    high_water: float = 0.8  # of `files`: above, idle connections go first, new ones are refused

    @property
    def files_high(self) -> int:
        return int(self.files * self.high_water)


@dataclass(frozen=True, slots=True)
class Admission(Generic[K]):
    """The answer to an arrival: refused or not, and idle connections to close either way."""

    refused: Refusal | None
    shed: tuple[K, ...] = ()


class Door(Generic[K]):
    """Every connection of one server process, by phase, and the counts of what it refused."""

    def __init__(self, limits: DoorLimits) -> None:
        self.limits = limits
        self._head_s = limits.head_s
        self.files_besides = 0  # open files that are not connections (listeners, logs, pools)
        self._phase: dict[K, Phase] = {}
        self._block: dict[K, str] = {}
        self._heads: dict[K, float] = {}  # deadline, in order of deadline (insertion order)
        self._idle: dict[K, None] = {}  # in the order they became idle: oldest first
        self._heads_of: dict[str, int] = {}  # a plain dict: Counter's __missing__ is Python
        self._closing = 0
        self.settled = 0  # connections counted but not watched (open WebSockets)
        self.refused: Counter[Refusal] = Counter()
        self.shed_idle = 0  # idle connections closed to make room

    # -- what the server reports -------------------------------------------------------------

    def arrive(self, key: K, block: str, now: float) -> Admission[K]:
        """A new connection from `block`: admitted (in HEAD) or refused; see `Admission`. The
        block "" is one not known yet (a trusted balancer's connection before its PROXY header):
        no limit per block, until `move` tells the client's."""
        limits = self.limits
        if limits.per_block and block and self._heads_of.get(block, 0) >= limits.per_block:
            self.refused[Refusal.BLOCK] += 1
            return Admission(Refusal.BLOCK)
        over = self.files_in_use + 1 - limits.files_high
        shed = self._oldest_idle(over) if over > 0 else ()
        if over > len(shed):
            self.refused[Refusal.FILES] += 1
            return Admission(Refusal.FILES, shed)
        self._phase[key] = Phase.HEAD
        self._block[key] = block
        self._start_head(key, now)
        return Admission(None, shed)

    def move(self, key: K, block: str) -> Refusal | None:
        """A connection in its head turns out to come from `block` (the client's real address,
        read from a trusted balancer's PROXY header): counted there from now on, or refused
        (forgotten here, for the server to close) if that block has its `per_block` already."""
        old = self._block.get(key)
        if old is None or old == block or self._phase.get(key) is not Phase.HEAD:
            return None
        per_block = self.limits.per_block
        self._heads_of[block] = self._heads_of.get(block, 0) + 1
        self._block[key] = block
        left = self._heads_of[old] - 1
        if left:
            self._heads_of[old] = left
        else:
            del self._heads_of[old]
        if per_block and self._heads_of[block] > per_block:
            self._end_head(key)
            del self._phase[key]
            del self._block[key]
            self.refused[Refusal.BLOCK] += 1
            return Refusal.BLOCK
        return None

    def begin(self, key: K, now: float) -> Refusal | None:
        """Part of another request's head on a kept-alive connection: a new deadline from now.
        Nothing changes for a connection already in its head, closing, or unknown. An unfinished
        head counts in its block like a new connection's: with the block at `per_block` already,
        the connection is to close (CLOSING, Refusal.BLOCK), or a kept-alive connection could
        trickle heads past the limit that a new one is held to."""
        phase = self._phase.get(key)
        if phase is not Phase.IDLE and phase is not Phase.BUSY:
            return None
        if phase is Phase.IDLE:
            del self._idle[key]
        per_block = self.limits.per_block
        block = self._block[key]
        if per_block and block and self._heads_of.get(block, 0) >= per_block:
            self._close(key)
            self.refused[Refusal.BLOCK] += 1
            return Refusal.BLOCK
        self._phase[key] = Phase.HEAD
        self._start_head(key, now)
        return None

    def done(self, key: K) -> None:
        """The head is complete (or came whole to an idle connection): the application has it."""
        phase = self._phase.get(key)
        if phase is Phase.HEAD:
            self._end_head(key)
        elif phase is Phase.IDLE:
            del self._idle[key]
        else:
            return
        self._phase[key] = Phase.BUSY

    def settle(self, key: K) -> None:
        """The head is complete and what follows is not the door's to watch: forget it, count it
        (`unsettle` when it closes)."""
        if self._phase.get(key) is Phase.HEAD:
            self._end_head(key)
            del self._phase[key]
            del self._block[key]
            self.settled += 1

    def unsettle(self) -> None:
        """A settled connection closed."""
        self.settled -= 1

    def rest(self, key: K) -> None:
        """The answer is sent and the connection kept alive: idle, first to go under pressure."""
        if self._phase.get(key) is Phase.BUSY:
            self._phase[key] = Phase.IDLE
            self._idle[key] = None

    def leave(self, key: K) -> None:
        """The connection is closed, whoever closed it."""
        phase = self._phase.pop(key, None)
        if phase is Phase.HEAD:
            self._end_head(key)
        elif phase is Phase.IDLE:
            del self._idle[key]
        elif phase is Phase.CLOSING:
            self._closing -= 1
        self._block.pop(key, None)

    # -- what the server asks -----------------------------------------------------------------

    def overdue(self, now: float) -> list[K]:
        """Connections whose head missed its deadline, to close; each is returned once (it
        counts as busy until the server reports it left)."""
        late: list[K] = []
        for key, deadline in self._heads.items():
            if deadline > now:
                break
            late.append(key)
        for key in late:
            self._end_head(key)
            self._close(key)
        self.refused[Refusal.LATE] += len(late)
        return late

    def phase(self, key: K) -> Phase | None:
        return self._phase.get(key)

    @property
    def connections(self) -> int:
        return len(self._phase) + self.settled

    @property
    def heads(self) -> int:
        return len(self._heads)

    @property
    def idle(self) -> int:
        return len(self._idle)

    @property
    def files_in_use(self) -> int:
        """Files open, counting those the server was told to close as closed already."""
        return self.files_besides + len(self._phase) + self.settled - self._closing

    def heads_of(self, block: str) -> int:
        return self._heads_of.get(block, 0)

    # -- inside ---------------------------------------------------------------------------------

    def _start_head(self, key: K, now: float) -> None:
        self._heads[key] = now + self._head_s
        block = self._block[key]
        self._heads_of[block] = self._heads_of.get(block, 0) + 1

    def _end_head(self, key: K) -> None:
        del self._heads[key]
        block = self._block[key]
        left = self._heads_of[block] - 1
        if left:
            self._heads_of[block] = left
        else:
            del self._heads_of[block]

    def _close(self, key: K) -> None:
        self._phase[key] = Phase.CLOSING
        self._closing += 1

    def _oldest_idle(self, count: int) -> tuple[K, ...]:
        """Up to `count` idle connections, oldest first, forgotten here (they are to close)."""
        shed: list[K] = []
        for key in self._idle:
            if len(shed) == count:
                break
            shed.append(key)
        for key in shed:
            del self._idle[key]
            self._close(key)
        self.shed_idle += len(shed)
        return tuple(shed)
