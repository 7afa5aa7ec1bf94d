"""Floods and bots at the front door: rate limits per address block and ALTCHA proof of work.

A school shares one public address, so limits count per IPv4 /24 or IPv6 /64 and start high;
above a softer rate a block must solve a proof of work for each new ticket (docs/gate.md#abuse).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import math
import secrets
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import altcha
from limits import RateLimitItem, parse
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from homeroom.core import clientjson
from homeroom.core.window import SlidingWindows

__all__ = ["Abuse", "Check", "Verdict"]

log = logging.getLogger("homeroom.gate")
ALTCHA_ALGORITHM = "SHA-256"
CHALLENGE_TTL_S = 600
SPENT_MAX = 200_000  # remembered solved challenges per process, against replay


class Verdict(StrEnum):
    OK = "ok"
    PROOF_OF_WORK = "proof_of_work"
    LIMITED = "limited"


@dataclass(frozen=True, slots=True)
class Check:
    verdict: Verdict
    retry_after: int = 0


class Abuse:
    """Counts ticket requests per address block and says when to refuse or ask for work.

    Decisions are taken in process (core/window.py, the rule of `limits`' sliding-window
    counter), so a ticket costs no extra round trip. With a shared storage (the gate's Redis),
    each process adds its counts there in batches every `FLUSH_S` (`hit(..., cost=n)`), and a
    block over the shared limit is refused or asked for work by every process from then until
    the window resets: the shared view lags by at most one flush.
    """

    FLUSH_S = 0.5

    def __init__(
        self,
        storage_url: str,
        hard: str,
        soft: str,
        hmac_key: bytes,
        max_number: int,
    ) -> None:
        self._shared: SlidingWindowCounterRateLimiter | None = None
        self._storage: Any = None
        if not storage_url.startswith(("async+memory://", "memory://")):
            options: dict[str, Any] = {}
            if storage_url.startswith("async+redis"):
                options["implementation"] = "redispy"
            self._storage = storage_from_string(storage_url, **options)
            self._shared = SlidingWindowCounterRateLimiter(self._storage)
        self._hard: RateLimitItem = parse(hard)
        self._soft: RateLimitItem = parse(soft)
        # the decisions, in process: the same rule as `limits`' counter (core/window.py)
        self._hard_local = SlidingWindows(self._hard.amount, self._hard.get_expiry())
        self._soft_local = SlidingWindows(self._soft.amount, self._soft.get_expiry())
        self._key = hmac_key
        self._max_number = max_number
        self._spent: OrderedDict[str, float] = OrderedDict()
        self._unsent: Counter[str] = Counter()
        self._limited_until: dict[str, float] = {}
        self._work_until: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._shared is not None:
            self._task = asyncio.get_running_loop().create_task(self._flush_loop())

    async def check_ticket(self, block: str, always_pow: bool) -> Check:
        """Count one ticket request from `block` and say what it needs."""
        now = time.time()
        until = self._limited_until.get(block, 0.0)
        if until > now:
            return Check(Verdict.LIMITED, max(1, math.ceil(until - now)))
        if not self._hard_local.hit(block, now):
            return Check(Verdict.LIMITED, max(1, math.ceil(self._hard_local.reset_in(block, now))))
        soft_ok = self._soft_local.hit(block, now)
        if self._shared is not None:
            self._unsent[block] += 1
        if always_pow or not soft_ok or self._work_until.get(block, 0.0) > now:
            return Check(Verdict.PROOF_OF_WORK)
        return Check(Verdict.OK)

    async def flush(self) -> None:
        """Add this process's counts to the shared storage; learn which blocks are over."""
        if self._shared is None or not self._unsent:
            return
        unsent, self._unsent = self._unsent, Counter()
        for block, count in unsent.items():
            for item, marks in ((self._hard, self._limited_until), (self._soft, self._work_until)):
                stats = await self._shared.get_window_stats(item, "shared", block)
                # Add what still fits (a refused hit would count nothing); when it fills the
                # window, the block is over the shared limit until the window moves on.
                if stats.remaining > 0:
                    await self._shared.hit(item, "shared", block, cost=min(count, stats.remaining))
                if count >= stats.remaining:
                    marks[block] = stats.reset_time
        now = time.time()
        for marks in (self._limited_until, self._work_until):
            for block in [b for b, until in marks.items() if until <= now]:
                del marks[block]

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.FLUSH_S)
            try:
                await self.flush()
            except Exception:  # shared storage away: local limits still hold
                log.warning("rate-limit storage unavailable; limits are per process meanwhile")
            _raise_if_cancelled()

    def challenge(self) -> dict[str, Any]:
        """A signed challenge for the ALTCHA widget: find the counter the server picked."""
        challenge = altcha.create_challenge(
            ALTCHA_ALGORITHM,
            1,
            counter=secrets.randbelow(self._max_number) + 1,
            expires_at=int(time.time()) + CHALLENGE_TTL_S,
            hmac_secret=self._key,
        )
        result: dict[str, Any] = challenge.to_dict()
        return result

    def verify(self, payload: str | None) -> bool:
        """True for a correct, unexpired solution never seen before by this process."""
        if not payload or len(payload) > 4096:
            return False
        try:
            # bounded first: altcha parses it again, and 1,500 nested arrays fit in 4 KB
            clientjson.decode(base64.b64decode(payload, validate=True).decode())
            result = altcha.verify_solution(payload, self._key)
        except (ValueError, binascii.Error, KeyError, TypeError, AttributeError):
            return False
        if not getattr(result, "verified", False):
            return False
        now = time.time()
        while self._spent and next(iter(self._spent.values())) < now:
            self._spent.popitem(last=False)
        if payload in self._spent:
            return False
        if len(self._spent) >= SPENT_MAX:
            self._spent.popitem(last=False)
        self._spent[payload] = now + CHALLENGE_TTL_S
        return True

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        close = getattr(self._storage, "aclose", None) or getattr(self._storage, "close", None)
        if close is not None:
            result = close()
            if hasattr(result, "__await__"):
                await result


def _raise_if_cancelled() -> None:
    """A cancel that arrived during a Redis call may be swallowed by the client, or come out as
    its own timeout error (a stuck Redis, SIGSTOP): stop then, or the loop never ends."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
