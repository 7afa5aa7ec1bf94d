"""`make bench-cluster`: the deployment's figures through HAProxy (issue #10 §4), one JSON object a line.

    python bench/cluster_bench.py [gate classes]      # both by default
    BENCH_CLUSTER_CLASSES=100 python bench/cluster_bench.py classes   # fewer classes of 30

On a fresh `homeroom cluster` (homeroom.deploy: HAProxy, three nodes, Redis Cluster 3+3,
PgBouncer), every server process pinned to core 0 and every generator to core 1 (taskset):

- `gate`: `cluster_ticket_rps` and `cluster_redeem_rps`, wrk through HAProxy (64 keep-alive
  connections, bench/gate_bench.py's Lua scripts), the gate in `queue` mode as bench-gate runs
  it, with the CPU seconds each kind of process used during each run.
- `classes`: classes of 30 (a teacher and 29 pupils) of recorded clients
  (bench/cluster_clients.py, homeroom.rehearsal.recorder) through HAProxy, each class saying one
  chat message a second: `cluster_class_p99_ms` (send → receive, every receiver),
  `redis_cpu_s_per_million_deliveries` (INFO CPU of all six Redis nodes before and after,
  divided by the chat messages the clients received); then the node-kill of failure test 1 at
  this size: kill -9 of every homeroom process of the node holding the most sockets,
  `node_loss_reconnect_p99_s` (from the kill to each cut client's next open), and the audit of
  every client's record (`cluster_lost`, `cluster_doubled`).

The failure tests (tests/e2e/test_cluster_failures.py) drive the same functions at test size.
Each figure says whether the generator's core was the limit (`generator_limited`).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import math
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench import storm_bench  # noqa: E402
from bench.gate_bench import posts, posts_script  # noqa: E402
from bench.steps import process_cpu_s  # noqa: E402
from bench.storm_bench import ask_all, deadline, emit, percentile, start, stop  # noqa: E402

from homeroom.core.lanes import Lane  # noqa: E402
from homeroom.core.tokens import KeyRing, Kind, Token, binding_of, gate_tag  # noqa: E402
from homeroom.deploy import cluster  # noqa: E402
from homeroom.deploy.cluster import gateway_sessions  # noqa: E402
from homeroom.deploy.topology import Topology  # noqa: E402
from homeroom.rehearsal.audit import Report, audit  # noqa: E402
from homeroom.rehearsal.records import Record  # noqa: E402

PY = storm_bench.PY
SERVER_CPU, CLIENT_CPU = "0", "1"
SOURCES = [f"127.0.0.{i}" for i in range(2, 18)]  # 16 source addresses toward HAProxy
CLASS = 30  # a teacher and 29 pupils
CLIENTS_PER_PROC = 4_000
# The gate's own limits out of the way of a throughput run (as bench/gate_bench.py sets them)
GATE_ENV = {
    "HOMEROOM_TICKET_LIMIT": "100000000/minute",
    "HOMEROOM_POW_ABOVE": "100000000/minute",
    "HOMEROOM_CAPACITY": "100000000",
    "HOMEROOM_RATE_PER_MIN": "100000000",
    "HOMEROOM_MODE": "queue",
    "HOMEROOM_LOG_LEVEL": "warning",
}


# -- the deployment ------------------------------------------------------------------------------


def pin(t: Topology, cpu: str = SERVER_CPU) -> None:
    """Every process of the deployment (and its children, threads included) on `cpu`."""
    pids: list[int] = []
    todo = [pid for pid in t.pids.values() if cluster.alive(pid)]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    for pid in pids:
        subprocess.run(
            ["taskset", "-a", "-p", "-c", cpu, str(pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )


@contextlib.contextmanager
def deployment(folder: Path, env: dict[str, str] | None = None) -> Iterator[Topology]:
    """`homeroom cluster up` in `folder` (netns where the machine allows it), pinned to core 0;
    everything stopped and removed on the way out, failure or not."""
    saved = {k: os.environ.get(k) for k in env or {}}
    os.environ.update(env or {})  # the processes inherit them; the topology's own come after
    try:
        t = cluster.up(folder)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        pin(t)
        yield t
    finally:
        cluster.down(t.path)


# -- recorded classes ----------------------------------------------------------------------------


class Clients(storm_bench.Worker):
    """One process of recorded clients that also times the chat (bench/cluster_clients.py)."""

    def __init__(self) -> None:
        self.proc = start(
            ["nice", "-n", "5", PY, str(ROOT / "bench" / "cluster_clients.py")],
            CLIENT_CPU,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )


@dataclass
class Crowd:
    """Classes of recorded clients through HAProxy, chatting; a class is in one process."""

    workers: list[Clients]
    joined: int
    join_s: float
    workdir: Path
    records: list[Record] = field(default_factory=list)

    def online(self) -> int:
        return sum(s["online"] for s in ask_all(self.workers, {"op": "stats"}))

    def cpu_s(self) -> float:
        return sum(s["cpu_s"] for s in ask_all(self.workers, {"op": "stats"}))

    def cuts(self, t0: float) -> list[list[Any]]:
        return [c for r in ask_all(self.workers, {"op": "cuts", "t0": t0}) for c in r["cuts"]]

    def stop(self) -> None:
        for w in self.workers:
            stop(w.proc, grace_s=3)


def gather(
    t: Topology, classes: int, pupils: int = CLASS - 1, *, chat_period_s: float = 1.0,
    tag: str = "c",
) -> Crowd:  # fmt: skip
    """`classes` classes (a teacher and `pupils` pupils each) joined through HAProxy, chatting
    (each class one message every `chat_period_s`)."""
    rooms = [[f"{tag}-{n}", [f"{tag}-{n}-{i}" for i in range(pupils + 1)]] for n in range(classes)]
    procs = max(1, math.ceil(classes * (pupils + 1) / CLIENTS_PER_PROC))
    workers: list[Clients] = []
    try:
        workers = [Clients() for _ in range(procs)]
        started = time.monotonic()
        for i, w in enumerate(workers):
            w.send({
                "op": "join", "rooms": rooms[i::procs], "urls": [t.live_url],
                "keys": t.secret_keys, "jitter": True, "seed": i + 1, "sources": SOURCES,
                "timeout": 600,
            })  # fmt: skip
        joined = sum(w.reply()["joined"] for w in workers)
        crowd = Crowd(workers, joined, time.monotonic() - started, Path(tempfile.mkdtemp()))
        for i, w in enumerate(workers):
            w.ask({"op": "chat", "period_s": chat_period_s, "seed": 100 + i})
    except BaseException:
        for w in workers:
            stop(w.proc, grace_s=3)
        raise
    return crowd


def settle_and_audit(crowd: Crowd, settle_s: float = 90) -> tuple[Report, bool]:
    """Stop chatting, wait until every client has everything (or `settle_s`), then audit every
    record: 0 missing, 0 doubled per epoch, each message sent applied exactly once."""
    time.sleep(2.0)  # a few more messages after the last disturbance
    ask_all(crowd.workers, {"op": "quiet"})
    settled = all(
        s["settled"] for s in ask_all(crowd.workers, {"op": "settle", "timeout": settle_s})
    )
    records: list[Record] = []
    for i, w in enumerate(crowd.workers):
        path = crowd.workdir / f"records-{i}.jsonl"
        w.ask({"op": "records", "path": str(path)})
        with open(path) as lines:
            records.extend(Record.from_json(json.loads(line)) for line in lines)
    crowd.records = records
    return audit(records, settled=settled), settled


def all_back(crowd: Crowd, t0: float, timeout_s: float) -> tuple[bool, list[float], list[float]]:
    """Wait until every client cut since `t0` has opened again and everyone is online:
    (all back, each cut client's time from `t0` to its next open, and from its cut)."""
    end = time.monotonic() + timeout_s
    while True:
        cut = [c for c in crowd.cuts(t0) if c[0] is not None]
        back = [c for c in cut if c[1] is not None]
        done = len(back) == len(cut) and crowd.online() >= crowd.joined
        if done or time.monotonic() > end:
            return (
                done,
                [c[1] - t0 for c in back],
                [c[1] - c[0] for c in back] + [math.inf for c in cut if c[1] is None],
            )
        time.sleep(0.2)


# -- failure 1: a node dies ----------------------------------------------------------------------


def node_loss(t: Topology, crowd: Crowd, back_s: float = 120) -> dict[str, Any]:
    """kill -9 every homeroom process of the node whose gateway holds the most sockets; wait
    until every client is back through HAProxy."""
    before = gateway_sessions(t)
    victim = max(before, key=lambda n: before[n])
    t0 = time.monotonic()
    killed = cluster.kill_node(t, victim)
    cpu0, cores0 = server_cpu(t), cores()  # the dead ones no longer count
    time.sleep(1.0)  # the closes reach the clients
    ok, back, waits = all_back(crowd, t0, back_s)
    cut = len(waits)
    after = gateway_sessions(t)
    return {
        # the survivors' CPU while the herd came back (the victim's processes are gone)
        "node_loss_server_cpu_s": _spent(cpu0, server_cpu(t), time.monotonic() - t0),
        "node_loss_cores_busy": busy(cores0),
        "node_loss_victim": victim,
        "node_loss_killed": len(killed),
        "node_loss_sessions_before": before,
        "node_loss_sessions_after": after,
        "node_loss_cut": cut,
        "node_loss_back": len(back),
        "node_loss_all_back": ok,
        "node_loss_reconnect_p50_s": percentile(back, 0.5),
        "node_loss_reconnect_p99_s": percentile(back, 0.99),
        "node_loss_reconnect_max_s": max(back, default=math.nan),
    }


# -- failure 4: HAProxy reloaded with another node list, then killed and started ----------------


def _old_workers_gone(t: Topology, timeout_s: float) -> float:
    """Wait until HAProxy has one worker again (the old one ended at hard-stop-after); when."""
    end = time.monotonic() + timeout_s
    time.sleep(1.0)
    while len(cluster.haproxy_pids(t)) > 2:
        if time.monotonic() > end:
            raise TimeoutError(f"HAProxy's old worker still runs after {timeout_s} s")
        time.sleep(0.2)
    return time.monotonic()


def haproxy_changes(t: Topology, crowd: Crowd, back_s: float = 60) -> dict[str, Any]:
    """Reload without the last node, then with it again, then kill -9 HAProxy and start it
    again; after each, wait until every client is back. The sessions per node after each."""
    out: dict[str, Any] = {}
    fewer = dataclasses.replace(t, nodes=t.nodes[:-1])
    for stage, shape in (("without", fewer), ("with", t)):
        t0 = time.monotonic()
        cluster.reload_haproxy(shape)
        gone = _old_workers_gone(t, 120)  # hard-stop-after (60 s; 10 s in the tests) cuts them
        ok, _, waits = all_back(crowd, t0, back_s)
        out[f"reload_{stage}_old_worker_s"] = gone - t0
        out[f"reload_{stage}_cut"] = len(waits)
        out[f"reload_{stage}_all_back"] = ok
        out[f"reload_{stage}_reconnect_p99_s"] = percentile(waits, 0.99)
        out[f"reload_{stage}_sessions"] = gateway_sessions(t)
        out[f"reload_{stage}_servers"] = sorted(cluster.servers_up(t))
    t0 = time.monotonic()
    out["restart_killed"] = len(cluster.kill_haproxy(t))
    cluster.start_haproxy(t)
    pin(t)
    out["restart_haproxy_s"] = time.monotonic() - t0
    ok, back, waits = all_back(crowd, t0, back_s)
    out.update(
        restart_cut=len(waits),
        restart_all_back=ok,
        restart_reconnect_p99_s=percentile(back, 0.99),
        restart_sessions=gateway_sessions(t),
    )
    return out


# -- a rolling restart: every process of the deployment drained and started again ---------------


def drain_stop(t: Topology, name: str, deadline_s: float) -> tuple[float, bool]:
    """SIGTERM to process `name` and wait for it to drain and exit: (seconds it took, whether
    it had to be killed -9 after `deadline_s`)."""
    pid = t.pids[name]
    t0 = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    while cluster.alive(pid) and time.monotonic() - t0 < deadline_s:
        time.sleep(0.05)
    killed = cluster.alive(pid)
    cluster.stop(t, [name], timeout_s=1)  # SIGKILL if still there; forgets the id either way
    return time.monotonic() - t0, killed


def node_up(t: Topology, name: str, timeout_s: float = 60) -> None:
    """Wait until HAProxy has the node's web server and every gateway line UP again."""
    end = time.monotonic() + timeout_s
    while True:
        states = cluster.servers_up(t)
        mine = {k: v for k, v in states.items() if k.split("/")[1].rstrip("0123456789") == name}
        if mine and all(v.startswith("UP") for v in mine.values()):
            return
        if time.monotonic() > end:
            raise TimeoutError(f"node {name} not UP again in HAProxy: {mine}")
        time.sleep(0.2)


def rolling_restart(t: Topology, crowd: Crowd, deadline_s: float = 40) -> dict[str, Any]:
    """Node after node: SIGTERM to its `homeroom live` (it drains: agent and readiness say so,
    HAProxy stops sending it people, its clients are closed with 1001 spread over the drain
    window), then to its `homeroom run`, then both started again and waited on until HAProxy
    has them UP. Every client cut meanwhile must come back; each one's wait is reported."""
    t0 = time.monotonic()
    out: dict[str, Any] = {"restart_stops": {}}
    terms: list[float] = []  # when each gateway was told to stop
    for node in t.nodes:
        for process in (f"live-{node.name}", f"run-{node.name}"):
            if process.startswith("live-"):
                terms.append(time.monotonic())
            took, killed = drain_stop(t, process, deadline_s)
            out["restart_stops"][process] = {"s": round(took, 2), "killed": killed}
        cluster.start_node(t, node)
        pin(t)
        node_up(t, node.name)
    out["rolling_s"] = time.monotonic() - t0
    ok, _, _ = all_back(crowd, t0, 120)
    codes: dict[int, int] = {}
    waits, after_term = [], []
    for first, _, seen, pairs in crowd.cuts(t0):
        for code in seen if first is not None else ():
            codes[code] = codes.get(code, 0) + 1
        for at, back in pairs:  # every cut, a client moved twice counts twice
            waits.append(back - at if back is not None else math.inf)
            after_term.append(at - max((s for s in terms if s <= at), default=t0))
    out.update(
        rolling_cut=len(waits),
        rolling_close_after_sigterm_max_s=max(after_term, default=math.nan),
        rolling_all_back=ok,
        rolling_close_codes=codes,
        rolling_wait_p50_s=percentile(waits, 0.5),
        rolling_wait_p99_s=percentile(waits, 0.99),
        rolling_wait_max_s=max(waits, default=math.nan),
        rolling_killed=sum(v["killed"] for v in out["restart_stops"].values()),
        rolling_sessions=gateway_sessions(t),
    )
    return out


# -- the gate through HAProxy ----------------------------------------------------------------


def gate_key(t: Topology) -> KeyRing:
    kid, key = t.secret_keys.split(",")[0].split(":", 1)
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    return KeyRing({int(kid): raw}, int(kid))


def server_cpu(t: Topology) -> dict[str, float]:
    """CPU seconds so far of each kind of the deployment's processes (children counted)."""
    out: dict[str, float] = {}
    for name, pid in t.pids.items():
        kind = name.split("-")[0]
        with contextlib.suppress(OSError):
            out[kind] = out.get(kind, 0.0) + process_cpu_s(pid)
    return out


def gate_rps(t: Topology, seconds: int = 10) -> dict[str, Any]:
    """Tickets, then redeems of as many tickets, through HAProxy, sent by wrk on core 1 (the
    Lua scripts of bench/gate_bench.py: each redeem its own browser and ticket, once). The gate
    in `queue` mode, as bench-gate runs it, so that a ticket is a ticket: in `safety_net` (the
    deployment's default) a ticket below capacity is admitted at once, a ticket and a redeem in
    one request."""
    port = t.haproxy_port
    work = Path(tempfile.mkdtemp())
    out: dict[str, Any] = {}
    try:
        ticket = posts_script(work, "ticket", "/gate/national/ticket", 201, [])
        wrk_posts(port, ticket, 3)  # warm-up
        out.update(measured_posts(t, ticket, seconds, "ticket", 201))
        ring, now = gate_key(t), int(time.time())
        cookies = []
        for n in range(1, issued(t) + 1):
            bid = secrets.token_urlsafe(16)
            sealed = ring.seal(
                Token(Kind.TICKET, gate_tag("national"), Lane.PUPILS, n, now, now + 3600,
                      binding_of(bid))
            )  # fmt: skip
            cookies.append(f"hr_bid={bid}; hr_t_national={sealed}")
        redeem = posts_script(work, "redeem", "/gate/national/redeem", 200, cookies)
        time.sleep(3.0)  # the horizon moves past the tickets
        out.update(measured_posts(t, redeem, seconds, "redeem", 200))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def measured_posts(
    t: Topology, script: Path, seconds: int, name: str, status: int
) -> dict[str, Any]:
    """One measured wrk run of `script` through HAProxy: `cluster_<name>_rps`, the answers by
    status, the CPU seconds of each kind of process and of wrk, each core's busy share."""
    cpu0, wall0, cores0 = server_cpu(t), time.monotonic(), cores()
    got, spent = wrk_posts(t.haproxy_port, script, seconds)
    cpu = _spent(cpu0, server_cpu(t), time.monotonic() - wall0)
    return {
        f"cluster_{name}_rps": got["rps"],
        f"{name}_statuses": {str(status): got["ok"], "other": got["other"]},
        f"{name}_cpu_s": {**cpu, "generator": round(spent, 2)},
        f"{name}_cores_busy": busy(cores0),
    }


def issued(t: Topology) -> int:
    """The tickets the national gate has issued (its operator API, through HAProxy)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{t.haproxy_port}/gate/national/admin/status",
        headers={"authorization": f"Bearer {t.operator_token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return int(json.load(answer)["lanes"]["pupils"]["issued"])


def wrk_posts(port: int, script: Path, seconds: int) -> tuple[dict[str, Any], float]:
    """One wrk run of a `posts_script` through HAProxy: its figures (answers of the awaited
    status a second, their count, the others), and the CPU seconds wrk used."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    got = posts(None, port, script, seconds)  # the CPU: each kind's, around it
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    return got, (now.ru_utime + now.ru_stime) - (used.ru_utime + used.ru_stime)


def _spent(before: dict[str, float], after: dict[str, float], wall: float) -> dict[str, float]:
    spent = {k: round(after.get(k, 0.0) - before.get(k, 0.0), 2) for k in after}
    spent["wall"] = round(wall, 2)
    return spent


def cores() -> list[tuple[float, float]]:
    """(busy, total) jiffies of each core so far, whoever used them (/proc/stat)."""
    out = []
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3].isdigit():
            ticks = [int(x) for x in line.split()[1:]]
            idle = ticks[3] + ticks[4]
            out.append((sum(ticks) - idle, sum(ticks)))
    return out


def busy(before: list[tuple[float, float]]) -> list[float]:
    """Each core's busy share since `before`: everyone's use, the other engineers' too."""
    return [
        round((b1 - b0) / max(1, t1 - t0), 2)
        for (b0, t0), (b1, t1) in zip(before, cores(), strict=True)
    ]


# -- the classes -----------------------------------------------------------------------------


def redis_cpu_s(t: Topology) -> float:
    import redis

    total = 0.0
    for port in t.redis_ports:
        with redis.Redis(host=t.host_address, port=port, socket_timeout=5) as node:
            info = node.info("cpu")
        total += float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
    return total


def classes(t: Topology, count: int, measure_s: float = 30) -> tuple[dict[str, Any], Report]:
    """`count` classes of 30, one message a class a second: latency, Redis CPU, a node lost."""
    figures: dict[str, Any] = {}
    crowd = gather(t, count, chat_period_s=1.0)
    try:
        figures["class_clients"] = crowd.joined
        figures["class_join_s"] = crowd.join_s
        time.sleep(5.0)
        ask_all(crowd.workers, {"op": "latency", "reset": True})
        redis0, cpu0, wall0 = redis_cpu_s(t), crowd.cpu_s(), time.monotonic()
        servers0, cores0 = server_cpu(t), cores()
        time.sleep(measure_s)
        got = ask_all(crowd.workers, {"op": "latency"})
        redis1, cpu1, wall = redis_cpu_s(t), crowd.cpu_s(), time.monotonic() - wall0
        latencies = [ms for g in got for ms in g["latencies_ms"]]
        delivered = sum(g["delivered"] for g in got)
        figures.update(
            cluster_class_p99_ms=percentile(latencies, 0.99),
            cluster_class_p50_ms=percentile(latencies, 0.5),
            class_timed=len(latencies),
            class_delivered=delivered,
            class_redis_cpu_s=redis1 - redis0,
            redis_cpu_s_per_million_deliveries=(redis1 - redis0) / max(1, delivered) * 1e6,
            class_generator_cpu_share=(cpu1 - cpu0) / wall,
            class_server_cpu_s=_spent(servers0, server_cpu(t), wall),
            class_sessions=gateway_sessions(t),
            class_cores_busy=busy(cores0),
        )
        figures["generator_limited"] = figures["class_generator_cpu_share"] >= 0.85
        figures.update(node_loss(t, crowd))
        report, settled = settle_and_audit(crowd)
        figures["class_settled"] = settled
    finally:
        crowd.stop()
    return figures, report


def fitting_classes() -> int:
    """The most classes of 30 this machine's one HAProxy holds within its open-file limit."""
    maxconn = cluster.machine_limits().maxconn
    return max(1, (maxconn - 500) // CLASS)


def main(argv: list[str]) -> int:
    steps = argv or ["gate", "classes"]
    if any(s not in ("gate", "classes") for s in steps):
        print("usage: cluster_bench.py [gate] [classes]", file=sys.stderr)
        return 2
    count = int(os.environ.get("BENCH_CLUSTER_CLASSES", fitting_classes()))
    folder = Path(tempfile.mkdtemp(prefix="homeroom-bench-cluster-")) / "cluster"
    with deadline(1500, "bench-cluster"), deployment(folder, GATE_ENV) as t:
        extra = {"mode": t.mode, "nodes": len(t.nodes), "busy_machine": True}
        if "gate" in steps:
            g = gate_rps(t)
            for name, cpu in (("cluster_ticket_rps", "ticket_cpu_s"),
                              ("cluster_redeem_rps", "redeem_cpu_s")):  # fmt: skip
                step = name.split("_")[1]
                emit(name, g[name], "req/s", goal=">= 10000", statuses=g[step + "_statuses"],
                     cpu_s=g[cpu], cores_busy=g[step + "_cores_busy"],
                     generator_limited=g[cpu]["generator"] >= 0.85 * g[cpu]["wall"],
                     **extra)  # fmt: skip
        if "classes" in steps:
            f, report = classes(t, count)
            info = {
                "classes": count, "clients": f["class_clients"],
                "generator_limited": f["generator_limited"],
                "generator_cpu_share": round(f["class_generator_cpu_share"], 2), **extra,
            }  # fmt: skip
            emit("cluster_class_p99_ms", f["cluster_class_p99_ms"], "ms", goal="<= 100",
                 p50_ms=f["cluster_class_p50_ms"], timed=f["class_timed"],
                 server_cpu_s=f["class_server_cpu_s"], sessions=f["class_sessions"],
                 cores_busy=f["class_cores_busy"], **info)  # fmt: skip
            emit("redis_cpu_s_per_million_deliveries", f["redis_cpu_s_per_million_deliveries"],
                 "s", redis_cpu_s=f["class_redis_cpu_s"], deliveries=f["class_delivered"],
                 **info)  # fmt: skip
            emit("node_loss_reconnect_p99_s", f["node_loss_reconnect_p99_s"], "s", goal="<= 5",
                 p50_s=f["node_loss_reconnect_p50_s"], max_s=f["node_loss_reconnect_max_s"],
                 cut=f["node_loss_cut"], back=f["node_loss_back"],
                 all_back=f["node_loss_all_back"], victim=f["node_loss_victim"],
                 server_cpu_s=f["node_loss_server_cpu_s"], cores_busy=f["node_loss_cores_busy"],
                 sessions_before=f["node_loss_sessions_before"], **info)  # fmt: skip
            emit("cluster_lost", report.lost, "events", settled=f["class_settled"], **info)
            emit("cluster_doubled", report.doubled, "events", audit=report.summary(), **info)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, storm_bench._on_signal)
    sys.exit(main(sys.argv[1:]))
