"""Two classes on one real Janus, held by two gateways sharing one real Redis: when the instance's load passes its mark, both step down together; when it falls, they climb back (docs/av.md#instance-ceilings).

The marks are set low (a few pupils' packets), so that two pupils at 180p overload the
instance and one does not: each gateway alone is under the mark, only the sum over both, which
the placement store keeps, is over it. The clocks are the test's: the wall clock the gateways
share (the instance's hold and calm times) and each gateway's monotonic one (the ladder's).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Page
from websockets.asyncio.client import ClientConnection, connect

from homeroom.av.process import JanusProcess
from homeroom.backends.av_placement import RedisPlacement
from homeroom.core.ladder import LoadLimits
from homeroom.core.live.parts import Role
from homeroom.live.av import AvRelay, AvSettings
from homeroom.live.avceiling import CeilingSettings
from tests.av.test_relay import Monotonic, gateway, next_of, page, publish, send, until_true
from tests.janus_servers import janus_instance
from tests.live.conftest import Clock, Live, receive
from tests.redis_servers import RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(180)]
__all__ = ["page"]  # the Chromium page that makes the SDP (tests/av/test_relay.py)

# A pupil at 180p receives the teacher's audio (51 packets/s) and 180p layer (32): 83. Two are
# over the high mark, one at 180p or two at `audio` (51 each) under the low one.
LIMITS = LoadLimits(pps_high=150, pps_low=120, cpu_high=1.0, cpu_low=1.0)
GOOD = {"loss": 0.0, "rtt_s": 0.05}


@pytest.fixture(scope="module")
def janus() -> Iterator[JanusProcess]:
    with janus_instance() as process:
        yield process


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with RedisServer(Path(tmp_path_factory.mktemp("redis"))) as server:
        yield server.url


@dataclass
class Side:
    """One gateway with its class: a teacher publishing, a pupil watching."""

    live: Live
    av: AvRelay
    monotonic: Monotonic
    teacher: ClientConnection
    pupil: ClientConnection


async def side(
    stack: AsyncExitStack, janus: JanusProcess, redis_url: str, prefix: str, wall: Clock, room: str
) -> Side:
    """A gateway of its own (closed with `stack`) on the shared store, with one class."""
    s = janus.settings
    settings = AvSettings(
        (s.url,), s.api_secret, s.admin_key, tick_s=3600, ceiling=CeilingSettings(LIMITS)
    )
    placement = RedisPlacement.from_url(redis_url, wall, prefix=prefix)
    monotonic = Monotonic()
    av = AvRelay(settings, placement, monotonic=monotonic, clock=wall)  # ticks by the test
    live = await stack.enter_async_context(gateway(av, Clock()))
    teacher = await stack.enter_async_context(
        connect(live.url(live.token("t-" + room, Role.TEACHER, room=room)), open_timeout=5)
    )
    pupil = await stack.enter_async_context(
        connect(live.url(live.token("p-" + room, room=room)), open_timeout=5)
    )
    await receive(teacher)
    await receive(pupil)
    return Side(live, av, monotonic, teacher, pupil)


async def watch(one: Side, page: Page) -> None:
    """The teacher publishes, the pupil watches from 180p and accepts the offer."""
    await publish(one.teacher, page)
    await send(one.pupil, "av.watch")
    assert (await next_of(one.pupil, "av.rung"))["rung"] == "180p"
    offered = await next_of(one.pupil, "av.offer")
    await send(one.pupil, "av.accept", sdp=await page.evaluate("(s) => answer(s)", offered["sdp"]))


async def rungs(teacher: ClientConnection) -> dict[str, object]:
    message = await next_of(teacher, "av.rungs")
    return {k: v for k, v in message.items() if k in ("counts", "ceiling")}


async def test_two_classes_on_one_instance_step_down_together_and_climb_back(
    janus: JanusProcess, redis_url: str, page: Page
) -> None:
    wall = Clock()  # the wall clock both gateways share, with the store
    prefix = f"t{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as stack:
        a = await side(stack, janus, redis_url, prefix, wall, "s1")
        b = await side(stack, janus, redis_url, prefix, wall, "s2")
        await watch(a, page)
        await watch(b, page)
        assert a.av.classes["s1"].url == b.av.classes["s2"].url == janus.settings.url

        # a's part alone (one pupil at 180p, 83 packets/s) is under the mark: no ceiling
        await a.av.tick()
        assert await rungs(a.teacher) == {"counts": counts(p180=1)}
        # b's tick sees the sum of both parts, 166 packets/s: the instance steps down, one
        # rung below the highest in use, and b's pupil with it
        await b.av.tick()
        down = await next_of(b.pupil, "av.rung")
        assert (down["rung"], down["own"], down["why"]) == ("audio", "720p", "class")
        assert await rungs(b.teacher) == {"counts": counts(audio=1), "ceiling": "audio"}
        # a's next tick reads the same ceiling from the store: its pupil steps down too
        await a.av.tick()
        down = await next_of(a.pupil, "av.rung")
        assert (down["rung"], down["own"], down["why"]) == ("audio", "720p", "class")
        assert await rungs(a.teacher) == {"counts": counts(audio=1), "ceiling": "audio"}
        # b's pupil stops watching: the load falls (one pupil at audio, 51 packets/s; were
        # both to climb back to 180p, it would be over the mark again), but the ceiling rises
        # only after calm_s below both low marks
        gone = next(p for p in b.av.classes["s2"].peers.values() if p.person == "p-s2")
        await send(b.pupil, "av.stop")
        await until_true(lambda: gone.pupil is None and gone.watch is None)
        for side_ in (a, b):
            await side_.av.tick()
        assert a.av.ceilings is not None and a.av.ceilings.of(janus.settings.url).wire == "audio"
        wall.now += LIMITS.calm_s
        await b.av.tick()  # either gateway may make the step: here b, which has no watcher
        await a.av.tick()
        assert await rungs(a.teacher) == {"counts": counts(audio=1), "ceiling": "180p"}
        # under the ceiling, a's pupil climbs back by its own figures, as the ladder does
        peer = next(p for p in a.av.classes["s1"].peers.values() if p.person == "p-s1")
        await send(a.pupil, "av.stats", **GOOD)
        await until_true(lambda: peer.pupil is not None and peer.pupil.good_since is not None)
        a.monotonic.now += 8  # the hold and climb_s: good figures for 8 s
        await send(a.pupil, "av.stats", **GOOD)
        up = await next_of(a.pupil, "av.rung")
        assert (up["rung"], up["why"]) == ("180p", "stats")
        # and the ceiling goes on rising, a rung each calm_s, until there is none
        for ceiling in ("360p", None):
            wall.now += LIMITS.calm_s
            await a.av.tick()
            want: dict[str, object] = {"counts": counts(p180=1)}
            if ceiling is not None:
                want["ceiling"] = ceiling
            assert await rungs(a.teacher) == want
        assert a.av.ceilings.of(janus.settings.url).wire == "720p"
        assert not a.av.faults.count and not b.av.faults.count  # no bug met on the way


def counts(p180: int = 0, audio: int = 0) -> dict[str, int]:
    zero = dict.fromkeys(("720p", "360p", "180p", "audio", "slides", "text"), 0)
    return {**zero, "180p": p180, "audio": audio}
