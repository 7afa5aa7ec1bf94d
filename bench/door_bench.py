"""`make bench-door`: slow clients against the door of each server, one JSON object per line.

    python bench/door_bench.py [step ...]     # steps: run, live, peers; every step when none
    BENCH_QUICK=1 python bench/door_bench.py  # 1,000 sockets for 20 s while developing

Each step besieges a real server process (pinned to core 0; this process, the clients, to core
1) with 5,000 sockets from 127.5.5.5 that each send an unfinished head and one more header line
every 4 s, for 45 s, while a whole request from 127.0.0.1 every 0.25 s measures how long others
wait, and an honest slow client (its head spread over 3 s, from 127.9.9.9) tries at 5 s and 30 s
(tests/slow_clients.py). Printed: the fraction of the slow sockets closed by 45 s and when 90 %
were, the worst and the 99th-percentile time of the normal request, the honest client's status.
`peers` does the same to the app under plain uvicorn (homeroom's server before the door),
hypercorn and granian (bench/server_peers.py), for docs/server.md.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench import server_peers  # noqa: E402
from bench.steps import Steps, emit  # noqa: E402
from tests.e2e.test_live_processes import KEYS, LiveProcess  # noqa: E402
from tests.gate_process import GateProcess  # noqa: E402
from tests.slow_clients import Report, Siege, besiege, http_head, websocket_head  # noqa: E402

from homeroom.config import load_settings  # noqa: E402
from homeroom.core.live.parts import Role  # noqa: E402
from homeroom.keys import live_join_key  # noqa: E402
from homeroom.live.jointoken import JoinClaims, JoinTokens  # noqa: E402
from homeroom.school.data.db import upgrade  # noqa: E402

SERVER_CPU, CLIENT_CPU = 0, 1
QUICK = os.environ.get("BENCH_QUICK") == "1"
SOCKETS, SECONDS = (1000, 20.0) if QUICK else (5000, 45.0)

step = Steps()


def report(server: str, kind: str, result: Report) -> None:
    closed = sorted(result.closed_at)
    ninety = closed[int(0.9 * result.sockets) - 1] if len(closed) >= 0.9 * result.sockets else None
    probes = sorted(p.seconds for p in result.probes)
    common = {"server": server, "kind": kind, "sockets": result.sockets, "siege_s": SECONDS}
    emit("slow_closed_fraction", result.closed_within(SECONDS), "fraction", **common,
         connected=result.connected, goal=">= 0.9")  # fmt: skip
    if ninety is not None:  # not printed when 90 % were never closed
        emit("slow_closed_90pct_s", ninety, "s", **common)
    emit("slow_probe_worst_s", result.worst_probe_s, "s", **common, goal="< 1",
         unanswered=sum(1 for p in result.probes if p.status in (0, 503)),
         probes=len(result.probes))  # fmt: skip
    emit(
        "slow_probe_p99_s", probes[int(0.99 * (len(probes) - 1))] if probes else 0.0, "s", **common
    )
    emit("slow_honest_status", min(h.status for h in result.honest), "status", **common,
         statuses=[h.status for h in result.honest])  # fmt: skip


def siege_http(process: GateProcess) -> Report:
    head, whole = http_head("127.0.0.1", process.port)
    siege = Siege("127.0.0.1", process.port, head, sockets=SOCKETS, duration_s=SECONDS)
    return asyncio.run(besiege(siege, whole))


@step("run")
def bench_run() -> None:
    """`homeroom run`, its door with the default settings."""
    with GateProcess({"HOMEROOM_LIVE_PORT": "0"}, cpu=str(SERVER_CPU)) as process:
        report("homeroom", "http", siege_http(process))


@step("live")
def bench_live() -> None:
    """`homeroom live`: the WebSocket handshake, the honest one with a valid join token."""
    database = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='homeroom-door-')}/school.db"
    upgrade(database)  # where the gateway records chat; `homeroom run` would have migrated it
    process = LiveProcess({"HOMEROOM_SECRET_KEYS": KEYS, "HOMEROOM_DATABASE_URL": database})
    process.start()
    try:
        assert process.proc is not None
        os.sched_setaffinity(process.proc.pid, {SERVER_CPU})
        claims = JoinClaims("bench", "p1", Role.PUPIL, "P1", int(time.time()) + 3600)
        token = JoinTokens(live_join_key(load_settings(secret_keys=KEYS))).issue(claims)
        head, whole = websocket_head("127.0.0.1", process.port, f"/live?token={token}")
        siege = Siege("127.0.0.1", process.port, head, sockets=SOCKETS, duration_s=SECONDS)
        report("homeroom", "websocket", asyncio.run(besiege(siege, whole)))
    finally:
        process.stop()


@step("peers")
def bench_peers() -> None:
    """The app under the other servers, with their own defaults."""
    for name in server_peers.SERVERS:
        env = {"HOMEROOM_LIVE_PORT": "0"}
        command = server_peers.command(name)
        with GateProcess(env, cpu=str(SERVER_CPU), command=command) as process:
            report(name, "http", siege_http(process))


if __name__ == "__main__":
    os.sched_setaffinity(0, {CLIENT_CPU})
    raise SystemExit(step.run(sys.argv[1:]))
