"""`homeroom cluster up|down|status`: start, stop and show a whole deployment on this machine (docs/operations.md#the-deployment).

`up()` starts the parts in order (network, Redis Cluster, database, PgBouncer, each node's
Janus and processes, HAProxy), each waited on until it answers; if one fails, everything started
so far is stopped. `down()` stops every process by the id it was given, removes the namespaces, the
veth pairs and the bridge, and drops the cluster's database. The processes outlive the command
that started them: the topology (with their ids) is kept in the deployment's folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from homeroom.av import janusconfig
from homeroom.av import process as janus_process
from homeroom.deploy import haproxy, januspool, netns, pgbouncer, rediscluster
from homeroom.deploy.topology import LiveBalance, Mode, Node, Topology, plan

DEFAULT_FOLDER = Path(".homeroom") / "cluster"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
NEEDED = {
    "haproxy": HAPROXY,
    "pgbouncer": pgbouncer.PGBOUNCER,
    "redis-server": rediscluster.REDIS_SERVER,
    "psql": pgbouncer.PSQL,
}


class ClusterError(RuntimeError):
    """A part would not start; the message says which, and where its log is."""


def say(text: str) -> None:
    print(f"homeroom cluster: {text}", flush=True)


# -- ports and processes -------------------------------------------------------------------------


def first_ephemeral_port() -> int:
    """The lowest port the kernel gives outgoing connections (Linux: 32768 by default)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def port_allocator() -> Callable[[], int]:
    """Free ports on 127.0.0.1, none handed out twice, each with port+10000 free too (a Redis
    Cluster node's bus), and that one below the ports the kernel hands out to outgoing
    connections: a bus port among those may be taken by any connection before its node binds
    it, and the node then stops ("Failed listening on port … (cluster)")."""
    handed: set[int] = set()
    last = min(30_000, first_ephemeral_port() - 10_001)

    def free(port: int) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
            return True

    def allocate() -> int:
        for _ in range(500):
            port = random.randint(20_000, last)
            if port not in handed and free(port) and free(port + 10_000):
                handed.add(port)
                return port
        raise ClusterError(f"no free port between 20000 and {last}")

    return allocate


def alive(pid: int) -> bool:
    """The process runs (a zombie of ours is reaped and counts as gone)."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _ours(pid: int, marker: str) -> bool:
    """The pid still names the process we started (its command line holds `marker`)."""
    try:
        return marker in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def spawn(t: Topology, name: str, argv: list[str], env: dict[str, str] | None = None) -> int:
    """Start `argv` detached (its own session, its output in logs/NAME.log); keep its id."""
    logs = t.path / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{name}.log", "ab") as out:
        process = subprocess.Popen(
            argv,
            env={**os.environ, **(env or {})},
            cwd=t.path,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    t.pids[name] = process.pid
    t.save()
    return process.pid


MARKERS = {
    "redis": "redis-server",
    "pgbouncer": "pgbouncer",
    "haproxy": "haproxy",
    "janus": "janus",
}


def _marker(name: str) -> str:
    return MARKERS.get(name.split("-")[0], "homeroom")


def stop(t: Topology, names: list[str], timeout_s: float = 15) -> None:
    """SIGTERM to each named process, SIGKILL to any still there after `timeout_s`."""
    running = [(n, t.pids[n]) for n in names if n in t.pids and _ours(t.pids[n], _marker(n))]
    for _, pid in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while any(alive(pid) for _, pid in running) and time.monotonic() < deadline:
        time.sleep(0.05)
    for _, pid in running:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for n, pid in running:
        deadline = time.monotonic() + 5
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        t.pids.pop(n, None)
    t.save()


def wait_for(
    what: str, ready: Callable[[], bool], t: Topology, name: str, timeout_s: float
) -> None:
    """Poll `ready` until it holds; fail early, with the log's tail, if process `name` exited."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        pid = t.pids.get(name)
        if (pid is not None and not alive(pid)) or time.monotonic() > deadline:
            log = t.path / "logs" / f"{name}.log"
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            why = "exited" if pid is not None and not alive(pid) else f"not ready in {timeout_s} s"
            raise ClusterError(f"{what}: {why} (log {log}):\n{tail}")
        time.sleep(0.1)


def _http_ok(url: str) -> Callable[[], bool]:
    def ok() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    return ok


# -- the parts, in order -------------------------------------------------------------------------


def _redis(t: Topology) -> None:
    rediscluster.folders(t)
    for port in t.redis_ports:
        spawn(t, f"redis-{port}", rediscluster.argv(t, port))
    for port in t.redis_ports:
        wait_for(f"redis-server :{port}", functools.partial(rediscluster.answering, t, port),
                 t, f"redis-{port}", 20)  # fmt: skip
    rediscluster.create(t)
    ports = ",".join(map(str, t.redis_ports))
    say(f"Redis Cluster: 3 primaries + 3 replicas on {t.host_address}:{ports}")


def _database(t: Topology) -> str:
    """Create the cluster's database, migrate it and seed the demo académie (directly on
    PostgreSQL: this runs once, before any process); the demo's sign-in details."""
    from homeroom.school import demo
    from homeroom.school.auth.passwords import Passwords
    from homeroom.school.data import db

    pgbouncer.create_database(t)
    db.upgrade(t.direct_database_url)

    async def seed() -> str:
        engine = db.engine_for(t.direct_database_url)
        try:
            now = dt.datetime.now(dt.UTC)
            seeded = await demo.seed(db.sessions(engine), Passwords(), now)
            return seeded.render(t.url, now)
        finally:
            await engine.dispose()

    return asyncio.run(seed())


def _pgbouncer(t: Topology) -> None:
    pgbouncer.prepare(t)
    spawn(t, "pgbouncer", pgbouncer.argv(t))

    def listening() -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection((t.host_address, t.pgbouncer_port), timeout=1),
        ):
            return True
        return False

    wait_for("pgbouncer", listening, t, "pgbouncer", 20)
    say(f"PgBouncer (transaction mode) on {t.host_address}:{t.pgbouncer_port} → PostgreSQL")


def start_node(t: Topology, node: Node, timeout_s: float = 90) -> None:
    """`homeroom run` and `homeroom live` of one node, waited on until both answer."""
    env = {**t.env(node), "PYTHONUNBUFFERED": "1"}
    python = [*netns.exec_prefix(node), sys.executable, "-m", "homeroom"]
    spawn(t, f"run-{node.name}", [*python, "run"], env)
    spawn(t, f"live-{node.name}", [*python, "live"], env)
    wait_for(f"homeroom run of node {node.name}",
             _http_ok(f"http://{node.address}:{node.http_port}/healthz"), t,
             f"run-{node.name}", timeout_s)  # fmt: skip
    wait_for(f"homeroom live of node {node.name}",
             _http_ok(f"http://{node.address}:{node.live_port}/metrics"), t,
             f"live-{node.name}", timeout_s)  # fmt: skip


def start_janus(t: Topology, node: Node, timeout_s: float = 30) -> None:
    """The node's Janus (januspool), in its namespace, waited on until its API takes the
    pool's secret."""
    settings = januspool.settings(t, node)
    janusconfig.write(settings)
    log = t.path / "logs" / f"{januspool.name(node)}.log"
    start = janus_process.log_size(log)
    pid = spawn(t, januspool.name(node), januspool.argv(t, node))
    janus_process.raise_nofile(pid, settings.nofile)
    wait_for(f"Janus of node {node.name}", functools.partial(januspool.answering, t, node), t,
             januspool.name(node), timeout_s)  # fmt: skip
    try:
        janus_process.refuse_wide_listen(settings, janus_process.log_since(log, start))
    except janus_process.JanusStartError as exc:
        raise ClusterError(f"Janus of node {node.name}: {exc} (log {log})") from exc


def kill_janus(t: Topology, name: str, sig: signal.Signals = signal.SIGKILL) -> int | None:
    """kill -9 (by default) node `name`'s Janus, as a crash would; the id it went to."""
    node = next(n for n in t.nodes if n.name == name)
    pid = t.pids.get(januspool.name(node))
    if pid is None or not _ours(pid, "janus"):
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    return pid


def node_processes(node: Node) -> list[str]:
    return [f"live-{node.name}", f"run-{node.name}"]


def kill_node(t: Topology, name: str, sig: signal.Signals = signal.SIGKILL) -> list[int]:
    """Send `sig` (kill -9 by default) to every homeroom process of node `name`, at once;
    the ids it went to. `start_node` starts them again."""
    node = next(n for n in t.nodes if n.name == name)
    hit = []
    for process in node_processes(node):
        pid = t.pids.get(process)
        if pid is not None and _ours(pid, "homeroom"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
                hit.append(pid)
    return hit


def reload_haproxy(t: Topology, live_balance: LiveBalance | None = None) -> None:
    """Write the file again from `t` (its node list may have changed), have HAProxy check it,
    then reload: the master starts a new worker, the old one finishes within hard-stop-after."""
    write_haproxy(t, live_balance)
    pid = t.pids.get("haproxy")
    if pid is None or not _ours(pid, "haproxy"):
        raise ClusterError("haproxy is not running")
    os.kill(pid, signal.SIGUSR2)


# How long an old HAProxy worker keeps its tunnels after a reload; the tests shorten it, since
# they wait for it twice and the operator's 60 s is the point of the setting, not of the test.
HARD_STOP_ENV = "HOMEROOM_CLUSTER_HARD_STOP_AFTER_S"


def machine_limits() -> haproxy.Limits:
    """HAProxy's limits, its maxconn cut to what this machine's open-file limit holds (two
    descriptors a proxied connection, and some to spare)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    default = haproxy.Limits()
    if HARD_STOP_ENV in os.environ:
        default = dataclasses.replace(default, hard_stop_after_s=int(os.environ[HARD_STOP_ENV]))
    if hard == resource.RLIM_INFINITY or hard >= 2 * default.maxconn + 1000:
        return default
    maxconn = max(1000, (hard - 1000) // 2)
    return dataclasses.replace(
        default, maxconn=maxconn, gateway_maxconn=min(default.gateway_maxconn, maxconn)
    )


def write_haproxy(t: Topology, live_balance: LiveBalance | None = None) -> Path:
    path = t.path / "haproxy.cfg"
    path.write_text(haproxy.config(t, machine_limits(), live_balance=live_balance))
    checked = haproxy.check(path, HAPROXY)
    if checked.returncode != 0:
        raise ClusterError(f"haproxy -c refused {path}:\n{checked.stdout}{checked.stderr}")
    return path


def servers_up(t: Topology) -> dict[str, str]:
    """backend/server -> HAProxy's status of it (UP, DOWN, MAINT, DRAIN...), from the stats."""
    try:
        text = httpx.get(f"http://127.0.0.1:{t.stats_port}/;csv", timeout=2).text
    except httpx.HTTPError:
        return {}
    out: dict[str, str] = {}
    for line in text.splitlines()[1:]:
        cells = line.split(",")
        if len(cells) > 17 and cells[1] not in ("FRONTEND", "BACKEND"):
            out[f"{cells[0]}/{cells[1]}"] = cells[17]
    return out


def haproxy_command(t: Topology, line: str) -> str:
    """One command on HAProxy's runtime socket (the generated file's `stats socket`)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(t.path / "haproxy.sock"))
        sock.sendall(line.encode() + b"\n")
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out.decode()


def gateway_sessions(t: Topology) -> dict[str, int]:
    """node name -> WebSocket connections HAProxy's current worker holds to its gateway (all
    its ports: servers are named node + index)."""
    counts = {node.name: 0 for node in t.nodes}
    for line in haproxy_command(t, "show stat").splitlines()[1:]:
        cells = line.split(",")
        if len(cells) > 4 and cells[0] == "gateways" and cells[1] not in ("FRONTEND", "BACKEND"):
            counts[cells[1][0]] = counts.get(cells[1][0], 0) + int(cells[4] or 0)  # scur
    return counts


def haproxy_pids(t: Topology) -> list[int]:
    """HAProxy's master, then its workers (one, or more for a while after a reload)."""
    master = t.pids.get("haproxy")
    if master is None or not _ours(master, "haproxy"):
        return []
    workers: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{master}/task").iterdir():
            workers += [int(c) for c in (task / "children").read_text().split()]
    return [master, *workers]


def kill_haproxy(t: Topology) -> list[int]:
    """kill -9 HAProxy, master and workers at once (a crash); `start_haproxy` starts it again."""
    hit = haproxy_pids(t)
    for pid in hit:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in hit:
        deadline = time.monotonic() + 5
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
    t.pids.pop("haproxy", None)
    t.save()
    return hit


def start_haproxy(t: Topology) -> None:
    """Write HAProxy's file from `t`, start it, and wait until every server is UP."""
    path = write_haproxy(t)
    spawn(t, "haproxy", [HAPROXY, "-W", "-db", "-f", str(path)])

    def all_up() -> bool:
        states = servers_up(t)
        wanted = {k: v for k, v in states.items() if not k.startswith("stats/")}
        return bool(wanted) and all(v.startswith("UP") for v in wanted.values())

    wait_for("haproxy (every server UP)", all_up, t, "haproxy", 30)


# -- the commands ----------------------------------------------------------------------------


def detect() -> tuple[Mode, str]:
    ok, why = netns.available()
    return ("netns", why) if ok else ("loopback", f"one 127.0.0.x address per node ({why})")


def up(
    folder: Path = DEFAULT_FOLDER,
    *,
    nodes: int = 3,
    mode: Mode | None = None,
    live_balance: LiveBalance = "hash",
    av: bool | None = None,
) -> Topology:
    """Start a deployment in `folder` (which must hold none running); print where it is.

    `av`: a Janus a node (None: unless HOMEROOM_AV=0); without Debian's janus the classes run
    without audio and video, and `up` says so. The gate's mode is HOMEROOM_MODE's where it is
    set (a benchmark queues every ticket), else `safety_net`."""
    missing = [name for name, path in NEEDED.items() if not os.path.exists(path)]
    if missing:
        raise ClusterError(f"missing {', '.join(missing)}: run `scripts/need {' '.join(missing)}`")
    if Topology.load(folder) is not None:
        raise ClusterError(f"a deployment is already in {folder}: `homeroom cluster down` first")
    if not pgbouncer.postgres_answers():
        raise ClusterError("PostgreSQL does not answer on 127.0.0.1:5432 (make services)")
    if mode is None:
        mode, why = detect()
    else:
        why = "asked for"
    if av is None:
        av = os.environ.get("HOMEROOM_AV", "1") != "0"
    av_why = "HOMEROOM_AV=0 or --no-av"
    if av:
        av, av_why = januspool.available()
    octet = netns.free_subnet_octet() if mode == "netns" else 0
    t = plan(folder, mode, port_allocator(), nodes=nodes, subnet_octet=octet,
             live_balance=live_balance, av=av,
             gate_mode=os.environ.get("HOMEROOM_MODE") or "safety_net")  # fmt: skip
    t.save()
    say(f"nodes: {mode}: {why}")
    if not av:
        say(f"no audio or video: {av_why}")
    try:
        if mode == "netns":
            netns.create(t)
            say(f"{len(t.nodes)} namespaces on {t.subnet}, bridge {netns.bridge(t)}")
        _redis(t)
        accounts = _database(t)
        _pgbouncer(t)
        for node in t.nodes:
            if node.janus_port:
                start_janus(t, node)
                low, high = node.janus_rtp
                say(f"node {node.name}: Janus on {node.janus_url}, media UDP {low}-{high}")
            start_node(t, node)
            ports = ",".join(map(str, node.live_ports))
            say(f"node {node.name} at {node.address}: run :{node.http_port}, live :{ports}")
        start_haproxy(t)
    except BaseException:
        down(folder)
        raise
    say(f"HAProxy in front: {t.url}/  (stats: http://127.0.0.1:{t.stats_port}/)")
    print(accounts, flush=True)
    say("stop it with `make cluster-down` (or `homeroom cluster down`)")
    return t


def down(folder: Path = DEFAULT_FOLDER) -> bool:
    """Stop everything of the deployment in `folder`; False if there was none."""
    t = Topology.load(folder)
    if t is None:
        return False
    stop(t, ["haproxy"])
    stop(t, [name for node in t.nodes for name in node_processes(node)])
    stop(t, [januspool.name(node) for node in t.nodes])
    stop(t, ["pgbouncer", *[f"redis-{p}" for p in t.redis_ports]])
    if t.mode == "netns":
        netns.remove(t)
    pgbouncer.drop_database(t)
    shutil.rmtree(t.path / "redis", ignore_errors=True)
    shutil.rmtree(pgbouncer.folder(t), ignore_errors=True)
    for node in t.nodes:
        shutil.rmtree(januspool.folder(t, node), ignore_errors=True)  # it holds the secrets
    (t.path / "topology.json").unlink(missing_ok=True)
    return True


def status(folder: Path = DEFAULT_FOLDER) -> list[str]:
    """One line per part: its process and whether it runs, HAProxy's view of each server."""
    t = Topology.load(folder)
    if t is None:
        return [f"no deployment in {folder}"]
    lines = [f"deployment {t.ident} ({t.mode}) at {t.url}/"]
    for name, pid in sorted(t.pids.items()):
        lines.append(f"  {name:<16} pid {pid:<8} {'running' if alive(pid) else 'GONE'}")
    roles = rediscluster.roles(t)
    lines.append("  redis roles: " + ", ".join(f"{p} {r}" for p, r in roles.items()))
    for node in t.nodes:
        if node.janus_port:
            low, high = node.janus_rtp
            state = "answers" if januspool.answering(t, node) else "SILENT"
            lines.append(f"  janus {node.name} {node.janus_url:<24} UDP {low}-{high} {state}")
    if not t.janus_urls:
        lines.append("  janus: none (no audio or video)")
    for server, state in sorted(servers_up(t).items()):
        lines.append(f"  haproxy {server:<20} {state}")
    return lines
