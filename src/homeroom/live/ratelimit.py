"""The counters behind the gateway's message rate limit: `limits`' memory storage, no thread.

`limits.storage.MemoryStorage` forgets expired counters on a timer thread: any hit that finds
none running starts one, which fires 10 ms later and ends. With a few hundred messages a second
that is a thread created (the hit waits for it to start) and given the GIL about every 10 ms,
on the core the event loop needs for the fan-out. `LoopCounters` keeps MemoryStorage (and so
the `limits` strategies, the same windows, the same answers) but forgets from the thread of the
hits themselves, at most once every `FORGET_S`. Nothing is counted wrongly meanwhile:
MemoryStorage itself drops a counter whose window is over when that counter is next hit;
forgetting only frees the memory of the counters of connections that stopped sending.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from limits.storage import MemoryStorage

FORGET_S: Final = 5.0  # counters past their window are let go within about this long


class LoopCounters(MemoryStorage):
    """MemoryStorage for one thread (an event loop's): expired counters are forgotten by hits."""

    def __init__(self, forget_s: float = FORGET_S, clock: Callable[[], float] = time.monotonic):
        super().__init__()  # its first timer runs once, 10 ms from now, and is not started again
        self.forget_s = forget_s
        self._clock = clock
        self._forget_at = clock() + forget_s

    # MemoryStorage calls this (by its mangled name) on every hit, to start its timer thread.
    def _MemoryStorage__schedule_expiry(self) -> None:
        now = self._clock()
        if now >= self._forget_at:
            self._forget_at = now + self.forget_s
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]
