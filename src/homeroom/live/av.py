"""The gateway's audio and video: each person's Janus session on their class's instance, SDP and candidates relayed, the ladder applied (docs/av.md#the-relay).

Browsers never talk to Janus. For each connection that sends `av.publish` or `av.watch`, this
process owns a Janus session on the class's instance (backends/av_placement.py) with a
publisher handle per source and one multistream subscriber handle; per class it holds one more
handle joined to the VideoRoom room as a silent participant (the *monitor*), which hears
publishers come and go and who is talking. What a client sends is checked here, before any
Janus call, and refused with an error word; a Janus that stops answering moves the class to
another instance and every client of the class here gets `av.renegotiate`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from homeroom.av.client import Handle, JanusClient, JanusUnavailable, Session
from homeroom.backends.av_placement import Placement
from homeroom.core import avload, janus, ladder
from homeroom.core import videoroom as vr
from homeroom.core.janus import JanusError, PluginError
from homeroom.core.live.commands import FLOOR_MAX, client_id
from homeroom.core.live.room import Room, error
from homeroom.live.avceiling import CEILING, Ceilings, CeilingSettings
from homeroom.live.faults import Faults
from homeroom.live.hub import Host, Link
from homeroom.live.wire import json_frame as encode

log = logging.getLogger("homeroom.live.av")

TYPES = frozenset(
    {
        "av.publish",
        "av.unpublish",
        "av.watch",
        "av.accept",
        "av.candidate",
        "av.stats",
        "av.rung",
        "av.stop",
    }
)
SOURCES = ("camera", "screen")
PCS = ("camera", "screen", "watch")
SDP_MAX = 16 * 1024  # bytes: the frame limit (a Chromium simulcast offer is ~6 KB, docs/av.md)
CANDIDATE_MAX = 512
DEAD_S = 30.0  # an instance this process could not reach is not chosen again for this long
CLOSE_TRIES, CLOSE_WAIT_S = 8, 0.5  # a room's participants asked again before it is kept
TICK_S = 2.0  # the ladder's clock, the placement check and the teachers' counts
ROOM_EXISTS = 427  # VideoRoom: the room exists already (another gateway made it)
MONITOR = "monitor"  # the display of each gateway's silent participant
PENDING_MAX = 8  # a connection's av requests waiting for Janus at once; more: rate_limited
PUBLISHERS = (
    2 * FLOOR_MAX + 4
)  # a room's publishers at once: teachers' camera and screen, the floor


@dataclass(frozen=True, slots=True)
class AvSettings:
    """The Janus instances (`HOMEROOM_JANUS_URLS`) and their secrets."""

    urls: tuple[str, ...]
    api_secret: str
    admin_key: str
    timeout_s: float = 5.0
    tick_s: float = TICK_S
    ceiling: CeilingSettings = CEILING  # each instance's load marks and cores


class Refusal(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


def room_key(room_id: str, group: int | None) -> str:
    """The class's main room, or one of its breakout groups: a Janus room each."""
    return room_id if group is None else f"{room_id}#g{group}"


def janus_room(key: str) -> int:
    """A VideoRoom room: 48 bits of a hash of its key (ids are exact in JSON below 2**53)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:6], "big") + 1


BREAKOUT = frozenset({"breakout.started", "breakout.ended", "breakout.assigned", "breakout.visit"})


@dataclass(slots=True)
class Feed:
    person: str
    source: str


@dataclass(slots=True)
class Peer:
    """One connection's audio and video."""

    link: Link
    klass: AvClass
    session: Session | None = None
    pubs: dict[str, Handle] = field(default_factory=dict)
    video: bool = False  # the camera publication carries video
    pending: int = 0  # requests waiting their turn: bounded
    watching: bool = False
    watch: Handle | None = None
    streams: list[dict[str, Any]] = field(default_factory=list)  # mid, person, source, kind
    pupil: ladder.Pupil | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    readers: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def person(self) -> str:
        return self.link.claims.person


@dataclass(slots=True)
class AvClass:
    """One class's Janus room on its instance, as this process uses it."""

    room_id: str
    group: int | None  # a breakout group's room, or None: the class's main room
    url: str
    client: JanusClient
    session: Session
    monitor: Handle
    number: int
    feeds: dict[int, Feed] = field(default_factory=dict)
    peers: dict[int, Peer] = field(default_factory=dict)  # by link ref
    lost: bool = False
    reader: asyncio.Task[None] | None = None
    ending: set[asyncio.Task[Any]] = field(default_factory=set)  # peers' sessions being destroyed

    @property
    def key(self) -> str:
        return room_key(self.room_id, self.group)


class AvRelay:
    """Every class's audio and video in this gateway process."""

    def __init__(
        self,
        settings: AvSettings | None,
        placement: Placement | None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
        hosts: Callable[[str], Host | None] = lambda room: None,
        faults: Faults | None = None,
    ) -> None:
        self.settings = settings
        self.placement = placement
        self.monotonic = monotonic  # the ladder's clock
        self.hosts = hosts
        self.faults = faults or Faults(log)
        self.classes: dict[str, AvClass] = {}  # by room_key
        self._making: dict[str, asyncio.Future[AvClass]] = {}
        self._clients: dict[str, JanusClient] = {}
        self._dead: dict[str, float] = {}  # url → until
        self._sent_counts: dict[str, dict[str, Any]] = {}  # by room: the teachers' last av.rungs
        self.origin = secrets.token_hex(6)  # this gateway, in the shared counts (the hub's)
        # each instance's ceiling, stepped on the wall clock the gateways share
        self.ceilings = (
            Ceilings(placement, self.origin, clock, settings.ceiling if settings else CEILING)
            if placement is not None
            else None
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ticker: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.settings is not None and self.placement is not None

    def start(self) -> None:
        if self.enabled and self._ticker is None:
            self._ticker = asyncio.create_task(self._tick_forever(), name="av-ticker")

    async def aclose(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        for task in list(self._tasks):
            task.cancel()
        for klass in list(self.classes.values()):
            for peer in klass.peers.values():
                _cancel(peer.readers)
            if klass.reader is not None:
                klass.reader.cancel()
        for client in list(self._clients.values()):
            with contextlib.suppress(Exception):
                await client.close()
        self._clients.clear()
        self.classes.clear()
        if self.placement is not None:
            await self.placement.aclose()

    # -- what the hub calls -----------------------------------------------------------------

    def message(self, link: Link, room: Room, message: Mapping[str, Any]) -> None:
        """An `av.*` message from `link`: checked now, carried out in a task of its own."""
        cid = client_id(message)
        try:
            work = self._check(link, room, message)
        except Refusal as exc:
            link.send(encode(error(exc.reason, cid, exc.detail)))
            return
        self._spawn(self._run(link, room, work, cid))

    def left(self, link: Link) -> None:
        """A connection closed: its Janus session goes."""
        for klass in self.classes.values():
            peer = klass.peers.pop(link.ref, None)
            if peer is not None:
                self._spawn(self._end_peer(peer))
                return

    def events(self, host: Host, kinds: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """The room's events: a floor taken or a person muted stops their publications here;
        someone who changed breakout group renegotiates into their group's room."""
        peers = [
            p for k in self.classes.values() if k.room_id == host.room_id for p in k.peers.values()
        ]
        for kind, data in kinds:
            person = data.get("person")
            if kind in BREAKOUT:
                for peer in peers:
                    member = peer.link.member
                    if member is not None and member.group != peer.klass.group:
                        self._spawn(self._move(peer))
                continue
            if kind == "floor.given" and data.get("video") is False:
                stop = [p for p in peers if p.person == person and p.video]
            elif kind in ("floor.taken", "av.muted"):
                stop = [p for p in peers if p.person == person and p.pubs]
            else:
                continue
            sources = ("camera",) if kind != "floor.taken" else SOURCES
            for peer in stop:
                self._spawn(self._locked(peer, self._unpublish(peer, sources)))

    async def _move(self, peer: Peer) -> None:
        """Into another group's room (or back to the main one): the page starts again there."""
        if peer.klass.peers.get(peer.link.ref) is not peer:
            return  # moved or gone already
        del peer.klass.peers[peer.link.ref]
        peer.link.send(encode({"v": 1, "type": "av.renegotiate", "why": "moved"}))
        await self._end_peer(peer)

    # -- checks (no Janus call) -------------------------------------------------------------

    def _check(self, link: Link, room: Room, m: Mapping[str, Any]) -> Callable[[Peer], Any]:
        kind = m.get("type")
        if kind not in TYPES:
            raise Refusal("unknown_type")
        if not self.enabled:
            raise Refusal("av_off")
        member = link.member
        if member is None or not member.inside:
            raise Refusal("in_lobby")
        person = member.person
        if kind == "av.publish":
            source = _choice(m, "source", SOURCES)
            sdp = _sdp(m)
            audio, video = _flag(m, "audio"), _flag(m, "video")
            if not member.teacher:
                if source != "camera":
                    raise Refusal("not_allowed", "source")
                if person not in room.floor:
                    raise Refusal("no_floor")
                if video and not room.floor[person]:
                    raise Refusal("no_video")
                if audio and person in room.av_muted:
                    raise Refusal("av_muted")
            return lambda peer: self._publish(peer, source, sdp, audio, video)
        if kind == "av.unpublish":
            source = _choice(m, "source", SOURCES)
            return lambda peer: self._unpublish(peer, (source,))
        if kind == "av.watch":
            return lambda peer: self._watch(peer)
        if kind == "av.accept":
            sdp = _sdp(m)
            return lambda peer: self._accept(peer, sdp)
        if kind == "av.candidate":
            pc = _choice(m, "pc", PCS)
            candidate = _candidate(m.get("candidate", ...))
            return lambda peer: self._trickle(peer, pc, candidate)
        if kind == "av.stats":
            figures = {k: v for k, v in m.items() if k not in ("type", "id", "v")}
            try:
                report = ladder.Report.of(figures)
            except (ValueError, TypeError) as exc:
                raise Refusal("bad_field", str(exc)[:100]) from None
            return lambda peer: self._stats(peer, report)
        if kind == "av.rung":
            try:
                own = ladder.Rung.parse(m.get("rung"))
            except ValueError:
                raise Refusal("bad_field", "rung") from None
            return lambda peer: self._own(peer, own)
        return lambda peer: self._stop(peer)  # av.stop

    # -- carrying it out --------------------------------------------------------------------

    async def _run(
        self, link: Link, room: Room, work: Callable[[Peer], Any], cid: str | None
    ) -> None:
        try:
            peer = await self._peer(link)
            if peer is None:
                return  # closed meanwhile
            if peer.pending >= PENDING_MAX:
                raise Refusal("rate_limited")
            peer.pending += 1
            try:
                await self._locked(peer, work(peer))
            finally:
                peer.pending -= 1
        except Refusal as exc:
            link.send(encode(error(exc.reason, cid, exc.detail)))
        except JanusUnavailable as exc:
            link.send(encode(error("janus_unavailable", cid)))
            for klass in [k for k in self.classes.values() if link.ref in k.peers]:
                await self._lost(klass, str(exc))
        except (PluginError, JanusError, janus.JanusProtocolError) as exc:
            log.info("Janus refused %s's request: %s", link.claims.person, exc)
            link.send(encode(error("janus_refused", cid)))

    async def _locked(self, peer: Peer, work: Any) -> None:
        async with peer.lock:
            await work

    async def _peer(self, link: Link) -> Peer | None:
        """The connection's audio and video in the room of the group it is in now."""
        group = link.member.group if link.member is not None else None
        klass = await self._class(link.claims.room, group)
        if link.closing:
            return None
        peer = klass.peers.get(link.ref)
        if peer is None:
            peer = klass.peers[link.ref] = Peer(link, klass)
        return peer

    async def _class(self, room_id: str, group: int | None) -> AvClass:
        key = room_key(room_id, group)
        klass = self.classes.get(key)
        if klass is not None and not klass.lost:
            return klass
        making = self._making.get(key)
        if making is None:
            making = self._making[key] = asyncio.ensure_future(self._make_class(room_id, group))
            making.add_done_callback(lambda _: self._making.pop(key, None))
        return await asyncio.shield(making)

    def _live(self) -> list[str]:
        assert self.settings is not None
        now = self.monotonic()
        return [u for u in self.settings.urls if self._dead.get(u, 0) <= now]

    async def _make_class(self, room_id: str, group: int | None) -> AvClass:
        """The class is placed as a whole (its groups with it: never split)."""
        assert self.settings is not None and self.placement is not None
        lost = ""
        for _ in range(len(self.settings.urls) + 1):
            url = await self.placement.place(room_id, self._live(), lost)
            if url is None:
                break
            try:
                klass = await self._open_class(room_id, group, url)
            except JanusUnavailable as exc:
                log.warning("Janus at %s unavailable for class %s: %s", url, room_id, exc)
                self._dead[url] = self.monotonic() + DEAD_S
                self._clients.pop(url, None)
                lost = url
                continue
            self.classes[room_key(room_id, group)] = klass
            return klass
        raise Refusal("janus_unavailable")

    async def _client(self, url: str) -> JanusClient:
        assert self.settings is not None
        client = self._clients.get(url)
        if client is None or client.gone is not None:
            client = await JanusClient.connect(
                url, self.settings.api_secret, timeout_s=self.settings.timeout_s
            )
            self._clients[url] = client
        return client

    async def _open_class(self, room_id: str, group: int | None, url: str) -> AvClass:
        client = await self._client(url)
        session = await client.create_session()
        try:
            return await self._join_class(room_id, group, url, client, session)
        except BaseException:  # no session left behind, kept alive for nothing
            with contextlib.suppress(Exception):
                await session.destroy()
            raise

    async def _join_class(
        self, room_id: str, group: int | None, url: str, client: JanusClient, session: Session
    ) -> AvClass:
        assert self.settings is not None
        monitor = await session.attach()
        key = room_key(room_id, group)
        number = janus_room(key)
        try:
            await monitor.videoroom(
                vr.create(number, self.settings.admin_key, publishers=PUBLISHERS)
            )
        except PluginError as exc:
            if exc.code != ROOM_EXISTS:
                raise
        joined, _ = await monitor.videoroom(vr.join_publisher(number, MONITOR))
        if not isinstance(joined, vr.Joined):
            raise janus.JanusProtocolError(f"a join answered by {joined!r}")
        klass = AvClass(room_id, group, url, client, session, monitor, number)
        for publisher in joined.publishers:
            self._feed_came(klass, publisher)
        klass.reader = asyncio.create_task(self._monitor(klass), name=f"av-monitor {key}")
        return klass

    # -- publishing -------------------------------------------------------------------------

    async def _session(self, peer: Peer) -> Session:
        if peer.session is None or peer.session.gone is not None:
            peer.session = await peer.klass.client.create_session()
        return peer.session

    async def _publish(self, peer: Peer, source: str, sdp: str, audio: bool, video: bool) -> None:
        old = peer.pubs.pop(source, None)
        if old is not None:
            await _detach(old)
        handle = await (await self._session(peer)).attach()
        display = f"{source}/{peer.person}"
        try:
            await handle.videoroom(vr.join_publisher(peer.klass.number, display))
            _, answer = await handle.videoroom(
                vr.publish(audio, video), jsep={"type": "offer", "sdp": sdp}
            )
            if answer is None or not isinstance(answer.get("sdp"), str):
                raise Refusal("janus_refused")
        except BaseException:  # refused: the handle leaves the room
            await _detach(handle)
            raise
        peer.pubs[source] = handle
        if source == "camera":
            peer.video = video
        peer.link.send(
            encode({"v": 1, "type": "av.answer", "source": source, "sdp": answer["sdp"]})
        )

    async def _unpublish(self, peer: Peer, sources: Sequence[str]) -> None:
        for source in sources:
            handle = peer.pubs.pop(source, None)
            if source == "camera":
                peer.video = False
            if handle is not None:
                await _detach(handle)

    # -- watching ---------------------------------------------------------------------------

    def _feeds_for(self, peer: Peer) -> list[int]:
        return [i for i, f in peer.klass.feeds.items() if f.person != peer.person]

    async def _watch(self, peer: Peer) -> None:
        peer.watching = True
        if peer.pupil is None:
            ceiling = self.ceilings.of(peer.klass.url) if self.ceilings else ladder.TOP
            peer.pupil = ladder.Pupil.start(self.monotonic(), ceiling=ceiling)
            self._screen(peer)
            self._send_rung(peer, "start")
        if peer.watch is not None:
            await self._drop_watch(peer)
        await self._subscribe(peer)

    async def _subscribe(self, peer: Peer) -> None:
        """A subscription to every feed but one's own, once there is one and the rung is
        above text; its offer goes to the page."""
        feeds = self._feeds_for(peer)
        if not feeds or peer.watch is not None or not peer.watching:
            return
        if peer.pupil is not None and peer.pupil.rung is ladder.Rung.TEXT:
            return
        handle = await (await self._session(peer)).attach()
        try:
            answer, offer = await handle.videoroom(vr.subscribe(peer.klass.number, feeds))
        except BaseException:
            await _detach(handle)
            raise
        peer.watch = handle
        peer.readers.append(asyncio.create_task(self._watch_events(peer, handle)))
        streams = answer.streams if isinstance(answer, vr.Attached) else ()
        self._offer(peer, offer, streams)

    async def _update(self, peer: Peer, request: str, feed: int) -> None:
        """A feed came (subscribe) or went (unsubscribe) while watching: a new offer."""
        if peer.watch is None:
            await self._subscribe(peer)
            return
        data, offer = await peer.watch.message({"request": request, "streams": [{"feed": feed}]})
        if offer is not None:
            self._offer(peer, offer, data.get("streams", ()))

    def _offer(self, peer: Peer, offer: Mapping[str, Any] | None, streams: Any) -> None:
        if offer is None or not isinstance(offer.get("sdp"), str):
            return
        peer.streams = self._streams(peer.klass, streams)
        message = {"v": 1, "type": "av.offer", "sdp": offer["sdp"], "streams": peer.streams}
        peer.link.send(encode(message))

    @staticmethod
    def _streams(klass: AvClass, streams: Any) -> list[dict[str, Any]]:
        out = []
        for s in streams if isinstance(streams, list | tuple) else ():
            if not isinstance(s, dict) or s.get("type") not in ("audio", "video"):
                continue
            if s.get("active") is False or not isinstance(s.get("mid"), str):
                continue
            feed = klass.feeds.get(s.get("feed_id", -1))
            if feed is None:
                continue
            out.append(
                {"mid": s["mid"], "person": feed.person, "source": feed.source, "kind": s["type"]}
            )
        return out

    async def _accept(self, peer: Peer, sdp: str) -> None:
        if peer.watch is None:
            raise Refusal("not_open")
        await peer.watch.videoroom(vr.start(), jsep={"type": "answer", "sdp": sdp})
        await self._apply(peer)

    async def _drop_watch(self, peer: Peer) -> None:
        handle, peer.watch, peer.streams = peer.watch, None, []
        if handle is not None:
            await _detach(handle)

    async def _watch_events(self, peer: Peer, handle: Handle) -> None:
        """The subscriber handle's news: a new offer when Janus renegotiates by itself (a feed
        gone), `slowlink` for the ladder."""
        while True:
            try:
                event = await handle.next_event(timeout_s=3600)
            except TimeoutError:
                continue
            except JanusUnavailable:
                return
            if (
                isinstance(event, janus.SlowLink)
                and event.uplink
                and peer.pupil is not None
                and _sent(peer.pupil.rung, peer.streams, event.mid)
            ):
                self._ladder(peer, ladder.slowlink(peer.pupil, self._now(peer)), "slowlink")
            elif isinstance(event, janus.PluginEvent) and _offered(event):
                self._offer(peer, event.jsep, event.data.get("streams", ()))

    async def _trickle(self, peer: Peer, pc: str, candidate: dict[str, Any] | None) -> None:
        handle = peer.watch if pc == "watch" else peer.pubs.get(pc)
        if handle is not None:  # a candidate of a connection closed meanwhile: nothing to do
            await handle.trickle(candidate)

    async def _stop(self, peer: Peer) -> None:
        peer.watching = False
        peer.pupil = None
        await self._unpublish(peer, SOURCES)
        await self._drop_watch(peer)

    # -- the ladder -------------------------------------------------------------------------

    def _now(self, peer: Peer) -> float:
        assert peer.pupil is not None
        return max(self.monotonic(), peer.pupil.last_at)

    async def _stats(self, peer: Peer, report: ladder.Report) -> None:
        if peer.pupil is None:
            raise Refusal("not_open")
        if _idle(peer):  # receiving nothing when nothing is sent says nothing of the line
            report = replace(report, received_kbps=None)
        self._ladder(peer, ladder.observe(peer.pupil, report, self._now(peer)), "stats")

    async def _own(self, peer: Peer, own: ladder.Rung) -> None:
        if peer.pupil is None:
            raise Refusal("not_open")
        before = peer.pupil
        peer.pupil = ladder.choose(before, own, self._now(peer))
        self._send_rung(peer, "own")
        if peer.pupil.rung != before.rung:
            self._spawn(self._locked(peer, self._guard(peer, self._apply(peer))))

    def _screen(self, peer: Peer) -> None:
        if peer.pupil is not None:
            on = any(f.source == "screen" for f in peer.klass.feeds.values())
            if on != peer.pupil.screen:
                peer.pupil = ladder.share(peer.pupil, on, self._now(peer))

    def _ladder(self, peer: Peer, after: ladder.Pupil, why: str) -> None:
        before, peer.pupil = peer.pupil, after
        if before is None or after.rung != before.rung:
            self._send_rung(peer, why)
            self._spawn(self._locked(peer, self._guard(peer, self._apply(peer))))

    def _send_rung(self, peer: Peer, why: str) -> None:
        p = peer.pupil
        if p is not None:
            message = {
                "v": 1,
                "type": "av.rung",
                "rung": p.rung.wire,
                "own": p.own.wire,
                "why": why,
            }
            peer.link.send(encode(message))

    async def _apply(self, peer: Peer) -> None:
        """The rung on the subscription: each stream's layer, or stopped; text: no subscription."""
        p = peer.pupil
        if p is None or not peer.watching:
            return
        if p.rung is ladder.Rung.TEXT:
            await self._drop_watch(peer)
            return
        if peer.watch is None:
            await self._subscribe(peer)
            return
        streams = [_configured(p.rung, s) for s in peer.streams]
        if streams:
            await peer.watch.message({"request": "configure", "streams": streams})

    # -- the monitor: feeds and talking -----------------------------------------------------

    def _feed_came(self, klass: AvClass, publisher: Mapping[str, Any]) -> int | None:
        feed, display = publisher.get("id"), publisher.get("display")
        if not isinstance(feed, int) or not isinstance(display, str) or "/" not in display:
            return None
        source, person = display.split("/", 1)
        if source not in SOURCES:
            return None
        klass.feeds[feed] = Feed(person, source)
        return feed

    async def _monitor(self, klass: AvClass) -> None:
        while not klass.lost:
            try:
                event = await klass.monitor.next_event(timeout_s=3600)
            except TimeoutError:
                continue
            except JanusUnavailable as exc:
                await self._lost(klass, str(exc))
                return
            log.debug("class %s: Janus says %r", klass.room_id, event)
            if not isinstance(event, janus.PluginEvent):
                continue
            try:
                news = vr.answer(event.data)
            except (PluginError, janus.JanusProtocolError):
                continue
            try:
                self._news(klass, news)
            except Exception:  # a bug must not stop the class's news
                self.faults.report(f"on Janus news for class {klass.room_id}")

    def _news(self, klass: AvClass, news: vr.Answer) -> None:
        if isinstance(news, vr.Destroyed):  # the last other gateway closed it as this one came
            self._spawn(self._lost(klass, "the room was destroyed", "moved"))
            return
        if isinstance(news, vr.Talking):
            feed = klass.feeds.get(news.participant)
            if feed is not None:
                message = encode(
                    {"v": 1, "type": "av.talking", "person": feed.person, "on": news.talking}
                )
                for link in self._class_links(klass):
                    link.send(message)
            return
        if not isinstance(news, vr.News) or news.kind != "event":
            return
        data = news.data
        for publisher in (
            data.get("publishers", ()) if isinstance(data.get("publishers"), list) else ()
        ):
            if isinstance(publisher, dict):
                came = self._feed_came(klass, publisher)
                if came is not None:
                    self._for_watchers(klass, "subscribe", came)
        for word in ("unpublished", "leaving"):
            gone = data.get(word)
            if isinstance(gone, int) and klass.feeds.pop(gone, None) is not None:
                for peer in klass.peers.values():
                    self._screen(peer)  # Janus renegotiates subscriptions itself: _watch_events

    def _for_watchers(self, klass: AvClass, request: str, feed: int) -> None:
        for peer in list(klass.peers.values()):
            self._screen(peer)
            if peer.watching and klass.feeds[feed].person != peer.person:
                self._spawn(
                    self._locked(peer, self._guard(peer, self._update(peer, request, feed)))
                )

    async def _guard(self, peer: Peer, work: Any) -> None:
        try:
            await work
        except JanusUnavailable as exc:
            await self._lost(peer.klass, str(exc))
        except (PluginError, JanusError, janus.JanusProtocolError) as exc:
            log.info("Janus refused an update for %s: %s", peer.person, exc)

    def _class_links(self, klass: AvClass) -> list[Link]:
        host = self.hosts(klass.room_id)
        if host is None:
            return []
        return [
            link
            for link in host.links
            if link.member is not None
            and link.member.inside
            and link.member.group == klass.group
            and not link.closing
        ]

    # -- a lost instance --------------------------------------------------------------------

    async def _lost(self, klass: AvClass, why: str, word: str = "instance_lost") -> None:
        """The class's instance stopped answering (or the class was moved): place it again;
        every client of the class here publishes and watches again by itself."""
        if klass.lost:
            return
        klass.lost = True
        if self.classes.get(klass.key) is klass:
            del self.classes[klass.key]
        log.warning(
            "class %s: Janus at %s lost (%s); clients renegotiate", klass.room_id, klass.url, why
        )
        if word == "instance_lost":
            self._dead[klass.url] = self.monotonic() + DEAD_S
            self._clients.pop(klass.url, None)
            if self.placement is not None:
                with contextlib.suppress(Exception):  # placed again at the next publish or watch
                    await self.placement.place(klass.room_id, self._live(), klass.url)
        message = encode({"v": 1, "type": "av.renegotiate", "why": word})
        sessions = [klass.session]
        for peer in klass.peers.values():
            _cancel(peer.readers)
            peer.link.send(message)
            if peer.session is not None:
                sessions.append(peer.session)
        klass.peers.clear()
        if klass.reader is not None and klass.reader is not asyncio.current_task():
            klass.reader.cancel()
        if word == "moved":  # the instance still answers: what this process held there goes
            for session in sessions:
                with contextlib.suppress(Exception):
                    await session.destroy()

    async def _end_peer(self, peer: Peer) -> None:
        klass = peer.klass
        me = asyncio.current_task()
        if me is not None:
            klass.ending.add(me)
        try:
            _cancel(peer.readers)
            if peer.session is not None:
                with contextlib.suppress(Exception):
                    await peer.session.destroy()
        finally:
            klass.ending.discard(me)
        if not klass.peers and self.classes.get(klass.key) is klass:
            del self.classes[klass.key]
            # the others leaving with it are still destroying their sessions: until they are
            # gone from Janus's room, it does not look unused (`_close_room` counts them)
            if klass.ending:
                await asyncio.wait(list(klass.ending))
            if klass.reader is not None:
                klass.reader.cancel()
            with contextlib.suppress(Exception):
                await self._close_room(klass)
                await klass.session.destroy()

    async def _close_room(self, klass: AvClass) -> None:
        """Nobody here uses the class any more: its VideoRoom room goes too if this monitor is
        its only participant (every gateway using it has one), so rooms do not pile up.

        Janus answers a session's `destroy` before its handles have left the room: a publisher
        that has just left can still be listed for a moment (seen in the full suite: the room
        stayed). So the count is asked again for a few seconds before the room is left to a
        participant who is really there (another gateway's monitor, or its people), and a
        request that failed (a busy Janus, a slow answer) is made again in the same way."""
        for attempt in range(CLOSE_TRIES):
            try:
                people, _ = await klass.monitor.videoroom(vr.participants(klass.number))
                if not isinstance(people, vr.Participants):
                    return
                if len(people.participants) <= 1:  # ours alone
                    await klass.monitor.videoroom(vr.destroy(klass.number))
                    return
            except (JanusUnavailable, PluginError, JanusError, TimeoutError):
                if attempt + 1 == CLOSE_TRIES:
                    raise
            if attempt + 1 < CLOSE_TRIES:
                await asyncio.sleep(CLOSE_WAIT_S)

    # -- the clock --------------------------------------------------------------------------

    async def _tick_forever(self) -> None:
        assert self.settings is not None
        while True:
            await asyncio.sleep(self.settings.tick_s)
            try:
                await self.tick()
            except Exception:
                self.faults.report("on the audio/video tick")

    async def tick(self) -> None:
        """The ladder's clock for every watcher; each instance's ceiling; the teachers' counts;
        the placement renewed, and a class another gateway moved followed."""
        for klass in list(self.classes.values()):
            for peer in list(klass.peers.values()):
                if peer.pupil is None:
                    continue
                if _idle(peer) and peer.pupil.rung is not ladder.Rung.TEXT:
                    # nothing to hear is no silence of the line: no news of it either
                    after = ladder.observe(peer.pupil, ladder.Report(), self._now(peer))
                else:
                    after = ladder.tick(peer.pupil, self._now(peer))
                self._ladder(peer, after, "stats")
        await self._ceilings()
        rooms = {k.room_id for k in self.classes.values()}
        for room_id in rooms:
            await self._counts(room_id)
        for room_id in set(self._sent_counts) - rooms:
            del self._sent_counts[room_id]
        for klass in list(self.classes.values()):
            if self.placement is not None and not klass.lost:
                url = await self.placement.place(klass.room_id, self._live())
                if url is not None and url != klass.url:
                    await self._lost(klass, f"placed on {url} by another gateway", "moved")

    async def _ceilings(self) -> None:
        """Each instance this gateway uses: its part of the work shared, the instance's ceiling
        stepped on the sum over every gateway, and every watcher of its classes here capped at
        it (teachers too: the instance does not care who watches)."""
        if self.ceilings is None or self.settings is None:
            return
        peers: dict[str, list[Peer]] = {}
        for klass in self.classes.values():
            if not klass.lost:
                peers.setdefault(klass.url, []).extend(klass.peers.values())
        self.ceilings.forget(set(peers))
        for url, some in peers.items():
            part = avload.part(
                (p.pupil.rung, _layers(p.pupil.rung, p.streams))
                for p in some
                if p.pupil is not None and p.watch is not None
            )
            ceiling = await self.ceilings.step(url, part, 2 * self.settings.tick_s)
            for peer in some:
                if peer.pupil is not None and peer.pupil.ceiling != ceiling:
                    self._ladder(peer, ladder.cap(peer.pupil, ceiling, self._now(peer)), "class")

    async def _counts(self, room_id: str) -> None:
        """The class's pupils on each rung, its groups' too and every gateway's (shared with
        the placement), to the teachers here when it changed, with the ceiling of the class's
        instance when it holds the class below the top rung."""
        pupils = [
            p.pupil
            for k in self.classes.values()
            if k.room_id == room_id
            for p in k.peers.values()
            if p.pupil is not None and p.link.member is not None and not p.link.member.teacher
        ]
        counts = ladder.summarise(pupils).wire()
        if self.placement is not None and self.settings is not None:
            counts = await self.placement.rungs(
                room_id, self.origin, counts, 2 * self.settings.tick_s
            )
        message: dict[str, Any] = {"v": 1, "type": "av.rungs", "counts": counts}
        urls = {k.url for k in self.classes.values() if k.room_id == room_id}
        if self.ceilings is not None and urls:
            ceiling = min(self.ceilings.of(url) for url in urls)
            if ceiling < ladder.TOP:
                message["ceiling"] = ceiling.wire
        if message == self._sent_counts.get(room_id):
            return
        self._sent_counts[room_id] = message
        host = self.hosts(room_id)
        frame = encode(message)
        for link in host.links if host is not None else ():
            if link.member is not None and link.member.teacher and not link.closing:
                link.send(frame)

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, JanusUnavailable | PluginError | JanusError | Refusal):
                self.faults.report("in an audio/video task")


# -- fields -----------------------------------------------------------------------------------


def _choice(m: Mapping[str, Any], name: str, words: Sequence[str]) -> str:
    value = m.get(name)
    if not isinstance(value, str) or value not in words:
        raise Refusal("bad_field", name)
    return value


def _flag(m: Mapping[str, Any], name: str) -> bool:
    value = m.get(name)
    if not isinstance(value, bool):
        raise Refusal("bad_field", name)
    return value


def _sdp(m: Mapping[str, Any]) -> str:
    value = m.get("sdp")
    if not isinstance(value, str) or not value.startswith("v=0"):
        raise Refusal("bad_field", "sdp")
    if len(value.encode("utf-8", "surrogatepass")) > SDP_MAX:
        raise Refusal("too_long", "sdp")
    return value


def _candidate(value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not set(value) <= {
        "candidate",
        "sdpMid",
        "sdpMLineIndex",
        "usernameFragment",
    }:
        raise Refusal("bad_field", "candidate")
    text, mid, index = value.get("candidate"), value.get("sdpMid"), value.get("sdpMLineIndex")
    ufrag = value.get("usernameFragment")
    if not isinstance(text, str) or len(text) > CANDIDATE_MAX:
        raise Refusal("bad_field", "candidate")
    if mid is not None and (not isinstance(mid, str) or len(mid) > 32):
        raise Refusal("bad_field", "candidate")
    if index is not None and (
        not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= 63
    ):
        raise Refusal("bad_field", "candidate")
    if ufrag is not None and (not isinstance(ufrag, str) or len(ufrag) > 256):
        raise Refusal("bad_field", "candidate")
    out: dict[str, Any] = {"candidate": text}
    if mid is not None:
        out["sdpMid"] = mid
    if index is not None:
        out["sdpMLineIndex"] = index
    return out


async def _detach(handle: Handle) -> None:
    with contextlib.suppress(JanusUnavailable, JanusError, PluginError):
        await handle.detach()


def _configured(rung: ladder.Rung, stream: Mapping[str, Any]) -> dict[str, Any]:
    """How Janus sends one stream of a subscription at `rung`: its layer, or stopped."""
    spec = ladder.RUNGS[rung]
    if stream["kind"] == "audio":
        return {"mid": stream["mid"], "send": spec.audio}
    layer = spec.camera if stream["source"] == "camera" else spec.screen
    if layer is None:
        return {"mid": stream["mid"], "send": False}
    return {"mid": stream["mid"], "send": True, "substream": layer}


def _layers(rung: ladder.Rung, streams: list[dict[str, Any]]) -> list[int | None]:
    """What Janus sends a watcher at `rung`: None for each audio stream, a video's layer."""
    out: list[int | None] = []
    for stream in streams:
        how = _configured(rung, stream)
        if how["send"]:
            out.append(None if stream["kind"] == "audio" else how["substream"])
    return out


def _sent(rung: ladder.Rung, streams: list[dict[str, Any]], mid: str | None) -> bool:
    """Whether Janus sends the stream `mid` at `rung` (an unknown one: yes). A `slowlink` about a
    stream the rung stopped is old loss still counted, not news of the link: seen end to end,
    a camera's `slowlink` 8 s after a cap was lifted, the pupil at `audio` (docs/av.md#the-relay)."""
    for stream in streams:
        if stream["mid"] == mid:
            return bool(_configured(rung, stream)["send"])
    return True


def _idle(peer: Peer) -> bool:
    """Whether Janus sends the watcher nothing: nobody it watches publishes (yet, or any more),
    or its rung stops all they do. Then what its page receives, or its silence, is no sign of
    its line: before this, a teacher whose pupil had just been given the floor and had it taken
    back reported 0 kbit/s and was put on `text`, and did not hear the next pupil until the
    ladder's probe (docs/av.md#the-relay)."""
    assert peer.pupil is not None
    return not any(_configured(peer.pupil.rung, s)["send"] for s in peer.streams)


def _offered(event: janus.PluginEvent) -> bool:
    """Janus's own renegotiation of a subscription (not the answer to a request of ours)."""
    return event.transaction is None and (event.jsep or {}).get("type") == "offer"


def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    tasks.clear()
