"""Gateways agreeing on an instance's ceiling through the store (live/avceiling.py, docs/av.md#instance-ceilings): the memory store, a clock the test moves."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from homeroom.backends.av_placement import MemoryPlacement
from homeroom.core import avload
from homeroom.core.ladder import TOP, Instance, LoadLimits, Rung
from homeroom.live.avceiling import Ceilings, CeilingSettings

URL = "ws://janus-1:8188"
LIMITS = LoadLimits(pps_high=150, pps_low=120, cpu_high=1.0, cpu_low=1.0)
SETTINGS = CeilingSettings(LIMITS)
TTL = 20.0  # the parts live this long; the state three times that (both longer than the steps)


class Clock:
    now = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now


def pupils(rung: Rung, n: int = 1) -> dict[str, int]:
    """`n` pupils watching the teacher's camera and microphone at `rung`."""
    layer = {Rung.P720: 2, Rung.P360: 1, Rung.P180: 0}.get(rung)
    streams: Sequence[int | None] = [None] if layer is None else [None, layer]
    return avload.part([(rung, streams)] * n)


def gateways(store: MemoryPlacement, clock: Clock) -> tuple[Ceilings, Ceilings]:
    return Ceilings(store, "gw-a", clock, SETTINGS), Ceilings(store, "gw-b", clock, SETTINGS)


async def test_each_gateway_under_the_mark_together_over_it_step_once_for_both() -> None:
    clock = Clock()
    store = MemoryPlacement(clock)
    a, b = gateways(store, clock)
    assert await a.step(URL, pupils(Rung.P180), TTL) is TOP  # 83 packets/s: under
    assert await b.step(URL, pupils(Rung.P180), TTL) is Rung.AUDIO  # 166 together: over
    assert await a.step(URL, pupils(Rung.P180), TTL) is Rung.AUDIO  # the same, read back
    assert a.of(URL) is b.of(URL) is Rung.AUDIO
    # the parts at audio (102) are under the low mark; a heavier sum within the hold steps
    # nobody again: the hold is the instance's, whichever gateway looks
    clock.now += LIMITS.hold_s - 1
    assert await b.step(URL, pupils(Rung.P360, 3), TTL) is Rung.AUDIO
    assert await a.step(URL, pupils(Rung.AUDIO), TTL) is Rung.AUDIO
    clock.now += 1
    assert await a.step(URL, pupils(Rung.AUDIO), TTL) is Rung.SLIDES  # still over: the floor
    assert await b.step(URL, pupils(Rung.SLIDES, 3), TTL) is Rung.SLIDES


async def test_calm_below_both_low_marks_raises_the_ceiling_a_rung_each_calm_s() -> None:
    clock = Clock()
    store = MemoryPlacement(clock)
    a, b = gateways(store, clock)
    await a.step(URL, pupils(Rung.P180), TTL)
    assert await b.step(URL, pupils(Rung.P180), TTL) is Rung.AUDIO
    await b.step(URL, {}, TTL)  # b's pupil left: 83, then 51, under the low mark
    await a.step(URL, pupils(Rung.AUDIO), TTL)
    seen = []
    for _ in range(8):
        clock.now += LIMITS.calm_s / 2
        seen.append(await (a if len(seen) % 2 else b).step(URL, {}, TTL))  # anyone may step
        await a.step(URL, pupils(Rung.AUDIO), TTL)
    assert seen == [Rung.AUDIO, *[Rung.P180] * 2, *[Rung.P360] * 2, *[Rung.P720] * 3]


class Meeting(MemoryPlacement):
    """A store where two gateways both read the state before either writes: the race."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.barrier = asyncio.Barrier(2)

    async def swap(self, url: str, expect: str | None, new: str, ttl_s: float) -> str | None:
        await self.barrier.wait()
        return await super().swap(url, expect, new, ttl_s)


async def test_two_gateways_stepping_at_once_from_the_same_state_agree_on_one() -> None:
    """a shares first and still sees b's old part, over the mark: it steps down; b's new part
    makes the sum calm: it starts counting calm. Both read the same state and both write:
    whichever writes first, the other's write is refused, and both answer the state held."""
    clock = Clock()
    store = Meeting(clock)
    a, b = gateways(store, clock)
    start = Instance(Rung.P360, clock.now - 100, None)
    store.states[URL] = (avload.dumps(start), clock.now + 60)
    store.shared[URL] = {"gw-b": (pupils(Rung.P360, 2), clock.now + 60)}  # b's old part
    both = await asyncio.gather(a.step(URL, pupils(Rung.P180), TTL), b.step(URL, {}, TTL))
    held = avload.loads(store.states[URL][0])
    assert both[0] is both[1] is held.ceiling
    stepped = Instance(Rung.P180, clock.now, None)  # a's: one rung below 360p, in use
    calm = Instance(Rung.P360, start.changed_at, clock.now)  # b's
    assert held in (stepped, calm)


async def test_a_state_the_store_holds_that_is_not_one_is_replaced_by_a_fresh_one() -> None:
    clock = Clock()
    store = MemoryPlacement(clock)
    store.states[URL] = ("from another version", clock.now + 60)
    a, _ = gateways(store, clock)
    assert await a.step(URL, pupils(Rung.P180, 2), TTL) is Rung.AUDIO
    assert avload.loads(store.states[URL][0]).ceiling is Rung.AUDIO
    a.forget(set())
    assert a.of(URL) is TOP  # no longer used here: no ceiling known
