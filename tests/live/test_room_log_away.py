"""A room whose log cannot be opened for a moment (Redis slow at the height of a storm, or away):
the gateway asks again, and only then sends the room's joiners away with 1013."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from homeroom.backends.live import Deliver, Entry, MemoryLog
from homeroom.live import hub
from homeroom.live.hub import CLOSE_LATER, MemoryRecorder
from homeroom.live.jointoken import JoinTokens
from homeroom.live.server import LiveServer
from tests.live.conftest import SECRET, Clock, Live, receive


class FlakyLog(MemoryLog):
    """A memory log whose `open` of some rooms fails a given number of times first."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: dict[str, int] = {}  # room: opens still to fail (-1: every one)
        self.opens: dict[str, int] = {}

    async def open(self, room: str, deliver: Deliver) -> tuple[str, list[Entry]]:
        self.opens[room] = self.opens.get(room, 0) + 1
        left = self.failures.get(room, 0)
        if left:
            self.failures[room] = left - 1 if left > 0 else left
            raise ConnectionError(f"Timeout connecting to server (room {room})")
        return await super().open(room, deliver)


@pytest.fixture
async def flaky(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Live, FlakyLog]]:
    monkeypatch.setattr(hub, "OPEN_PAUSE_S", 0.05)
    clock, room_log, recorder = Clock(), FlakyLog(), MemoryRecorder()
    server = LiveServer(SECRET, room_log=room_log, recorder=recorder, clock=clock)
    port = await server.start("127.0.0.1", 0)
    try:
        yield Live(server, port, clock, recorder, JoinTokens(SECRET)), room_log
    finally:
        await server.stop()


async def test_a_room_whose_log_fails_twice_still_opens_and_its_pupil_joins(
    flaky: tuple[Live, FlakyLog],
) -> None:
    live, room_log = flaky
    room_log.failures["s1"] = hub.OPEN_TRIES - 1
    async with live.open("p1") as pupil:
        snapshot = await receive(pupil)
        assert snapshot["type"] == "snapshot"
    assert room_log.opens["s1"] == hub.OPEN_TRIES


async def test_a_room_whose_log_stays_away_sends_its_joiners_away_with_1013_and_others_go_on(
    flaky: tuple[Live, FlakyLog],
) -> None:
    live, room_log = flaky
    room_log.failures["s1"] = -1
    elsewhere = connect(live.url(live.token("p3", room="s2")), open_timeout=5)
    async with live.open("p1") as pupil, live.open("p2") as other, elsewhere as p3:
        assert (await receive(p3))["type"] == "snapshot"  # another room opens meanwhile
        for ws in (pupil, other):
            with pytest.raises(ConnectionClosed) as closed:
                await receive(ws)
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
                CLOSE_LATER,
                "room_unavailable",
            )
        await p3.send('{"v":1,"type":"ping","id":"still"}')
        assert (await receive(p3)) == {"v": 1, "type": "pong", "id": "still"}
    assert room_log.opens["s1"] == hub.OPEN_TRIES  # asked again, then no more
    assert "s1" not in live.server.hub.rooms  # nothing left behind for the next try
    room_log.failures["s1"] = 0  # Redis is back: the next try joins
    async with live.open("p1") as pupil:
        assert (await receive(pupil))["type"] == "snapshot"
