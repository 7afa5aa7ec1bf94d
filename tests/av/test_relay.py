"""The gateway's audio and video against the real Janus, over the class WebSocket (docs/av.md#the-relay).

Real SDP comes from a headless Chromium (fake camera and microphone, three simulcast layers, as
the class page publishes): the test hands the gateway's `av.*` answers and offers to it. Every
message the clients receive is checked against the protocol's schema (tests/live/conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright
from websockets.asyncio.client import ClientConnection

from homeroom.av.client import JanusClient
from homeroom.av.process import JanusProcess
from homeroom.backends.av_placement import MemoryPlacement
from homeroom.core import janus as janus_event
from homeroom.core import videoroom as vr
from homeroom.core.live.parts import Role
from homeroom.live.av import AvRelay, AvSettings
from homeroom.live.conn import Limits
from homeroom.live.hub import MemoryRecorder
from homeroom.live.jointoken import JoinTokens
from homeroom.live.server import LiveServer
from tests.av.test_media import ARGS
from tests.av_network import chromium
from tests.janus_servers import janus_instance
from tests.live.conftest import SECRET, Clock, Live, receive

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(180)]

ORIGIN = "https://class.homeroom.test"
PAGE = """<!doctype html><meta charset="utf-8"><title>sdp</title><script>
const pcs = [];
// every candidate inside the SDP: the test relays no trickle
const gathered = (pc) => new Promise((done) => {
  if (pc.iceGatheringState === "complete") return done();
  pc.addEventListener("icegatheringstatechange", () => {
    if (pc.iceGatheringState === "complete") done();
  });
});
async function offer(audio, video) {
  const pc = new RTCPeerConnection();
  pcs.push(pc);
  const stream = await navigator.mediaDevices.getUserMedia(
    {audio: true, video: {width: 1280, height: 720}});
  if (audio) pc.addTransceiver(stream.getAudioTracks()[0], {direction: "sendonly"});
  if (video) pc.addTransceiver(stream.getVideoTracks()[0], {direction: "sendonly", sendEncodings: [
    {rid: "h", maxBitrate: 2500000},
    {rid: "m", maxBitrate: 500000, scaleResolutionDownBy: 2},
    {rid: "l", maxBitrate: 150000, scaleResolutionDownBy: 4}]});
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  return pc.localDescription.sdp;
}
async function answered(sdp) {  // Janus's answer to the last offer
  await pcs[pcs.length - 1].setRemoteDescription({type: "answer", sdp});
}
async function answer(sdp) {
  const pc = new RTCPeerConnection();
  pcs.push(pc);
  await pc.setRemoteDescription({type: "offer", sdp});
  await pc.setLocalDescription(await pc.createAnswer());
  await gathered(pc);
  return pc.localDescription.sdp;
}
</script>"""


@pytest.fixture(scope="module")
def janus() -> Iterator[JanusProcess]:
    with janus_instance() as process:
        yield process


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium(), args=ARGS)
        made = await (await browser.new_context()).new_page()
        await made.route(
            f"{ORIGIN}/**", lambda r: r.fulfill(status=200, content_type="text/html", body=PAGE)
        )
        await made.goto(f"{ORIGIN}/sdp")
        yield made
        await browser.close()


class Monotonic:
    """The ladder's clock, moved by the test."""

    now = 1000.0

    def __call__(self) -> float:
        return self.now


def relay(*urls: str, janus: JanusProcess, clock: Clock) -> AvRelay:
    s = janus.settings
    settings = AvSettings(urls, s.api_secret, s.admin_key, tick_s=3600)  # ticks by the test
    return AvRelay(settings, MemoryPlacement(clock), monotonic=Monotonic())


@asynccontextmanager
async def gateway(av: AvRelay | None, clock: Clock, lobby: bool = False) -> AsyncIterator[Live]:
    recorder = MemoryRecorder()
    server = LiveServer(SECRET, recorder=recorder, limits=Limits(), clock=clock, lobby=lobby, av=av)
    port = await server.start("127.0.0.1", 0)
    try:
        yield Live(server, port, clock, recorder, JoinTokens(SECRET))
    finally:
        await server.stop()


@asynccontextmanager
async def a_class(
    janus: JanusProcess,
) -> AsyncIterator[tuple[Live, ClientConnection, ClientConnection]]:
    clock = Clock()
    async with (
        gateway(relay(janus.settings.url, janus=janus, clock=clock), clock) as live,
        live.open("t1", Role.TEACHER) as teacher,
        live.open("p1") as pupil,
    ):
        assert (await receive(teacher))["av"] == {"enabled": True, "muted": []}
        await receive(pupil)
        yield live, teacher, pupil


async def send(ws: ClientConnection, kind: str, /, **fields: Any) -> None:
    await ws.send(json.dumps({"v": 1, "type": kind, **fields}))


async def next_of(ws: ClientConnection, *kinds: str, timeout: float = 15) -> dict[str, Any]:
    """The next message of one of `kinds` (others skipped; an error fails at once)."""
    async with asyncio.timeout(timeout):
        while True:
            message = await receive(ws, timeout)
            if message["type"] in kinds:
                return message
            assert message["type"] != "error", message


async def refused(ws: ClientConnection, kind: str, /, **fields: Any) -> str:
    await send(ws, kind, id="r", **fields)
    reply = await next_of(ws, "error")
    assert reply["id"] == "r"
    word: str = reply["error"]
    return word


async def publish(ws: ClientConnection, page: Page, audio: bool = True, video: bool = True) -> str:
    sdp = await page.evaluate("([a, v]) => offer(a, v)", [audio, video])
    await send(ws, "av.publish", source="camera", sdp=sdp, audio=audio, video=video)
    answer = await next_of(ws, "av.answer")
    assert answer["source"] == "camera" and answer["sdp"].startswith("v=0")
    await page.evaluate("(sdp) => answered(sdp)", answer["sdp"])
    return str(sdp)


@dataclass
class Sizes:
    offer: int = 0
    answer: int = 0


SIZES = Sizes()


async def test_a_teacher_publishes_and_a_pupil_watches(janus: JanusProcess, page: Page) -> None:
    async with a_class(janus) as (_, teacher, pupil):
        offer = await publish(teacher, page)
        SIZES.offer = len(offer.encode())
        await send(pupil, "av.watch")
        start = await next_of(pupil, "av.rung")
        assert (start["rung"], start["own"], start["why"]) == ("180p", "720p", "start")
        offered = await next_of(pupil, "av.offer")
        kinds = sorted((s["person"], s["source"], s["kind"]) for s in offered["streams"])
        assert kinds == [("t1", "camera", "audio"), ("t1", "camera", "video")]
        answer = await page.evaluate("(sdp) => answer(sdp)", offered["sdp"])
        SIZES.answer = len(answer.encode())
        await send(pupil, "av.accept", sdp=answer)
        await send(pupil, "av.candidate", pc="watch", candidate=None)
        await send(pupil, "ping", id="after")
        assert (await next_of(pupil, "pong"))["id"] == "after"  # no error before it
        print(f"\nChromium simulcast offer {SIZES.offer} B, subscription answer {SIZES.answer} B")
        assert SIZES.offer < Limits().max_frame - 200  # fits a frame, with the message around


async def test_what_a_person_may_not_do_is_refused_with_a_word(
    janus: JanusProcess, page: Page
) -> None:
    async with a_class(janus) as (_, teacher, pupil):
        offer = await page.evaluate("([a, v]) => offer(a, v)", [True, True])
        camera = {"source": "camera", "sdp": offer, "audio": True, "video": True}
        assert await refused(pupil, "av.publish", **camera) == "no_floor"
        await send(teacher, "floor.give", id="g", person="p1", video=False)
        await next_of(pupil, "floor.given")
        assert await refused(pupil, "av.publish", **camera) == "no_video"
        assert await refused(pupil, "av.publish", **{**camera, "source": "screen"}) == "not_allowed"
        # bad input: a word, and the class goes on
        assert await refused(pupil, "av.publish", **{**camera, "sdp": 7}) == "bad_field"
        assert await refused(pupil, "av.publish", **{**camera, "sdp": "hello"}) == "bad_field"
        assert await refused(pupil, "av.candidate", pc="watch", candidate={"x": 1}) == "bad_field"
        long = {"candidate": "a" * 600}
        assert await refused(pupil, "av.candidate", pc="watch", candidate=long) == "bad_field"
        assert await refused(pupil, "av.stats", loss=2) == "bad_field"
        assert await refused(pupil, "av.stats", jitter=1) == "bad_field"
        assert await refused(pupil, "av.rung", rung="4k") == "bad_field"
        assert await refused(pupil, "av.teleport") == "unknown_type"
        assert await refused(pupil, "av.accept", sdp="v=0\r\n") == "not_open"
        # a broken offer reaches Janus, which refuses it: a word too
        broken = {**camera, "video": False, "sdp": "v=0\r\nm=audio 9 nothing\r\n"}
        assert await refused(pupil, "av.publish", **broken) == "janus_refused"
        await publish(pupil, page, video=False)  # and the real one goes through


async def test_the_lobby_and_a_platform_without_janus(janus: JanusProcess) -> None:
    clock = Clock()
    av = relay(janus.settings.url, janus=janus, clock=clock)
    async with (
        gateway(av, clock, lobby=True) as live,
        live.open("t1", Role.TEACHER) as teacher,
        live.open("p1") as pupil,
    ):
        await receive(teacher)
        assert (await receive(pupil))["you"]["where"] == "lobby"
        assert await refused(pupil, "av.watch") == "in_lobby"
    async with gateway(None, clock) as live, live.open("t1", Role.TEACHER) as teacher:
        assert (await receive(teacher))["av"] == {"enabled": False, "muted": []}
        assert await refused(teacher, "av.watch") == "av_off"
    off = AvRelay(None, None)  # HOMEROOM_JANUS_URLS empty
    async with gateway(off, clock) as live, live.open("t1", Role.TEACHER) as teacher:
        assert (await receive(teacher))["av"]["enabled"] is False
        assert await refused(teacher, "av.publish", source="camera") == "av_off"


async def until_true(check: Any, timeout_s: float = 15) -> None:
    async with asyncio.timeout(timeout_s):
        while not check():
            await asyncio.sleep(0.05)


async def test_the_floor_taken_or_a_mute_stops_the_pupil_s_publication(
    janus: JanusProcess, page: Page
) -> None:
    async with a_class(janus) as (live, teacher, pupil):
        av = live.server.av
        assert av is not None
        await send(teacher, "floor.give", id="g", person="p1", video=True)
        await next_of(pupil, "floor.given")
        await publish(pupil, page)
        await send(teacher, "av.watch")
        offered = await next_of(teacher, "av.offer")
        assert {s["person"] for s in offered["streams"]} == {"p1"}
        await send(
            teacher, "av.accept", sdp=await page.evaluate("(s) => answer(s)", offered["sdp"])
        )
        klass = av.classes["s1"]
        assert {f.person for f in klass.feeds.values()} == {"p1"}  # the monitor heard it
        await send(teacher, "av.mute", id="m", person="p1")
        assert (await next_of(pupil, "av.muted"))["person"] == "p1"
        await until_true(lambda: not klass.feeds)  # Janus says the feed is gone
        again = await next_of(teacher, "av.offer")  # and renegotiates the teacher's subscription
        assert again["streams"] == []
        assert (
            await refused(
                pupil, "av.publish", source="camera", sdp="v=0\r\n", audio=True, video=True
            )
            == "av_muted"
        )
        await publish(pupil, page, audio=False)  # video only: allowed
        await until_true(lambda: bool(klass.feeds))
        await send(teacher, "floor.give", id="g2", person="p1", video=False)  # no video now
        await next_of(pupil, "floor.given")
        await until_true(lambda: not klass.feeds)
        await publish(pupil, page, video=False)  # audio only, unmuted by the new floor
        await until_true(lambda: bool(klass.feeds))
        await send(teacher, "floor.take", id="t", person="p1")
        await next_of(pupil, "floor.taken")
        await until_true(lambda: not klass.feeds)
        assert not any(p.pubs for p in klass.peers.values())


async def test_stats_and_the_pupil_s_choice_move_the_rung(janus: JanusProcess, page: Page) -> None:
    async with a_class(janus) as (live, teacher, pupil):
        await publish(teacher, page)
        await send(pupil, "av.watch")
        await next_of(pupil, "av.rung")
        offered = await next_of(pupil, "av.offer")
        await send(pupil, "av.accept", sdp=await page.evaluate("(s) => answer(s)", offered["sdp"]))
        # a link that cannot carry 180p: down at once, to what fits
        await send(pupil, "av.stats", loss=0.2, rtt_s=0.4, available_kbps=150, received_kbps=140)
        down = await next_of(pupil, "av.rung")
        assert (down["rung"], down["why"]) == ("audio", "stats")
        av = live.server.av
        assert av is not None and isinstance(av.monotonic, Monotonic)
        peer = next(p for p in av.classes["s1"].peers.values() if p.person == "p1")
        assert peer.watch is not None
        # Janus's slowlink on the subscriber handle, past the hold: one rung down. (Injected
        # into the real handle's events: a lossy downlink is tests/av/test_media.py's part.)
        # One about the camera, which `audio` stopped, says nothing of the link now: the rung
        # stays (the next av.rung, an answer to the pupil's own, says so)
        av.monotonic.now += 9
        mids = {s["kind"]: s["mid"] for s in peer.streams}
        stale = janus_event.SlowLink(
            peer.watch.session.id, peer.watch.id, True, "video", mids["video"], 40
        )
        peer.watch._put(stale)
        await until_true(lambda: peer.watch is not None and peer.watch.events.empty())
        await send(pupil, "av.rung", rung="720p")
        kept = await next_of(pupil, "av.rung")
        assert (kept["rung"], kept["why"]) == ("audio", "own")
        lost = janus_event.SlowLink(
            peer.watch.session.id, peer.watch.id, True, "audio", mids["audio"], 40
        )
        peer.watch._put(lost)
        slow = await next_of(pupil, "av.rung")
        assert (slow["rung"], slow["why"]) == ("slides", "slowlink")
        await send(pupil, "av.rung", rung="text")  # data saving: the subscription is dropped
        own = await next_of(pupil, "av.rung")
        assert (own["rung"], own["own"], own["why"]) == ("text", "text", "own")
        await until_true(lambda: peer.watch is None)
        # the teacher hears how many pupils are on each rung
        await av.tick()
        counts = (await next_of(teacher, "av.rungs"))["counts"]
        assert counts["text"] == 1 and sum(counts.values()) == 1


@dataclass
class Two:
    """Two Janus instances with the same secrets, as a deployment's, and a relay on both."""

    first: JanusProcess
    second: JanusProcess
    placement: MemoryPlacement
    av: AvRelay
    clock: Clock


@contextmanager
def two_instances() -> Iterator[Two]:
    keys = {"api_secret": secrets.token_urlsafe(24), "admin_key": secrets.token_urlsafe(24)}
    with janus_instance(**keys) as first, janus_instance(**keys) as second:
        clock = Clock()
        urls = (first.settings.url, second.settings.url)
        placement = MemoryPlacement(clock)
        av = AvRelay(AvSettings(urls, *keys.values(), timeout_s=2, tick_s=3600), placement)
        yield Two(first, second, placement, av, clock)


async def test_a_killed_janus_moves_the_class_and_its_clients_renegotiate(page: Page) -> None:
    with two_instances() as two:
        first, second, placement, av = two.first, two.second, two.placement, two.av
        async with (
            gateway(av, two.clock) as live,
            live.open("t1", Role.TEACHER) as teacher,
            live.open("p1") as pupil,
        ):
            await receive(teacher)
            await receive(pupil)
            await publish(teacher, page)
            await send(pupil, "av.watch")
            await next_of(pupil, "av.offer")
            assert placement.placed["s1"][0] == first.settings.url  # least loaded: the first
            first.kill()
            for ws in (teacher, pupil):
                assert (await next_of(ws, "av.renegotiate"))["why"] == "instance_lost"
            assert placement.placed["s1"][0] == second.settings.url
            # each client publishes and watches again by itself, on the other instance
            await publish(teacher, page)
            await send(pupil, "av.watch")
            offered = await next_of(pupil, "av.offer")
            assert {s["person"] for s in offered["streams"]} == {"t1"}
            assert av.classes["s1"].url == second.settings.url


async def test_the_class_s_room_goes_from_janus_when_nobody_uses_it(
    janus: JanusProcess, page: Page
) -> None:
    s = janus.settings
    async with (
        a_class(janus) as (live, teacher, pupil),
        await JanusClient.connect(s.url, s.api_secret) as client,
    ):
        await publish(teacher, page)
        await send(pupil, "av.watch")
        await next_of(pupil, "av.offer")
        av = live.server.av
        assert av is not None
        number = av.classes["s1"].number
        handle = await (await client.create_session()).attach()
        assert (await handle.videoroom(vr.exists(number)))[0] == vr.Exists(number, True)
        await teacher.close()
        await pupil.close()
        async with asyncio.timeout(10):
            while (await handle.videoroom(vr.exists(number)))[0] != vr.Exists(number, False):
                await asyncio.sleep(0.1)
        assert "s1" not in av.classes


async def test_each_breakout_group_has_its_own_room(janus: JanusProcess, page: Page) -> None:
    async with a_class(janus) as (live, teacher, p1), live.open("p2") as p2:
        await receive(p2)
        await publish(teacher, page)
        await send(p1, "av.watch")
        await next_of(p1, "av.offer")
        await send(teacher, "floor.give", id="g", person="p2", video=True)
        await send(teacher, "breakout.start", id="b", groups=2)  # p1 in group 1, p2 in 2
        started = await next_of(p2, "breakout.started")
        assert started["groups"] == {"1": ["p1"], "2": ["p2"]}
        # p1 was watching the main room: it starts again, in its group's room
        assert (await next_of(p1, "av.renegotiate"))["why"] == "moved"
        await send(p1, "av.watch")
        await publish(p2, page)
        av = live.server.av
        assert av is not None
        rooms = {k.group: k for k in av.classes.values()}
        await until_true(lambda: 2 in rooms and bool(rooms[2].feeds))
        assert {k.url for k in av.classes.values()} == {janus.settings.url}  # never split
        assert len({k.number for k in av.classes.values()}) == len(av.classes)
        # the teacher visits group 2: their camera leaves the main room, and they watch p2
        await send(teacher, "breakout.visit", id="v", group=2)
        assert (await next_of(teacher, "av.renegotiate"))["why"] == "moved"
        await send(teacher, "av.watch")
        offered = await next_of(teacher, "av.offer")
        assert {s["person"] for s in offered["streams"]} == {"p2"}
        # p1, alone in group 1, was offered nothing of group 2
        await send(p1, "ping", id="p")
        assert (await next_of(p1, "pong", "av.offer"))["type"] == "pong"


async def test_a_class_another_gateway_moved_is_followed_at_the_next_tick(page: Page) -> None:
    with two_instances() as two:
        first, second, placement, av = two.first, two.second, two.placement, two.av
        async with (
            gateway(av, two.clock) as live,
            live.open("t1", Role.TEACHER) as teacher,
            await JanusClient.connect(first.settings.url, first.settings.api_secret) as client,
        ):
            await receive(teacher)
            await publish(teacher, page)
            number = av.classes["s1"].number
            # another gateway could not reach the first instance and moved the class
            assert await placement.place("s1", [second.settings.url]) == second.settings.url
            await av.tick()
            assert (await next_of(teacher, "av.renegotiate"))["why"] == "moved"
            # what this gateway held on the first instance is gone: the room with its monitor
            handle = await (await client.create_session()).attach()
            async with asyncio.timeout(10):  # Janus lets the handles of a session go in its time
                while (await handle.videoroom(vr.participants(number)))[0] != vr.Participants(
                    number, ()
                ):
                    await asyncio.sleep(0.1)
            await publish(teacher, page)
            assert av.classes["s1"].url == second.settings.url
