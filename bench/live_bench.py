"""`make bench-live`: the live gateway's figures of issue #4 §5, one JSON object per line.

    python bench/live_bench.py [step ...]     # idle, broadcast, class, joins; all when none named
    BENCH_QUICK=1 python bench/live_bench.py  # fewer connections, shorter runs
    BENCH_LIVE_PROFILE=DIR python bench/live_bench.py class   # cProfile each gateway into DIR

Loopback only. The gateways (real `homeroom live` processes, memory log) are pinned to core 0,
the clients (bench/live_clients.py, several processes) to core 1. One process may hold 20,000
open files here, so 50,000 connections are three gateway processes, each on its own port with
its own rooms: with the memory log a room lives in one process, so this measures a gateway
process's own costs (memory, fan-out) without a Redis round trip in the way; the JSON lines say
`log: memory, ports: 3`. The peers (bench/live_peers.py: plain websockets, python-socketio on
aiohttp) run in the same shape in the same run. Every step has a hard deadline; every process
started here is killed on any exit.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.procs import start, stop  # noqa: E402
from bench.steps import Steps, emit  # noqa: E402
from tests.redis_servers import free_port  # noqa: E402

from homeroom.config import Settings  # noqa: E402
from homeroom.core.live.parts import Role  # noqa: E402
from homeroom.keys import live_join_key  # noqa: E402
from homeroom.live.jointoken import JoinClaims, JoinTokens  # noqa: E402
from homeroom.school.data import db  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python")
HOMEROOM = str(ROOT / ".venv" / "bin" / "homeroom")
SERVER_CPU, CLIENT_CPU = "0", "1"
QUICK = os.environ.get("BENCH_QUICK") == "1"
PROFILE_DIR = os.environ.get("BENCH_LIVE_PROFILE", "")
KEYS_ENV = "1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
TOKENS = JoinTokens(live_join_key(Settings(secret_keys=KEYS_ENV)))  # the gateway's own key
PAGE = os.sysconf("SC_PAGE_SIZE")

CONNECTIONS = 6_000 if QUICK else 50_000  # idle and broadcast, over PROCESSES
PROCESSES = 3
ROOM = 30  # people in a class: a teacher and 29 pupils
BROADCASTS = 3 if QUICK else 5
CLASSES, CLASS_PUPILS = (100, 30) if QUICK else (1000, 30)
CLASS_S = 10 if QUICK else 60
JOINS = 3_000 if QUICK else 10_000
BIG_ROOM = 500 if QUICK else 1_500  # the largest room a process joins in bounded time

step = Steps()


# -- processes: all started here, all killed on any exit ---------------------------------------


def _on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `finally`, then atexit


signal.signal(signal.SIGTERM, _on_signal)


@contextlib.contextmanager
def deadline(seconds: float, what: str) -> Iterator[None]:
    """Raise TimeoutError in whatever this process is doing (a pipe read too) after `seconds`."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"{what}: over its {seconds:.0f} s deadline")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


def cpu_split(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_s(pid: int) -> float:
    return sum(cpu_split(pid))


def cpu_of(servers: Sequence[Server]) -> tuple[float, float]:
    """User and system CPU seconds of several servers so far, summed."""
    splits = [cpu_split(s.pid) for s in servers]
    return sum(u for u, _ in splits), sum(k for _, k in splits)


class Server:
    """One server process under test, pinned to the server core; `pid` is the process itself."""

    def __init__(self, argv: list[str], env: dict[str, str], ready: str, port: int) -> None:
        self.port = port
        self.workdir = tempfile.mkdtemp(prefix="homeroom-live-bench-")
        self.proc = start(
            argv,
            SERVER_CPU,
            text=True,
            env={**os.environ, **env},
            cwd=self.workdir,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # under the step's deadline
        if ready not in line:
            raise RuntimeError(f"{argv}: did not start ({line.strip()!r})")
        self.pid = self.proc.pid  # taskset execs the program: the pid is the server's own

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def cpu(self) -> float:
        return cpu_s(self.pid)

    def stop(self) -> None:
        # a gateway spends up to 10 s on the records left on SIGTERM; a profile is written after
        stop(self.proc, grace_s=30 if PROFILE_DIR else 15)


def school_database() -> str:
    """A SQLite school database at head, as `homeroom run` leaves it: the gateway polls its
    revocations and looks up the sessions of its chat records, which it drops here (the bench's
    rooms have no class session: two indexed lookups a batch instead of an insert)."""
    url = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='homeroom-live-bench-db-')}/school.db"
    db.upgrade(url)
    return url


def gateway() -> Server:
    port = free_port()
    env = {
        "HOMEROOM_LIVE_PORT": str(port),
        "HOMEROOM_LIVE_HOST": "127.0.0.1",
        "HOMEROOM_BACKEND_URL": "memory://",
        "HOMEROOM_SECRET_KEYS": KEYS_ENV,
        "HOMEROOM_LOG_LEVEL": "warning",
        "HOMEROOM_DATABASE_URL": school_database(),
    }
    argv = [HOMEROOM, "live"]
    if PROFILE_DIR:
        out = Path(PROFILE_DIR) / f"gateway-{port}.prof"
        argv = [PY, str(ROOT / "bench" / "live_profiled.py"), str(out)]
    return Server(argv, env, "homeroom live:", port)


def peer(kind: str) -> Server:
    port = free_port()
    argv = [PY, str(ROOT / "bench" / "live_peers.py"), kind, str(port)]
    return Server(argv, {}, "ready", port)


def floor_binary() -> Path | None:
    """bench/floor_server.c compiled here: a broadcast with nothing but one write() a
    recipient; None without a C compiler."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    binary = Path(tempfile.mkdtemp(prefix="homeroom-floor-")) / "floor"
    subprocess.run(
        [cc, "-O2", "-o", str(binary), str(ROOT / "bench" / "floor_server.c")], check=True
    )
    return binary


def floor(binary: Path) -> Server:
    port = free_port()
    return Server([str(binary), str(port)], {}, "floor:", port)


class Clients:
    """One bench/live_clients.py process on the client core, driven line by line."""

    def __init__(self) -> None:
        self.proc = start(
            [PY, str(ROOT / "bench" / "live_clients.py")],
            CLIENT_CPU,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.count = 0

    def send(self, op: str, **args: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()

    def reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"client process exited ({self.proc.poll()})")
        out: dict[str, Any] = json.loads(line)
        if "error" in out:
            raise RuntimeError(f"client: {out['error']}")
        return out

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        self.send(op, **args)
        return self.reply()

    def connect(self, conns: list[dict[str, Any]], concurrency: int = 200) -> dict[str, Any]:
        self.send_connect(conns, concurrency)
        return self.reply()

    def send_connect(
        self, conns: list[dict[str, Any]], concurrency: int = 200, timeout_s: float = 400
    ) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(conns, handle)
        self.count += len(conns)
        self.send("connect", spec=handle.name, concurrency=concurrency, timeout=timeout_s)

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.send("quit")
        stop(self.proc)


@contextlib.contextmanager
def running(*things: Server | Clients) -> Iterator[None]:
    try:
        yield
    finally:
        for thing in things:
            thing.stop()


def token_path(room: str, person: str, role: Role) -> str:
    claims = JoinClaims(room, person, role, person, int(time.time()) + 3600)
    return "/live?token=" + TOKENS.issue(claims)


def class_conns(port: int, group: int, count: int, size: int = ROOM) -> list[dict[str, Any]]:
    """`count` connections in rooms of `size`, the first of each room its teacher. Rooms and
    people are numbered as the school numbers them (`s<session>`, person ids), so the records
    the rooms make are well-formed ones."""
    out = []
    for i in range(count):
        room = f"s{group * 1_000_000 + i // size + 1}"
        role = Role.TEACHER if i % size == 0 else Role.PUPIL
        person = str(group * 10_000_000 + i + 1)
        out.append({"port": port, "path": token_path(room, person, role), "kind": "ws"})
    return out


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def connect_all(
    clients: list[Clients], specs: list[list[dict[str, Any]]], timeout_s: float = 400
) -> list[dict[str, Any]]:
    for c, spec in zip(clients, specs, strict=True):
        c.send_connect(spec, timeout_s=timeout_s)
    results = [c.reply() for c in clients]
    failed = sum(r["failed"] for r in results)
    if failed:
        raise RuntimeError(f"{failed} connections failed: {[r['errors'] for r in results]}")
    return results


# -- idle memory -------------------------------------------------------------------------------


@step("idle")
def bench_idle() -> None:
    """RSS growth of the gateway processes per idle, joined connection (classes of 30)."""
    counts = split(CONNECTIONS, PROCESSES)
    with deadline(420, "idle"):
        gateways = [gateway() for _ in counts]
        clients = [Clients() for _ in counts]
        with running(*gateways, *clients):
            time.sleep(1.0)
            before = [g.rss() for g in gateways]
            started = time.monotonic()
            specs = [
                class_conns(g.port, 10 + k, n)
                for k, (g, n) in enumerate(zip(gateways, counts, strict=True))
            ]
            results = connect_all(clients, specs)
            elapsed = time.monotonic() - started
            time.sleep(3.0)  # idle: the sweep has run, nothing else moves
            after = [g.rss() for g in gateways]
    grown = sum(after) - sum(before)
    emit(
        "live_idle_kb_per_conn",
        grown / 1024 / CONNECTIONS,
        "KB",
        connections=CONNECTIONS,
        processes=PROCESSES,
        ports=PROCESSES,
        log="memory",
        room_size=ROOM,
        rss_before_kb=[b // 1024 for b in before],
        rss_after_kb=[a // 1024 for a in after],
        joined=sum(r["joined"] for r in results),
        connect_s=round(elapsed, 2),
        goal="<= 8",
    )


# -- broadcast ---------------------------------------------------------------------------------


Fire = Callable[[int, str], tuple[list[int], str]]  # process, marker: who sends what


def broadcast_round(clients: list[Clients], counts: list[int], fire: Fire) -> dict[str, Any]:
    """Every connection gets one frame holding a new marker: the delay from the first send to
    the last arrival, over all processes."""
    marker = "M" + secrets.token_hex(4)
    for c, n in zip(clients, counts, strict=True):
        c.call("arm", marker=marker, count=n)
    sent = []
    for k, c in enumerate(clients):
        indices, text = fire(k, marker)
        sent.append(c.call("fire", indices=indices, text=text)["sent"])
    waits = [c.call("wait", timeout=60) for c in clients]
    received = sum(w["received"] for w in waits)
    elapsed = max(w["last"] for w in waits) - min(sent)
    return {
        "rate": received / elapsed if elapsed > 0 else 0.0,
        "elapsed_s": elapsed,
        "received": received,
        "complete": all(w["complete"] for w in waits),
        "frame_bytes": max(w["frame_bytes"] for w in waits),
    }


def hold_and_broadcast(
    servers: list[Server],
    conns: list[list[dict[str, Any]]],
    fire: Fire,
    connect_timeout_s: float = 400,
) -> tuple[list[dict[str, Any]], float, float]:
    """Connect, measure the servers' RSS growth, then BROADCASTS rounds. Returns the rounds,
    KB per connection, and the seconds the connections took."""
    clients = [Clients() for _ in servers]
    with running(*clients):
        time.sleep(1.0)
        before = [s.rss() for s in servers]
        started = time.monotonic()
        connect_all(clients, conns, connect_timeout_s)
        connect_s = time.monotonic() - started
        time.sleep(3.0)
        after = [s.rss() for s in servers]
        counts = [len(c) for c in conns]
        rounds = []
        for _ in range(BROADCASTS):
            user0, sys0 = cpu_of(servers)
            rounds.append(broadcast_round(clients, counts, fire))
            user1, sys1 = cpu_of(servers)
            rounds[-1].update(
                server_user_s=user1 - user0,
                server_sys_s=sys1 - sys0,
                server_cpu_s=user1 - user0 + sys1 - sys0,
            )
            time.sleep(0.5)
    kb = (sum(after) - sum(before)) / 1024 / sum(counts)
    return rounds, kb, connect_s


def summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rates": [round(r["rate"]) for r in rounds],
        "elapsed_ms": [round(r["elapsed_s"] * 1000, 1) for r in rounds],
        "all_received": all(r["complete"] for r in rounds),
        "frame_bytes": rounds[0]["frame_bytes"],
        # the servers' CPU (user + system, 10 ms ticks) over the round, per delivered frame
        "server_cpu_us_per_msg": [
            round(r["server_cpu_s"] / r["received"] * 1e6, 2) for r in rounds if r["received"]
        ],
        # the kernel's part of it (the send() a recipient, loopback delivery included)
        "server_sys_us_per_msg": [
            round(r["server_sys_s"] / r["received"] * 1e6, 2) for r in rounds if r["received"]
        ],
        "server_sys_share": round(
            sum(r["server_sys_s"] for r in rounds)
            / max(1e-9, sum(r["server_cpu_s"] for r in rounds)),
            3,
        ),
    }


def chat_from(teachers: list[list[int]]) -> Fire:
    def fire(k: int, marker: str) -> tuple[list[int], str]:
        message = {"type": "chat.send", "id": "b" + marker[1:], "text": marker, "to": "all"}
        return teachers[k], json.dumps(message)

    return fire


def live_broadcast(
    counts: list[int], room: int | None
) -> tuple[list[dict[str, Any]], float, float]:
    """homeroom: rooms of `room` (None: one room a process), every room's teacher saying the
    same short thing at once, so that every connection gets one chat.message frame."""
    gateways = [gateway() for _ in counts]
    with running(*gateways):
        sizes = [room or n for n in counts]
        conns = [
            class_conns(g.port, 20 + k, n, size=size)
            for k, (g, n, size) in enumerate(zip(gateways, counts, sizes, strict=True))
        ]
        teachers = [list(range(0, n, size)) for n, size in zip(counts, sizes, strict=True)]
        rounds, kb, connect_s = hold_and_broadcast(gateways, conns, chat_from(teachers))
    return rounds, kb, connect_s


@step("broadcast")
def bench_broadcast() -> None:
    """~100 bytes to every connection: homeroom, plain websockets, python-socketio."""
    counts = split(CONNECTIONS, PROCESSES)
    common = {"connections": CONNECTIONS, "processes": PROCESSES, "ports": PROCESSES}

    with deadline(600, "broadcast homeroom"):
        live, live_kb, connect_s = live_broadcast(counts, None)  # one room a process
    size = live[0]["frame_bytes"]
    live_rate = statistics.median(r["rate"] for r in live)
    emit(
        "live_broadcast_msgs_per_s",
        live_rate,
        "msgs/s",
        **common,
        log="memory",
        rooms=PROCESSES,
        room_size=counts,
        events=PROCESSES,
        **summary(live),
        connect_s=round(connect_s, 1),
        note="one room a process (the memory log is one process's): its teacher's chat reaches "
        "everyone in it",
    )

    def padded(marker: str, overhead: int) -> str:
        """A payload making a frame of homeroom's size (a 2-byte header, and `overhead`
        bytes of framing inside the payload)."""
        return marker + "x" * max(0, size - 2 - overhead - len(marker))

    with deadline(600, "broadcast websockets"):
        servers = [peer("websockets") for _ in counts]
        with running(*servers):
            conns = [
                [{"port": s.port, "path": "/", "kind": "plain"}] * n
                for s, n in zip(servers, counts, strict=True)
            ]
            ws, ws_kb, _ = hold_and_broadcast(
                servers, conns, lambda k, m: ([0], "broadcast:" + padded(m, 0))
            )
    ws_rate = statistics.median(r["rate"] for r in ws)
    emit("websockets_broadcast_msgs_per_s", ws_rate, "msgs/s", **common, **summary(ws))
    emit("websockets_idle_kb_per_conn", ws_kb, "KB", **common)
    # before the Socket.IO peer: a figure of its own, whatever becomes of that one
    emit("live_vs_websockets", live_rate / ws_rate, "ratio", goal=">= 1.5")

    # The floor: what one write() a recipient costs on this machine today, with no user-space
    # work around it. No server in any language delivers faster; the two ratios say how much
    # of each stack's time is its own.
    binary = floor_binary()
    with deadline(600, "broadcast floor"):
        if binary is not None:
            servers = [floor(binary) for _ in counts]
            with running(*servers):
                conns = [
                    [{"port": s.port, "path": "/", "kind": "plain"}] * n
                    for s, n in zip(servers, counts, strict=True)
                ]
                low, _, _ = hold_and_broadcast(servers, conns, lambda k, m: ([0], padded(m, 0)))
            low_rate = statistics.median(r["rate"] for r in low)
            emit("floor_broadcast_msgs_per_s", low_rate, "msgs/s", **common, **summary(low))
            emit("live_vs_floor", live_rate / low_rate, "ratio")
            emit("websockets_vs_floor", ws_rate / low_rate, "ratio")
        else:
            print("floor: no C compiler here, not measured", file=sys.stderr, flush=True)

    # A Socket.IO connection costs its server far more than a WebSocket one (an engine.io
    # handshake, a namespace, a room): 50,000 of them on one core can take over 400 s.
    with deadline(1_500, "broadcast socketio"):
        servers = [peer("socketio") for _ in counts]
        with running(*servers):
            path = "/socket.io/?EIO=4&transport=websocket"
            conns = [
                [{"port": s.port, "path": path, "kind": "sio", "room": f"r{k}"}] * n
                for k, (s, n) in enumerate(zip(servers, counts, strict=True))
            ]

            def sio(k: int, marker: str) -> tuple[list[int], str]:
                return [0], "42" + json.dumps(["broadcast", [f"r{k}", padded(marker, 10)]])

            sio_rounds, sio_kb, sio_connect_s = hold_and_broadcast(
                servers, conns, sio, connect_timeout_s=1_200
            )
    sio_rate = statistics.median(r["rate"] for r in sio_rounds)
    emit(
        "socketio_broadcast_msgs_per_s",
        sio_rate,
        "msgs/s",
        **common,
        rooms=PROCESSES,
        room_size=counts,
        connect_s=round(sio_connect_s, 1),
        **summary(sio_rounds),
    )
    emit("socketio_idle_kb_per_conn", sio_kb, "KB", **common, room_size=counts)
    emit("live_vs_socketio", live_rate / sio_rate, "ratio")
    emit("live_idle_vs_socketio", live_kb / sio_kb, "ratio", live_kb_per_conn=round(live_kb, 2))


@step("bigroom")
def bench_big_room() -> None:
    """One event to one room of BIG_ROOM a process: the per-event cost out of the way."""
    counts = [BIG_ROOM] * PROCESSES
    with deadline(400, "bigroom"):
        rounds, _, connect_s = live_broadcast(counts, None)
    emit(
        "live_broadcast_one_room_msgs_per_s",
        statistics.median(r["rate"] for r in rounds),
        "msgs/s",
        connections=sum(counts),
        processes=PROCESSES,
        ports=PROCESSES,
        log="memory",
        room_size=BIG_ROOM,
        events=PROCESSES,
        **summary(rounds),
        connect_s=round(connect_s, 1),
    )


# -- classes -----------------------------------------------------------------------------------


@step("class")
def bench_class() -> None:
    """CLASSES classes of a teacher and CLASS_PUPILS pupils; each teacher says something every
    second; the delay from the teacher's write to each pupil's read."""
    per = split(CLASSES, PROCESSES)
    size = CLASS_PUPILS + 1
    with deadline(CLASS_S + 400, "class"):
        gateways = [gateway() for _ in per]
        clients = [Clients() for _ in per]
        with running(*gateways, *clients):
            specs = [
                class_conns(g.port, 30 + k, n * size, size=size)
                for k, (g, n) in enumerate(zip(gateways, per, strict=True))
            ]
            connect_all(clients, specs)
            time.sleep(2.0)
            user0, sys0 = cpu_of(gateways)
            for k, (c, n) in enumerate(zip(clients, per, strict=True)):
                groups = [list(range(i * size, (i + 1) * size)) for i in range(n)]
                # classes are not in step with each other: each process its own phases
                c.send("class", groups=groups, period_s=1.0, duration_s=CLASS_S, seed=k + 1)
            results = [c.reply() for c in clients]
            user1, sys1 = cpu_of(gateways)
    user, system = user1 - user0, sys1 - sys0
    delays = array("d")
    for r in results:
        delays.frombytes(base64.b64decode(r["delays"]))
    ordered = sorted(delays)
    sent = sum(r["sent"] for r in results)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    expected = sent * CLASS_PUPILS
    emit(
        "live_class_p99_ms",
        pct(99),
        "ms",
        classes=CLASSES,
        pupils=CLASS_PUPILS,
        connections=CLASSES * size,
        processes=PROCESSES,
        ports=PROCESSES,
        log="memory",
        duration_s=CLASS_S,
        messages=sent,
        delivered=len(ordered),
        expected=expected,
        p50_ms=round(pct(50), 2),
        p90_ms=round(pct(90), 2),
        p999_ms=round(pct(99.9), 2),
        max_ms=round(ordered[-1] * 1000, 2),
        gateway_user_s=round(user, 2),
        gateway_sys_s=round(system, 2),
        gateway_cpu_share=round((user + system) / CLASS_S, 3),
        gateway_cpu_us_per_delivery=round((user + system) / max(1, len(ordered)) * 1e6, 2),
        goal="<= 100",
    )


# -- joins -------------------------------------------------------------------------------------


@step("joins")
def bench_joins() -> None:
    """Handshake, token check and join (until the snapshot arrives) on one gateway process."""
    with deadline(300, "joins"):
        gw = gateway()
        clients = Clients()
        with running(gw, clients):
            time.sleep(0.5)
            conns = class_conns(gw.port, 40, JOINS)
            cpu0 = gw.cpu()
            result = clients.connect(conns, concurrency=256)
            cpu1 = gw.cpu()
    if result["failed"]:
        raise RuntimeError(f"joins failed: {result['errors']}")
    emit(
        "live_joins_per_s",
        result["joined"] / result["elapsed_s"],
        "joins/s",
        connections=JOINS,
        processes=1,
        room_size=ROOM,
        in_flight=256,
        gateway_cpu_us_per_join=round((cpu1 - cpu0) / JOINS * 1e6, 1),
        elapsed_s=round(result["elapsed_s"], 2),
    )


# -- main --------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    names = list(sys.argv[1:] if argv is None else argv)
    done = step.run(names)
    if done:
        return done
    if PROFILE_DIR:
        print_profiles(Path(PROFILE_DIR))
    return 0


def print_profiles(folder: Path, top: int = 25) -> None:
    """Each gateway's hottest functions (own time), on stderr: the JSON lines stay clean."""
    import pstats

    for path in sorted(folder.glob("gateway-*.prof")):
        print(f"--- {path}", file=sys.stderr)
        pstats.Stats(str(path), stream=sys.stderr).sort_stats("tottime").print_stats(top)


if __name__ == "__main__":
    sys.exit(main())
