"""Live clients for the drain tests: the browser's contract (resume, outbox, full jitter), a balancer
that sends to ready processes only, and an audit of what every client saw and sent.

Kept small on purpose: `homeroom.rehearsal.recorder` and `.audit` are the shared versions, and
these tests can move to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from random import Random
from typing import Any
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

Message = dict[str, Any]
NOT_EVENTS = ("snapshot", "ack", "error", "pong")
RESEND_S = 1.0
BACKOFF_CAP_S = 2.0


def ready(health_url: str) -> bool:
    """The process's /readyz answers 200."""
    try:
        with urllib.request.urlopen(f"{health_url}/readyz", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class Balancer:
    """What HAProxy does for these tests: a backend whose readiness fails gets nothing new."""

    def __init__(self, rng: Random) -> None:
        self.rng = rng
        self.backends: dict[str, str] = {}  # address → its health URL

    def add(self, address: str, health_url: str) -> None:
        self.backends[address] = health_url

    def remove(self, address: str) -> None:
        self.backends.pop(address, None)

    async def pick(self) -> str | None:
        candidates = list(self.backends.items())
        self.rng.shuffle(candidates)
        for address, health in candidates:
            if await asyncio.to_thread(ready, health):
                return address
        return None


@dataclass
class Close:
    code: int | None
    reason: str
    at: float  # time.monotonic()
    address: str


@dataclass
class LiveClient:
    """One person's tab: joins through the balancer, resumes (epoch, seq) after a close, and
    waits a full-jitter delay in [0, jitter_s] after a 1001 `drain` (docs/live.md#drain)."""

    person: str
    token: str
    balancer: Balancer
    rng: Random
    jitter_s: float = 1.0
    first: str | None = None  # where the first connection goes (else: the balancer's pick)
    received: list[Message] = field(default_factory=list)
    closes: list[Close] = field(default_factory=list)
    outbox: dict[str, Message] = field(default_factory=dict)
    sent: list[str] = field(default_factory=list)  # client ids, in order
    epoch: str | None = None
    seq: int = 0
    ws: ClientConnection | None = None
    stopped: bool = False
    joined: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    writes: set[asyncio.Future[None]] = field(default_factory=set)

    def start(self) -> LiveClient:
        self.task = asyncio.create_task(self._run())
        return self

    def chat(self, n: int) -> None:
        cid = f"{self.person}-{n}"
        self.outbox[cid] = {"v": 1, "type": "chat.send", "id": cid, "text": cid, "to": "all"}
        self.sent.append(cid)
        if self.joined.is_set():
            self._write(self.outbox[cid])

    def _write(self, message: Message) -> None:
        ws = self.ws
        if ws is not None:
            write = asyncio.ensure_future(self._send(ws, json.dumps(message)))
            self.writes.add(write)
            write.add_done_callback(self.writes.discard)

    @staticmethod
    async def _send(ws: ClientConnection, text: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await ws.send(text)

    async def _run(self) -> None:
        attempt = 0
        while not self.stopped:
            address, self.first = self.first or await self.balancer.pick(), None
            if address is None:
                await asyncio.sleep(0.05)
                continue
            url = f"ws://{address}/live?token={quote(self.token)}"
            if self.epoch is not None:
                url += f"&epoch={quote(self.epoch)}&seq={self.seq}"
            try:
                ws = await connect(url, open_timeout=5, close_timeout=2)
            except (OSError, InvalidHandshake, InvalidStatus, TimeoutError):
                attempt += 1
                await asyncio.sleep(self.rng.random() * min(BACKOFF_CAP_S, 0.1 * 2**attempt))
                continue
            attempt = 0
            close = await self._session(ws, address)
            self.closes.append(close)
            if close.code == 1001:  # told to go elsewhere: a random wait, so not all at once
                await asyncio.sleep(self.rng.random() * self.jitter_s)

    async def _session(self, ws: ClientConnection, address: str) -> Close:
        self.ws = ws
        resender = asyncio.create_task(self._resend())
        code, reason = None, ""
        try:
            async for raw in ws:
                self._receive(json.loads(raw))
        except ConnectionClosed:
            pass
        finally:
            resender.cancel()
            self.ws = None
            self.joined.clear()
        if ws.protocol.close_rcvd is not None:
            code, reason = ws.protocol.close_rcvd.code, ws.protocol.close_rcvd.reason
        return Close(code, reason, time.monotonic(), address)

    async def _resend(self) -> None:
        """The outbox after the join (the first message, or a second after opening), then
        whatever is unanswered every RESEND_S: the room applies a resend once."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.joined.wait(), 1.0)
        self.joined.set()
        while True:
            for message in list(self.outbox.values()):
                self._write(message)
            await asyncio.sleep(RESEND_S)

    def _receive(self, message: Message) -> None:
        self.received.append(message)
        kind = message.get("type")
        if kind == "ack" or (kind == "error" and "id" in message):
            self.outbox.pop(message.get("id", ""), None)
            return
        if kind == "snapshot":
            self.epoch, self.seq = message["epoch"], message["seq"]
        elif kind not in NOT_EVENTS and message.get("epoch") == self.epoch:
            self.seq = max(self.seq, message["seq"])
        self.joined.set()

    async def stop(self) -> None:
        self.stopped = True
        if self.ws is not None:
            await self.ws.close()
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self.task, 5)

    def events(self) -> list[Message]:
        return [m for m in self.received if m.get("type") not in NOT_EVENTS and "seq" in m]


@dataclass
class Audit:
    missing: dict[str, int]  # person → events of the room meant for everyone it never got
    doubled: dict[str, int]  # person → (epoch, seq) it got more than once
    snapshots: dict[str, int]  # person → snapshots after its first (a resume that was not exact)
    gaps: int  # numbers of the room nobody got (every event here is meant for everyone)
    applied: Counter[str]  # chat client id → times applied in the room
    unsent: list[str]  # ids a client sent that the room never applied


def about(event: Message, person: str) -> bool:
    """Not for everyone: its own comings and goings (whether a tab hears of them depends on
    its timing), and the lobby's news of someone else (for that person and the teachers)."""
    kind, whom = str(event["type"]), event.get("person")
    return (kind.startswith("presence.") and whom == person) or (
        kind.startswith("lobby.") and whom != person
    )


def audit(clients: list[LiveClient]) -> Audit:
    """What every client saw against the room: the union of what all of them saw, in a class
    whose events are meant for everyone but the lobby's (no private message, under 150 people,
    a teacher among the clients)."""
    room = {(m["epoch"], m["seq"]): m for c in clients for m in c.events()}
    missing, doubled, snapshots = {}, {}, {}
    for client in clients:
        got = Counter((m["epoch"], m["seq"]) for m in client.events())
        doubled[client.person] = sum(n - 1 for n in got.values())
        kinds = [m for m in client.received if m.get("type") == "snapshot"]
        snapshots[client.person] = len(kinds) - 1
        first = kinds[0]
        should = [
            key
            for key, m in room.items()
            if key[0] == first["epoch"] and key[1] > first["seq"] and not about(m, client.person)
        ]
        missing[client.person] = sum(1 for key in should if key not in got)
    gaps = 0
    for epoch in {epoch for epoch, _ in room}:
        numbers = sorted(seq for e, seq in room if e == epoch)
        gaps += numbers[-1] - numbers[0] + 1 - len(numbers)
    applied = Counter(m["text"] for m in room.values() if m["type"] == "chat.message")
    sent = [cid for client in clients for cid in client.sent]
    return Audit(missing, doubled, snapshots, gaps, applied, [c for c in sent if applied[c] == 0])
