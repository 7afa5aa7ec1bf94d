"""Password hashing and verification for sign-in: argon2id, bounded in CPU, memory and queue.

Design and figures: docs/school.md#passwords (issue #3). No database access here: the caller
loads the stored hash (or `None` for an unknown login) and stores the new one when
`Verification.needs_rehash` says so.

A mass-login morning is memory-bound, not CPU-bound: every verification in flight holds its
argon2 memory, and a verification cannot be shed once started. So the parameters are OWASP's
minimum for argon2id and a bounded pool runs the verifications, refusing with `Busy` (503,
Retry-After) rather than queueing without end.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import math
import os
import random
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from homeroom.errors import Unavailable

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PasswordParameters:
    """The argon2id cost parameters; memory in KiB, as argon2 counts it."""

    time_cost: int
    memory_cost: int
    parallelism: int
    hash_len: int = argon2.DEFAULT_HASH_LENGTH
    salt_len: int = argon2.DEFAULT_RANDOM_SALT_LENGTH

    def hasher(self) -> argon2.PasswordHasher:
        return argon2.PasswordHasher(
            time_cost=self.time_cost,
            memory_cost=self.memory_cost,
            parallelism=self.parallelism,
            hash_len=self.hash_len,
            salt_len=self.salt_len,
            type=argon2.Type.ID,
        )


# OWASP's minimum for argon2id (19 MiB, t=2, p=1), not argon2-cffi's default (64 MiB, t=3, p=4,
# RFC 9106's "low memory" profile). On this machine one core verifies about 36-50 a second at
# these parameters against about 5-6 at the default (`make bench-school`: signin_per_s 49.5,
# signin_default_per_s 6.1, 8x), and each verification in flight holds 19 MiB instead of
# 64 MiB (3.4 times less): at 8:00 the sign-ins a node can take at once is what runs out first.
MEMORY_COST_KIB = 19_456
TIME_COST = 2
PARALLELISM = 1
OWASP_MINIMUM = PasswordParameters(TIME_COST, MEMORY_COST_KIB, PARALLELISM)
# argon2-cffi's own defaults, for the record and the benchmark's comparison.
ARGON2_CFFI_DEFAULT = PasswordParameters(
    argon2.DEFAULT_TIME_COST, argon2.DEFAULT_MEMORY_COST, argon2.DEFAULT_PARALLELISM
)

MIN_LENGTH = 8  # characters; pupils type these on phones, a passphrase is welcome
MAX_BYTES = 256  # UTF-8; argon2 takes any length, the cap bounds the work an input can cost
# A stored hash is ours, but a corrupt or tampered row must not make us allocate gigabytes.
_MAX_STORED_LEN = 512
_MAX_STORED_MEMORY_KIB = 256 * 1024
_MAX_STORED_TIME_COST = 16


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of a password check; `needs_rehash` only ever when `ok`."""

    ok: bool
    needs_rehash: bool = False


def _encode(password: str) -> bytes | None:
    """NFKC then UTF-8, or None when it cannot be a password of ours.

    NFKC (NIST SP 800-63B, 5.1.1.2) makes "é" typed as one code point or as "e" + accent the
    same password, whatever the device a pupil signs in from.
    """
    try:
        encoded = unicodedata.normalize("NFKC", password).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a hand-made request
        return None
    return encoded if len(encoded) <= MAX_BYTES else None


class Passwords:
    """Hashes and verifies passwords at one set of parameters; safe to share between threads."""

    def __init__(self, params: PasswordParameters = OWASP_MINIMUM) -> None:
        self.params = params
        self._hasher = params.hasher()

    def hash(self, password: str) -> str:
        """The encoded argon2id hash of `password` (`$argon2id$v=19$m=...,t=...,p=...$...`)."""
        encoded = _encode(password)
        if encoded is None:
            raise ValueError("not a valid password (check_new_password says why)")
        return self._hasher.hash(encoded)

    @functools.cached_property
    def dummy_hash(self) -> str:
        """A hash of a random secret at the same parameters, made once per process.

        Verifying against it costs what a real verification costs, so an unknown login and a
        wrong password take the same time. (A race on first use makes two; both are valid.)
        """
        return self._hasher.hash(secrets.token_bytes(16))

    def verify(self, stored_hash: str | None, password: str) -> Verification:
        """Check `password` against `stored_hash`; never raises for a bad stored hash.

        `None` (unknown login, or no password set yet) and a malformed stored hash are checked
        against `dummy_hash`, so they cost the same time as a wrong password and always fail.
        """
        encoded = _encode(password)
        if encoded is None:  # longer than any password we accept: no work, for anybody
            return Verification(ok=False)
        if stored_hash is not None and _plausible(stored_hash):
            target, real = stored_hash, True
        else:
            target, real = self.dummy_hash, False
        try:
            self._hasher.verify(target, encoded)
        except VerifyMismatchError:
            return Verification(ok=False)
        except (VerificationError, InvalidHashError):  # damaged beyond what _plausible sees
            if real:
                self._spend_like_a_mismatch(encoded)
            return Verification(ok=False)
        if not real:  # nobody knows the dummy's secret; refuse even if somebody did
            return Verification(ok=False)
        return Verification(ok=True, needs_rehash=self._hasher.check_needs_rehash(target))

    def _spend_like_a_mismatch(self, encoded: bytes) -> None:
        with contextlib.suppress(VerificationError):
            self._hasher.verify(self.dummy_hash, encoded)


def _plausible(stored_hash: str) -> bool:
    """A well-formed argon2 hash whose costs are within what we would ever have set."""
    if len(stored_hash) > _MAX_STORED_LEN or not stored_hash.isascii():
        return False
    try:
        params = argon2.extract_parameters(stored_hash)
    except (InvalidHashError, ValueError):
        return False
    return (
        params.memory_cost <= _MAX_STORED_MEMORY_KIB
        and params.time_cost <= _MAX_STORED_TIME_COST
        and params.parallelism <= 64
    )


_default = Passwords()


def hash_password(password: str) -> str:
    """Hash a new password at the current parameters (OWASP's minimum)."""
    return _default.hash(password)


def verify(stored_hash: str | None, password: str) -> Verification:
    """Verify at the current parameters; see `Passwords.verify`. Blocks for about 30 ms."""
    return _default.verify(stored_hash, password)


def check_new_password(password: str, login: str) -> list[str]:
    """Why `password` cannot be set for `login`, as stable reason words; empty when it can.

    too_short (under 8 characters), too_long (over 256 bytes of UTF-8), invalid (cannot be
    encoded), same_as_login, one_character (a single character repeated). No composition
    rules: length is what makes a password strong, and children forget rules.
    """
    reasons: list[str] = []
    try:
        size = len(unicodedata.normalize("NFKC", password).encode("utf-8"))
    except UnicodeEncodeError:
        return ["invalid"]
    if len(password) < MIN_LENGTH:
        reasons.append("too_short")
    if size > MAX_BYTES:
        reasons.append("too_long")
    if password.strip().casefold() == login.strip().casefold():
        reasons.append("same_as_login")
    if password and len(set(password)) == 1:
        reasons.append("one_character")
    return reasons


@dataclass
class Busy(Unavailable):
    """Too many verifications waiting: answer 503 with Retry-After, do not queue."""

    reason: str = "signin_busy"
    message_fr: str = "Beaucoup de connexions en ce moment : réessayez dans quelques secondes."
    message_en: str = "Many people are signing in right now: try again in a few seconds."


def _usable_cpus() -> int:
    """CPUs this process may run on (taskset, cgroup cpusets), not those of the machine."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class VerifyPool:
    """Runs verifications on `workers` threads with at most `max_waiting` queued behind them.

    argon2-cffi releases the GIL, so one thread per usable CPU keeps every core busy, and the
    memory in use is bounded by workers × memory_cost. Past `max_waiting`, `verify` raises `Busy`
    at once: a sign-in that would wait seconds is better retried later than held, and a flood
    cannot grow the queue. A cancelled request frees its place if it has not started yet.
    """

    # Default queue: under a second of work at 36-50 verifications a second per worker.
    WAITING_PER_WORKER: ClassVar[int] = 32

    def __init__(
        self,
        workers: int | None = None,
        max_waiting: int | None = None,
        check: Callable[[str | None, str], Verification] = verify,
    ) -> None:
        self.workers = workers or _usable_cpus()
        self.max_waiting = (
            self.WAITING_PER_WORKER * self.workers if max_waiting is None else max_waiting
        )
        self._check = check
        self._executor = concurrent.futures.ThreadPoolExecutor(
            self.workers, thread_name_prefix="homeroom-verify"
        )
        self._lock = threading.Lock()
        self._in_flight = 0  # running or queued
        self._mean_s = 0.03  # moving average of one verification, for Retry-After

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def verify(self, stored_hash: str | None, password: str) -> Verification:
        """`check(stored_hash, password)` on the pool; raises `Busy` when the queue is full."""
        return await self.call(self._timed, stored_hash, password)

    async def call(self, work: Callable[..., T], *args: Any) -> T:
        """Any argon2 work (a verification, a rehash) on the pool, under the same bound."""
        with self._lock:
            if self._in_flight >= self.workers + self.max_waiting:
                raise Busy(retry_after=self._retry_after())
            self._in_flight += 1
        try:
            future = self._executor.submit(work, *args)
        except BaseException:
            self._release(None)
            raise
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def _timed(self, stored_hash: str | None, password: str) -> Verification:
        started = time.perf_counter()
        try:
            return self._check(stored_hash, password)
        finally:
            elapsed = time.perf_counter() - started
            # Unlocked: a lost update between workers only nudges an estimate.
            self._mean_s += (elapsed - self._mean_s) / 16

    def _release(self, _: concurrent.futures.Future[Any] | None) -> None:
        with self._lock:
            self._in_flight -= 1

    def _retry_after(self) -> int:
        # Time to drain the queue, spread over 1-2x so refused people do not all come back at once.
        drain = self._in_flight * self._mean_s / self.workers
        return max(1, math.ceil(drain * random.uniform(1.0, 2.0)))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


_pool: VerifyPool | None = None
_pool_lock = threading.Lock()


async def verify_in_thread(stored_hash: str | None, password: str) -> Verification:
    """`verify` on the process's shared `VerifyPool`; raises `Busy` when it is full."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = VerifyPool()
    return await _pool.verify(stored_hash, password)
