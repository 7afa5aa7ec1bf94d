"""When each client of a draining gateway is closed: slots spread over a window (docs/operations.md#drain).

A gateway told to stop (SIGTERM) fails its readiness and waits `notice_s` for the balancer to
notice; then it closes its clients with 1001 `drain` so that they reconnect elsewhere, not all
at once (thousands reconnecting in the same second is a storm on the next gateway and on Redis)
but one a slot, the slots spread over `window_s`; then it has until `deadline_s` to flush what
it must write and exit. Sans-I/O: the I/O layer passes the time elapsed and a `random.Random`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")


class Random(Protocol):
    """What the schedule draws from: a `random.Random` (seeded in tests), passed in."""

    def random(self) -> float: ...

    def shuffle(self, x: list[Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class Timeline:
    """The drain's three times, each in seconds after SIGTERM (validated in config.py)."""

    notice_s: float  # readiness fails; nothing else changes yet
    window_s: float  # then the clients are closed, spread over this
    deadline_s: float  # the process is gone by then, whatever is left

    @property
    def window_ends_s(self) -> float:
        return self.notice_s + self.window_s

    @property
    def grace_s(self) -> float:
        """After the window: the last closes flush, the queues are written."""
        return max(0.0, self.deadline_s - self.window_ends_s)


def slots(count: int, window_s: float, rng: Random) -> list[float]:
    """`count` offsets in [0, window_s), ascending: the window cut in `count` equal strata and
    one offset drawn uniformly inside each (stratified jitter).

    So every client has its slot inside the window, none two in the same stratum, and any
    stretch of L seconds holds at most L·count/window_s + 2 slots: the close rate is bounded
    by count/window_s a second whatever the draw, which plain uniform draws would not give (a
    birthday cluster). A window of 0 closes everyone at once."""
    if count <= 0:
        return []
    if window_s <= 0:
        return [0.0] * count
    step = window_s / count
    last = math.nextafter(window_s, 0.0)  # (count - ε)·step may round up to window_s itself
    return [min((i + rng.random()) * step, last) for i in range(count)]


class CloseSchedule(Generic[T]):
    """The clients of one drain in the order they are closed: shuffled (so one class's people
    are spread over the window, not closed together), each given a slot of `slots`."""

    __slots__ = ("_next", "_order", "_times")

    def __init__(self, clients: Sequence[T], window_s: float, rng: Random) -> None:
        order = list(clients)
        rng.shuffle(order)
        self._order = order
        self._times = slots(len(order), window_s, rng)
        self._next = 0

    def due(self, elapsed_s: float) -> list[T]:
        """The clients whose slot is at or before `elapsed_s` (seconds since the window opened),
        each once: what to close now."""
        start = end = self._next
        times = self._times
        while end < len(times) and times[end] <= elapsed_s:
            end += 1
        self._next = end
        return self._order[start:end]

    def next_at(self) -> float | None:
        """The next slot's offset in the window, or None once every client has had its turn."""
        return self._times[self._next] if self._next < len(self._times) else None

    @property
    def left(self) -> int:
        return len(self._times) - self._next

    def times(self) -> list[float]:
        """Every slot, for tests and the bench."""
        return list(self._times)
