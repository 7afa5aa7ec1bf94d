"""ICE and media through the real Janus: a Chromium publisher and a Chromium subscriber, signalled by homeroom's client.

The browsers hold no Janus session: each page hands its offer or answer and its ICE candidates
to the test (Playwright's exposed functions), which relays them to Janus with homeroom's
client (homeroom.av.client) exactly as the live gateway will. Chromium runs in a network
namespace joined to Janus's by a veth pair (tests/av_network.py): Janus gathers candidates on
that veth only, so the media cannot take loopback. The proof is the subscriber's `getStats`:
`framesDecoded` and `totalSamplesReceived` grow.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import struct
import subprocess
import tempfile
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright

from homeroom.av.client import Handle, JanusClient
from homeroom.core import janus
from homeroom.core import videoroom as vr
from tests.av_network import ClientNet, chromium, client_namespace
from tests.janus_servers import janus_instance

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(180)]

ROOM = 4201
ORIGIN = "https://class.homeroom.test"  # served by the test (page.route): no network needed

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    # raw host candidates (10.214.k.2), not mDNS names Janus would have to resolve
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]

PAGE = """<!doctype html><meta charset="utf-8"><title>av</title><script>
const pc = new RTCPeerConnection();
pc.onicecandidate = (e) => window.hrTrickle(e.candidate ? e.candidate.toJSON() : null);
// a received track plays in an element, as in the class page: Chromium decodes audio for a sink
pc.ontrack = (e) => {
  const el = document.createElement(e.track.kind === "audio" ? "audio" : "video");
  el.autoplay = true; el.srcObject = new MediaStream([e.track]); document.body.append(el);
};

async function publish() {
  const stream = await navigator.mediaDevices.getUserMedia(
    {audio: true, video: {width: 1280, height: 720, frameRate: 30}});
  const [audio] = stream.getAudioTracks(), [video] = stream.getVideoTracks();
  pc.addTransceiver(audio, {direction: "sendonly"});
  pc.addTransceiver(video, {direction: "sendonly", sendEncodings: [
    {rid: "h", maxBitrate: 2500000},
    {rid: "m", maxBitrate: 500000, scaleResolutionDownBy: 2},
    {rid: "l", maxBitrate: 150000, scaleResolutionDownBy: 4}]});
  await pc.setLocalDescription(await pc.createOffer());
  const answer = await window.hrPublish(pc.localDescription.toJSON());
  await pc.setRemoteDescription(answer);
}

async function subscribe(offer) {
  await pc.setRemoteDescription(offer);
  await pc.setLocalDescription(await pc.createAnswer());
  return pc.localDescription.toJSON();
}

async function received() {
  const out = {frames: 0, samples: 0, audioPackets: 0, width: 0, state: pc.connectionState};
  (await pc.getStats()).forEach((r) => {
    if (r.type !== "inbound-rtp") return;
    if (r.kind === "video") { out.frames += r.framesDecoded || 0; out.width = r.frameWidth || 0; }
    if (r.kind === "audio") {
      out.samples += r.totalSamplesReceived || 0; out.audioPackets += r.packetsReceived || 0;
    }
  });
  return out;
}

async function path() {
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach((r) => { if (r.type === "transport" && r.selectedCandidatePairId)
    pair = stats.get(r.selectedCandidatePairId); });
  if (!pair) return null;
  return {local: stats.get(pair.localCandidateId).address,
          remote: stats.get(pair.remoteCandidateId).address};
}

async function sent() {
  const out = {layers: 0, state: pc.connectionState};
  (await pc.getStats()).forEach((r) => {
    if (r.type === "outbound-rtp" && r.kind === "video" && r.framesEncoded > 0) out.layers += 1;
  });
  return out;
}
</script>"""


async def serve(page: Page) -> None:
    await page.route(
        f"{ORIGIN}/**",
        lambda route: route.fulfill(status=200, content_type="text/html", body=PAGE),
    )
    await page.goto(f"{ORIGIN}/av")


def trickler(handle: Handle) -> Any:
    async def trickle(candidate: dict[str, Any] | None) -> None:
        await handle.trickle(candidate)

    return trickle


async def until(page: Page, script: str, holds: Any, timeout_s: float = 30) -> dict[str, Any]:
    """Evaluate `script` until `holds(result)`; the last result in the failure."""
    last: dict[str, Any] = {}
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                last = await page.evaluate(script)
                if holds(last):
                    return last
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"{script} still {last} after {timeout_s} s") from None


@pytest.fixture
async def net() -> AsyncIterator[ClientNet]:
    with client_namespace() as made:
        yield made


@dataclass
class Class:
    """A teacher's page publishing into a room and a pupil's page subscribed to it."""

    net: ClientNet
    teacher: Handle
    pupil: Handle
    publisher: Page
    viewer: Page
    streams: tuple[dict[str, Any], ...]  # the pupil's subscribed streams (mid, type, ...)
    speaker: int  # the teacher's participant id in the room


@asynccontextmanager
async def a_class(net: ClientNet, args: tuple[str, ...] = ()) -> AsyncIterator[Class]:
    """Janus gathering on the veth alone, Chromium (with `args` besides ARGS) in the namespace,
    both pages connected; every offer, answer and candidate relayed by homeroom's client."""
    with janus_instance(ice_enforce_list=(net.host_end,), rtp_ports=(43_000, 43_999)) as process:
        s = process.settings
        folder = Path(tempfile.mkdtemp(prefix="homeroom-av-"))
        async with (
            await JanusClient.connect(s.url, s.api_secret) as client,
            async_playwright() as p,
        ):
            session = await client.create_session()
            teacher = await session.attach()
            await teacher.videoroom(vr.create(ROOM, s.admin_key, publishers=3))
            joined, _ = await teacher.videoroom(vr.join_publisher(ROOM, "teacher"))
            assert isinstance(joined, vr.Joined)

            browser = await p.chromium.launch(
                executable_path=str(net.wrapper(folder, chromium())), args=[*ARGS, *args]
            )
            try:
                # the teacher's page publishes; its offer and candidates go through our client
                publisher = await (await browser.new_context()).new_page()

                async def publish(offer: dict[str, Any]) -> dict[str, Any] | None:
                    _, answer = await teacher.videoroom(vr.publish(), jsep=offer)
                    return answer

                await publisher.expose_function("hrPublish", publish)
                await publisher.expose_function("hrTrickle", trickler(teacher))
                await serve(publisher)
                await publisher.evaluate("publish()")
                await teacher.wait_for(lambda e: isinstance(e, janus.WebrtcUp), timeout_s=30)
                await until(publisher, "sent()", lambda r: r["layers"] >= 1)

                # a pupil's page subscribes to the teacher's feed
                pupil = await session.attach()
                viewer = await (await browser.new_context()).new_page()
                await viewer.expose_function("hrTrickle", trickler(pupil))
                await serve(viewer)
                attached, offer = await pupil.videoroom(vr.subscribe(ROOM, [joined.participant]))
                assert isinstance(attached, vr.Attached) and offer is not None
                answer = await viewer.evaluate("(offer) => subscribe(offer)", offer)
                await pupil.videoroom(vr.start(), jsep=answer)
                yield Class(
                    net, teacher, pupil, publisher, viewer, attached.streams, joined.participant
                )
            finally:
                await browser.close()
                shutil.rmtree(folder, ignore_errors=True)
            await teacher.videoroom(vr.destroy(ROOM))
            await session.destroy()


def video_mid(c: Class) -> str:
    return next(str(m["mid"]) for m in c.streams if m.get("type") == "video")


async def test_a_subscriber_decodes_what_a_publisher_sends_through_janus(net: ClientNet) -> None:
    async with a_class(net) as c:
        first = await until(c.viewer, "received()", lambda r: r["frames"] > 0)
        later = await until(
            c.viewer,
            "received()",
            lambda r: r["frames"] > first["frames"] + 10 and r["samples"] > first["samples"],
        )
        assert later["width"] > 0 and later["state"] == "connected"
        # the media took the veth: Janus's end of it, from the namespace's end
        for page in (c.publisher, c.viewer):
            assert await page.evaluate("path()") == {
                "local": net.client_address,
                "remote": net.host_address,
            }

        # the teacher simulcasts (Chromium adds layers as its bandwidth estimate grows) and
        # the pupil gets the top one, Janus's default; moved to the lowest (180p of 720p), as
        # the ladder will do, the frames that arrive shrink
        await until(c.publisher, "sent()", lambda r: r["layers"] == 3)
        top = await until(c.viewer, "received()", lambda r: r["width"] == 1280)
        await c.pupil.videoroom(vr.configure_stream(video_mid(c), substream=0, temporal=2))
        low = await until(c.viewer, "received()", lambda r: 0 < r["width"] <= top["width"] // 4)
        assert low["width"] == top["width"] // 4  # 320: the layer scaled down by 4


def tc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tc", *args], capture_output=True, text=True, timeout=10)


async def test_a_capped_pupil_link_makes_janus_report_slowlink(net: ClientNet) -> None:
    """The pupil's link from Janus capped at 300 kbit/s (tbf on Janus's end of the veth) while
    Janus sends it the 720p layer (~2.5 Mbit/s): the pupil's browser asks again for what it
    lost, and Janus reports `slowlink` on the pupil's handle, `uplink` true (Janus sending) —
    an input of the ladder. The teacher's handle hears nothing of it."""
    async with a_class(net) as c:
        await until(c.viewer, "received()", lambda r: r["frames"] > 10 and r["width"] == 1280)
        capped = tc("qdisc", "add", "dev", net.host_end, "root", "tbf", "rate", "300kbit",
                    "burst", "16kb", "latency", "100ms")  # fmt: skip
        if capped.returncode != 0:
            pytest.skip(f"no tbf qdisc here: {capped.stderr.strip()}")
        slow = await c.pupil.wait_for(lambda e: isinstance(e, janus.SlowLink), timeout_s=30)
        assert isinstance(slow, janus.SlowLink)
        assert slow.uplink is True and slow.lost >= 4  # the threshold of our configuration
        assert slow.kind in ("video", "audio")
        assert tc("qdisc", "del", "dev", net.host_end, "root").returncode == 0
        while not c.teacher.events.empty():
            event = c.teacher.events.get_nowait()
            assert not isinstance(event, janus.SlowLink), event


def tone(path: Path, seconds: int = 2) -> Path:
    """A 440 Hz tone at half of full scale, 48 kHz mono: a teacher speaking loudly."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48_000)
        samples = (
            int(16_000 * math.sin(2 * math.pi * 440 * i / 48_000)) for i in range(48_000 * seconds)
        )
        out.writeframes(b"".join(struct.pack("<h", v) for v in samples))
    return path


async def test_the_teacher_speaking_is_reported_as_talking(net: ClientNet, tmp_path: Path) -> None:
    """The teacher's microphone is a loud tone (Chromium's fake capture from a file): the room's
    `audiolevel_event` reports them talking, by participant id, louder than the threshold."""
    wav = tone(tmp_path / "tone.wav")
    async with a_class(net, (f"--use-file-for-fake-audio-capture={wav}",)) as c:

        def talking(event: janus.Event) -> bool:
            return isinstance(event, janus.PluginEvent) and event.data.get("videoroom") == "talking"

        event = await c.teacher.wait_for(talking, timeout_s=30)
        assert isinstance(event, janus.PluginEvent)
        said = vr.answer(event.data)
        assert isinstance(said, vr.Talking)
        assert said.room == ROOM and said.participant == c.speaker and said.talking
        # dBov: 0 loudest, 127 silent; the room's threshold (audio_level_average) is 40
        assert said.level is not None and said.level < 40
