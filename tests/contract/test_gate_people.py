"""The per-person part of the GateStore contract (signed-in people only), on every backend."""

from __future__ import annotations

import asyncio

from redis.crc import key_slot

from homeroom.backends.gate import GateStore, PersonRecord, PersonStatus
from homeroom.backends.redis import RedisKeys
from homeroom.core.lanes import Lane
from tests.contract.conftest import Backend

G = "national"
WAITING = PersonRecord(Lane.STAFF, 7, PersonStatus.WAITING, expires=2_000_000_000)
LATER = PersonRecord(
    Lane.PUPILS,
    0,
    PersonStatus.APPOINTMENT,
    not_before=1_790_003_000,
    expires=1_790_004_200,
    starts_at=1_790_003_600,
)


def test_a_record_round_trips_and_garbage_is_no_record() -> None:
    for record in (WAITING, LATER):
        assert PersonRecord.decode(record.encode()) == record
    for garbage in ("", "x", "pupils:1:0:0:0:0|nope", "nolane:1:0:0:0:0|waiting", "a|b|c"):
        assert PersonRecord.decode(garbage) is None


async def test_the_first_hold_wins_and_later_ones_get_it(store: GateStore) -> None:
    assert await store.person(G, "aa") is None
    assert await store.hold_person(G, "aa", WAITING, 60) == WAITING
    other = PersonRecord(Lane.STAFF, 8, PersonStatus.WAITING)
    assert await store.hold_person(G, "aa", other, 60) == WAITING  # a second device: same place
    assert await store.person(G, "aa") == WAITING
    assert await store.person("academie-lyon", "aa") is None  # gates are separate


async def test_hold_over_a_place_replaces_only_that_place(store: GateStore) -> None:
    await store.hold_person(G, "aa", LATER, 60)
    exchanged = PersonRecord(Lane.PRIORITY, 3, PersonStatus.WAITING)
    # Another place than the one held: nothing changes, the held record comes back.
    assert await store.hold_person(G, "aa", exchanged, 60, over="pupils:5:") == LATER
    assert await store.hold_person(G, "aa", exchanged, 60, over=LATER.place) == exchanged
    # The appointment was exchanged already: a second device's exchange gets the first's.
    late = PersonRecord(Lane.PRIORITY, 4, PersonStatus.WAITING)
    assert await store.hold_person(G, "aa", late, 60, over=LATER.place) == exchanged
    admitted = PersonRecord(Lane.PRIORITY, 3, PersonStatus.ADMITTED)
    assert await store.hold_person(G, "aa", admitted, 60, over="priority:3:") == admitted
    assert await store.person(G, "aa") == admitted


async def test_forget_drops_only_the_same_place(store: GateStore) -> None:
    await store.hold_person(G, "aa", WAITING, 60)
    await store.forget_person(G, "aa", "staff:70:")  # "staff:7:" is not a prefix of it
    assert await store.person(G, "aa") == WAITING
    await store.forget_person(G, "aa", "")
    assert await store.person(G, "aa") == WAITING
    await store.forget_person(G, "aa", WAITING.place)
    assert await store.person(G, "aa") is None
    await store.forget_person(G, "aa", WAITING.place)  # nothing there: no error


async def test_people_reads_a_class_at_once(store: GateStore) -> None:
    await store.hold_person(G, "aa", WAITING, 60)
    await store.hold_person(G, "bb", LATER, 60)
    found = await store.people(G, ["aa", "bb", "cc"])
    assert found == {"aa": WAITING, "bb": LATER}
    assert await store.people(G, []) == {}


async def test_records_expire(backend: Backend) -> None:
    store = backend.store
    await store.hold_person(G, "aa", WAITING, 1)
    await store.hold_person(G, "bb", WAITING, 60)
    assert await store.person(G, "aa") == WAITING

    async def gone() -> bool:
        return await store.person(G, "aa") is None

    await backend.eventually(gone, within_s=3)
    assert await store.people(G, ["aa", "bb"]) == {"bb": WAITING}
    # Once expired, the next device holds a new place.
    fresh = PersonRecord(Lane.STAFF, 9, PersonStatus.WAITING)
    assert await store.hold_person(G, "aa", fresh, 60) == fresh


async def test_two_processes_racing_for_one_person_get_one_place(backend: Backend) -> None:
    peers = [backend.peer() for _ in range(4)]
    records = [PersonRecord(Lane.PUPILS, n, PersonStatus.WAITING) for n in range(1, 9)]
    held = await asyncio.gather(
        *(peers[i % 4].hold_person(G, "aa", r, 60) for i, r in enumerate(records))
    )
    assert len(set(held)) == 1
    assert held[0] in records
    assert await backend.store.person(G, "aa") == held[0]


def test_people_spread_over_the_cluster() -> None:
    keys = RedisKeys("hr")
    slots = {key_slot(keys.person(G, f"{n:016x}").encode()) for n in range(64)}
    assert len(slots) > 32  # one hash tag per person, not one hot slot for a gate
