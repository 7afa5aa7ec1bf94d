"""A sign-in flood against the throttle on its memory storage: every task it starts ends well.

Under a flood, `homeroom run` logged "Task exception was never retrieved" with a KeyError on a
`LIMITER/signin-pair/...` key: the storage's background pass that forgets expired entries
looked up keys that a sign-in had cleared meanwhile. The test records every task the loop
creates during a real flood (failures, and successes that clear their counters, all at once)
and waits for them: none may end with an exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import limits.aio.storage.memory
import limits.aio.strategies
import pytest
from limits import parse
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from homeroom.school.auth import throttle
from homeroom.school.auth.throttle import Kind, Throttle, address_block

PUPILS = 100  # enough: the stock storage fails this in each of many runs


@pytest.fixture
async def tasks() -> AsyncIterator[list[asyncio.Task[Any]]]:
    """Every task created on the running loop while the test runs."""
    loop = asyncio.get_running_loop()
    created: list[asyncio.Task[Any]] = []

    def factory(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kwargs: Any
    ) -> asyncio.Task[Any]:
        task = asyncio.Task(coro, loop=loop, **kwargs)
        created.append(task)
        return task

    before = loop.get_task_factory()
    loop.set_task_factory(factory)
    try:
        yield created
    finally:
        loop.set_task_factory(before)


async def pupil(throttle: Throttle, n: int) -> None:
    """Two wrong passwords, then the right one: the pair's counters are cleared."""
    login, block = f"pupil{n}@school", address_block(f"10.{n // 256}.{n % 256}.7")
    for _ in range(2):
        assert (await throttle.check(login, block)).kind is Kind.OK
        await throttle.failed(login, block)
    assert (await throttle.check(login, block)).kind is Kind.OK
    await throttle.succeeded(login, block)


async def test_a_flood_of_sign_ins_leaves_no_task_failed(
    tasks: list[asyncio.Task[Any]],
) -> None:
    throttle = Throttle("memory://")
    try:
        for _ in range(2):  # waves, so that forgetting passes run while counters are cleared
            await asyncio.gather(*(pupil(throttle, n) for n in range(PUPILS)))
        await _all_done(tasks)
    finally:
        await throttle.aclose()
    ended = [t for t in tasks if t.done() and not t.cancelled()]
    failed = [t.exception() for t in ended if t.exception() is not None]
    assert failed == []
    assert len(tasks) > 2 * PUPILS  # the storage's own tasks were recorded too


async def _all_done(tasks: list[asyncio.Task[Any]], seconds: float = 30) -> None:
    """Wait for every task but the test's own (which is waiting here)."""
    loop, me = asyncio.get_running_loop(), asyncio.current_task()
    deadline = loop.time() + seconds
    while pending := [t for t in tasks if not t.done() and t is not me]:
        assert loop.time() < deadline, f"{len(pending)} tasks never ended"
        await asyncio.wait(pending, timeout=1)


async def test_expired_counters_are_let_go_and_live_ones_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1_800_000_000.0]
    clock = type("Clock", (), {"time": staticmethod(lambda: now[0])})
    for module in (limits.aio.storage.memory, limits.aio.strategies, throttle):
        monkeypatch.setattr(module, "time", clock)
    counters = throttle.Counters()
    moving, fixed = MovingWindowRateLimiter(counters), FixedWindowRateLimiter(counters)
    minute, hour = parse("5 per minute"), parse("5 per hour")
    for n in range(3 * throttle.FORGET_SLICE):  # more than one slice of keys
        await moving.hit(minute, "short", str(n))
        await fixed.hit(minute, "fixed", str(n))
    await moving.hit(hour, "long", "kept")
    await _pass_over(counters)
    assert len(counters.events) == 3 * throttle.FORGET_SLICE + 1  # all still in their window
    now[0] += 120
    await moving.hit(hour, "long", "kept")  # a hit starts a pass: the minutes are over
    await _pass_over(counters)
    assert [key.split("/")[1] for key in counters.events] == ["long"]
    assert counters.expirations == {} and counters.storage == {}
    assert (await moving.get_window_stats(hour, "long", "kept")).remaining == 3


async def _pass_over(counters: throttle.Counters) -> None:
    assert counters.timer is not None
    await counters.timer
