"""A lean live client keeping the browser's contract and recording all it sees (docs/architecture.md#the-recorder).

`RecordedClient` follows `static/live-conn.js` rule for rule, so that what it proves holds for
the browser: the socket opens with `?room=&token=` (the room for the balancer's hashing; and `&epoch=&seq=`
of the last event applied, to resume); every command carries a client id and stays in the outbox until its `ack` (or an
`error` naming it), is sent again after each join and every `RESEND_S` while unanswered; a
reconnection waits a random time in [0, min(`BACKOFF_CAP_S`, `BACKOFF_BASE_S` × 2^attempt)]
(full jitter; `jitter=False` waits the ceiling itself, for comparison), except after 1012, 4001
and 4003 (at once; the last two with a new join token); it stops for good on 4401, 4403, 4410,
4423 and 4429. After a gateway's 1001 (`drain`) it waits a random time in [0, 2 s], not counted
as a failed attempt, then resumes on whichever gateway the balancer picks, as the browser does.
Commands acknowledged in the last 30 s (at most 32) are sent again on a snapshot of a new epoch
(a Redis failover may have lost them; the room applies them once).

It is an asyncio protocol over websockets' sans-I/O `ClientProtocol`, with no task while
connected; one `Fleet` ticker does every client's pings, silence check and resends, so a process
holds thousands. What it sees goes into a `Record` (rehearsal/records.py) for the audit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

from homeroom.rehearsal.records import CHAT, Ack, Record

# The browser's figures (static/live-conn.js): change them together.
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
MAX_ATTEMPT = 16
PING_S = 25.0
SILENT_S = 65.0
RESEND_S = 4.0
JOINED_S = 1.0  # a resume with nothing missed gets no message: joined after this
STOP_CODES = {4401: "removed", 4403: "refused", 4410: "ended", 4423: "locked", 4429: "other"}
AT_ONCE = frozenset({1012, 4001, 4003})
NEW_TOKEN = frozenset({4001, 4003})
ACKED_KEPT = 32  # commands acknowledged kept for a new epoch's snapshot, at most ...
ACKED_KEPT_S = 30.0  # ... and for this long
DRAIN = 1001  # the gateway is draining: a move, not a failure
DRAIN_JITTER_S = 2.0  # after DRAIN: a random wait in [0, this], attempt not counted

# The browser has no timeout of its own for an opening: the system's TCP connect gives up after
# about 127 s (6 SYN retries), and the handshake waits as long. A shorter one here would abort
# handshakes a busy gateway is about to answer and retry them: a herd the browser does not make.
OPEN_TIMEOUT_S = 127.0
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
ABNORMAL = 1006  # closed without a close frame


def backoff_s(attempt: int, rng: random.Random, *, jitter: bool = True) -> float:
    """How long to wait before connection attempt number `attempt` (0 after a join)."""
    ceiling: float = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0**attempt)
    return rng.random() * ceiling if jitter else ceiling


class _Link(asyncio.Protocol):
    """One socket of a client: the handshake and frames through `ClientProtocol`."""

    __slots__ = ("client", "failed", "protocol", "transport", "up")

    def __init__(self, client: RecordedClient, url: str) -> None:
        self.client = client
        self.protocol = ClientProtocol(parse_uri(url), max_size=1 << 20)
        self.transport: asyncio.Transport | None = None
        self.up = False
        self.failed = False  # an attempt that never opened, counted once by the fleet

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                if self.protocol.state is State.OPEN:
                    self.up = True
                    self.client._opened(self)
                else:  # refused at the handshake (403, 408, 503): closed, no open
                    self.client.fleet.failed(f"http {event.status_code}")
                    self.failed = True
                    self._abort()
                    return
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self.client._received(self, bytes(event.data))
        self._flush()

    def eof_received(self) -> bool | None:
        self.protocol.receive_eof()
        self._flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        code = self.protocol.close_code if self.protocol.close_rcvd is not None else None
        self.client._closed(self, ABNORMAL if code is None else int(code))

    def send(self, text: str) -> None:
        if self.transport is not None and self.protocol.state is State.OPEN:
            self.protocol.send_text(text.encode())
            self._flush()

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.transport is not None and self.protocol.state is State.OPEN:
            self.protocol.send_close(code, reason)
            self._flush()
        self._abort_later()

    def _flush(self) -> None:
        transport = self.transport
        if transport is None:
            return
        for chunk in self.protocol.data_to_send():
            if chunk:
                transport.write(chunk)
            else:  # the protocol is done writing: half-close
                with contextlib.suppress(OSError):
                    transport.write_eof()
        if self.protocol.close_expected():
            self._abort_later()

    def _abort_later(self) -> None:
        # the peer closes the TCP connection after the close frames; if it does not, we do
        transport = self.transport
        if transport is not None:
            asyncio.get_running_loop().call_later(2.0, transport.abort)

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class RecordedClient:
    """One person in one room, behaving as the class page does, recording what it sees."""

    __slots__ = (
        "acked",
        "attempt",
        "counter",
        "epoch",
        "fleet",
        "heard",
        "joined",
        "link",
        "opened_at",
        "outbox",
        "pinged",
        "record",
        "seq",
        "timer",
        "token",
        "tokens",
        "urls",
    )

    def __init__(
        self,
        fleet: Fleet,
        name: str,
        room: str,
        person: str,
        urls: Sequence[str],
        tokens: Callable[[], str],
    ) -> None:
        self.fleet = fleet
        self.record = Record(name=name, room=room, person=person)
        self.urls = list(urls)
        self.tokens = tokens  # a new join token (the page asks the school)
        self.token: str | None = None
        self.epoch: str | None = None  # where the page resumes from: the last event applied
        self.seq = 0
        self.outbox: dict[str, list[Any]] = {}  # client id -> [message text, sent at]
        # the last commands acknowledged, oldest first: (client id, message text, epoch, at)
        self.acked: list[tuple[str, str, str, float]] = []
        self.counter = 0
        self.attempt = 0
        self.link: _Link | None = None
        self.joined = False
        self.timer: asyncio.TimerHandle | None = None
        self.heard = 0.0
        self.pinged = 0.0
        self.opened_at = 0.0

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def online(self) -> bool:
        return self.link is not None and self.link.up

    # -- sending ------------------------------------------------------------------------------

    def chat(self, text: str | None = None) -> str:
        """Send a chat message to the class; its text is its client id unless given."""
        self.counter += 1
        cid = f"{self.record.name}-{self.counter}"
        return self.send("chat.send", cid, text=text or cid, to="all")

    def send(self, kind: str, cid: str, **fields: Any) -> str:
        message = json.dumps({"v": 1, "type": kind, "id": cid, **fields}, separators=(",", ":"))
        self.outbox[cid] = [message, 0.0]
        self.record.sent.append(cid)
        if self.joined:
            self._write(cid)
        return cid

    def _write(self, cid: str) -> None:
        item = self.outbox[cid]
        if self.link is not None and self.link.up:
            self.link.send(item[0])
            item[1] = time.monotonic()

    def _flush(self) -> None:
        for cid in list(self.outbox):
            self._write(cid)

    # -- connecting ---------------------------------------------------------------------------

    def start(self) -> None:
        self.connect()

    def connect(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.record.stopped or self.fleet.closing:
            return
        if self.token is None:
            self.token = self.tokens()
        # the room first, as the page sends it: HAProxy hashes on it (docs/operations.md)
        url = f"{self.fleet.rng.choice(self.urls)}?room={quote(self.record.room)}"
        url += f"&token={quote(self.token)}"
        if self.epoch is not None:
            url += f"&epoch={quote(self.epoch)}&seq={self.seq}"
        link = _Link(self, url)
        self.link = link
        self.joined = False
        self.fleet._spawn(self._open(link, url))

    async def _open(self, link: _Link, url: str) -> None:
        fleet = self.fleet
        async with fleet.opening:
            if link is not self.link:
                return
            uri = parse_uri(url)
            loop = asyncio.get_running_loop()
            # released when the handshake ends either way: the semaphore bounds handshakes
            opened = fleet.waiting[link] = loop.create_future()
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                if fleet.sources:
                    sock.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                    sock.bind((fleet.rng.choice(fleet.sources), 0))
                sock.setblocking(False)
                async with asyncio.timeout(OPEN_TIMEOUT_S):
                    await loop.sock_connect(sock, (uri.host, uri.port))
                    await loop.create_connection(lambda: link, sock=sock)
            except (OSError, TimeoutError) as exc:
                fleet.failed("connect: " + type(exc).__name__)
                link.failed = True
                # the socket may be closed already (EBADF: its transport took it and closed it);
                # the client must still get to _closed below, or it would never try again
                with contextlib.suppress(OSError):
                    sock.close()
                fleet.waiting.pop(link, None)
                if link is self.link:
                    self._closed(link, ABNORMAL)
                return
            deadline = loop.call_later(OPEN_TIMEOUT_S, link._abort)
            try:
                await opened
            finally:
                deadline.cancel()
                fleet.waiting.pop(link, None)

    def _opened(self, link: _Link) -> None:
        if link is not self.link:
            return
        now = time.monotonic()
        self.heard = self.opened_at = now
        self.record.opened.append(now)
        self.fleet._opened(link, now)
        self.timer = asyncio.get_running_loop().call_later(JOINED_S, self._mark_joined, link)

    def _received(self, link: _Link, payload: bytes) -> None:
        if link is not self.link:
            return
        self.heard = time.monotonic()
        try:
            message = json.loads(payload)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        kind = message.get("type")
        if kind == "pong":
            return
        cid = message.get("id")
        if kind == "ack" or (kind == "error" and isinstance(cid, str)):
            if isinstance(cid, str) and (item := self.outbox.pop(cid, None)) is not None:
                if kind == "ack":
                    epoch = self.epoch or ""
                    self._keep_acked(cid, item[0], epoch)
                    self.record.acks[cid] = Ack(
                        epoch, int(message.get("seq", 0)), bool(message.get("duplicate"))
                    )
                else:
                    self.record.refused[cid] = str(message.get("error", ""))
            return
        if kind == "error":
            return
        if kind == "snapshot" and isinstance(message.get("epoch"), str):
            self._resend_acked(message["epoch"])
        self._mark_joined(link)
        self._apply(message, kind)

    def _keep_acked(self, cid: str, text: str, epoch: str) -> None:
        self.acked.append((cid, text, epoch, time.monotonic()))
        if len(self.acked) > ACKED_KEPT:
            del self.acked[0]

    def _resend_acked(self, epoch: str) -> None:
        """A snapshot of another epoch than recent acknowledgements' (live-conn.js `resendAcked`):
        the log may have lost them in a failover; send them again, the room applies them once."""
        now = time.monotonic()
        again = [a for a in self.acked if a[2] and a[2] != epoch and now - a[3] < ACKED_KEPT_S]
        self.acked = [a for a in self.acked if a[2] == epoch]
        for cid, text, _, _ in again:
            self.outbox.setdefault(cid, [text, 0.0])

    def _apply(self, message: dict[str, Any], kind: Any) -> None:
        epoch, seq = message.get("epoch"), message.get("seq")
        if not isinstance(epoch, str) or not isinstance(seq, int):
            return
        if kind == "snapshot":
            texts = tuple(
                c["text"]
                for c in message.get("chat", ())
                if isinstance(c, dict) and c.get("to") == "all"
            )
            self.record.snapshot(epoch, seq, texts)
            self.epoch, self.seq = epoch, seq
            return
        if kind == "chat.message" and message.get("to") == "all":
            self.record.event(epoch, seq, CHAT, str(message.get("text", "")))
        else:
            self.record.event(epoch, seq, str(kind))
        if epoch == self.epoch and seq > self.seq:  # the page applies it (live-state.js)
            self.seq = seq

    def _mark_joined(self, link: _Link) -> None:
        if link is not self.link or self.joined:
            return
        self.joined = True
        self.attempt = 0
        self._flush()

    def _closed(self, link: _Link, code: int) -> None:
        if link is not self.link:
            return
        fleet = self.fleet
        was_up = link.up
        fleet._closed(link)
        self.link = None
        self.joined = False
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if was_up:
            self.record.closes.append((time.monotonic(), code))
        else:
            if not link.failed:
                fleet.failed("closed before the handshake's answer")
            self.token = None  # refused at the handshake: perhaps the token (as the page does)
        if fleet.closing:
            return
        stop = STOP_CODES.get(code)
        if stop:
            self.record.stopped = stop
            return
        if code in NEW_TOKEN:
            self.token = None
        if code in AT_ONCE:
            self.connect()
        elif code == DRAIN:
            self.later(drain=True)
        else:
            self.later()

    def later(self, *, drain: bool = False) -> None:
        if drain:  # a move, not a failure (live-conn.js `later(DRAIN_JITTER_MS)`)
            wait = self.fleet.rng.random() * DRAIN_JITTER_S if self.fleet.jitter else DRAIN_JITTER_S
        else:
            wait = backoff_s(self.attempt, self.fleet.rng, jitter=self.fleet.jitter)
            self.attempt = min(self.attempt + 1, MAX_ATTEMPT)
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(wait, self.connect)

    def tick(self, now: float) -> None:
        """Once a second (live-conn.js `tick`): silence, pings, resends."""
        link = self.link
        if link is None or not link.up:
            return
        if now - self.heard > SILENT_S:
            self.link = None
            self.joined = False
            self.fleet._closed(link)
            link.close(4000, "silent")
            self.later()
            return
        if now - self.pinged >= PING_S:
            self.pinged = now
            link.send('{"type":"ping"}')
        if self.joined:
            for cid, item in list(self.outbox.items()):
                if now - item[1] >= RESEND_S:
                    self._write(cid)

    def take_record(self) -> Record:
        self.record.pending = list(self.outbox)
        return self.record

    def cut(self) -> None:
        """Drop the socket without a close frame, as a lost network does (for tests)."""
        if self.link is not None:
            self.link._abort()


class Fleet:
    """Many recorded clients in one event loop, with one ticker for all of them."""

    def __init__(
        self,
        *,
        jitter: bool = True,
        seed: int | None = None,
        sources: Sequence[str] = (),
        concurrency: int = 100_000,
    ) -> None:
        self.jitter = jitter
        self.rng = random.Random(seed)
        self.sources = list(sources)  # local addresses to connect from (127.0.0.x), rotated
        self.clients: list[RecordedClient] = []
        self.closing = False
        self.online = 0
        self.opens: list[float] = []  # every open's time.monotonic(), in order
        self.failures: dict[str, int] = {}  # attempts that never opened, by why
        # openings in flight at once: browsers have no such bound, so by default neither has this
        self.opening = asyncio.Semaphore(concurrency)
        self.waiting: dict[_Link, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._ticker: asyncio.Task[None] | None = None

    def add(
        self, name: str, room: str, person: str, urls: Sequence[str], tokens: Callable[[], str]
    ) -> RecordedClient:
        client = RecordedClient(self, name, room, person, urls, tokens)
        self.clients.append(client)
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick_forever())
        return client

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def failed(self, why: str) -> None:
        self.failures[why] = self.failures.get(why, 0) + 1

    def _opened(self, link: _Link, now: float) -> None:
        self.online += 1
        self.opens.append(now)
        self._release(link)

    def _closed(self, link: _Link) -> None:
        if link.up:
            self.online -= 1
            link.up = False
        self._release(link)

    def _release(self, link: _Link) -> None:
        future = self.waiting.pop(link, None)
        if future is not None and not future.done():
            future.set_result(None)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for client in self.clients:
                client.tick(now)

    async def until(self, check: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Wait (polling every 10 ms) until `check()`; TimeoutError naming `what` otherwise."""
        deadline = time.monotonic() + timeout_s
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not within {timeout_s} s")
            await asyncio.sleep(0.01)

    def settled(self) -> bool:
        """Every client that has not stopped is joined, its outbox empty."""
        return all(c.record.stopped or (c.joined and not c.outbox) for c in self.clients)

    def caught_up(self) -> bool:
        """Settled, and in each room every client is at the same epoch and at or past the last
        message anyone of that room had acknowledged: nothing is still on its way."""
        if not self.settled():
            return False
        rooms: dict[str, list[RecordedClient]] = {}
        for client in self.clients:
            if not client.record.stopped:
                rooms.setdefault(client.record.room, []).append(client)
        for members in rooms.values():
            epochs = {c.epoch for c in members}
            if len(epochs) != 1:
                return False
            epoch = epochs.pop()
            top = max(
                (a.seq for c in members for a in c.record.acks.values() if a.epoch == epoch),
                default=0,
            )
            if any(c.seq < top for c in members):
                return False
        return True

    async def close(self) -> list[Record]:
        """Close every socket and stop; returns every client's record."""
        self.closing = True
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for client in self.clients:
            if client.timer is not None:
                client.timer.cancel()
            if client.link is not None:
                client.link.close(1000)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        return [client.take_record() for client in self.clients]
