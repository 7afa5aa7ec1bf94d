"""The gateway's rate-limit counters: limits' answers, no timer thread, idle counters let go."""

from __future__ import annotations

import threading

from limits import parse
from limits.strategies import FixedWindowRateLimiter

from homeroom.live.ratelimit import LoopCounters


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_limit_holds_per_key_and_no_thread_is_started_by_hits() -> None:
    storage = LoopCounters()
    limiter = FixedWindowRateLimiter(storage)
    rate = parse("3 per 1 minute")
    storage.timer.join()  # MemoryStorage's first timer, started once at creation
    threads = threading.active_count()
    assert [limiter.hit(rate, "live", "1") for _ in range(4)] == [True, True, True, False]
    assert limiter.hit(rate, "live", "2")
    assert threading.active_count() == threads
    assert not storage.timer.is_alive()


def test_counters_past_their_window_are_let_go_by_a_later_hit() -> None:
    clock = Clock()
    storage = LoopCounters(forget_s=5.0, clock=clock)
    limiter = FixedWindowRateLimiter(storage)
    rate = parse("40 per 5 seconds")
    limiter.hit(rate, "live", "idle")
    storage.expirations = {key: 0.0 for key in storage.expirations}  # its window is over
    limiter.hit(rate, "live", "busy")  # too soon to look
    assert len(storage.storage) == 2
    clock.now = 5.0
    limiter.hit(rate, "live", "busy")
    assert list(storage.storage) == [rate.key_for("live", "busy")]
