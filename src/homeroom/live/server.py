"""The gateway process: listen (SO_REUSEPORT, one process per core), sweep, shut down.

One sweep every few seconds does what would otherwise need a timer per connection: close those
whose join token has expired (4001), ping the quiet ones, cut the silent ones, and forget rooms
nobody has been in for a while (docs/live.md#gateway). It looks at `SWEEP_SLICE` connections a
turn of the event loop, so pinging a class that all arrived at 8:00 does not hold up everyone's
messages. Every `POLL_S` the school's new revocations are read, and the connections they cover
closed (4003; live/revocations.py). With a shared log it also renews this process's heartbeat,
and lets go of the connections of processes whose heartbeat lapsed: they died without saying
so (docs/live.md#many-processes). Unfinished handshakes are the door's, with a timer of its own
(homeroom/door.py): the sweep sees only open connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from websockets.frames import CloseCode, Opcode

from homeroom.backends.live import ProcessLiveness, RoomLog
from homeroom.core.drain import CloseSchedule
from homeroom.door import Doorman
from homeroom.drain import Drain
from homeroom.live.av import AvRelay
from homeroom.live.conn import CLOSE_DRAIN, CLOSE_EXPIRED, CLOSE_REVOKED, Conn, Gateway, Limits
from homeroom.live.hub import Hub, Recorder
from homeroom.live.jointoken import JoinTokens
from homeroom.live.revocations import ANY, KEPT_S, POLL_S, Revocation, Revocations, Unavailable
from homeroom.live.wire import control_frame

log = logging.getLogger("homeroom.live")

SWEEP_S = 5.0
PING_AFTER_S = 25.0  # quiet this long: a ping, which the browser answers by itself
DEAD_AFTER_S = 70.0  # silent this long, pings included: the connection is gone
HEARTBEAT_S = 15.0  # a process whose heartbeat is older than this is gone
SWEEP_SLICE = 500  # connections a turn (10,000 pings at once: every message waits 10,000 writes)
DRAIN_TICK_S = 0.05  # after the window: how often to look whether the last closes went out


class RevocationSource(Protocol):
    """Where revocations come from (live/revocations.py RevocationFeed: the school database)."""

    async def read(self, now_ms: int) -> list[Revocation]: ...


@dataclass(frozen=True, slots=True)
class Swept:
    expired: int
    pinged: int
    dead: int
    rooms_forgotten: int


PING = control_frame(Opcode.PING, b"hr")


async def sweep(gateway: Gateway, clock: Callable[[], float], size: int = SWEEP_SLICE) -> Swept:
    """One sweep, `size` connections a turn of the loop; messages go on in between."""
    conns = list(gateway.open)
    expired = pinged = dead = 0
    for start in range(0, len(conns), size):
        if start:
            await asyncio.sleep(0)
        e, p, d = _check(conns[start : start + size], clock())
        expired, pinged, dead = expired + e, pinged + p, dead + d
    return Swept(expired, pinged, dead, gateway.hub.forget_idle(clock()))


def _check(conns: list[Conn], now: float) -> tuple[int, int, int]:
    expired = pinged = dead = 0
    for conn in conns:
        if conn.closing or conn.transport is None:
            continue  # closed since the list was made
        if conn.claims.expires <= now:
            conn.close(CLOSE_EXPIRED, "token_expired")
            expired += 1
        elif now - conn.seen >= DEAD_AFTER_S:
            conn.close(CloseCode.GOING_AWAY, "no answer")
            dead += 1
        elif now - conn.seen >= PING_AFTER_S:
            conn.send(PING)
            pinged += 1
    return expired, pinged, dead


def revoke(gateway: Gateway, revocations: list[Revocation], now: float) -> int:
    """Refuse these tokens from now on and close the connections they cover; returns how many."""
    gateway.revoked.forget(int((now - KEPT_S) * 1000))
    if not revocations:
        return 0
    gateway.revoked.add(revocations)
    new = Revocations(revocations)
    closed = 0
    for conn in _covered_candidates(gateway, revocations):
        if not conn.closing and new.covers(conn.claims):
            conn.close(CLOSE_REVOKED, "revoked")
            closed += 1
    return closed


def _covered_candidates(gateway: Gateway, revocations: list[Revocation]) -> list[Conn]:
    """The connections these revocations may cover: those of the rooms or people they name
    (the school names one in every row it writes), every connection only for a row that names
    neither. A process with 10,000 connections reads revocations every POLL_S all day."""
    if any(r.room == ANY and r.person == ANY for r in revocations):
        return list(gateway.open)
    found: dict[int, Conn] = {}
    for r in revocations:
        named = gateway.hub.links_named(
            None if r.room == ANY else r.room, None if r.person == ANY else r.person
        )
        for link in named:
            if isinstance(link, Conn):
                found[link.ref] = link
    return list(found.values())


class LiveServer:
    def __init__(
        self,
        secret: bytes,
        *,
        room_log: RoomLog | None = None,
        recorder: Recorder | None = None,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.time,
        lobby: bool = False,
        heartbeat_s: float = HEARTBEAT_S,
        revocations: RevocationSource | None = None,
        door: Doorman | None = None,
        av: AvRelay | None = None,
    ) -> None:
        self.hub = Hub(room_log, recorder, clock=clock, lobby=lobby)
        self.av = av
        if av is not None:  # audio and video (live/av.py): the rooms tell it of floors and mutes
            av.hosts = self.hub.rooms.get
            av.faults = self.hub.faults
            av.origin = self.hub.origin
            self.hub.av = av
        self.gateway = Gateway(self.hub, JoinTokens(secret), limits, door)
        self.heartbeat_s = heartbeat_s
        self.sweep_s = min(SWEEP_S, heartbeat_s / 3)  # beat well within the heartbeat's life
        self._liveness = room_log if isinstance(room_log, ProcessLiveness) else None
        self._buried: dict[tuple[str, str], float] = {}  # (room, origin): when "gone" was sent
        self._unseen: dict[str, float] = {}  # origin: since when its heartbeat has been missing
        self._revocations = revocations
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> int:
        if self._liveness is not None:  # alive before anyone can take a connection here for dead
            await self._liveness.beat(self.hub.origin, self.heartbeat_s)
        if self._revocations is not None:  # what was revoked before this process started
            try:
                await self.read_revocations()
            except Unavailable as exc:  # not migrated yet, or away: the poll tries again
                log.warning("cannot read revocations yet (%s); trying every %s s", exc, POLL_S)
            except Exception:  # a bug; classes go on, the poll tries again
                log.warning("cannot read revocations yet", exc_info=True)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self.gateway.protocol, host, port, reuse_port=reuse_port or None, backlog=4096
        )
        self._tasks.append(asyncio.create_task(self._sweep_forever()))
        if self.av is not None:
            self.av.start()
        if self._revocations is not None:
            self._tasks.append(asyncio.create_task(self._revocations_forever()))
        gc.collect()
        gc.freeze()  # what start-up made is never collected: the collector walks less
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_s)
            try:
                await sweep(self.gateway, self.hub.clock)
                await self.watch_processes()
            except Exception:  # a sweep must not stop the sweeping
                log.exception("sweep failed")

    async def read_revocations(self) -> int:
        """Read the school's new revocations and apply them; returns the connections closed."""
        assert self._revocations is not None
        now = self.hub.clock()
        return revoke(self.gateway, await self._revocations.read(int(now * 1000)), now)

    async def _revocations_forever(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(POLL_S)
            try:
                await self.read_revocations()
            except Exception as exc:  # the database away: tried again at the next poll
                if not failing:  # once an outage, not every poll; a traceback only for a bug
                    bug = not isinstance(exc, Unavailable)
                    log.warning(
                        "cannot read revocations (%s); trying every %s s", exc, POLL_S, exc_info=bug
                    )
                failing = True
            else:
                if failing:
                    log.warning("revocations read again")
                failing = False

    async def watch_processes(self) -> int:
        """Beat, and append `gone` to the rooms where a process whose heartbeat has been missing
        for `heartbeat_s` has connections (room.gone is idempotent: several processes may do
        it). Returns how many `gone` entries were appended.

        Missing once is not gone: a Redis that restarted empty (or a replica promoted without
        the last writes) has lost every heartbeat at once, and a live process beats again
        within `sweep_s`; declaring it gone at the first look would send its whole class to
        reconnect for nothing. A dead one stays missing, so it is let go `heartbeat_s` later."""
        if self._liveness is None:
            return 0
        await self._liveness.beat(self.hub.origin, self.heartbeat_s)
        others: dict[str, set[str]] = {}
        for room_id, host in self.hub.rooms.items():
            if host.room is not None:
                origins = {o for m in host.room.members.values() for o in m.origins if o}
                others[room_id] = origins - {self.hub.origin}
        everyone = set().union(*others.values())
        if not everyone:
            return 0
        missing = everyone - await self._liveness.alive(everyone)
        now, sent = self.hub.clock(), 0
        self._unseen = {o: self._unseen.get(o, now) for o in missing}
        dead = {o for o, since in self._unseen.items() if now - since >= self.heartbeat_s}
        self._buried = {k: t for k, t in self._buried.items() if now - t < 2 * self.heartbeat_s}
        for room_id, origins in others.items():
            for origin in sorted(origins & dead):
                if (room_id, origin) in self._buried or room_id not in self.hub.rooms:
                    continue
                self._buried[(room_id, origin)] = now
                log.warning("room %s: process %s is gone, its people leave", room_id, origin)
                self.hub.log.append(
                    room_id, {"op": "gone", "g": origin, "t": now, "o": self.hub.origin}
                )
                sent += 1
        return sent

    async def drain(self, drain: Drain, rng: random.Random | None = None) -> None:
        """SIGTERM's way out (docs/operations.md#drain): stop accepting; after the notice,
        close every client with 1001 `drain` at its slot of the window (core/drain.py), so
        they come back through other gateways a few at a time; then give the closing frames
        until halfway through the grace to go out, and cut whatever still holds (a client
        that reads nothing would hold its close, and this process, forever). The sweep and
        the heartbeat go on meanwhile: this process is not gone until `stop`."""
        if self._server is not None:
            self._server.close()  # the others behind the balancer take the new connections
        line, open_ = drain.timeline, self.gateway.open
        drain.clients_left = len(open_)
        await drain.until(line.notice_s)
        schedule = CloseSchedule(list(open_), line.window_s, rng or random.Random())
        while True:
            for conn in schedule.due(drain.elapsed() - line.notice_s):
                self._close_for_drain(conn, drain)
            drain.clients_left = len(open_)
            slot = schedule.next_at()
            if slot is None:
                break
            await drain.until(line.notice_s + slot)
        for conn in list(open_):  # a handshake that finished during the notice
            self._close_for_drain(conn, drain)
        cut_at = line.window_ends_s + line.grace_s / 2
        while open_ and drain.elapsed() < cut_at:
            drain.clients_left = len(open_)
            await asyncio.sleep(DRAIN_TICK_S)
        if open_:
            log.warning("drain: %d connections did not take their close, cut", len(open_))
        for conn in list(open_):
            if conn.transport is not None:
                conn.transport.abort()
        drain.clients_left = 0

    @staticmethod
    def _close_for_drain(conn: Conn, drain: Drain) -> None:
        if not conn.closing and conn.transport is not None:
            conn.close(CLOSE_DRAIN, "drain")
            drain.closed += 1

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.gateway.door.stop()
        if self._server is not None:
            self._server.close()
        for conn in list(self.gateway.open):
            conn.close(CloseCode.GOING_AWAY, "server stopping")
        if self._liveness is not None:
            # One entry a room tells the others that all of this process's people left; the
            # copies here end now, so the closing connections append no leaves.
            now = self.hub.clock()
            held = [room_id for room_id, host in self.hub.rooms.items() if host.room is not None]
            self.hub.rooms.clear()
            for room_id in held:
                entry = {"op": "gone", "g": self.hub.origin, "t": now, "o": self.hub.origin}
                self.hub.log.append(room_id, entry)
        if self._server is not None:
            await self._server.wait_closed()
        await self.hub.log.aclose()
        if self.av is not None:
            await self.av.aclose()

    @property
    def connections(self) -> set[Conn]:
        return self.gateway.open
