"""The deployment's Redis Cluster: 3 primaries, 3 replicas, AOF every second (docs/operations.md#the-deployment).

Each node writes its append-only file (`appendfsync everysec`: at most about a second of
acknowledged writes lost when a machine loses power) and its cluster state into its own folder.
`cluster-node-timeout` is REDIS_NODE_TIMEOUT_MS (topology.py): why 5 s, in the docs.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis

from homeroom.deploy.topology import REDIS_NODE_TIMEOUT_MS, REDIS_REPLICAS_EACH, Topology

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


def argv(t: Topology, port: int) -> list[str]:
    """One cluster node, in the foreground, its files in its own folder."""
    folder = t.path / "redis" / str(port)
    return [
        REDIS_SERVER,
        "--port", str(port),
        "--bind", t.host_address,
        "--cluster-enabled", "yes",
        "--cluster-config-file", str(folder / "nodes.conf"),
        "--cluster-node-timeout", str(REDIS_NODE_TIMEOUT_MS),
        # the nodes tell clients this address: the one they reach from every namespace
        "--cluster-announce-ip", t.host_address,
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", "",
        "--dir", str(folder),
        "--logfile", str(folder / "redis.log"),
        "--daemonize", "no",
        "--protected-mode", "no",
    ]  # fmt: skip


def folders(t: Topology) -> None:
    for port in t.redis_ports:
        (t.path / "redis" / str(port)).mkdir(parents=True, exist_ok=True)


def _info(t: Topology, port: int) -> str:
    """CLUSTER INFO as Redis prints it ("key:value" lines), or "" if the node is silent."""
    try:
        with redis.Redis(host=t.host_address, port=port, socket_timeout=1) as client:
            info = client.execute_command("CLUSTER INFO")
    except redis.RedisError:
        return ""
    if isinstance(info, dict):  # redis-py parses the reply into a dict
        return "\n".join(f"{k}:{v}" for k, v in info.items())
    return info.decode() if isinstance(info, bytes) else str(info)


def answering(t: Topology, port: int) -> bool:
    try:
        with redis.Redis(host=t.host_address, port=port, socket_timeout=1) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def create(t: Topology, timeout_s: float = 60) -> None:
    """Assign the slots (the first three nodes primaries, one replica each), then wait until
    every node says the cluster is ok and knows every other node."""
    done = subprocess.run(
        [REDIS_CLI, "--cluster", "create"]
        + [f"{t.host_address}:{p}" for p in t.redis_ports]
        + ["--cluster-replicas", str(REDIS_REPLICAS_EACH), "--cluster-yes"],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    if done.returncode != 0:
        raise RuntimeError(f"redis-cli --cluster create failed:\n{done.stdout}\n{done.stderr}")
    deadline = time.monotonic() + timeout_s
    while not healthy(t):
        if time.monotonic() > deadline:
            raise TimeoutError(f"Redis Cluster on {t.redis_ports} not ok after {timeout_s} s")
        time.sleep(0.1)


def healthy(t: Topology) -> bool:
    want = f"cluster_known_nodes:{len(t.redis_ports)}"
    for port in t.redis_ports:
        info = _info(t, port)
        if "cluster_state:ok" not in info or want not in info:
            return False
    return True


def roles(t: Topology) -> dict[int, str]:
    """port -> "master" or "slave" (Redis's words), as each node sees itself; "down" if silent."""
    out: dict[int, str] = {}
    for port in t.redis_ports:
        try:
            with redis.Redis(host=t.host_address, port=port, socket_timeout=1) as client:
                role = client.execute_command("ROLE")
            out[port] = role[0].decode() if isinstance(role[0], bytes) else str(role[0])
        except redis.RedisError:
            out[port] = "down"
    return out


def log(t: Topology, port: int) -> Path:
    return t.path / "redis" / str(port) / "redis.log"
