"""`make bench-storm`: a reconnect storm (issue #10 §3.5), one JSON object a figure per line.

    python bench/storm_bench.py [sockets-on sockets-off kill-on kill-off]   # all four by default
    BENCH_STORM_CLIENTS=2000 python bench/storm_bench.py   # fewer clients (default 20,000)

Every live client of the machine is cut at once, and comes back by the browser's rules. Servers
on core 0: a real redis-server, `homeroom run` (the probe's target) and `homeroom live` with
`GATEWAYS` worker processes on one port (SO_REUSEPORT; one process may hold 20,000 open files
here). Clients on core 1: `CLIENT_PROCS` processes of recorded clients (bench/storm_clients.py,
homeroom.rehearsal.recorder), in classes of 30, chatting, niced so that the probe (a plain
HTTP client on core 1 too, `GET /healthz` every 50 ms) is served first. Two cuts: `sockets`,
every client's socket dropped at once with the gateways up (a balancer restarted, a network
blip: the herd alone), and `kill`, kill -9 of every gateway worker, which their supervisor
starts again a second later (as systemd or Kubernetes would; the time they take to start is in
the figure). The clients come back with full-jitter backoff (`on`), or (`off`) all after the
same ceiling. Measured: the time until 99 % are back (`storm_reconnect_99_s`, from the kill), the
peak connects a second, Redis's CPU seconds over the storm (INFO CPU), the probe's p99, the
largest RSS of each kind of process against its bound, and the audit of every client's record
(0 lost, 0 doubled). `generator_limited` says when the clients' core was busy for most of the
storm: the figure is then the generator's as much as the servers'. Each storm has a deadline.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.procs import forget, start, stop  # noqa: E402
from bench.steps import emit as emit_number  # noqa: E402
from tests.gate_process import wait_http  # noqa: E402
from tests.redis_servers import RedisServer, command, free_port  # noqa: E402

from homeroom.rehearsal.audit import Report, audit  # noqa: E402
from homeroom.rehearsal.records import Record  # noqa: E402
from homeroom.school.data import db  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python")
HOMEROOM = str(ROOT / ".venv" / "bin" / "homeroom")
SERVER_CPU, CLIENT_CPU = "0", "1"
PAGE = os.sysconf("SC_PAGE_SIZE")
SOURCES = [f"127.0.0.{i}" for i in range(2, 10)]
ROOM = 30  # a teacher and 29 pupils
PROBE_PERIOD_S = 0.05
# The memory each kind of process may use (MB): a gateway holds about 3 KB a connection
# (docs/live.md), a recorded client some 10 KB with its record, Redis the rooms' logs.
BOUNDS_MB = {"gateway": 256, "client": 1024, "http": 512, "redis": 1024}


@dataclass
class Storm:
    clients: int = 20_000
    jitter: bool = True
    # "kill": kill -9 every gateway worker (started again by their supervisor a second later);
    # "sockets": every client's socket cut at once, the gateways up (a balancer restarted)
    cut: str = "kill"
    gateways: int = 4
    client_procs: int = 3
    chat_period_s: float = 5.0  # each class says something this often
    back_deadline_s: float = 240.0  # everyone back within this, or the storm is reported cut short
    settle_s: float = 90.0


@dataclass
class Outcome:
    figures: dict[str, Any] = field(default_factory=dict)
    report: Report | None = None
    all_back: bool = False


# -- processes: all started here, all killed on any exit ---------------------------------------


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


def rss_mb(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 1e6
    except (FileNotFoundError, ProcessLookupError):
        return 0.0


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process, of its children it has waited for (a killed gateway worker
    its supervisor reaped), and of its live descendants."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    own = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return own + sum(tree_cpu_s(child) for child in children(pid))


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def redis_cpu_s(port: int) -> float:
    info = command(port, "INFO", "CPU", timeout_s=5) or ""
    fields = dict(line.split(":", 1) for line in info.splitlines() if line.startswith("used_cpu_"))
    return float(fields["used_cpu_sys"]) + float(fields["used_cpu_user"])


def listen_counters() -> dict[str, int]:
    """The kernel's counts of connections a listening socket could not take (TcpExt, this
    network namespace): its accept queue full (ListenOverflows) and every drop (ListenDrops)."""
    lines = [line.split() for line in Path("/proc/net/netstat").read_text().splitlines()]
    for names, values in zip(lines[::2], lines[1::2], strict=True):
        if names[0] == "TcpExt:":
            row = dict(zip(names[1:], values[1:], strict=True))
            return {k: int(row.get(k, 0)) for k in ("ListenOverflows", "ListenDrops")}
    return {}


class Worker:
    """One process of recorded clients, driven over its stdin and stdout."""

    def __init__(self) -> None:
        self.proc = start(
            ["nice", "-n", "5", PY, str(ROOT / "bench" / "storm_clients.py")],
            CLIENT_CPU,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def send(self, cmd: dict[str, Any]) -> None:
        stdin: IO[str] | None = self.proc.stdin
        assert stdin is not None
        stdin.write(json.dumps(cmd) + "\n")
        stdin.flush()

    def reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"client process {self.proc.pid} exited ({self.proc.poll()})")
        out: dict[str, Any] = json.loads(line)
        if "error" in out:
            raise RuntimeError(f"client process: {out['error']}")
        return out

    def ask(self, cmd: dict[str, Any]) -> dict[str, Any]:
        self.send(cmd)
        return self.reply()


def ask_all(workers: list[Worker], cmd: dict[str, Any]) -> list[dict[str, Any]]:
    for w in workers:
        w.send(cmd)
    return [w.reply() for w in workers]


PROBE = """
import sys, time, http.client
host, port, period = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
while True:
    started = time.monotonic()
    try:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("GET", "/healthz")
        ok = conn.getresponse().status == 200
        conn.close()
    except OSError:
        ok = False
    sys.stdout.write("%.6f %.6f %d\\n" % (started, time.monotonic() - started, ok))
    sys.stdout.flush()
    time.sleep(max(0.0, period - (time.monotonic() - started)))
"""


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    """One figure; a figure that could not be measured (NaN) is null."""
    if isinstance(value, float) and math.isnan(value):
        print(json.dumps({"metric": metric, "value": None, "unit": unit, **extra}), flush=True)
    else:
        emit_number(metric, value, unit, **extra)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def peak_per_s(times: list[float]) -> int:
    """The most opens in any one-second window."""
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] > 1.0:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


class Servers:
    """redis-server, `homeroom run` and `homeroom live` (N workers on one port), on core 0."""

    def __init__(self, storm: Storm, keys: str) -> None:
        self.redis = RedisServer().start()
        assert self.redis.process is not None
        subprocess.run(
            ["taskset", "-p", "-c", SERVER_CPU, str(self.redis.process.pid)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self.workdir = tempfile.mkdtemp(prefix="homeroom-storm-")
        database = f"sqlite+aiosqlite:///{self.workdir}/school.db"
        db.upgrade(database)
        self.http_port, self.live_port = free_port(), free_port()
        env = {
            **os.environ,
            "HOMEROOM_BACKEND_URL": self.redis.url,
            "HOMEROOM_SECRET_KEYS": keys,
            "HOMEROOM_DATABASE_URL": database,
            "HOMEROOM_LOG_LEVEL": "error",
            "HOMEROOM_PORT": str(self.http_port),
            "HOMEROOM_LIVE_PORT": str(self.live_port),
            "HOMEROOM_LIVE_PROCESSES": str(storm.gateways),
            # every client comes from 127.0.0.x, one /24: without this the door would take
            # them for one school's NAT and refuse past 1,000 unfinished handshakes
            "HOMEROOM_HEADS_PER_BLOCK": "0",
        }
        self.http = start(
            [HOMEROOM, "run"], SERVER_CPU, env=env, cwd=self.workdir, stdout=subprocess.DEVNULL
        )
        self.live = start(
            [HOMEROOM, "live"], SERVER_CPU, env=env, cwd=self.workdir, stdout=subprocess.DEVNULL
        )
        wait_http(f"http://127.0.0.1:{self.http_port}/healthz", 60, self.http)
        self.wait_gateways(storm.gateways, 60)

    def wait_gateways(self, count: int, timeout_s: float) -> None:
        until = time.monotonic() + timeout_s
        while len(self.gateway_pids()) < count:
            if time.monotonic() > until:
                raise TimeoutError("the gateway workers did not start")
            time.sleep(0.1)
        wait_http(f"http://127.0.0.1:{self.live_port}/live", timeout_s, self.live)

    def gateway_pids(self) -> list[int]:
        return children(self.live.pid)

    def kill_gateways(self) -> list[int]:
        pids = self.gateway_pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pids

    def stop(self) -> None:
        stop(self.live, grace_s=20)
        stop(self.http)
        self.redis.stop()


def rooms_for(storm: Storm, tag: str) -> list[list[Any]]:
    rooms: list[list[Any]] = []
    for n in range(math.ceil(storm.clients / ROOM)):
        size = min(ROOM, storm.clients - n * ROOM)
        room = f"storm-{tag}-{n}"
        rooms.append([room, [f"{room}-{i}" for i in range(size)]])
    return rooms


def run(storm: Storm) -> Outcome:
    """One storm, servers started and stopped here."""
    outcome = Outcome()
    figures = outcome.figures
    keys = "1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    servers = Servers(storm, keys)
    workers = [Worker() for _ in range(storm.client_procs)]
    probe: subprocess.Popen[str] | None = None
    try:
        rooms = rooms_for(storm, "on" if storm.jitter else "off")
        share = [rooms[i :: storm.client_procs] for i in range(storm.client_procs)]
        urls = [f"ws://127.0.0.1:{servers.live_port}/live"]
        started = time.monotonic()
        for i, w in enumerate(workers):
            w.send(
                {
                    "op": "join",
                    "rooms": share[i],
                    "urls": urls,
                    "keys": keys,
                    "jitter": storm.jitter,
                    "seed": i + 1,
                    "sources": SOURCES,
                    "timeout": 600,
                }
            )
        joined = sum(w.reply()["joined"] for w in workers)
        figures["storm_join_s"] = time.monotonic() - started
        for i, w in enumerate(workers):
            w.ask({"op": "chat", "period_s": storm.chat_period_s, "seed": 100 + i})
        time.sleep(3.0)
        probe = start(
            [PY, "-c", PROBE, "127.0.0.1", str(servers.http_port), str(PROBE_PERIOD_S)],
            CLIENT_CPU,
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(2.0)

        outcome.all_back = storm_phase(storm, servers, workers, joined, figures)
        probe_figures(probe, figures)
        probe = None

        time.sleep(3.0)  # a few more messages after everyone is back
        ask_all(workers, {"op": "quiet"})  # then nothing new: what was said must arrive
        settled = ask_all(workers, {"op": "settle", "timeout": storm.settle_s})
        figures["storm_settled"] = all(s["settled"] for s in settled)
        records: list[Record] = []
        for i, w in enumerate(workers):
            path = Path(servers.workdir) / f"records-{i}.jsonl"
            w.ask({"op": "records", "path": str(path)})
            with open(path) as lines:
                records.extend(Record.from_json(json.loads(line)) for line in lines)
        outcome.report = audit(records, settled=figures["storm_settled"])
        # cut without a close frame (1006), as a kill -9 leaves them, and opened again since
        figures["storm_cut"] = sum(
            1 for r in records if any(c == 1006 for _, c in r.closes) and len(r.opened) >= 2
        )
    finally:
        if probe is not None:
            stop(probe)
        for w in workers:
            stop(w.proc, grace_s=3)
        servers.stop()
    return outcome


def storm_phase(
    storm: Storm, servers: Servers, workers: list[Worker], joined: int, figures: dict[str, Any]
) -> bool:
    """Cut everyone; sample until all are back. Returns whether all came back in time."""
    rss: dict[str, float] = dict.fromkeys(BOUNDS_MB, 0.0)

    def sample() -> list[dict[str, Any]]:
        stats = ask_all(workers, {"op": "stats"})
        for s in stats:
            rss["client"] = max(rss["client"], s["rss"] / 1e6)
        for pid in servers.gateway_pids():
            rss["gateway"] = max(rss["gateway"], rss_mb(pid))
        rss["http"] = max(rss["http"], rss_mb(servers.http.pid))
        assert servers.redis.process is not None
        rss["redis"] = max(rss["redis"], rss_mb(servers.redis.process.pid))
        return stats

    before = sample()
    client_cpu0 = sum(s["cpu_s"] for s in before)
    assert servers.redis.process is not None
    server_pids = [servers.live.pid, servers.http.pid, servers.redis.process.pid]
    server_cpu0 = sum(tree_cpu_s(pid) for pid in server_pids)
    redis0 = redis_cpu_s(servers.redis.port)
    listen0 = listen_counters()
    t0 = time.monotonic()
    if storm.cut == "kill":
        figures["storm_killed_gateways"] = len(servers.kill_gateways())
    else:
        figures["storm_killed_gateways"] = 0
        ask_all(workers, {"op": "cut"})
    back99 = back_all = None
    while time.monotonic() - t0 < storm.back_deadline_s:
        time.sleep(0.25)
        online = sum(s["online"] for s in sample())
        now = time.monotonic()
        if back99 is None and online >= math.ceil(0.99 * joined):
            back99 = now
        if online >= joined:
            back_all = now
            break
    end = back_all or time.monotonic()
    redis1 = redis_cpu_s(servers.redis.port)
    listen1 = listen_counters()
    client_cpu1 = sum(s["cpu_s"] for s in sample())
    server_cpu1 = sum(tree_cpu_s(pid) for pid in server_pids)

    since = ask_all(workers, {"op": "since", "t0": t0})
    firsts = [t - t0 for s in since for t in s["first"] if t is not None]
    opens = [t for s in since for t in s["opens"]]
    failures: dict[str, int] = {}
    for s in since:  # every attempt that never opened, since the clients started
        for why, n in s.get("failures", {}).items():
            failures[why] = failures.get(why, 0) + n
    figures["storm_failed_attempts"] = failures
    # connections the kernel dropped because a gateway's accept queue was full: a client's
    # connect then hangs in SYN retries (1, 3, 7 s ...), unseen by the gateways
    figures["storm_listen_overflows"] = {k: listen1[k] - listen0.get(k, 0) for k in listen1}
    figures.update(
        storm_clients=joined,
        storm_back=len(firsts),
        storm_reconnect_99_s=(
            percentile(firsts, 0.99) if len(firsts) >= 0.99 * joined else math.nan
        ),
        storm_reconnect_50_s=percentile(firsts, 0.5),
        storm_first_back_s=min(firsts, default=math.nan),
        # from the first client back (a gateway listening again) to 99 %: the herd itself
        storm_reconnect_99_after_up_s=(
            percentile(firsts, 0.99) - min(firsts) if len(firsts) >= 0.99 * joined else math.nan
        ),
        storm_peak_connects_per_s=peak_per_s(opens),
        storm_opens=len(opens),
        storm_redis_cpu_s=redis1 - redis0,
        storm_wall_s=end - t0,
        storm_client_cpu_share=(client_cpu1 - client_cpu0) / max(1e-9, end - t0),
        # of core 0, which other work on the machine may share: below ~0.9 while clients wait,
        # the servers were starved, not saturated
        storm_server_cpu_share=(server_cpu1 - server_cpu0) / max(1e-9, end - t0),
        # what one reconnection cost the servers: its leave, its join, the presence events to
        # its class, the Redis round trips (and the failed attempts)
        storm_server_cpu_ms_per_reconnect=(server_cpu1 - server_cpu0) * 1000 / max(1, len(opens)),
        storm_rss_mb=rss,
        storm_rss_ok=all(rss[k] <= BOUNDS_MB[k] for k in BOUNDS_MB),
    )
    figures["generator_limited"] = figures["storm_client_cpu_share"] >= 0.85
    figures["_window"] = (t0, end)
    return back_all is not None and back99 is not None


def probe_figures(probe: subprocess.Popen[str], figures: dict[str, Any]) -> None:
    t0, end = figures.pop("_window")
    os.killpg(probe.pid, signal.SIGTERM)
    out, _ = probe.communicate(timeout=10)
    forget(probe)
    during, failed = [], 0
    for line in out.splitlines():
        at, took, ok = line.split()
        if t0 <= float(at) <= end:
            during.append(float(took) * 1000)
            failed += ok != "1"
    figures["storm_probe_p99_ms"] = percentile(during, 0.99)
    figures["storm_probe_max_ms"] = max(during, default=math.nan)
    figures["storm_probe_requests"] = len(during)
    figures["storm_probe_failed"] = failed


MODES = ["sockets-on", "sockets-off", "kill-on", "kill-off"]  # <how cut>-<jitter>


def main(argv: list[str]) -> int:
    modes = argv or MODES
    if any(m not in MODES for m in modes):
        print(f"usage: storm_bench.py [{' | '.join(MODES)} ...]", file=sys.stderr)
        return 2
    clients = int(os.environ.get("BENCH_STORM_CLIENTS", "20000"))
    procs = max(1, math.ceil(clients / 7_000))
    gateways = max(2, math.ceil(clients / 5_000))
    for name in modes:
        cut, mode = name.split("-")
        storm = Storm(
            clients=clients, jitter=mode == "on", cut=cut, client_procs=procs, gateways=gateways
        )
        with deadline(900, f"storm {name}"):
            outcome = run(storm)
        f = outcome.figures
        extra = {
            "jitter": mode,
            "cut": cut,
            "clients": f.get("storm_clients"),
            "gateways": gateways,
            "client_processes": procs,
            "generator_limited": f["generator_limited"],
        }
        for name, unit in [
            ("storm_reconnect_99_s", "s"),
            ("storm_reconnect_50_s", "s"),
            ("storm_reconnect_99_after_up_s", "s"),
            ("storm_first_back_s", "s"),
            ("storm_peak_connects_per_s", "connects/s"),
            ("storm_redis_cpu_s", "s"),
            ("storm_probe_p99_ms", "ms"),
            ("storm_probe_max_ms", "ms"),
            ("storm_client_cpu_share", "core"),
            ("storm_server_cpu_share", "core"),
            ("storm_server_cpu_ms_per_reconnect", "ms"),
            ("storm_join_s", "s"),
        ]:
            emit(name, f[name], unit, **extra)
        failures = f["storm_failed_attempts"]
        emit("storm_failed_attempts", sum(failures.values()), "attempts", why=failures, **extra)
        overflows = f["storm_listen_overflows"]
        emit("storm_listen_drops", overflows.get("ListenDrops", 0), "connections",
             kernel=overflows, **extra)  # fmt: skip
        emit(
            "storm_probe_failed",
            f["storm_probe_failed"],
            "requests",
            of=f["storm_probe_requests"],
            **extra,
        )
        emit(
            "storm_rss_max_mb",
            max(f["storm_rss_mb"].values()),
            "MB",
            per_kind={k: round(v, 1) for k, v in f["storm_rss_mb"].items()},
            bounds=BOUNDS_MB,
            within=f["storm_rss_ok"],
            **extra,
        )
        report = outcome.report
        assert report is not None
        emit("storm_lost", report.lost, "events", settled=f["storm_settled"], **extra)
        emit("storm_doubled", report.doubled, "events", audit=report.summary(), **extra)
        emit("storm_all_back", int(outcome.all_back), "bool", back=f["storm_back"], **extra)
    return 0


def _on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `finally`, then atexit


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _on_signal)
    sys.exit(main(sys.argv[1:]))
