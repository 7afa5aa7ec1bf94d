"""Private redis-server processes for tests: one server, or a Redis Cluster of 3 primaries.

Start-up waits on the server itself (PING, then CLUSTER INFO), never on a fixed sleep. Every
process started here is stopped by `stop()`, and at interpreter exit as a backstop.
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
from pathlib import Path
from types import TracebackType

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
    """A port nobody listens on (and, for a cluster node, its bus port too)."""
    for _ in range(200):
        port = random.randint(20_000, 30_000)
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


class RedisClusterProcesses:
    """A Redis Cluster of `primaries` redis-server processes without replicas."""

    def __init__(self, directory: Path | None = None, primaries: int = 3) -> None:
        self.directory = directory or Path(tempfile.mkdtemp(prefix="homeroom-cluster-"))
        self.servers: list[RedisServer] = []
        for _ in range(primaries):
            port = free_port(cluster_bus=True)
            while any(s.port == port for s in self.servers):
                port = free_port(cluster_bus=True)
            args = (
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(self.directory / f"nodes-{port}.conf"),
                "--cluster-node-timeout", "5000",
            )  # fmt: skip
            self.servers.append(RedisServer(self.directory, port, args))

    @property
    def ports(self) -> list[int]:
        return [s.port for s in self.servers]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"{HOST}:{p}" for p in self.ports)

    def start(self) -> RedisClusterProcesses:
        """Start the nodes, assign the slots, and wait until every node says the cluster is ok."""
        try:
            for server in self.servers:
                server.start()
            create = subprocess.run(
                [REDIS_CLI, "--cluster", "create"]
                + [f"{HOST}:{p}" for p in self.ports]
                + ["--cluster-replicas", "0", "--cluster-yes"],
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

    def healthy(self) -> bool:
        """Every node sees every slot served and every other node."""
        for port in self.ports:
            info = command(port, "CLUSTER", "INFO") or ""
            if "cluster_state:ok" not in info or "cluster_slots_ok:16384" not in info:
                return False
            if f"cluster_known_nodes:{len(self.servers)}" not in info:
                return False
        return True

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
