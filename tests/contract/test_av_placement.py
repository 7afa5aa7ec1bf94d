"""Where classes' audio and video live: least-loaded, never split, moved off a lost instance (docs/av.md#placement)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from homeroom.backends.av_placement import MemoryPlacement, Placement, RedisPlacement

A, B, C = "ws://a:8188", "ws://b:8188", "ws://c:8188"


class Clock:
    now = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Opened:
    """A placement under test, and another gateway's view of the same state."""

    p: Placement
    clock: Clock
    peer: Callable[[], Placement]


@pytest.fixture(params=["memory", "redis", pytest.param("cluster", marks=pytest.mark.slow)])
async def opened(request: pytest.FixtureRequest) -> AsyncIterator[Opened]:
    """Each backend; on the Redis Cluster, a script's keys must share a slot (hash tags)."""
    clock = Clock()
    made: list[Placement] = []

    def peer() -> Placement:
        if request.param == "memory":
            return made[0]  # one process: its own peer
        url = request.getfixturevalue("redis_url" if request.param == "redis" else "cluster_url")
        made.append(RedisPlacement.from_url(url, clock, prefix=f"t{id(clock)}", ttl_s=600))
        return made[-1]

    if request.param == "memory":
        made.append(MemoryPlacement(clock, ttl_s=600))
    yield Opened(peer(), clock, peer)
    for one in made:
        await one.aclose()


@pytest.fixture
def placement(opened: Opened) -> tuple[Placement, Clock]:
    return opened.p, opened.clock


async def test_each_class_goes_to_the_least_loaded_and_stays(
    placement: tuple[Placement, Clock],
) -> None:
    p, _ = placement
    assert await p.place("r1", [A, B]) == A  # a tie: the first named
    assert await p.place("r2", [A, B]) == B
    assert await p.place("r3", [A, B]) == A
    assert await p.place("r4", [A, B]) == B
    # asked again, from a gateway that lists them the other way: the same, never split
    assert await p.place("r1", [B, A]) == A
    assert await p.place("r2", [A, B, C]) == B
    assert await p.place("r5", [A, B, C]) == C  # a new instance takes the next class
    assert await p.place("r9", []) is None


async def test_a_lost_instance_s_classes_move_once_to_the_least_loaded(
    placement: tuple[Placement, Clock],
) -> None:
    p, _ = placement
    for room in ("r1", "r2", "r3"):
        await p.place(room, [A, B, C])  # A, B, C
    await p.place("r4", [A, B, C])  # A again
    moved = await p.place("r1", [B, C], lost=A)
    assert moved in (B, C)
    # a second gateway that saw A go too finds it moved already: the same answer, no new move
    assert await p.place("r1", [B, C], lost=A) == moved
    # a gateway that cannot reach the class's instance moves it as if it were lost
    assert await p.place("r4", [B, C]) in (B, C)


async def test_a_class_nobody_asks_about_is_forgotten_and_counts_no_more(
    placement: tuple[Placement, Clock],
) -> None:
    p, clock = placement
    assert await p.place("r1", [A, B]) == A
    clock.now += 601
    assert await p.place("r2", [A, B]) == A  # r1 expired: A is empty again
    assert await p.place("r1", [B, A]) == B  # and r1 is placed anew, on the least loaded


async def test_the_teachers_counts_sum_every_gateway_s_and_forget_a_dead_one(
    placement: tuple[Placement, Clock],
) -> None:
    p, clock = placement
    assert await p.rungs("r1", "gw-a", {"720p": 2, "text": 0}, 4) == {"720p": 2, "text": 0}
    both = await p.rungs("r1", "gw-b", {"720p": 1, "text": 3}, 4)
    assert both == {"720p": 3, "text": 3}
    assert await p.rungs("r2", "gw-b", {"720p": 5}, 4) == {"720p": 5}  # another class apart
    clock.now += 3
    assert await p.rungs("r1", "gw-b", {"720p": 0, "text": 4}, 4) == {"720p": 2, "text": 4}
    clock.now += 2  # gw-a said nothing for 5 s: gone
    assert await p.rungs("r1", "gw-b", {"720p": 0, "text": 4}, 4) == {"720p": 0, "text": 4}


async def test_an_instance_s_work_sums_every_gateway_s_part_and_forgets_a_dead_one(
    placement: tuple[Placement, Clock],
) -> None:
    p, clock = placement
    assert await p.share(A, "gw-a", {"sub:180p": 2, "audio": 2}, 4) == (
        {"sub:180p": 2, "audio": 2},
        None,
    )
    total, _ = await p.share(A, "gw-b", {"sub:180p": 1, "video:0": 1}, 4)
    assert total == {"sub:180p": 3, "audio": 2, "video:0": 1}
    assert (await p.share(B, "gw-b", {"sub:720p": 5}, 4))[0] == {"sub:720p": 5}  # apart
    # the same gateway's new part replaces its old one
    total, _ = await p.share(A, "gw-b", {"sub:180p": 0, "video:0": 0}, 4)
    assert total == {"sub:180p": 2, "audio": 2, "video:0": 0}
    clock.now += 5  # gw-a said nothing for 5 s: gone
    assert (await p.share(A, "gw-b", {"sub:360p": 1}, 4))[0] == {"sub:360p": 1}


async def test_an_instance_s_state_changes_only_from_the_state_its_writer_read(
    placement: tuple[Placement, Clock],
) -> None:
    p, _ = placement
    assert await p.swap(A, None, "one", 4) == "one"
    assert await p.swap(A, None, "two", 4) == "one"  # another wrote first: its state stands
    assert await p.swap(A, "two", "three", 4) == "one"
    assert await p.swap(A, "one", "two", 4) == "two"
    assert await p.share(A, "gw-a", {}, 4) == ({}, "two")
    assert (await p.share(B, "gw-a", {}, 4))[1] is None  # another instance apart
    # two gateways step it from the same state at once: one wins, both learn which
    both = await asyncio.gather(p.swap(A, "two", "x", 4), p.swap(A, "two", "y", 4))
    assert both in (["x", "x"], ["y", "y"])
    assert (await p.share(A, "gw-a", {}, 4))[1] == both[0]


async def test_an_instance_s_state_lives_while_someone_shares_and_goes_after(
    placement: tuple[Placement, Clock],
) -> None:
    p, clock = placement
    assert await p.swap(A, None, "ceiling", 4) == "ceiling"
    for _ in range(3):  # 3 × 10 s, more than 3 × 4 s in all: each share keeps it
        clock.now += 10
        assert (await p.share(A, "gw-a", {"audio": 1}, 4))[1] == "ceiling"
    clock.now += 12  # nobody shared for three times the time to live: forgotten
    assert (await p.share(A, "gw-a", {"audio": 1}, 4))[1] is None
    assert await p.swap(A, "ceiling", "late", 4) is None  # a step from the forgotten state loses
    assert await p.swap(A, None, "fresh", 4) == "fresh"


async def test_gateways_placing_at_once_agree_and_spread_the_classes(opened: Opened) -> None:
    """Three gateways (three clients of the same store: on the Redis Cluster, each script call
    touches one key, so one slot) ask at once for the same classes, each listing the instances
    in its own order: every class gets one answer, and the classes are spread evenly."""
    gateways = [opened.peer() for _ in range(3)]
    orders = [[A, B, C], [C, B, A], [B, A, C]]
    rooms = [f"r{n}" for n in range(12)]
    asked = [
        g.place(room, order) for room in rooms for g, order in zip(gateways, orders, strict=True)
    ]
    answers = await asyncio.gather(*asked)
    by_room: dict[str, set[str | None]] = {}
    for (room, _), url in zip(((r, i) for r in rooms for i in range(3)), answers, strict=True):
        by_room.setdefault(room, set()).add(url)
    assert all(len(urls) == 1 for urls in by_room.values()), by_room  # never split
    placed = [next(iter(urls)) for urls in by_room.values()]
    assert sorted(placed.count(url) for url in (A, B, C)) == [4, 4, 4]
