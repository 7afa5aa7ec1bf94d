"""Failed sign-in limits and temporary lockout, per account and per address block (issue #3).

Design: docs/school.md#throttle. Three rules, none of which an attacker elsewhere can turn into
a lockout of a pupil on their own school's network:

1. **Pair** (account, address block): 5 failed attempts in 15 minutes lock that pair for 15
   minutes (`LOCKED`). The block is the IPv4 /24 or IPv6 /64 of `core.blocks.address_block`, so
   guesses from elsewhere never lock the pair of the pupil's school or home.
2. **Account**, across all blocks: past 50 failures in an hour the account is under attack and
   every pair of it goes the slow path: one attempt per 30 seconds per pair (`SLOW`, wait
   `retry_after`). The first attempt of a pair is never delayed, and nothing an attacker does
   makes a pupil wait more than 30 seconds between two tries: no permanent lock of an account,
   nor of a whole school's accounts.
3. **Address block**: past 1,000 failures in an hour the block is `THROTTLED` until the window
   moves on. The ceiling is high because a whole school sits behind one NAT on the first
   morning; it stops a single source guessing across many accounts.

Failures are counted by `failed()`, after the verification; `check()` only reads them. So a
sign-in refused for another reason (`Busy` when the verification pool is full at 8:00, a request
abandoned) costs none of the pair's five tries. What `check()` does take, atomically in the
storage, is one of the pair's 10 attempts a minute (`SLOW` past them): requests sent together
cannot race past the lock by more than that, and a pupil retrying a busy server waits at most a
minute.

Logins are normalised (NFKC, stripped, case-folded) and counted whether an account exists or
not, so the verdicts say nothing about which logins are real. They are stored as keyed BLAKE2b
digests: no pupil's login sits readable in Redis, and a key's size does not depend on the input.

Counts live in the storage directly (the gate's Redis when there is one), not in per-process
counters batched as for tickets (`gate/abuse.py`): failed sign-ins are far fewer than ticket
requests, and a lock must hold on every process at once, or a load balancer would multiply
each limit by the number of processes.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import logging
import math
import time
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from limits import RateLimitItem, RateLimitItemPerSecond, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.storage import storage_from_string

from homeroom.core.blocks import address_block

__all__ = ["Kind", "Throttle", "ThrottleRules", "Verdict", "address_block", "normalise_login"]

log = logging.getLogger("homeroom.school")
FORGET_S: Final = 5.0  # expired counters of the memory storage are let go within about this long
FORGET_SLICE: Final = 1000  # keys looked at in one turn of the event loop


class Kind(StrEnum):
    OK = "ok"
    LOCKED = "locked"  # this account from this block, for a while
    SLOW = "slow"  # wait `retry_after`, then try again: many tries just now, or an attack
    THROTTLED = "throttled"  # this block has failed too often


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: Kind
    retry_after: int = 0  # seconds; 0 when `kind` is OK


OK = Verdict(Kind.OK)


@dataclass(frozen=True, slots=True)
class ThrottleRules:
    """The limits, in `limits` notation; the defaults are the ones documented above."""

    pair_failures: str = "5 per 15 minutes"
    pair_lock_s: int = 15 * 60
    pair_attempts: str = "10 per minute"
    account_failures: str = "50 per hour"
    slow_every_s: int = 30
    block_failures: str = "1000 per hour"


def normalise_login(login: str) -> str:
    """The form a login is counted (and should be looked up) under."""
    return unicodedata.normalize("NFKC", login).strip().casefold()


class Throttle:
    """Decides whether a sign-in attempt may be verified, and counts failures.

    Exact counts (moving windows) where the limit is small and people read it as a promise:
    the pair's 5 and the account's 50. A sliding-window counter (two integers per block) for the
    block's 1,000, which would otherwise store a timestamp per failure.
    """

    def __init__(
        self, storage_url: str, rules: ThrottleRules | None = None, key: bytes = b""
    ) -> None:
        options: dict[str, Any] = {}
        if storage_url.startswith("async+redis"):
            options["implementation"] = "redispy"
        self._storage: Any = (
            Counters()
            if storage_url.startswith(("memory://", "async+memory://"))
            else storage_from_string(storage_url, **options)
        )
        self._moving = MovingWindowRateLimiter(self._storage)
        self._fixed = FixedWindowRateLimiter(self._storage)
        self._sliding = SlidingWindowCounterRateLimiter(self._storage)
        self.rules = rules = rules or ThrottleRules()
        self._pair: RateLimitItem = parse(rules.pair_failures)
        self._attempts: RateLimitItem = parse(rules.pair_attempts)
        self._lock: RateLimitItem = RateLimitItemPerSecond(1, rules.pair_lock_s)
        self._account: RateLimitItem = parse(rules.account_failures)
        self._pace: RateLimitItem = RateLimitItemPerSecond(1, rules.slow_every_s)
        self._block: RateLimitItem = parse(rules.block_failures)
        self._key = key[:64]  # BLAKE2b's key limit; pass the deployment's secret

    def _id(self, login: str) -> str:
        digest = hashlib.blake2b(normalise_login(login).encode(), digest_size=16, key=self._key)
        return digest.hexdigest()

    async def check(self, login: str, block: str) -> Verdict:
        """Before verifying a password: may this attempt go ahead? Takes one attempt of the pair."""
        account = self._id(login)
        unlocked, block_ok, account_ok = await asyncio.gather(
            self._fixed.test(self._lock, "signin-lock", account, block),
            self._sliding.test(self._block, "signin-block", block),
            self._moving.test(self._account, "signin-account", account),
        )
        if not unlocked:
            stats = await self._fixed.get_window_stats(self._lock, "signin-lock", account, block)
            return Verdict(Kind.LOCKED, _seconds_until(stats.reset_time))
        if not block_ok:
            stats = await self._sliding.get_window_stats(self._block, "signin-block", block)
            return Verdict(Kind.THROTTLED, _seconds_until(stats.reset_time))
        # Paced before the pair's attempts are taken, so waiting on the slow path costs none.
        if not account_ok and not await self._fixed.hit(self._pace, "signin-pace", account, block):
            stats = await self._fixed.get_window_stats(self._pace, "signin-pace", account, block)
            return Verdict(Kind.SLOW, _seconds_until(stats.reset_time))
        if not await self._moving.hit(self._attempts, "signin-try", account, block):
            stats = await self._moving.get_window_stats(
                self._attempts, "signin-try", account, block
            )
            return Verdict(Kind.SLOW, _seconds_until(stats.reset_time, held_at_end=True))
        return OK

    async def failed(self, login: str, block: str) -> None:
        """The password was wrong (or the login unknown): count it; lock the pair at the fifth."""
        account = self._id(login)
        counted, *_ = await asyncio.gather(
            self._moving.hit(self._pair, "signin-pair", account, block),
            self._moving.hit(self._account, "signin-account", account),
            self._sliding.hit(self._block, "signin-block", block),
        )
        if counted:
            stats = await self._moving.get_window_stats(self._pair, "signin-pair", account, block)
            if stats.remaining > 0:
                return
        # The lock holds the pair from now on; its count starts afresh when the lock ends.
        await self._fixed.hit(self._lock, "signin-lock", account, block)
        await self._moving.clear(self._pair, "signin-pair", account, block)

    async def succeeded(self, login: str, block: str) -> None:
        """Signed in: the pair's failures are forgiven (the account's and block's are not).

        Also a lock set meanwhile by a wrong attempt sent together with this right one.
        """
        account = self._id(login)
        await asyncio.gather(
            self._moving.clear(self._pair, "signin-pair", account, block),
            self._moving.clear(self._attempts, "signin-try", account, block),
            self._fixed.clear(self._pace, "signin-pace", account, block),
            self._fixed.clear(self._lock, "signin-lock", account, block),
        )

    async def aclose(self) -> None:
        close = getattr(self._storage, "aclose", None) or getattr(self._storage, "close", None)
        if close is not None:
            result = close()
            if hasattr(result, "__await__"):
                await result


class Counters(MemoryStorage):
    """`limits`' async memory storage, letting go of expired counters without racing a clear.

    Its own pass takes the list of keys, then awaits a thread for each: a key cleared meanwhile
    (a sign-in that succeeds clears its pair's counters) raised KeyError in a task nobody awaits
    ("Task exception was never retrieved" in the log of `homeroom run` under a sign-in flood),
    which ended the pass. Here a key is looked at in one step, skipped if it went since the list
    was taken, `FORGET_SLICE` keys a turn of the loop, and a pass starts at most every
    `FORGET_S` (the storage also starts one for each hit). Nothing is counted differently:
    a window that is over is ignored when its key is next read; forgetting only frees memory.
    """

    def __init__(self) -> None:
        super().__init__()
        self._forget_at = 0.0

    # MemoryStorage calls this (by its mangled name) on every hit, to start its own pass.
    async def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.time()
        if now < self._forget_at or (self.timer is not None and not self.timer.done()):
            return
        self._forget_at = now + FORGET_S
        self.timer = asyncio.create_task(self._forget(now))
        self.timer.add_done_callback(_said)

    async def _forget(self, now: float) -> None:
        for n, key in enumerate(list(self.events)):
            if n and n % FORGET_SLICE == 0:
                await asyncio.sleep(0)
            events = self.events.get(key)
            if events is None:
                continue  # cleared since the list was taken
            # newest first: the entries still in their window come before the others
            kept = bisect.bisect_left(events, -now, key=lambda entry: -entry.expiry)
            if kept:
                self.events[key] = events[:kept]
            else:
                del self.events[key]
                self.locks.pop(key, None)
        for key, expiry in list(self.expirations.items()):
            if expiry <= now and self.expirations.get(key) == expiry:
                self.storage.pop(key, None)
                del self.expirations[key]
                self.locks.pop(key, None)


def _said(task: asyncio.Task[None]) -> None:
    """A pass that failed is a bug: said once in the log, not left for the loop to complain."""
    if not task.cancelled() and task.exception() is not None:
        log.error("throttle: letting go of expired counters failed", exc_info=task.exception())


def _seconds_until(moment: float, held_at_end: bool = False) -> int:
    """Whole seconds after which the attempt goes through, so that an honest client is never
    refused once more. A moving window still holds its oldest entry at exactly its end."""
    left = moment - time.time()
    return max(1, math.floor(left) + 1 if held_at_end else math.ceil(left))
