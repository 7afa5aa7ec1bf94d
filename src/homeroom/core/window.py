"""Sliding-window counters by key, in process: the gate's rate limits per address block.

docs/gate.md#abuse. The rule is the one of the `limits` library's sliding-window counter (which
the gate used in process before, and still uses for the count shared through Redis): time is
cut in fixed windows of `period` seconds; a key's weight is its count in the current window plus
its count in the previous one times the share of the previous window still inside the sliding
period; a hit of `cost` is refused when floor(weight) + cost would pass the limit. Here that is
a dictionary step and a few multiplications: `limits`' asynchronous memory storage took a lock,
an expiry task and six coroutines a hit, a fifth of a ticket's time (docs/gate.md#the-fast-path).

Sans-I/O: the caller gives the time. Memory is bounded by the keys seen in two windows; older
ones are dropped once per window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["SlidingWindows"]


@dataclass(slots=True)
class _Counts:
    window: int  # index of the window `current` counts in
    current: int
    previous: int  # count in window - 1


class SlidingWindows:
    """Counts hits per key against `limit` per `period` seconds."""

    def __init__(self, limit: int, period: int) -> None:
        if limit < 0 or period <= 0:
            raise ValueError("a limit is a count >= 0 per a period > 0")
        self.limit = limit
        self.period = period
        self._counts: dict[str, _Counts] = {}
        self._swept = 0  # the window whose older keys were last dropped

    def _at(self, key: str, now: float) -> tuple[_Counts | None, int]:
        window = int(now / self.period)
        if window > self._swept + 1:
            self._sweep(window)
        counts = self._counts.get(key)
        if counts is not None and counts.window != window:
            if counts.window == window - 1:
                counts.previous, counts.current = counts.current, 0
            else:
                counts.previous = counts.current = 0
            counts.window = window
        return counts, window

    def _previous_left(self, now: float) -> float:
        """Seconds of the current window still to run: how much of the previous one weighs
        (spelt as `limits` spells it, so that rounding agrees to the last bit)."""
        return (1 - ((now - self.period) / self.period) % 1) * self.period

    def hit(self, key: str, now: float, cost: int = 1) -> bool:
        """Count `cost` hits of `key` if they fit under the limit; False (nothing counted) if not."""
        if cost > self.limit:
            return False
        counts, window = self._at(key, now)
        if counts is None:
            self._counts[key] = _Counts(window, cost, 0)
            return True
        weight = float(counts.current)
        if counts.previous:
            weight += counts.previous * self._previous_left(now) / self.period
        if math.floor(weight) + cost > self.limit:
            return False
        counts.current += cost
        return True

    def reset_in(self, key: str, now: float) -> float:
        """Seconds until a hit of `key` may fit again, as `limits` computes its reset time: the
        next step of the previous window's decay, or the end of the current window."""
        counts, _ = self._at(key, now)
        if counts is None or not (counts.current or counts.previous):
            return 0.0
        left = self._previous_left(now)
        soonest = math.inf
        if counts.previous:
            soonest = left % (self.period / counts.previous)
        if counts.current:
            soonest = min(soonest, (left + self.period) % self.period)
        return soonest

    def _sweep(self, window: int) -> None:
        """Drop keys that count nothing any more (seen last two windows ago or earlier)."""
        stale = [key for key, counts in self._counts.items() if counts.window < window - 1]
        for key in stale:
            del self._counts[key]
        self._swept = window - 1

    def __len__(self) -> int:
        return len(self._counts)
