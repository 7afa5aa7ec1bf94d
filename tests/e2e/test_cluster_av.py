"""The deployment's Janus pool, end to end: classes spread over it, media through it, an instance killed (docs/operations.md#the-janus-pool).

Real parts only: `homeroom cluster up` (HAProxy, three nodes in network namespaces where the
machine allows them, 127.0.0.x otherwise, a Redis Cluster of 3+3, PgBouncer) with a Debian
Janus on each node. The classes are opened through HAProxy with the class page's own
messages (`av.publish`, `av.watch`, `av.accept`, ...); an aiortc teacher publishes a generated
camera and tone, an aiortc pupil on another node's gateway receives them. The placement is
read where the gateways keep it (the Redis Cluster), the rooms where Janus keeps them (each
instance's API, with the pool's secrets). Nothing here is timed: every wait polls with a
deadline.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from bench.av_clients import NO_SERVERS, Pattern, Tone
from websockets.asyncio.client import connect

from av import VideoFrame
from homeroom.av.client import JanusClient
from homeroom.av.process import JanusStartError
from homeroom.config import load_settings
from homeroom.core import videoroom as vr
from homeroom.core.live.parts import Role
from homeroom.deploy import cluster, januspool, netns
from homeroom.deploy.cluster import gateway_sessions, haproxy_command
from homeroom.deploy.topology import Mode, Node, Topology
from homeroom.keys import live_join_key
from homeroom.live.av import MONITOR, janus_room
from homeroom.live.jointoken import JoinClaims, JoinTokens
from tests.e2e.test_live_processes import Client, Message
from tests.gate_process import ROOT
from tests.janus_servers import janus_instance

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]
DEADLINE_S = 30.0
CLASSES = 6  # two a Janus of the pool
PLACED = "hr:av:placed"  # the gateways' placement hash (backends/av_placement.py)


@pytest.fixture(scope="module", autouse=True)
def tools() -> None:
    need = [str(ROOT / "scripts" / "need"), "haproxy", "pgbouncer", "redis-server", "ip", "nft"]
    subprocess.run([*need, "janus"], check=True, timeout=300)


@pytest.fixture(params=[None, "loopback"], ids=["detected", "loopback"])
def deployment(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Topology]:
    """The machine's kind of node (namespaces here), and the 127.0.0.x fallback."""
    mode: Mode | None = request.param
    t = cluster.up(tmp_path / "cluster", mode=mode, av=True)  # stopped if a part fails
    try:
        yield t
    finally:
        cluster.down(t.path)


# -- what the test reads ------------------------------------------------------------------------


def placed(t: Topology) -> dict[str, str]:
    """room → the Janus URL it lives on, as the gateways stored it in the Redis Cluster."""
    nodes = [redis.cluster.ClusterNode(t.host_address, p) for p in t.redis_ports]
    with redis.RedisCluster(startup_nodes=nodes, decode_responses=True) as client:
        stored: dict[str, str] = client.hgetall(PLACED)
    return {room: value.rsplit(" ", 1)[0] for room, value in stored.items()}


async def janus_rooms(t: Topology, node: Node, number: int) -> list[str] | None:
    """The displays of the participants of VideoRoom room `number` on `node`'s Janus, or None
    when it has no such room."""
    client = await JanusClient.connect(node.janus_url, t.janus_api_secret)
    try:
        session = await client.create_session()
        handle = await session.attach()
        exists, _ = await handle.videoroom(vr.exists(number))
        if not isinstance(exists, vr.Exists) or not exists.exists:
            return None
        listed, _ = await handle.videoroom(vr.participants(number))
        assert isinstance(listed, vr.Participants), listed
        displays = [str(p.get("display")) for p in listed.participants]
        await session.destroy()
        return displays
    finally:
        await client.close()


def node_of(t: Topology, url: str) -> Node:
    return next(n for n in t.nodes if n.janus_url == url)


def janus_listeners(t: Topology, node: Node) -> list[str]:
    """The TCP sockets the node's Janus listens on, as `ss` sees them where it runs."""
    shown = subprocess.run(
        [*netns.exec_prefix(node), "ss", "-Hltnp"], capture_output=True, text=True, check=True
    ).stdout
    pid = f'"janus",pid={t.pids[januspool.name(node)]},'
    return [line.split()[3] for line in shown.splitlines() if pid in line]


def media_addresses(sdp: str) -> set[tuple[str, int]]:
    """The (address, port) of every UDP candidate in an SDP of Janus."""
    found = set()
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            fields = line.split()
            if fields[2].lower() == "udp":
                found.add((fields[4], int(fields[5])))
    return found


def offered_by(node: Node, sdp: str) -> None:
    """Janus offers media on the node's own ports, and, in a namespace, on the node's address
    alone: what clients reach (in loopback mode, the machine's addresses)."""
    found = media_addresses(sdp)
    low, high = node.janus_rtp
    assert found and all(low <= port <= high for _, port in found), (node.janus_rtp, found)
    if node.namespace is not None:
        assert {address for address, _ in found} == {node.address}, found


def until(holds: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not holds():
        assert time.monotonic() < deadline, f"no {what} within {DEADLINE_S} s"
        time.sleep(0.2)


# -- the people ---------------------------------------------------------------------------------


class Person:
    """A class page's socket through HAProxy, and its WebRTC side (aiortc)."""

    def __init__(self, client: Client, person: str) -> None:
        self.client = client
        self.person = person
        self.pcs: list[RTCPeerConnection] = []
        self.seen = 0  # messages already looked at by `next`

    async def send(self, kind: str, **fields: object) -> None:
        await self.client.ws.send(json.dumps({"v": 1, "type": kind, **fields}))

    async def next(self, kind: str, **fields: object) -> Message:
        """The first message of `kind` (with `fields`) after those already looked at; an error
        fails at once."""
        deadline = time.monotonic() + DEADLINE_S
        while True:
            for i in range(self.seen, len(self.client.messages)):
                m = self.client.messages[i]
                assert m.get("type") != "error", m
                if m.get("type") == kind and all(m.get(k) == v for k, v in fields.items()):
                    self.seen = i + 1
                    return m
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.person}: no {kind} in {DEADLINE_S} s")
            await asyncio.sleep(0.02)

    async def publish(self) -> str:
        """Camera and microphone, as the page's `av.publish`, Janus's answer applied (and
        returned)."""
        pc = RTCPeerConnection(NO_SERVERS)
        self.pcs.append(pc)
        pc.addTransceiver(Tone(), direction="sendonly")
        pc.addTransceiver(Pattern(320, 180), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp  # every candidate inside: no trickle needed
        await self.send("av.publish", id="pub", source="camera", sdp=sdp, audio=True, video=True)
        answer = await self.next("av.answer", source="camera")
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        return str(answer["sdp"])

    async def watch(self, teacher: str) -> tuple[MediaStreamTrack, str]:
        """`av.watch`, the offer answered; the video track that arrives, and Janus's offer."""
        pc = RTCPeerConnection(NO_SERVERS)
        self.pcs.append(pc)
        tracks: asyncio.Queue[MediaStreamTrack] = asyncio.Queue()
        pc.on("track", lambda track: tracks.put_nowait(track) if track.kind == "video" else None)
        await self.send("av.watch", id="watch")
        offer = await self.next("av.offer")
        assert {(s["person"], s["kind"]) for s in offer["streams"]} == {
            (teacher, "audio"),
            (teacher, "video"),
        }
        await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await self.send("av.accept", id="accept", sdp=pc.localDescription.sdp)
        return await asyncio.wait_for(tracks.get(), DEADLINE_S), str(offer["sdp"])

    async def close(self) -> None:
        for pc in self.pcs:
            await pc.close()
        await self.client.close()


class Classes:
    """Join tokens of the deployment's own key, and the sockets opened with them."""

    def __init__(self, t: Topology) -> None:
        self.t = t
        self.tokens = JoinTokens(live_join_key(load_settings(secret_keys=t.secret_keys)))
        self.people: list[Person] = []

    async def open(self, room: str, person: str, role: Role = Role.PUPIL) -> Person:
        claims = JoinClaims(room, person, role, person.title(), int(time.time()) + 3600)
        url = f"{self.t.live_url}?room={room}&token={self.tokens.issue(claims)}"
        client = Client(await connect(url, open_timeout=DEADLINE_S))
        opened = Person(client, person)
        self.people.append(opened)
        snapshot = await opened.next("snapshot")
        assert snapshot["av"]["enabled"] is True  # the gateway has the pool
        return opened

    async def close(self) -> None:
        for person in self.people:
            with contextlib.suppress(Exception):
                await person.close()


async def first_frame(track: MediaStreamTrack) -> tuple[int, int]:
    """The size of the first video frame decoded from `track`."""
    frame = await asyncio.wait_for(track.recv(), DEADLINE_S)
    assert isinstance(frame, VideoFrame)
    return frame.width, frame.height


async def good_reports(pupil: Person) -> None:
    """The page's getStats reports every 2 s (without them the ladder hears silence: text)."""
    while True:
        await pupil.send("av.stats", loss=0, rtt_s=0.02, received_kbps=400)
        await asyncio.sleep(2)


def on_other_node(t: Topology, taken: str) -> Callable[[], Any]:
    """Drain every gateway line of node `taken` in HAProxy, so that the next socket goes to
    another node; the function returned puts them back."""
    node = next(n for n in t.nodes if n.name == taken)
    lines = [f"gateways/{node.name}{i}" for i in range(len(node.live_ports))]
    for line in lines:
        haproxy_command(t, f"set server {line} state drain")

    def back() -> None:
        for line in lines:
            haproxy_command(t, f"set server {line} state ready")

    return back


# -- the test -----------------------------------------------------------------------------------


def test_the_pool_spreads_classes_carries_media_and_survives_an_instance_killed(
    deployment: Topology,
) -> None:
    t = deployment
    # the pool: a Janus a node, on the node's address alone (127.0.0.1 without namespaces),
    # no admin API, its own media ports
    assert len(t.janus_urls) == len(t.nodes) == 3
    for node in t.nodes:
        assert januspool.answering(t, node)
        assert janus_listeners(t, node) == [f"{node.janus_host}:{node.janus_port}"]
    ranges = sorted(n.janus_rtp for n in t.nodes)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges))
    shown = "\n".join(cluster.status(t.path))
    assert shown.count(" answers") == 3 and "SILENT" not in shown, shown
    asyncio.run(hold_classes(t))
    # `down` takes the pool away with the rest
    pids = [t.pids[januspool.name(n)] for n in t.nodes]
    assert cluster.down(t.path)
    assert not any(cluster.alive(pid) for pid in pids)
    assert not any(januspool.folder(t, n).exists() for n in t.nodes)  # the secrets too


async def hold_classes(t: Topology) -> None:
    classes = Classes(t)
    reports: asyncio.Task[None] | None = None
    try:
        # (b) a class whose teacher and pupil are on gateways of different nodes
        teacher = await classes.open("av-0", "t0", Role.TEACHER)
        [teacher_node] = [name for name, n in gateway_sessions(t).items() if n]
        back = on_other_node(t, teacher_node)
        try:
            pupil = await classes.open("av-0", "p0")
        finally:
            back()
        sessions = gateway_sessions(t)
        assert sorted(n for n in sessions.values() if n) == [1, 1], sessions
        # (c) the teacher publishes; the pupil receives frames through the class's Janus
        answer = await teacher.publish()
        reports = asyncio.create_task(good_reports(pupil))
        track, offer = await pupil.watch("t0")
        assert await first_frame(track) == (320, 180)
        url = placed(t)["av-0"]
        offered_by(node_of(t, url), answer)
        offered_by(node_of(t, url), offer)
        displays = await janus_rooms(t, node_of(t, url), janus_room("av-0"))
        # both gateways joined the one room on that instance (a monitor each), with the teacher
        assert displays is not None and sorted(displays) == ["camera/t0", MONITOR, MONITOR]
        for other in t.nodes:
            if other.janus_url != url:
                assert await janus_rooms(t, other, janus_room("av-0")) is None  # never split

        # (a) more classes: the placement spreads them evenly over the pool
        for n in range(1, CLASSES):
            opened = await classes.open(f"av-{n}", f"t{n}", Role.TEACHER)
            await opened.send("av.watch", id="watch")
            await opened.next("av.rung", why="start")
        until(lambda: len(placed(t)) == CLASSES, f"{CLASSES} classes placed")
        spread = collections.Counter(placed(t).values())
        assert spread == {u: CLASSES // len(t.janus_urls) for u in t.janus_urls}, spread

        # (d) kill -9 the class's Janus: its classes move, their people renegotiate
        victim = node_of(t, url)
        was_there = sorted(room for room, on in placed(t).items() if on == url)
        assert cluster.kill_janus(t, victim.name) is not None
        for person in (teacher, pupil):
            assert (await person.next("av.renegotiate"))["why"] == "instance_lost"
        for room in was_there[1:]:  # the other class on that instance: its teacher too
            its = next(p for p in classes.people if p.person == f"t{room.split('-')[1]}")
            assert (await its.next("av.renegotiate"))["why"] == "instance_lost"
        now = placed(t)
        assert all(now[room] not in ("", url) for room in was_there), now
        assert sorted(now) == sorted(f"av-{n}" for n in range(CLASSES))
        # each publishes and watches again by itself, and the media flows on the new instance
        answer = await teacher.publish()
        track, offer = await pupil.watch("t0")
        assert await first_frame(track) == (320, 180)
        moved = node_of(t, placed(t)["av-0"])
        assert moved is not victim and moved.janus_url != url
        offered_by(moved, answer)
        offered_by(moved, offer)
        displays = await janus_rooms(t, moved, janus_room("av-0"))
        assert displays is not None and sorted(displays) == ["camera/t0", MONITOR, MONITOR]
        shown = "\n".join(cluster.status(t.path))
        assert f"janus-{victim.name:<10} pid" in shown and "SILENT" in shown, shown
    finally:
        if reports is not None:
            reports.cancel()
        await classes.close()


def test_a_janus_told_an_address_no_interface_holds_is_refused() -> None:
    """Janus 1.1.2 listens on every interface when `ws_ip` is held by none (127.0.0.11 is
    routed to `lo`, not assigned to it): homeroom stops it rather than run it so."""
    with (
        pytest.raises(JanusStartError, match="every interface"),
        janus_instance(ws_ip="127.0.0.11"),
    ):
        pass
