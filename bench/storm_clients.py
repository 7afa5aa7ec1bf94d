"""Recorded live clients for the reconnect storm (bench/storm_bench.py, tests/e2e/test_storm.py).

    python bench/storm_clients.py        # commands on stdin, one JSON object a line; replies on stdout

One process, one `homeroom.rehearsal.recorder.Fleet` on uvloop: each client keeps the browser's
contract (resume, outbox, full-jitter backoff) and records what it sees for the audit. A process
holds at most 18,000 clients (20,000 open files a process here).

Commands (`op`):
- `join`: `rooms` ([room, [person, ...]], the first person of each room its teacher), `urls`,
  `keys` (HOMEROOM_SECRET_KEYS, to sign join tokens as the school does), `jitter`, `seed`,
  `sources` (local addresses to connect from): each room's teacher first, then its pupils;
  replies when all are joined.
- `chat`: from now on each room says one chat message every `period_s` (a random member, a
  random phase); `quiet` stops that.
- `stats`: clients online, CPU seconds and RSS of this process.
- `since`: `t0` (time.monotonic(), one clock for every process of the machine): each client's
  first open at or after it (null if none yet), and every open after it.
- `cut`: drop every socket at once without a close frame (a network blip, a balancer
  restarted): each client comes back by its rules.
- `settle`: until every client is joined, its outbox empty, and at its room's last message.
- `records`: close everything and write each client's record, one JSON object a line, to `path`.
- `quit`.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from homeroom.config import Settings  # noqa: E402
from homeroom.core.live.parts import Role  # noqa: E402
from homeroom.keys import live_join_key  # noqa: E402
from homeroom.live.jointoken import JoinClaims, JoinTokens  # noqa: E402
from homeroom.rehearsal.recorder import Fleet, RecordedClient  # noqa: E402

MAX_CLIENTS = 18_000
MAX_LIFETIME_S = 1800  # whatever the parent does, this process does not outlive this
TOKEN_S = 4 * 3600


class Worker:
    fleet_class: type[Fleet] = Fleet  # bench/cluster_clients.py times the chat with its own

    def __init__(self) -> None:
        self.fleet: Fleet | None = None
        self.rooms: dict[str, list[RecordedClient]] = {}
        self.chatting: asyncio.Task[None] | None = None

    async def join(self, cmd: dict[str, Any]) -> dict[str, Any]:
        count = sum(len(people) for _, people in cmd["rooms"])
        if count > MAX_CLIENTS:
            raise ValueError(f"at most {MAX_CLIENTS} clients a process")
        tokens = JoinTokens(live_join_key(Settings(secret_keys=cmd["keys"])))
        fleet = self.fleet = self.fleet_class(
            jitter=bool(cmd.get("jitter", True)),
            seed=int(cmd.get("seed", 1)),
            sources=cmd.get("sources", ()),
            concurrency=int(cmd.get("concurrency", 500)),  # the first joins, gently
        )
        urls = list(cmd["urls"])

        def token_of(room: str, person: str, role: Role) -> Any:
            return lambda: tokens.issue(
                JoinClaims(room, person, role, person, int(time.time()) + TOKEN_S)
            )

        started = time.monotonic()
        teachers, pupils = [], []
        for room, people in cmd["rooms"]:
            members = self.rooms[room] = []
            for n, person in enumerate(people):
                role = Role.TEACHER if n == 0 else Role.PUPIL
                client = fleet.add(person, room, person, urls, token_of(room, person, role))
                members.append(client)
                (teachers if n == 0 else pupils).append(client)
        timeout = float(cmd.get("timeout", 300))
        for client in teachers:  # a pupil before any teacher would wait in the lobby
            client.start()
        await fleet.until(lambda: all(c.epoch for c in teachers), timeout, "the teachers in")
        for client in pupils:
            client.start()
        await fleet.until(lambda: all(c.epoch for c in fleet.clients), timeout, "everyone in")
        fleet.opening = asyncio.Semaphore(100_000)  # from now on as browsers: no bound
        return {"joined": len(fleet.clients), "elapsed_s": time.monotonic() - started}

    def chat(self, cmd: dict[str, Any]) -> dict[str, Any]:
        period = float(cmd.get("period_s", 5.0))
        rng = random.Random(int(cmd.get("seed", 1)))

        async def room(members: list[RecordedClient]) -> None:
            await asyncio.sleep(rng.random() * period)
            while True:
                rng.choice(members).chat()
                await asyncio.sleep(period)

        async def every_room() -> None:
            await asyncio.gather(*(room(m) for m in self.rooms.values()))

        self.chatting = asyncio.create_task(every_room())
        return {"chatting": len(self.rooms)}

    async def quiet(self) -> dict[str, Any]:
        if self.chatting is not None:
            self.chatting.cancel()
            await asyncio.gather(self.chatting, return_exceptions=True)
            self.chatting = None
        return {"quiet": True}

    def stats(self) -> dict[str, Any]:
        fleet = self.fleet
        usage = resource.getrusage(resource.RUSAGE_SELF)
        statm = Path("/proc/self/statm").read_text().split()
        return {
            "online": fleet.online if fleet else 0,
            "clients": len(fleet.clients) if fleet else 0,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "rss": int(statm[1]) * os.sysconf("SC_PAGE_SIZE"),
            "pid": os.getpid(),
        }

    def since(self, cmd: dict[str, Any]) -> dict[str, Any]:
        assert self.fleet is not None
        t0 = float(cmd["t0"])
        first = [next((t for t in c.record.opened if t >= t0), None) for c in self.fleet.clients]
        return {
            "first": first,
            "opens": [t for t in self.fleet.opens if t >= t0],
            "failures": self.fleet.failures,
        }

    def cut(self) -> dict[str, Any]:
        assert self.fleet is not None
        for client in self.fleet.clients:
            client.cut()
        return {"cut": len(self.fleet.clients), "at": time.monotonic()}

    async def settle(self, cmd: dict[str, Any]) -> dict[str, Any]:
        assert self.fleet is not None
        try:
            await self.fleet.until(self.fleet.caught_up, float(cmd.get("timeout", 60)), "settled")
        except TimeoutError:
            return {"settled": False, "online": self.fleet.online}
        return {"settled": True, "online": self.fleet.online}

    async def records(self, cmd: dict[str, Any]) -> dict[str, Any]:
        assert self.fleet is not None
        await self.quiet()
        records = await self.fleet.close()
        with open(cmd["path"], "w") as out:
            for record in records:
                out.write(json.dumps(record.to_json(), separators=(",", ":")) + "\n")
        return {"records": len(records)}


async def serve(worker: Worker | None = None) -> None:
    worker = worker or Worker()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    loop.call_later(MAX_LIFETIME_S, os._exit, 3)
    while True:
        line = await reader.readline()
        if not line:
            return  # the parent is gone
        cmd = json.loads(line)
        op = cmd["op"]
        try:
            if op == "join":
                out = await worker.join(cmd)
            elif op == "chat":
                out = worker.chat(cmd)
            elif op == "quiet":
                out = await worker.quiet()
            elif op == "stats":
                out = worker.stats()
            elif op == "since":
                out = worker.since(cmd)
            elif op == "cut":
                out = worker.cut()
            elif op == "settle":
                out = await worker.settle(cmd)
            elif op == "records":
                out = await worker.records(cmd)
            elif op == "quit":
                return
            elif hasattr(worker, f"op_{op}"):  # a subclass's own commands
                out = await getattr(worker, f"op_{op}")(cmd)
            else:
                out = {"error": f"unknown op {op}"}
        except Exception as exc:
            out = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


def main() -> None:
    import uvloop

    uvloop.run(serve())


if __name__ == "__main__":
    main()
