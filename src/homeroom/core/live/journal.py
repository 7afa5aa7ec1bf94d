"""A room's numbered events and the bounded history a reconnecting client resumes from.

Every event a room emits gets the next sequence number of the room's epoch. The journal keeps
the last `capacity` events: a client that comes back with the same epoch and a last sequence
still inside the history gets exactly the events it missed that were meant for it, in order;
otherwise it gets a snapshot (docs/live.md#resume). A new epoch (a random id the I/O layer
passes in) means the history may have been lost: every client then takes a snapshot.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

EVERYONE_IN = "in"  # people admitted to the room (not the lobby)


@dataclass(frozen=True, slots=True)
class Audience:
    """Who an event is for: everyone in the room, the teachers, and/or named people.

    `people` is shared, not copied, between the events of one breakout group, so the history
    does not hold a set per event.
    """

    everyone: bool = False
    staff: bool = False
    people: frozenset[str] = frozenset()

    def reaches(self, person: str, *, inside: bool, teacher: bool) -> bool:
        return (self.everyone and inside) or (self.staff and teacher) or person in self.people


ALL = Audience(everyone=True)
STAFF = Audience(staff=True)


def staff_and(*people: str) -> Audience:
    return Audience(staff=True, people=frozenset(people))


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    kind: str
    data: Mapping[str, Any]
    audience: Audience

    def message(self, epoch: str) -> dict[str, Any]:
        """The message sent to clients (protocol v1)."""
        return {"v": 1, "type": self.kind, "seq": self.seq, "epoch": epoch, **self.data}


@dataclass
class Journal:
    epoch: str
    capacity: int = 1000
    seq: int = 0
    _events: deque[Event] = field(default_factory=deque)

    def append(self, kind: str, data: Mapping[str, Any], audience: Audience) -> Event:
        self.seq += 1
        event = Event(self.seq, kind, data, audience)
        self._events.append(event)
        if len(self._events) > self.capacity:
            self._events.popleft()
        return event

    @property
    def oldest(self) -> int:
        """The sequence number of the oldest event kept (seq + 1 when none is)."""
        return self._events[0].seq if self._events else self.seq + 1

    def since(
        self, epoch: str, last_seq: int, reaches: Callable[[Audience], bool]
    ) -> list[Event] | None:
        """Events after `last_seq` that `reaches` accepts, or None when a snapshot is needed."""
        if epoch != self.epoch or last_seq > self.seq or last_seq < self.oldest - 1:
            return None
        return [e for e in self._after(last_seq) if reaches(e.audience)]

    def _after(self, last_seq: int) -> Iterator[Event]:
        skip = len(self._events) - (self.seq - last_seq)
        for index, event in enumerate(self._events):
            if index >= skip:
                yield event
