"""A room's log: the one order of its inputs that every gateway process holding the room follows.

A room's state is a fold over its inputs (joins, leaves, client messages, with their time), and
the room (core/live/room.py) is deterministic. So processes share a room by sharing its log:
any process appends an input; every process holding the room applies the same inputs in the
same order to its own copy, computes the same numbered events, and writes them to its own
connections (docs/live.md#many-processes).

Guarantees every implementation gives, tested by tests/contract/test_room_log.py:

- `append` never blocks; the entry reaches every replica that has the room open, the
  appending one included, through its `deliver` callback, in one total order, each once;
- `open` returns the room's epoch and every entry so far, in order; entries appended after
  that reach `deliver`, none missed and none repeated between the two;
- the epoch changes only when the log was lost (a new room, or a backend that forgot it);
- `deliver` is never called before `open` has returned, nor after `close`;
- a replica that can no longer follow the log (its backend lost entries this replica has not
  applied, or started a new epoch) gets `{"op": "lost"}` once and is no longer following: it
  lets its copy of the room go, and opening the room again gives the new epoch.

The heartbeats of gateway processes (`ProcessLiveness`) live with the log's backend: a process
that stops beating is gone, and the others let its connections go (docs/live.md#many-processes).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

log = logging.getLogger("homeroom.live")

Entry = dict[str, Any]
Deliver = Callable[[str, Entry], None]


class RoomLog(Protocol):
    async def open(self, room: str, deliver: Deliver) -> tuple[str, list[Entry]]:
        """Follow `room`: its epoch and its entries so far; later ones go to `deliver`."""
        ...

    def append(self, room: str, entry: Entry) -> None:
        """Add an entry for every replica of `room`, this one included (through `deliver`)."""
        ...

    async def close(self, room: str) -> None:
        """Stop following `room` here."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class ProcessLiveness(Protocol):
    """Heartbeats of gateway processes, shared by all of them."""

    async def beat(self, origin: str, ttl_s: float) -> None:
        """`origin` is alive for `ttl_s` more seconds."""
        ...

    async def alive(self, origins: Iterable[str]) -> set[str]:
        """Which of `origins` have beaten within their TTL."""
        ...


@dataclass
class MemoryLog:
    """One process: the room's only replica is here, so an entry is applied as it is appended.

    Nothing is kept: the room's copy in the hub is the whole of its state, and a room closed
    here is gone (a new epoch next time).
    """

    epoch: Callable[[], str] = field(default=lambda: secrets.token_hex(8))
    _followers: dict[str, Deliver] = field(default_factory=dict)
    _epochs: dict[str, str] = field(default_factory=dict)

    async def open(self, room: str, deliver: Deliver) -> tuple[str, list[Entry]]:
        self._followers[room] = deliver
        epoch = self._epochs.setdefault(room, self.epoch())
        return epoch, []

    def append(self, room: str, entry: Entry) -> None:
        deliver = self._followers.get(room)
        if deliver is not None:
            deliver(room, entry)

    async def close(self, room: str) -> None:
        self._followers.pop(room, None)
        self._epochs.pop(room, None)

    async def aclose(self) -> None:
        self._followers.clear()
