"""Password hashing, verification, policy and the bounded verification pool (no database).

Most tests use cheap parameters (8 KiB, t=1): what they test is not the cost. The few that test
the OWASP parameters themselves make one or two hashes at 19 MiB (about 20-30 ms each).
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from typing import Literal

import argon2
import pytest

from homeroom.school.auth import passwords
from homeroom.school.auth.passwords import (
    ARGON2_CFFI_DEFAULT,
    OWASP_MINIMUM,
    Busy,
    PasswordParameters,
    Passwords,
    Verification,
    VerifyPool,
    check_new_password,
)

CHEAP = PasswordParameters(time_cost=1, memory_cost=8, parallelism=1)
CHEAP_OTHER = PasswordParameters(time_cost=2, memory_cost=16, parallelism=1)
HASH_FORMAT = re.compile(
    r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$"
)


class SpyHasher(argon2.PasswordHasher):
    """A real hasher that remembers which hashes it was asked to verify against."""

    def __init__(self, params: PasswordParameters) -> None:
        super().__init__(params.time_cost, params.memory_cost, params.parallelism)
        self.verified: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified.append(hash if isinstance(hash, str) else hash.decode())
        return super().verify(hash, password)


def spied(params: PasswordParameters = CHEAP) -> tuple[Passwords, SpyHasher]:
    checker = Passwords(params)
    spy = SpyHasher(params)
    checker._hasher = spy
    return checker, spy


def parameters_of(encoded: str) -> tuple[int, int, int]:
    match = HASH_FORMAT.match(encoded)
    assert match, encoded
    m, t, p = (int(group) for group in match.groups())
    return m, t, p


def test_round_trip() -> None:
    checker = Passwords(CHEAP)
    stored = checker.hash("un cheval vert")
    assert checker.verify(stored, "un cheval vert") == Verification(ok=True, needs_rehash=False)


def test_wrong_password() -> None:
    checker = Passwords(CHEAP)
    stored = checker.hash("un cheval vert")
    assert checker.verify(stored, "un cheval bleu") == Verification(ok=False)
    assert checker.verify(stored, "") == Verification(ok=False)


def test_new_hashes_are_argon2id_at_owasp_minimum() -> None:
    assert (passwords.MEMORY_COST_KIB, passwords.TIME_COST, passwords.PARALLELISM) == (19456, 2, 1)
    stored = passwords.hash_password("un cheval vert")
    assert parameters_of(stored) == (19456, 2, 1)
    extracted = argon2.extract_parameters(stored)
    assert extracted.type is argon2.Type.ID and extracted.version == 19
    assert passwords.verify(stored, "un cheval vert") == Verification(ok=True, needs_rehash=False)


def test_argon2_cffi_defaults_are_recorded() -> None:
    default = argon2.PasswordHasher()
    assert (
        ARGON2_CFFI_DEFAULT.time_cost,
        ARGON2_CFFI_DEFAULT.memory_cost,
        ARGON2_CFFI_DEFAULT.parallelism,
    ) == (default.time_cost, default.memory_cost, default.parallelism)
    assert ARGON2_CFFI_DEFAULT.memory_cost / OWASP_MINIMUM.memory_cost > 3.3


def test_rehash_flagged_when_parameters_change() -> None:
    old = Passwords(CHEAP).hash("un cheval vert")
    assert Passwords(CHEAP_OTHER).verify(old, "un cheval vert") == Verification(True, True)
    # and the current (OWASP) parameters flag an older, cheaper hash
    assert passwords.verify(old, "un cheval vert") == Verification(True, True)
    # a wrong password never asks for a rehash
    assert Passwords(CHEAP_OTHER).verify(old, "wrong password") == Verification(False, False)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "garbage",
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",  # bcrypt
        "$argon2id$v=19$m=8,t=1,p=1$",
        "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$!!!notbase64",
        "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",  # 4 GiB
        "$argon2id$v=19$m=8,t=99999,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdMOp$aGFzaA\u00e9",  # not ASCII
        "$argon2id$" + "A" * 5000,
    ],
)
def test_malformed_stored_hash_is_refused_without_raising(stored: str) -> None:
    checker, spy = spied()
    assert checker.verify(stored, "un cheval vert") == Verification(ok=False)
    # refused after the same work as a wrong password: the dummy hash was verified
    assert spy.verified[-1] == checker.dummy_hash


def test_damaged_real_hash_is_refused() -> None:
    checker = Passwords(CHEAP)
    stored = checker.hash("un cheval vert")
    for damaged in (stored[:-6], stored[:-1] + ("A" if stored[-1] != "A" else "B")):
        assert checker.verify(damaged, "un cheval vert") == Verification(ok=False)


def test_unknown_account_verifies_a_real_dummy_hash() -> None:
    checker, spy = spied()
    assert checker.verify(None, "un cheval vert") == Verification(ok=False)
    assert spy.verified == [checker.dummy_hash]  # argon2 really ran, on the dummy
    dummy = argon2.extract_parameters(checker.dummy_hash)
    assert (dummy.memory_cost, dummy.time_cost, dummy.parallelism) == (8, 1, 1)
    assert checker.verify(None, "another guess") == Verification(ok=False)
    assert spy.verified == [checker.dummy_hash] * 2  # the same one, made once


def test_default_dummy_hash_has_the_owasp_parameters() -> None:
    assert parameters_of(passwords._default.dummy_hash) == (19456, 2, 1)


def test_overlong_password_is_refused_without_work() -> None:
    checker, spy = spied()
    longest = "é" * 128  # 256 bytes of UTF-8: accepted
    stored = checker.hash(longest)
    assert checker.verify(stored, longest).ok
    assert checker.verify(stored, longest + "e") == Verification(ok=False)
    assert spy.verified == [stored]  # the 257-byte one never reached argon2
    with pytest.raises(ValueError):
        checker.hash(longest + "e")


def test_composed_and_decomposed_accents_are_the_same_password() -> None:
    checker = Passwords(CHEAP)
    stored = checker.hash("caf\u00e9 au lait")  # é as one code point
    assert checker.verify(stored, "cafe\u0301 au lait").ok  # e + combining accent


def test_lone_surrogate_is_refused_without_raising() -> None:
    checker = Passwords(CHEAP)
    stored = checker.hash("un cheval vert")
    assert checker.verify(stored, "un cheval \ud800") == Verification(ok=False)
    assert check_new_password("un cheval \ud800", "zoe") == ["invalid"]


@pytest.mark.parametrize(
    ("password", "login", "reasons"),
    [
        ("un cheval vert", "zoe.martin", []),
        ("12345678", "zoe.martin", []),
        ("1234567", "zoe.martin", ["too_short"]),
        ("", "zoe.martin", ["too_short"]),
        ("x" * 257, "zoe.martin", ["too_long", "one_character"]),
        ("é" * 129, "zoe.martin", ["too_long", "one_character"]),
        ("Zoe.Martin", "zoe.martin", ["same_as_login"]),
        (" zoe.martin ", "ZOE.MARTIN", ["same_as_login"]),
        ("zoe", "zoe", ["too_short", "same_as_login"]),
        ("aaaaaaaaaaaa", "zoe.martin", ["one_character"]),
    ],
)
def test_new_password_policy(password: str, login: str, reasons: list[str]) -> None:
    assert check_new_password(password, login) == reasons


def test_pool_has_one_worker_per_usable_cpu() -> None:
    pool = VerifyPool()
    try:
        assert pool.workers == len(os.sched_getaffinity(0))
        assert pool.max_waiting == VerifyPool.WAITING_PER_WORKER * pool.workers
    finally:
        pool.close()


class Blocking:
    """A verification that holds its worker until `release` is set."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, stored_hash: str | None, password: str) -> Verification:
        self.started.set()
        assert self.release.wait(10)
        return Verification(ok=password == "right")


async def test_busy_past_max_waiting() -> None:
    check = Blocking()
    pool = VerifyPool(workers=1, max_waiting=1, check=check)
    try:
        running = asyncio.ensure_future(pool.verify("h", "right"))
        waiting = asyncio.ensure_future(pool.verify("h", "wrong"))
        await asyncio.to_thread(check.started.wait, 10)  # one on the worker, one queued
        assert pool.in_flight == 2
        with pytest.raises(Busy) as refused:
            await pool.verify("h", "right")
        assert refused.value.status == 503 and refused.value.reason == "signin_busy"
        assert refused.value.retry_after is not None and refused.value.retry_after >= 1
        check.release.set()
        assert await running == Verification(ok=True)
        assert await waiting == Verification(ok=False)
        assert pool.in_flight == 0
        assert await pool.verify("h", "right") == Verification(ok=True)  # room again
    finally:
        check.release.set()
        pool.close()


async def test_cancelled_waiting_request_frees_its_place() -> None:
    check = Blocking()
    pool = VerifyPool(workers=1, max_waiting=1, check=check)
    try:
        running = asyncio.ensure_future(pool.verify("h", "right"))
        waiting = asyncio.ensure_future(pool.verify("h", "right"))
        await asyncio.to_thread(check.started.wait, 10)
        waiting.cancel()  # the person gave up before their turn
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert pool.in_flight == 1
        again = asyncio.ensure_future(pool.verify("h", "right"))  # accepted, not Busy
        check.release.set()
        assert await running == Verification(ok=True)
        assert await again == Verification(ok=True)
    finally:
        check.release.set()
        pool.close()


async def test_verify_in_thread_uses_the_real_verification() -> None:
    assert await passwords.verify_in_thread(None, "un cheval vert") == Verification(ok=False)
