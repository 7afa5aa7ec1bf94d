"""Live clients that follow the browser client's contract (static/live-conn.js), and their audit.

Each client reconnects by itself (at once after 1012, else full-jitter back-off), resumes with the
(epoch, seq) of the last event it applied, keeps an outbox until each command's ack, and keeps
the commands acknowledged lately to send them again on a snapshot of a new epoch
(docs/live.md#epoch-regression). It records every numbered event it got, so that the audit can
say, per epoch, what was missing or doubled, and whether every message it saw acknowledged is in
the room once. Used by tests/e2e/test_live_failover.py and bench/failover_bench.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

Message = dict[str, Any]
NOT_EVENTS = ("snapshot", "ack", "error", "pong")
RESEND_S = 1.0
ACKED_KEPT_S = 30.0
STOP_CODES = (4401, 4403, 4410, 4423, 4429)


@dataclass
class Audit:
    """What one client saw: per epoch, the events missing (a gap no snapshot covers) and doubled
    (a number seen twice, or again after a snapshot that had it)."""

    missing: int = 0
    doubled: int = 0
    epochs: list[str] = field(default_factory=list)
    next_seq: dict[str, int] = field(default_factory=dict)  # per epoch: the next expected

    def snapshot(self, epoch: str, seq: int) -> None:
        if epoch not in self.next_seq:
            self.epochs.append(epoch)
        self.next_seq[epoch] = max(self.next_seq.get(epoch, 0), seq + 1)

    def event(self, epoch: str, seq: int) -> None:
        expected = self.next_seq.get(epoch)
        if expected is None:  # an event of an epoch it has no snapshot of: all before missing
            self.epochs.append(epoch)
            expected = 1
        if seq < expected:
            self.doubled += 1
            return
        self.missing += seq - expected
        self.next_seq[epoch] = seq + 1


class ChatClient:
    """One person in a room, through one gateway URL maker, chatting."""

    def __init__(self, name: str, url: Callable[[str | None, int | None], str]) -> None:
        self.name = name
        self.url = url  # (epoch, seq) -> the WebSocket URL to (re)connect to
        self.epoch: str | None = None
        self.seq = 0
        self.audit = Audit()
        self.outbox: dict[str, Message] = {}
        self.sent_at: dict[str, float] = {}
        self.acked: list[tuple[Message, str | None, float]] = []
        self.acked_ids: set[str] = set()
        self.sent: list[str] = []  # every chat text sent, in order
        self.chat: Counter[str] = Counter()  # texts in the room as this client has it now
        self.events_at: list[float] = []  # when each numbered event arrived (monotonic)
        self.connects = 0
        self.closes: Counter[int] = Counter()
        self.ws: ClientConnection | None = None
        self.joined = False
        self.stopped = False
        self.counter = 0
        self.task: asyncio.Task[None] | None = None
        self.sending: set[asyncio.Future[None]] = set()

    # -- sending ------------------------------------------------------------------------------

    def say(self, text: str | None = None) -> str:
        self.counter += 1
        cid = f"{self.name}-{self.counter}"
        text = text or cid
        message = {"v": 1, "type": "chat.send", "id": cid, "text": text, "to": "all"}
        self.outbox[cid] = message
        self.sent_at[cid] = 0.0
        self.sent.append(text)
        if self.joined:
            self._write(message)
        return cid

    def _write(self, message: Message) -> None:
        ws = self.ws
        if ws is None:
            return
        self.sent_at[message["id"]] = time.monotonic()
        task = asyncio.ensure_future(self._send(ws, json.dumps(message)))
        self.sending.add(task)
        task.add_done_callback(self.sending.discard)

    @staticmethod
    async def _send(ws: ClientConnection, text: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await ws.send(text)

    def _flush(self) -> None:
        for message in list(self.outbox.values()):
            self._write(message)

    # -- the connection -----------------------------------------------------------------------

    def start(self) -> ChatClient:
        self.task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        attempt = 0
        while not self.stopped:
            code = await self._once()
            if self.stopped or code in STOP_CODES:
                return
            if code == 1012:
                continue
            attempt += 1
            await asyncio.sleep(random.uniform(0, min(2.0, 0.1 * 2**attempt)))  # full jitter

    async def _once(self) -> int:
        try:
            ws = await connect(self.url(self.epoch, self.seq if self.epoch else None))
        except (OSError, InvalidHandshake, InvalidStatus, TimeoutError):
            return 0
        self.ws, self.joined = ws, False
        self.connects += 1
        joined_later = asyncio.get_running_loop().call_later(1.0, self._mark_joined, ws)
        resend = asyncio.create_task(self._resend_forever(ws))
        try:
            async for raw in ws:
                self._received(ws, json.loads(raw))
        except ConnectionClosed:
            pass
        finally:
            joined_later.cancel()
            resend.cancel()
            self.ws, self.joined = None, False
        code = ws.close_code or 1006
        self.closes[code] += 1
        return code

    async def _resend_forever(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(RESEND_S / 2)
            if self.joined and self.ws is ws:
                now = time.monotonic()
                for cid, message in list(self.outbox.items()):
                    if now - self.sent_at.get(cid, 0.0) >= RESEND_S:
                        self._write(message)

    def _mark_joined(self, ws: ClientConnection) -> None:
        if self.ws is ws and not self.joined:
            self.joined = True
            self._flush()

    def _received(self, ws: ClientConnection, message: Message) -> None:
        kind = message.get("type")
        if kind == "pong":
            return
        if kind in ("ack", "error") and message.get("id"):
            sent = self.outbox.pop(message["id"], None)
            if kind == "ack" and sent is not None:
                self.acked_ids.add(message["id"])
                self.acked.append((sent, self.epoch, time.monotonic()))
                self.acked = self.acked[-32:]
            return
        if kind == "error":
            return
        if kind == "snapshot":
            self._snapshot(message)
        elif "seq" in message and kind not in NOT_EVENTS:
            self._event(message)
        self._mark_joined(ws)

    def _snapshot(self, message: Message) -> None:
        epoch = str(message["epoch"])
        if self.epoch is not None and epoch != self.epoch:  # a new epoch: resend the recent
            now = time.monotonic()
            for sent, when_epoch, at in self.acked:
                if when_epoch != epoch and now - at < ACKED_KEPT_S:
                    self.outbox.setdefault(sent["id"], sent)
                    self.sent_at[sent["id"]] = 0.0
            self.acked = [a for a in self.acked if a[1] == epoch]
        self.epoch, self.seq = epoch, int(message["seq"])
        self.audit.snapshot(epoch, self.seq)
        self.chat = Counter(str(m.get("text")) for m in message.get("chat", []))

    def _event(self, message: Message) -> None:
        epoch, seq = str(message["epoch"]), int(message["seq"])
        self.events_at.append(time.monotonic())
        self.audit.event(epoch, seq)
        if epoch != self.epoch:
            return
        self.seq = max(self.seq, seq)
        if message["type"] == "chat.message":
            self.chat[str(message.get("text"))] += 1

    async def stop(self) -> None:
        self.stopped = True
        ws = self.ws
        if ws is not None:
            await ws.close()
        if self.task is not None:
            try:
                await asyncio.wait_for(self.task, 5)
            except (TimeoutError, asyncio.CancelledError):
                self.task.cancel()

    # -- what it saw ----------------------------------------------------------------------------

    def acked_texts(self) -> list[str]:
        return [cid for cid in self.sent if cid in self.acked_ids]


def applied_once(clients: list[ChatClient]) -> tuple[int, int]:
    """(lost, doubled): over every client's view of the room now, the messages some client
    saw acknowledged that are not there, and those there more than once."""
    lost = doubled = 0
    acked = [text for c in clients for text in c.acked_texts()]
    for client in clients:
        lost += sum(1 for text in acked if client.chat[text] == 0)
        doubled += sum(1 for text in acked if client.chat[text] > 1)
    return lost, doubled


@dataclass
class Outcome:
    """What a chat through a failover came to."""

    clients: list[ChatClient]
    kill_at: float  # monotonic
    promoted_s: float  # from the kill to the promotion, as the cluster tells it

    def missing(self) -> int:
        return sum(c.audit.missing for c in self.clients)

    def doubled(self) -> int:
        return sum(c.audit.doubled for c in self.clients)

    def gap_s(self) -> float:
        """The longest a client went without a room event, across the kill."""
        worst = 0.0
        for c in self.clients:
            before = [t for t in c.events_at if t <= self.kill_at]
            after = [t for t in c.events_at if t > self.kill_at]
            if before and after:
                worst = max(worst, after[0] - before[-1])
        return worst


async def settled(clients: list[ChatClient], timeout_s: float, epoch_other_than: str = "") -> None:
    """Wait until every client is in one epoch (not `epoch_other_than`), has nothing left in
    its outbox, and has every message anyone saw acknowledged in its view once."""
    deadline = time.monotonic() + timeout_s
    while True:
        epochs = {c.epoch for c in clients}
        if (
            len(epochs) == 1
            and epoch_other_than not in epochs
            and all(not c.outbox and c.joined for c in clients)
            and applied_once(clients) == (0, 0)
        ):
            return
        if time.monotonic() > deadline:
            state = [(c.name, c.epoch, len(c.outbox), c.joined) for c in clients]
            raise AssertionError(
                f"not settled within {timeout_s} s: {state}, lost/doubled {applied_once(clients)}"
            )
        await asyncio.sleep(0.05)
