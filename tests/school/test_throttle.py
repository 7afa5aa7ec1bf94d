"""Failed sign-in limits on `limits`' memory storage, with a fake clock (no sleeps).

The memory storage and the strategies read `time.time()` through their module's `time`; the
fixture swaps that name for a clock the test moves by hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import limits.aio.storage.memory
import limits.aio.strategies
import pytest

from homeroom.school.auth import throttle
from homeroom.school.auth.throttle import Kind, Throttle, Verdict, address_block, normalise_login

T0 = 1_800_000_000.0 - 1_800_000_000.0 % 3600  # on an hour boundary: windows start clean
SCHOOL = address_block("198.51.100.20")  # one NAT for the whole school
HOME = address_block("2001:db8:1:2::77")
OK = Verdict(Kind.OK)


class FakeTime:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTime]:
    fake = FakeTime(T0)
    for module in (limits.aio.storage.memory, limits.aio.strategies, throttle):
        monkeypatch.setattr(module, "time", fake)
    yield fake


@pytest.fixture
async def gate(clock: FakeTime) -> AsyncIterator[Throttle]:
    t = Throttle("async+memory://", key=b"test key")
    yield t
    await t.aclose()


def attacker(i: int) -> str:
    """The address block of the i-th attacking source (i < 65536), one /24 each."""
    return address_block(f"10.{i // 256}.{i % 256}.7")


async def fail(t: Throttle, login: str, block: str) -> Verdict:
    """One wrong password: what check said, then the failure counted if it went ahead."""
    verdict = await t.check(login, block)
    if verdict.kind is Kind.OK:
        await t.failed(login, block)
    return verdict


async def test_five_failures_lock_the_pair_for_fifteen_minutes(
    gate: Throttle, clock: FakeTime
) -> None:
    for _ in range(5):
        assert await fail(gate, "zoe", SCHOOL) == OK
        clock.advance(10)
    # locked at the fifth failure, 10 s ago, for 15 minutes
    assert await gate.check("zoe", SCHOOL) == Verdict(Kind.LOCKED, 900 - 10)
    clock.advance(900 - 11)
    assert await gate.check("zoe", SCHOOL) == Verdict(Kind.LOCKED, 1)
    clock.advance(1)  # retry_after is honest: coming back then goes through
    for _ in range(5):  # five fresh tries after the lock
        assert await fail(gate, "zoe", SCHOOL) == OK
    assert (await gate.check("zoe", SCHOOL)).kind is Kind.LOCKED


async def test_failures_spread_over_more_than_fifteen_minutes_do_not_lock(
    gate: Throttle, clock: FakeTime
) -> None:
    for _ in range(12):
        assert await fail(gate, "zoe", SCHOOL) == OK
        clock.advance(4 * 60)  # 15 minutes never hold more than four of them


async def test_failures_elsewhere_do_not_lock_the_pair_in_the_schools_block(
    gate: Throttle,
) -> None:
    for _ in range(5):
        assert await fail(gate, "zoe", attacker(1)) == OK
    assert (await gate.check("zoe", attacker(1))).kind is Kind.LOCKED
    assert await gate.check("zoe", SCHOOL) == OK
    assert await gate.check("zoe", HOME) == OK


async def test_success_clears_the_pair(gate: Throttle) -> None:
    for _ in range(4):
        assert await fail(gate, "zoe", SCHOOL) == OK
    assert await gate.check("zoe", SCHOOL) == OK
    await gate.succeeded("zoe", SCHOOL)
    for _ in range(5):
        assert await fail(gate, "zoe", SCHOOL) == OK
    assert (await gate.check("zoe", SCHOOL)).kind is Kind.LOCKED


async def test_a_right_password_sent_with_wrong_ones_is_not_left_locked(gate: Throttle) -> None:
    for _ in range(4):
        assert await fail(gate, "zoe", SCHOOL) == OK
    assert await gate.check("zoe", SCHOOL) == OK  # a double submit: this one is right
    await gate.failed("zoe", SCHOOL)  # the other, wrong, spends the tries and locks
    await gate.succeeded("zoe", SCHOOL)
    assert await gate.check("zoe", SCHOOL) == OK


async def test_concurrent_attempts_cannot_race_far_past_the_lock(
    gate: Throttle, clock: FakeTime
) -> None:
    verdicts = await asyncio.gather(*(gate.check("zoe", SCHOOL) for _ in range(30)))
    assert sum(v.kind is Kind.OK for v in verdicts) == 10  # the pair's attempts of a minute
    assert {v for v in verdicts if v.kind is not Kind.OK} == {Verdict(Kind.SLOW, 61)}
    await asyncio.gather(*(gate.failed("zoe", SCHOOL) for _ in range(10)))
    clock.advance(60)
    assert (await gate.check("zoe", SCHOOL)).kind is Kind.LOCKED


async def test_attempts_refused_as_busy_or_abandoned_cost_no_try(
    gate: Throttle, clock: FakeTime
) -> None:
    for _ in range(3):  # 8:00: checked, then the verification pool answered Busy, 30 times
        for _ in range(10):
            assert await gate.check("zoe", SCHOOL) == OK
        slow = await gate.check("zoe", SCHOOL)
        assert slow == Verdict(Kind.SLOW, 61)  # about a minute, no lock
        clock.advance(slow.retry_after)
    for _ in range(5):  # every one of the five tries is still there
        assert await fail(gate, "zoe", SCHOOL) == OK
    assert (await gate.check("zoe", SCHOOL)).kind is Kind.LOCKED


async def test_logins_are_normalised(gate: Throttle) -> None:
    spellings = [" Zoé.Martin", "ZOÉ.MARTIN ", "zoe\u0301.martin", "ｚｏé.martin", "zoé.martin"]
    assert len({normalise_login(s) for s in spellings}) == 1
    for spelling in spellings:
        assert await fail(gate, spelling, SCHOOL) == OK
    assert (await gate.check("Zoé.Martin", SCHOOL)).kind is Kind.LOCKED
    assert await gate.check("zoé.martine", SCHOOL) == OK


async def test_unknown_logins_are_counted_like_known_ones(gate: Throttle, clock: FakeTime) -> None:
    async def story(login: str) -> list[Verdict]:
        seen = [await fail(gate, login, SCHOOL) for _ in range(7)]
        clock.advance(15 * 60)
        seen.append(await gate.check(login, SCHOOL))
        return seen

    # The throttle never asks whether an account exists: same verdicts, same Retry-After.
    real = await story("zoe.martin")  # say this one exists
    clock.advance(3600)
    made_up = await story("nobody.here")
    assert real == made_up
    assert [v.kind for v in real] == [Kind.OK] * 5 + [Kind.LOCKED] * 2 + [Kind.OK]


async def test_an_account_under_attack_goes_slow_never_locked_for_its_pupil(
    gate: Throttle, clock: FakeTime
) -> None:
    for i in range(10):  # a botnet: 10 blocks × 5 = 50 failures in an hour
        for _ in range(5):
            assert await fail(gate, "zoe", attacker(i)) == OK
    assert await gate.check("zoe", SCHOOL) == OK  # the pupil's first try is never delayed
    await gate.failed("zoe", SCHOOL)
    assert await gate.check("zoe", SCHOOL) == Verdict(Kind.SLOW, 30)
    clock.advance(12)
    assert await gate.check("zoe", SCHOOL) == Verdict(Kind.SLOW, 18)
    for i in range(10, 60):  # the attack goes on from fresh blocks
        assert await fail(gate, "zoe", attacker(i)) == OK  # each block's first try
        assert (await gate.check("zoe", attacker(i))).kind is Kind.SLOW
    clock.advance(18)
    assert await gate.check("zoe", SCHOOL) == OK  # never more than 30 s for the pupil
    await gate.succeeded("zoe", SCHOOL)
    assert await gate.check("zoe", SCHOOL) == OK  # signed in: the pace is cleared too
    clock.advance(2 * 3600)  # the attack stopped: the account leaves the slow path
    for _ in range(5):
        assert await fail(gate, "zoe", HOME) == OK


async def test_slow_path_does_not_spend_the_pairs_tries(gate: Throttle, clock: FakeTime) -> None:
    for i in range(10):
        for _ in range(5):
            await fail(gate, "zoe", attacker(i))
    for _ in range(4):
        assert await fail(gate, "zoe", SCHOOL) == OK
        for _ in range(3):  # the pupil keeps pressing the button while told to wait
            assert (await gate.check("zoe", SCHOOL)).kind is Kind.SLOW
        clock.advance(30)
    assert await gate.check("zoe", SCHOOL) == OK  # the fifth try is still there


async def test_block_ceiling_throttles_one_source_across_accounts(
    gate: Throttle, clock: FakeTime
) -> None:
    for n in range(999):  # one guess on each of 999 accounts from one block
        assert await fail(gate, f"pupil{n}", attacker(1)) == OK
    assert await fail(gate, "pupil999", attacker(1)) == OK  # the thousandth failure
    throttled = await gate.check("someone.else", attacker(1))
    assert throttled.kind is Kind.THROTTLED and 1 <= throttled.retry_after <= 3600
    assert await gate.check("someone.else", SCHOOL) == OK  # other blocks are not affected
    clock.advance(2 * 3600)
    assert await gate.check("someone.else", attacker(1)) == OK


async def test_a_school_behind_one_nat_can_fumble_a_lot(gate: Throttle) -> None:
    for n in range(300):  # 300 pupils each mistype once, then get it right
        assert await fail(gate, f"pupil{n}", SCHOOL) == OK
        assert await gate.check(f"pupil{n}", SCHOOL) == OK
        await gate.succeeded(f"pupil{n}", SCHOOL)
    assert await gate.check("pupil300", SCHOOL) == OK


async def test_memory_url_without_async_prefix_is_accepted(clock: FakeTime) -> None:
    t = Throttle("memory://")
    try:
        assert await t.check("zoe", SCHOOL) == OK
    finally:
        await t.aclose()
