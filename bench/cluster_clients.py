"""Recorded live clients for the cluster's failures and bench (bench/cluster_bench.py), timing the chat.

    python bench/cluster_clients.py      # the commands of bench/storm_clients.py, and:

- `latency`: the send→receive times (ms) of every chat message heard since the last `latency`
  (or since `join`), by every member of its class but the sender, and the deliveries counted;
  `reset` true to start counting from now and answer nothing.
- `cuts`: `t0` (time.monotonic()): for each client, its first close at or after `t0` (null if
  none), its first open after that close (null if none yet), the close codes seen since, and
  every (close, next open) since.

A class's people are all in one process (bench/cluster_bench.py shares rooms out whole), so a
message's send time and its arrivals are read on one clock. Only messages sent while the sender
was joined are timed: one waiting in an outbox through a reconnection would time the outage.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.storm_clients import Worker, serve  # noqa: E402

from homeroom.rehearsal.recorder import Fleet, RecordedClient  # noqa: E402


class TimedClient(RecordedClient):
    fleet: TimedFleet

    def chat(self, text: str | None = None) -> str:
        joined = self.joined
        cid = super().chat(text)
        if joined:
            self.fleet.sent_at[cid] = time.monotonic()
        return cid

    def _apply(self, message: dict[str, Any], kind: Any) -> None:
        if kind == "chat.message" and message.get("to") == "all":
            fleet = self.fleet
            fleet.delivered += 1
            sent = fleet.sent_at.get(str(message.get("text", "")))
            if sent is not None and not str(message.get("text", "")).startswith(self.name + "-"):
                fleet.latencies.append(time.monotonic() - sent)
        super()._apply(message, kind)


class TimedFleet(Fleet):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sent_at: dict[str, float] = {}
        self.latencies: list[float] = []
        self.delivered = 0

    def add(
        self, name: str, room: str, person: str, urls: Sequence[str], tokens: Callable[[], str]
    ) -> RecordedClient:
        client = TimedClient(self, name, room, person, urls, tokens)
        self.clients.append(client)
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick_forever())
        return client


class TimedWorker(Worker):
    fleet_class = TimedFleet

    async def op_latency(self, cmd: dict[str, Any]) -> dict[str, Any]:
        fleet = self.fleet
        assert isinstance(fleet, TimedFleet)
        latencies, delivered = fleet.latencies, fleet.delivered
        fleet.latencies, fleet.delivered = [], 0
        fleet.sent_at = {}  # what was sent before now is not timed from now on
        if cmd.get("reset"):
            return {"reset": True}
        return {"latencies_ms": [round(s * 1000, 2) for s in latencies], "delivered": delivered}

    async def op_cuts(self, cmd: dict[str, Any]) -> dict[str, Any]:
        assert self.fleet is not None
        t0 = float(cmd["t0"])
        out = []
        for client in self.fleet.clients:
            closed = [(at, code) for at, code in client.record.closes if at >= t0]
            first = closed[0][0] if closed else None
            back = (
                next((t for t in client.record.opened if t >= first), None)
                if first is not None
                else None
            )
            pairs = [
                [at, next((t for t in client.record.opened if t >= at), None)] for at, _ in closed
            ]
            out.append([first, back, sorted({code for _, code in closed}), pairs])
        return {"cuts": out}


def main() -> None:
    import uvloop

    uvloop.run(serve(TimedWorker()))


if __name__ == "__main__":
    main()
