"""One WebSocket connection as an asyncio protocol: no task, no queue, a few slots when idle.

The handshake runs on websockets' sans-I/O `ServerProtocol`, dropped once the connection is
open; the join token is checked there, so a connection without a valid one is refused (HTTP
403) before any room is touched. The door (homeroom/door.py, docs/server.md) gives the handshake
a deadline (408) and refuses (503) a block with too many unfinished ones, or any connection when
the process is short of files; `GET /metrics` answers its counters. Then frames (wire.py) go to
the hub, and the transport's flow control tells the hub when a client falls behind
(docs/live.md#gateway).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, urlsplit

from limits import parse
from limits.strategies import FixedWindowRateLimiter
from prometheus_client import CollectorRegistry, generate_latest
from websockets.frames import CloseCode, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from homeroom.core.clientjson import Refused, decode
from homeroom.core.door import DoorLimits
from homeroom.core.live.commands import client_id
from homeroom.door import (
    BAD_PROXY,
    LATE,
    REFUSED,
    DoorCollector,
    Doorman,
    Refusal,
    files_limit,
    peer_host,
)
from homeroom.door import plain_response as plain
from homeroom.live.faults import CLOSE_INTERNAL
from homeroom.live.jointoken import JoinClaims, JoinRefused, JoinTokens
from homeroom.live.ratelimit import LoopCounters
from homeroom.live.revocations import Revocations
from homeroom.live.wire import (
    Control,
    Frames,
    Message,
    WireError,
    close_frame,
    control_frame,
    json_frame,
)

if TYPE_CHECKING:
    from homeroom.core.live.parts import Member
    from homeroom.live.hub import Hub

log = logging.getLogger("homeroom.live")

PATH = "/live"
BROKEN = plain("500 Internal Server Error", b"internal_error\n")
METRICS_PATH = "/metrics"  # Prometheus: this process's door (docs/operations.md#metrics)
CLOSE_DRAIN = 1001  # "going away", reason `drain`: reconnect (elsewhere) after a random wait
CLOSE_EXPIRED = 4001
CLOSE_REVOKED = 4003
CLOSE_ABUSE = 4429


@dataclass(frozen=True, slots=True)
class Limits:
    max_frame: int = 16 * 1024  # bytes of one message
    write_high: int = 256 * 1024  # queued bytes before a client counts as lagging
    write_hard: int = 4 * 1024 * 1024  # queued bytes before it is cut off
    strikes: int = 20  # bad messages a connection may send before it is closed
    send_buffer: int | None = None  # the socket's SO_SNDBUF; None: the kernel's own tuning
    # messages a connection may send: a burst of drawing or typing fits, a flood does not
    rate: str = "40 per 5 seconds"


class Gateway:
    """What every connection of this process shares."""

    def __init__(
        self,
        hub: Hub,
        tokens: JoinTokens,
        limits: Limits | None = None,
        door: Doorman | None = None,
    ) -> None:
        self.hub = hub
        # handshakes: a deadline, a limit per address block, none above the files' high water
        self.door = door or Doorman(DoorLimits(files=files_limit()))
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(DoorCollector(self.door, process=hub.origin))
        self.tokens = tokens
        self.limits = limits or Limits()
        # one limiter for the process; a counter lives only while its connection sends
        self.rate = parse(self.limits.rate)
        self.limiter = FixedWindowRateLimiter(LoopCounters())
        self.open: set[Conn] = set()
        self.revoked = Revocations()  # tokens the school revoked before they expire

    def protocol(self) -> Conn:
        return Conn(self)


def _query(path: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(path).query).items() if v}


class Conn(asyncio.Protocol):
    __slots__ = (
        "claims",
        "closing",
        "frames",
        "gateway",
        "handshake",
        "lagging",
        "last_seq",
        "member",
        "proxied",
        "ref",
        "seen",
        "strikes",
        "transport",
        "unread",
        "write",
    )

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.transport: asyncio.Transport | None = None
        self.handshake: ServerProtocol | None = ServerProtocol(max_size=gateway.limits.max_frame)
        self.frames: Frames | None = None
        self.claims: JoinClaims = None  # type: ignore[assignment]  # set at the handshake
        self.ref = gateway.hub.new_ref()
        self.member: Member | None = None  # this person in the room, once joined (hub)
        self.write: Callable[[bytes], object] = _nowhere
        self.last_seq = 0
        self.lagging = False
        self.closing = False
        self.strikes = 0
        self.seen = 0.0
        # balancers trusted: what came before the PROXY header is whole (None once it is)
        self.unread: bytes | None = None
        self.proxied = False  # the peer is a trusted balancer: its header comes first

    # -- asyncio callbacks ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport, though they behave as one
        self.transport = transport = cast(asyncio.Transport, transport)
        host = peer_host(transport)
        door = self.gateway.door
        if door.trusted:
            self.unread = b""
            self.proxied = door.trusted.covers(host)
        if door.arrive(self, host, self.proxied) is not None:
            self.handshake, self.closing = None, True  # nothing it sends is read
            transport.write(REFUSED)
            transport.close()
            return
        self.write = transport.write  # the fan-out's one call a recipient (hub._fan_out)
        limits = self.gateway.limits
        transport.set_write_buffer_limits(high=limits.write_high, low=limits.write_high // 4)
        if limits.send_buffer is not None:  # asked only then: uvloop keeps the object it makes
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, limits.send_buffer)
        self.seen = self.gateway.hub.clock()

    def data_received(self, data: bytes) -> None:
        self.seen = self.gateway.hub.clock()
        if self.handshake is not None:
            if self.unread is not None:
                data = self._unwrap(data)
                if not data:
                    return
            try:
                self._handshake(data)
            except Exception:  # a bug: this connection ends, everyone else goes on
                self.gateway.hub.faults.report("on a handshake")
                self.closing = True
                if self.transport is not None:
                    if self.handshake is not None:  # still HTTP: say so, as HTTP
                        self.transport.write(BROKEN)
                    self.transport.close()
            return
        if self.frames is None or self.closing:
            return
        try:
            self._frames(self.frames, data)
        except WireError as exc:
            self.close(exc.code, exc.reason)
        except Exception:  # a bug: this connection ends, the class goes on (live/faults.py)
            self.gateway.hub.faults.report(f"on a message in room {self.claims.room}")
            self.close(CLOSE_INTERNAL, "internal_error")

    def connection_lost(self, exc: Exception | None) -> None:
        if self.frames is not None:  # an open WebSocket: the door only counted it
            self.gateway.door.policy.unsettle()
        else:
            self.gateway.door.policy.leave(self)
        self.gateway.open.discard(self)
        if self.frames is not None:
            self.gateway.hub.leave(self)
        self.frames = None
        self.transport = None

    def pause_writing(self) -> None:
        self.lagging = True

    def resume_writing(self) -> None:
        if not self.closing:
            self.gateway.hub.drained(self)

    # -- the handshake ----------------------------------------------------------------------

    def _handshake(self, data: bytes) -> None:
        handshake = self.handshake
        assert handshake is not None and self.transport is not None
        handshake.receive_data(data)
        request = next((e for e in handshake.events_received() if isinstance(e, Request)), None)
        if request is None:
            self._flush(handshake)  # an error response if the request was broken
            if handshake.handshake_exc is not None:
                self.transport.close()
            return
        if urlsplit(request.path).path == METRICS_PATH:
            self._metrics()
            return
        claims, reason = self._admit(request)
        if claims is None:
            handshake.send_response(handshake.reject(403, f"{reason}\n"))
            self._flush(handshake)
            self.transport.close()
            return
        response = handshake.accept(request)
        handshake.send_response(response)
        self._flush(handshake)
        if response.status_code != 101:
            self.transport.close()
            return
        leftover = bytes(handshake.reader.buffer)
        self.handshake = None
        self.gateway.door.policy.settle(self)  # no entry a connection: counted, not watched
        self.claims = claims
        self.frames = Frames(self.gateway.limits.max_frame)
        self.gateway.open.add(self)
        query = _query(request.path)
        self.gateway.hub.join(self, query.get("epoch"), _int(query.get("seq")))
        if leftover and not self.closing:
            self.data_received(leftover)

    def _unwrap(self, data: bytes) -> bytes:
        """The PROXY header first (docs/server.md#the-clients-real-address): the door counts
        the handshake in the client's block. Returns what follows it, b"" while it is not whole
        or when the connection is closed for it."""
        assert self.unread is not None and self.transport is not None
        data = self.unread + data
        header = self.gateway.door.unwrap(self, data, self.proxied)
        if header is None:  # not whole yet: bounded by read_header, timed by the head's deadline
            self.unread = data
            return b""
        if isinstance(header, Refusal):  # counted and logged by the door
            self.handshake, self.closing = None, True
            self.transport.write(REFUSED if header is Refusal.BLOCK else BAD_PROXY)
            self.transport.close()
            return b""
        self.unread = None
        return data[header.length :]

    def _admit(self, request: Request) -> tuple[JoinClaims | None, str]:
        path = urlsplit(request.path).path
        if path != PATH:
            return None, "not_found"
        try:
            claims = self.gateway.tokens.verify(
                _query(request.path).get("token", ""), self.gateway.hub.clock()
            )
        except JoinRefused as exc:
            return None, exc.reason
        if self.gateway.revoked.covers(claims):
            return None, "revoked"
        return claims, ""

    def _metrics(self) -> None:
        assert self.transport is not None
        body = generate_latest(self.gateway.registry)
        self.transport.write(plain("200 OK", body, kind="text/plain; version=0.0.4"))
        self.transport.close()

    def door_closes(self, why: Refusal | None) -> None:
        """The door's word: a handshake past its deadline (408). Nothing else is ever asked of
        a gateway's connection: an open WebSocket is never idle in the door's sense."""
        if self.transport is None or self.closing:
            return
        self.closing = True
        if self.handshake is not None:
            self.transport.write(LATE)
        self.transport.close()

    def _flush(self, handshake: ServerProtocol) -> None:
        assert self.transport is not None
        for chunk in handshake.data_to_send():
            if chunk:
                self.transport.write(chunk)

    # -- messages ---------------------------------------------------------------------------

    def _frames(self, frames: Frames, data: bytes) -> None:
        for item in frames.feed(data):
            if isinstance(item, Message):
                self._message(item.text)
            else:
                self._control(item)
            if self.closing:
                return

    def _message(self, text: str) -> None:
        if not self._within_rate():
            self._strike("rate_limited")  # not applied: the client resends it later
            return
        try:
            message: Any = decode(text)  # bounded: every refusal has its word (clientjson.py)
        except Refused as exc:
            self._strike(exc.reason)
            return
        if isinstance(message, dict) and message.get("type") == "ping":
            self.send(_pong(message))
            return
        self.gateway.hub.message(self, message)

    def _within_rate(self) -> bool:
        """Every frame counts, pings too: a read of 256 KB of pings is 43,000 frames to parse."""
        gateway = self.gateway
        return bool(gateway.limiter.hit(gateway.rate, "live", str(self.ref)))

    def _strike(self, reason: str) -> None:
        self.strikes += 1
        self.send(json_frame({"v": 1, "type": "error", "error": reason}))
        if self.strikes >= self.gateway.limits.strikes:
            self.close(CLOSE_ABUSE, "too many bad messages")

    def _control(self, item: Control) -> None:
        if item.opcode is Opcode.CLOSE:
            self.close(CloseCode.NORMAL_CLOSURE, "")
        elif not self._within_rate():
            self._strike("rate_limited")
        elif item.opcode is Opcode.PING:
            self.send(control_frame(Opcode.PONG, item.data))

    # -- what the hub calls -----------------------------------------------------------------

    def send(self, frame: bytes) -> None:
        transport = self.transport
        # is_closing: reset by the peer, its connection_lost still due (uvloop would raise)
        if transport is None or self.closing or transport.is_closing():
            return
        transport.write(frame)
        if transport.get_write_buffer_size() > self.gateway.limits.write_hard:
            self.closing = True
            transport.abort()  # it reads nothing: memory stays bounded

    def close(self, code: int, reason: str) -> None:
        if self.closing or self.transport is None:
            return
        self.closing = True
        self.transport.write(close_frame(code, reason))
        self.transport.close()


def _nowhere(frame: bytes) -> None:
    """Where a connection writes before it has a transport: nowhere."""


def _int(text: str | None) -> int | None:
    # ASCII digits only: "²".isdigit() is true, and int("²") raises
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 18:
        return None
    return int(text)


def _pong(message: dict[str, Any]) -> bytes:
    out: dict[str, Any] = {"v": 1, "type": "pong"}
    cid = client_id(message)  # sent back only if it is one: ASCII, safe in any frame
    if cid is not None:
        out["id"] = cid
    return json_frame(out)
