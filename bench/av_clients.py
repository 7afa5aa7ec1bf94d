"""The WebRTC clients of `make bench-av`: an aiortc teacher and stepped-up aiortc pupils through Janus.

    ip netns exec NS taskset -c 1 python bench/av_clients.py '{"url": ..., "steps": [...], ...}'

Runs inside the clients' network namespace (bench/av_bench.py starts it there, pinned to the
clients' core), so that every packet crosses the veth pair to Janus. It drives Janus itself
with homeroom's client (homeroom.av.client) on the veth's private address. The teacher sends a
generated video (a gradient sliding under a light grain: every frame changes, yet stays codable
at the layer's rate) at one size, single layer (aiortc has no simulcast), and a 400 Hz Opus
tone; or the tone alone. The teacher alone is measured first (`idle`), then pupils join in
steps; once every new pupil gets media, a window of `window_s` seconds is measured, and one JSON
object a step is printed on stdout:

- the joins: how long the step's joins took, each pupil's join to first decoded video frame;
- from the pupils' own counts: packets received and lost in the window, video and audio apart,
  against the packets the teacher sent (loss as it arrives: counting pupils send no NACK).
  aiortc does not conceal audio; a lost audio packet is 20 ms concealed in a browser, so audio
  loss stands for the concealed share; the teacher's own packets a second (it shares this
  process: when its audio strays from 50 a second, this core shaped the step);
- CPU over the window, from /proc: Janus's (its pid; namespaces share /proc), this process's
  and each core's busy share; the bytes and packets the namespace's veth end received
  (`/sys/class/net`), and the UDP receive-buffer drops of the namespace's kernel
  (`/proc/net/snmp`, RcvbufErrors: this process too slow to read its sockets).

Pupils decode only their first video frame (`decode: "first"`, the default: that times the
join), then their receivers only count RTP sequence numbers (`Counter`): aiortc decodes every
frame in a Python thread a receiver, which would make the clients' core, not Janus, the limit
at a few dozen pupils. `decode: "all"` decodes every frame (and keeps aiortc's own stats).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from aiortc import (  # noqa: E402
    AudioStreamTrack,
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
    rtcrtpreceiver,
)
from aiortc.codecs import opus, vpx  # noqa: E402

from av import VideoFrame  # noqa: E402
from homeroom.av.client import Handle, JanusClient, Session  # noqa: E402
from homeroom.core import janus  # noqa: E402
from homeroom.core import videoroom as vr  # noqa: E402

SIZES = {"180p": (320, 180), "360p": (640, 360), "720p": (1280, 720)}
PATTERN_FRAMES = 30  # distinct noise frames, cycled: the encoder cannot predict one from another
TONE_HZ = 400
FIRST_FRAME_TIMEOUT_S = 15.0
JOINS_AT_ONCE = 8

OPUS_BPS = 32_000  # Chrome's Opus rate (aiortc's own is 96,000)
# No STUN server (aiortc's default is a public one): host candidates on the veth only.
NO_SERVERS = RTCConfiguration(iceServers=[])

_original_decoder = rtcrtpreceiver.get_decoder
_original_opus = opus.OpusEncoder.__init__


def _opus_as_chrome(self: opus.OpusEncoder) -> None:
    _original_opus(self)
    self.codec.bit_rate = OPUS_BPS


class _NoDecode:
    def decode(self, encoded: Any) -> list[Any]:
        return []


class _FirstOnly:
    """Decodes until a frame comes out, then nothing: the join is timed, the rest counted."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.done = False

    def decode(self, encoded: Any) -> list[Any]:
        if self.done:
            return []
        frames: list[Any] = self.inner.decode(encoded)
        self.done = bool(frames)
        return frames


def _first_only_decoder(codec: Any) -> Any:
    if codec.mimeType.lower().startswith("audio/"):
        return _NoDecode()
    return _FirstOnly(_original_decoder(codec))


class Pattern(VideoStreamTrack):
    """A generated camera at 30 frames a second: a gradient sliding sideways under a light
    grain (`PATTERN_FRAMES` frames, cycled), so that every frame changes but stays codable at
    the layer's rate (pure noise would overshoot any target at the encoder's coarsest
    quantiser)."""

    def __init__(self, width: int, height: int) -> None:
        super().__init__()
        rng = random.Random(12)
        self.size = (width, height)
        self.frames = []
        for i in range(PATTERN_FRAMES):
            shift = 8 * i
            row = bytes(((x + shift) * 256 // width) % 256 for x in range(width))
            grain = rng.randbytes(width * height)
            luma = bytes(a ^ (b & 7) for a, b in zip(row * height, grain, strict=True))
            chroma = width * height // 4
            self.frames.append((luma, bytes([96 + i]) * chroma, bytes([160 - i]) * chroma))
        self.count = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(*self.size, "yuv420p")
        for plane, data in zip(frame.planes, self.frames[self.count % PATTERN_FRAMES], strict=True):
            plane.update(data)
        self.count += 1
        frame.pts, frame.time_base = pts, time_base
        return frame


class Tone(AudioStreamTrack):
    """A steady 400 Hz tone (8 kHz mono, 20 ms a frame; aiortc's Opus encoder resamples)."""

    samples = b"".join(
        int(8000 * math.sin(2 * math.pi * TONE_HZ * n / 8000)).to_bytes(2, "little", signed=True)
        for n in range(160)
    )

    async def recv(self) -> Any:
        frame = await super().recv()
        frame.planes[0].update(self.samples)
        return frame


class Counter:
    """Stands in for a receiver's packet handling once its first frame is decoded: counts the
    packets a source sends (RTP sequence numbers: received and missing), nothing more — no
    jitter buffer, no depacketising, no decoder thread, no NACK, so loss is as it arrives."""

    def __init__(self) -> None:
        self.streams: dict[int, rtcrtpreceiver.StreamStatistics] = {}

    async def __call__(self, packet: Any, arrival_time_ms: int) -> None:
        stream = self.streams.get(packet.ssrc)
        if stream is None:
            stream = self.streams[packet.ssrc] = rtcrtpreceiver.StreamStatistics(90_000)
        stream.add(packet)

    def main(self) -> tuple[int, int]:
        """Received and lost of the source with most packets (not a retransmission stream)."""
        if not self.streams:
            return 0, 0
        top = max(self.streams.values(), key=lambda s: s.packets_received)
        return top.packets_received, top.packets_lost


def count_only(receiver: Any) -> None:
    receiver.counter = Counter()
    receiver._handle_rtp_packet = receiver.counter  # the DTLS transport calls it per packet


@dataclass
class Pupil:
    pc: RTCPeerConnection
    handle: Handle
    started: float
    first_frame_ms: float | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    last: int = -1  # packets counted at the previous `heard`

    def heard(self) -> bool:
        """Whether any packet arrived since the previous call (true for a pupil that decodes
        everything: its receivers are not counted here)."""
        counted = [r for r in self.pc.getReceivers() if hasattr(r, "counter")]
        if not counted:
            return True
        total = sum(sum(s.packets_received for s in r.counter.streams.values()) for r in counted)
        new, self.last = total != self.last, total
        return new


async def _offer_of(
    handle: Handle, body: dict[str, Any], jsep: dict[str, Any] | None = None
) -> Any:
    answer, sdp = await handle.videoroom(body, jsep=jsep)
    return answer, sdp


async def publish(
    session: Session, room: int, admin_key: str, size: str | None, kbps: int
) -> tuple[Handle, RTCPeerConnection, int]:
    """The teacher: a room (its bitrate cap the video's target: Janus sends it as REMB), a
    publisher's handle, an aiortc PeerConnection sending the tone and, unless `size` is None,
    the pattern."""
    teacher = await session.attach()
    await teacher.videoroom(vr.create(room, admin_key, publishers=1, bitrate=kbps * 1000))
    joined, _ = await teacher.videoroom(vr.join_publisher(room, "teacher"))
    assert isinstance(joined, vr.Joined), joined
    pc = RTCPeerConnection(NO_SERVERS)
    pc.addTransceiver(Tone(), direction="sendonly")
    if size is not None:
        pc.addTransceiver(Pattern(*SIZES[size]), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    offer = {"type": "offer", "sdp": pc.localDescription.sdp}
    _, answer = await teacher.videoroom(vr.publish(video=size is not None), jsep=offer)
    assert answer is not None, "Janus gave the publisher no answer"
    await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
    await teacher.wait_for(lambda e: isinstance(e, janus.WebrtcUp), timeout_s=20)
    return teacher, pc, joined.participant


def receiver_of(pupil: Pupil, track: MediaStreamTrack) -> Any:
    return next(r for r in pupil.pc.getReceivers() if r.track is track)


async def _first_frame(pupil: Pupil, track: MediaStreamTrack, decode_all: bool) -> None:
    with contextlib.suppress(Exception):
        await track.recv()
        pupil.first_frame_ms = (time.monotonic() - pupil.started) * 1000
        if not decode_all:
            count_only(receiver_of(pupil, track))
        while decode_all:  # drain what the decoder thread hands over
            await track.recv()


async def join(session: Session, room: int, feed: int, decode_all: bool) -> Pupil:
    started = time.monotonic()
    handle = await session.attach()
    attached, offer = await handle.videoroom(vr.subscribe(room, [feed]))
    assert isinstance(attached, vr.Attached) and offer is not None, attached
    pupil = Pupil(RTCPeerConnection(NO_SERVERS), handle, started)

    @pupil.pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        if track.kind == "video" or decode_all:
            pupil.tasks.append(asyncio.ensure_future(_first_frame(pupil, track, decode_all)))
        else:
            count_only(receiver_of(pupil, track))

    await pupil.pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], offer["type"]))
    await pupil.pc.setLocalDescription(await pupil.pc.createAnswer())
    answer = {"type": "answer", "sdp": pupil.pc.localDescription.sdp}
    await handle.videoroom(vr.start(), jsep=answer)
    return pupil


async def joined(
    gate: asyncio.Semaphore, session: Session, room: int, feed: int, decode_all: bool
) -> Pupil:
    async with gate:
        return await join(session, room, feed, decode_all)


async def counts(pupils: list[Pupil]) -> dict[str, list[int]]:
    """Packets received and lost so far, by kind, summed over the pupils (each receiver's main
    stream: the one with most packets, not its retransmission stream)."""
    out = {"video": [0, 0], "audio": [0, 0]}
    for pupil in pupils:
        for receiver in pupil.pc.getReceivers():
            counter = getattr(receiver, "counter", None)
            if counter is not None:
                received, lost = counter.main()
                out[receiver.track.kind][0] += received
                out[receiver.track.kind][1] += lost
                continue
            streams = [
                s
                for s in (await receiver.getStats()).values()
                if getattr(s, "type", "") == "inbound-rtp"
            ]
            if streams:
                main = max(streams, key=lambda s: s.packetsReceived)
                out[main.kind][0] += main.packetsReceived
                out[main.kind][1] += main.packetsLost
    return out


def cpu_s(pid: int) -> float:
    """User and system CPU seconds of a process, all its threads (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cores_busy() -> dict[str, tuple[int, int]]:
    """Each core's busy and total jiffies (/proc/stat): who else uses the pinned cores."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            ticks = [int(v) for v in values]
            out[name] = (sum(ticks) - ticks[3] - ticks[4], sum(ticks))  # less idle, iowait
    return out


async def sent(pc: RTCPeerConnection) -> dict[str, int]:
    """Packets the teacher has sent, by kind."""
    out = {"video": 0, "audio": 0}
    for sender in pc.getSenders():
        for s in (await sender.getStats()).values():
            if getattr(s, "type", "") == "outbound-rtp":
                out[s.kind] += s.packetsSent
    return out


def rcvbuf_errors() -> int:
    lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines()]
    udp = [line for line in lines if line and line[0] == "Udp:"]
    return int(udp[1][udp[0].index("RcvbufErrors")])


def veth_rx(interface: str) -> tuple[int, int]:
    stats = Path(f"/sys/class/net/{interface}/statistics")
    return int((stats / "rx_bytes").read_text()), int((stats / "rx_packets").read_text())


def loss(before: list[int], after: list[int], sent: int, pupils: int) -> float | None:
    """The share of what the teacher sent that did not reach the pupils: the larger of the gaps
    in the sequence numbers (lost on the way) and what is missing against packets sent times
    pupils (Janus renumbers each subscriber's packets, so what it never sends leaves no gap)."""
    received, lost = after[0] - before[0], max(0, after[1] - before[1])
    if received + lost == 0 and sent * pupils == 0:
        return None
    gaps = lost / (received + lost) if received + lost else 1.0
    missing = max(0.0, 1 - received / (sent * pupils)) if sent * pupils else 0.0
    return max(gaps, missing)


async def measure(
    pupils: list[Pupil],
    window_s: float,
    janus_pid: int,
    interface: str,
    teacher: RTCPeerConnection,
) -> dict[str, Any]:
    async def snapshot() -> tuple[Any, ...]:
        return (
            cpu_s(os.getpid()),
            cpu_s(janus_pid),
            time.monotonic(),
            veth_rx(interface),
            await counts(pupils),
            rcvbuf_errors(),
            await sent(teacher),
            cores_busy(),
        )

    c0, j0, t0, r0, n0, e0, s0, k0 = await snapshot()
    await asyncio.sleep(window_s)
    c1, j1, t1, r1, n1, e1, s1, k1 = await snapshot()
    span = t1 - t0
    video_sent, audio_sent = s1["video"] - s0["video"], s1["audio"] - s0["audio"]
    return {
        "window_s": round(span, 2),
        "video_loss": loss(n0["video"], n1["video"], video_sent, len(pupils)),
        "audio_loss": loss(n0["audio"], n1["audio"], audio_sent, len(pupils)),
        "video_packets": n1["video"][0] - n0["video"][0],
        "audio_packets": n1["audio"][0] - n0["audio"][0],
        "teacher_video_pps": video_sent / span,
        "teacher_audio_pps": audio_sent / span,
        "silent_pupils": sum(1 for p in pupils if not p.heard()),
        "core_busy": {
            name: round((k1[name][0] - k0[name][0]) / max(1, k1[name][1] - k0[name][1]), 3)
            for name in k1
        },
        "janus_cores": (j1 - j0) / span,
        "client_cores": (c1 - c0) / span,
        "rx_kbps": (r1[0] - r0[0]) * 8 / 1000 / span,
        "rx_pps": (r1[1] - r0[1]) / span,
        "rcvbuf_errors": e1 - e0,
    }


async def run(config: dict[str, Any]) -> None:
    decode_all = config.get("decode", "first") == "all"
    if not decode_all:
        rtcrtpreceiver.get_decoder = _first_only_decoder  # type: ignore[assignment]
    opus.OpusEncoder.__init__ = _opus_as_chrome  # type: ignore[method-assign]
    kbps = int(config.get("kbps", 150))
    vpx.MIN_BITRATE = min(vpx.MIN_BITRATE, kbps * 1000)  # aiortc's floor is 250 kbit/s
    vpx.MAX_BITRATE = max(vpx.MAX_BITRATE, kbps * 1000)
    vpx.DEFAULT_BITRATE = kbps * 1000
    room, size = int(config["room"]), config.get("size")
    deadline = time.monotonic() + float(config.get("budget_s", 120))
    async with await JanusClient.connect(config["url"], config["api_secret"]) as client:
        session = await client.create_session()
        teacher, teacher_pc, feed = await publish(session, room, config["admin_key"], size, kbps)
        await asyncio.sleep(2)  # the encoder's first key frame and rate settle
        pupils: list[Pupil] = []
        idle = await measure(pupils, 2.0, int(config["janus_pid"]), config["veth"], teacher_pc)
        print(json.dumps({"idle": idle}), flush=True)
        try:
            for target in config["steps"]:
                if time.monotonic() > deadline:
                    print(json.dumps({"stopped": "budget", "pupils": len(pupils)}), flush=True)
                    break
                began, gate = time.monotonic(), asyncio.Semaphore(JOINS_AT_ONCE)
                joins = (
                    joined(gate, session, room, feed, decode_all)
                    for _ in range(target - len(pupils))
                )
                new = list(await asyncio.gather(*joins))
                joined_s = time.monotonic() - began
                pupils += new
                # the window starts once every new pupil gets media (ICE and DTLS done): a
                # pupil still connecting would count its first second as lost
                for pupil in new:
                    pupil.heard()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(FIRST_FRAME_TIMEOUT_S):
                        while any(
                            p.first_frame_ms is None if size is not None else p.last <= 0
                            for p in new
                        ):
                            await asyncio.sleep(0.05)
                            for pupil in new:
                                pupil.heard()
                for pupil in pupils:
                    pupil.heard()
                figures = await measure(
                    pupils,
                    float(config["window_s"]),
                    int(config["janus_pid"]),
                    config["veth"],
                    teacher_pc,
                )
                print(
                    json.dumps(
                        {
                            "pupils": len(pupils),
                            "joins": len(new),
                            "joins_s": round(joined_s, 3),
                            "first_frame_ms": [
                                None if p.first_frame_ms is None else round(p.first_frame_ms, 1)
                                for p in new
                            ],
                            **figures,
                        }
                    ),
                    flush=True,
                )
                knee = config.get("knee", {})
                if (
                    (figures["video_loss"] or 0) > knee.get("video", 1)
                    or (figures["audio_loss"] or 0) > knee.get("audio", 1)
                    or abs(figures["teacher_audio_pps"] - 50) > 2.5  # the teacher fell behind
                ):
                    break
        finally:
            for pupil in pupils:
                for task in pupil.tasks:
                    task.cancel()
            await asyncio.gather(*(p.pc.close() for p in pupils), return_exceptions=True)
            await teacher_pc.close()
            with contextlib.suppress(Exception):
                await teacher.videoroom(vr.destroy(room))  # Janus ends every subscriber's media
                await session.destroy()


if __name__ == "__main__":
    asyncio.run(run(json.loads(sys.argv[1])))
