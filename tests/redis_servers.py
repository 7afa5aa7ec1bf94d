"""Private redis-server processes for tests: one server, or a Redis Cluster (3 primaries, with
or without a replica each), and the failures a test inflicts on it (kill -9 a primary, a replica
that stops following).

Start-up and failover wait on the servers themselves (PING, CLUSTER INFO, CLUSTER NODES), never
on a fixed sleep. Every process started here is stopped by `stop()`, and at interpreter exit as a
backstop.
"""

from __future__ import annotations

import atexit
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from redis.crc import key_slot

from homeroom.deploy.cluster import first_ephemeral_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
HOST = "127.0.0.1"
CLUSTER_BUS_OFFSET = 10_000  # a cluster node also listens on port + 10000


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def free_port(cluster_bus: bool = False) -> int:
    """A port nobody listens on (and, for a cluster node, its bus port too), below the ports
    the kernel hands out to outgoing connections: a bus port among those could be taken by any
    client's connection between this check and the node's bind (seen with tests side by side)."""
    last = min(30_000, first_ephemeral_port() - 1 - (CLUSTER_BUS_OFFSET if cluster_bus else 0))
    for _ in range(200):
        port = random.randint(20_000, last)
        if port_is_free(port) and (not cluster_bus or port_is_free(port + CLUSTER_BUS_OFFSET)):
            return port
    raise RuntimeError("no free port found for redis-server")


def command(port: int, *args: str, timeout_s: float = 0.5) -> str | None:
    """Send one command in RESP and return the reply's text, or None if nobody answers."""
    payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
    try:
        with socket.create_connection((HOST, port), timeout=timeout_s) as sock:
            sock.sendall(payload.encode())
            reply = b""
            while not _complete(reply):
                chunk = sock.recv(65536)
                if not chunk:
                    return None
                reply += chunk
    except OSError:
        return None
    return reply.decode(errors="replace")


def _complete(reply: bytes) -> bool:
    head, sep, rest = reply.partition(b"\r\n")
    if not sep:
        return False
    if head.startswith(b"$") and head != b"$-1":
        return len(rest) >= int(head[1:]) + 2
    return True


def ping(port: int) -> bool:
    return command(port, "PING") == "+PONG\r\n"


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll `predicate` until it holds; fail naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.01)


class RedisServer:
    """One redis-server on 127.0.0.1, without persistence, in the foreground."""

    def __init__(
        self, directory: Path | None = None, port: int | None = None, args: tuple[str, ...] = ()
    ) -> None:
        self.directory = directory or Path(tempfile.mkdtemp(prefix="homeroom-redis-"))
        self.port = port or free_port(cluster_bus=any("cluster-enabled" in a for a in args))
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None
        atexit.register(self.stop)

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    @property
    def log(self) -> Path:
        return self.directory / f"redis-{self.port}.log"

    def start(self) -> RedisServer:
        """Start (or start again, on the same port) and wait until it answers PING."""
        if self.process is not None and self.process.poll() is None:
            return self
        argv = [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", HOST,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", str(self.directory),
            "--logfile", str(self.log),
            *self.args,
        ]  # fmt: skip
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        process = self.process
        wait_until(lambda: process.poll() is not None or ping(self.port), 10, self._name())
        if process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{self._name()} exited with {process.returncode}:\n{tail}")
        return self

    def stop(self) -> None:
        """SIGTERM, and wait for the process to be gone (its port is then closed)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def _name(self) -> str:
        return f"redis-server on port {self.port} (log: {self.log})"

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass(frozen=True)
class ClusterNode:
    """One line of CLUSTER NODES."""

    node_id: str
    port: int
    primary: bool
    failed: bool
    primary_id: str  # of a replica; "-" for a primary
    slots: tuple[tuple[int, int], ...]

    def serves(self, slot: int) -> bool:
        return any(lo <= slot <= hi for lo, hi in self.slots)


def cluster_nodes(port: int) -> list[ClusterNode] | None:
    """CLUSTER NODES as `port` sees it, or None if it does not answer."""
    reply = command(port, "CLUSTER", "NODES")
    if reply is None or not reply.startswith("$"):
        return None
    out = []
    for line in reply.partition("\r\n")[2].splitlines():
        fields = line.split()
        if len(fields) < 8:
            continue
        flags = fields[2].split(",")
        slots = []
        for part in fields[8:]:
            if part.startswith("["):  # a slot being migrated
                continue
            lo, _, hi = part.partition("-")
            slots.append((int(lo), int(hi or lo)))
        address = fields[1].partition("@")[0]
        out.append(
            ClusterNode(
                fields[0],
                int(address.rpartition(":")[2] or 0),
                "master" in flags,
                "fail" in flags or "fail?" in flags,
                fields[3],
                tuple(slots),
            )
        )
    return out


class RedisClusterProcesses:
    """A Redis Cluster of `primaries` redis-server processes, each with `replicas` replicas.

    With replicas, each node keeps an append-only file (`appendfsync everysec`, as a deployment
    would) and `node_timeout_ms` is short, so a test sees a failover in one or two seconds
    (docs/operations.md#a-redis-primary-dies); `replica_validity_factor` 0 lets a replica that
    lost its link take over whatever the age of its data, which the tests of lost writes need.
    """

    def __init__(
        self,
        directory: Path | None = None,
        primaries: int = 3,
        replicas: int = 0,
        node_timeout_ms: int = 5000,
    ) -> None:
        self.directory = directory or Path(tempfile.mkdtemp(prefix="homeroom-cluster-"))
        self.replicas = replicas
        self.primaries = primaries
        self.servers: list[RedisServer] = []
        for _ in range(primaries * (1 + replicas)):
            port = free_port(cluster_bus=True)
            while any(s.port == port for s in self.servers):
                port = free_port(cluster_bus=True)
            args = (
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(self.directory / f"nodes-{port}.conf"),
                "--cluster-node-timeout", str(node_timeout_ms),
            )  # fmt: skip
            if replicas:
                args += (
                    "--appendonly", "yes",
                    "--appendfsync", "everysec",
                    "--appendfilename", f"appendonly-{port}.aof",
                    "--appenddirname", f"aof-{port}",
                    "--cluster-replica-validity-factor", "0",
                )  # fmt: skip
            self.servers.append(RedisServer(self.directory, port, args))

    @property
    def ports(self) -> list[int]:
        return [s.port for s in self.servers]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"{HOST}:{p}" for p in self.ports)

    def start(self) -> RedisClusterProcesses:
        """Start the nodes, assign the slots, and wait until every node says the cluster is ok
        (and, with replicas, until every replica has its primary's data)."""
        try:
            for server in self.servers:
                server.start()
            create = subprocess.run(
                [REDIS_CLI, "--cluster", "create"]
                + [f"{HOST}:{p}" for p in self.ports]
                + ["--cluster-replicas", str(self.replicas), "--cluster-yes"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            if create.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create failed:\n{create.stdout}")
            wait_until(self.healthy, 30, f"cluster_state:ok on ports {self.ports}")
        except BaseException:
            self.stop()
            raise
        return self

    def start_again(self) -> RedisClusterProcesses:
        """Restart stopped nodes on their ports; they rejoin from their nodes-PORT.conf."""
        try:
            for server in self.servers:
                server.start()
            wait_until(self.healthy, 30, f"cluster_state:ok again on ports {self.ports}")
        except BaseException:
            self.stop()
            raise
        return self

    def running(self) -> list[RedisServer]:
        return [s for s in self.servers if s.process is not None and s.process.poll() is None]

    def healthy(self) -> bool:
        """Every running node sees every slot served and every other node; with replicas, each
        primary that is running has as many replicas as configured, in sync."""
        alive = self.running()
        for server in alive:
            info = command(server.port, "CLUSTER", "INFO") or ""
            if "cluster_state:ok" not in info or "cluster_slots_ok:16384" not in info:
                return False
            if f"cluster_known_nodes:{len(self.servers)}" not in info:
                return False
        if self.replicas and len(alive) == len(self.servers):
            for server in alive:
                replication = command(server.port, "INFO", "replication") or ""
                if "role:slave" in replication and "master_link_status:up" not in replication:
                    return False
        return True

    def nodes(self) -> list[ClusterNode]:
        """CLUSTER NODES as the first running node that answers sees it."""
        for server in self.running():
            nodes = cluster_nodes(server.port)
            if nodes:
                return nodes
        raise RuntimeError(f"no node of {self.ports} answers CLUSTER NODES")

    def server(self, port: int) -> RedisServer:
        return next(s for s in self.servers if s.port == port)

    def primary_for(self, key: str) -> int:
        """The port of the primary serving `key`'s slot now."""
        slot = key_slot(key.encode())
        for node in self.nodes():
            if node.primary and not node.failed and node.serves(slot):
                return node.port
        raise RuntimeError(f"no primary serves slot {slot} of {key!r}")

    def replica_of(self, primary_port: int) -> int:
        """The port of a replica of the primary on `primary_port`."""
        nodes = self.nodes()
        primary = next(n for n in nodes if n.port == primary_port)
        return next(n.port for n in nodes if n.primary_id == primary.node_id)

    def kill(self, port: int) -> None:
        """kill -9 the node on `port`, and wait until the process is gone."""
        server = self.server(port)
        process, server.process = server.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)

    def wait_promoted(self, key: str, old_port: int, timeout_s: float = 30) -> int:
        """Wait until every running node agrees that a node other than `old_port` is the primary
        of `key`'s slot and the cluster is ok again; return that node's port."""
        slot = key_slot(key.encode())

        def promoted() -> bool:
            owners = set()
            for server in self.running():
                nodes = cluster_nodes(server.port) or []
                owner = [n.port for n in nodes if n.primary and not n.failed and n.serves(slot)]
                info = command(server.port, "CLUSTER", "INFO") or ""
                if len(owner) != 1 or "cluster_state:ok" not in info:
                    return False
                owners.add(owner[0])
            return len(owners) == 1 and old_port not in owners

        wait_until(promoted, timeout_s, f"a new primary for slot {slot} (was {old_port})")
        return self.primary_for(key)

    def detach(self, replica_port: int) -> None:
        """Make a replica stop following its primary, which does not notice: the replica is
        given a password its primary does not accept, and its link is cut, so it cannot sync
        again. Writes acknowledged by the primary from now on are not on this replica, and a
        failover to it loses them (the cluster still counts it as the primary's replica)."""
        port = replica_port
        if command(port, "CONFIG", "SET", "masterauth", "not-the-password") != "+OK\r\n":
            raise RuntimeError(f"replica {port}: CONFIG SET masterauth refused")
        command(port, "CLIENT", "KILL", "TYPE", "master")
        wait_until(
            lambda: "master_link_status:down" in (command(port, "INFO", "replication") or ""),
            10,
            f"replica {port} to lose its link",
        )

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def __enter__(self) -> RedisClusterProcesses:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
