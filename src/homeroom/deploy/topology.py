"""The one description of a deployment: nodes, addresses, ports, processes (docs/operations.md#the-deployment).

`plan()` lays a deployment out; `Topology` is kept as JSON in the deployment's folder, so that
`homeroom cluster down|status`, the tests and the benches read the same description that
`homeroom cluster up` started. Nothing here starts anything.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Mode = Literal["netns", "loopback"]
LiveBalance = Literal["hash", "leastconn"]

POSTGRES = ("127.0.0.1", 5432)  # the machine's server; the cluster has a database of its own
NODE_NAMES = "abcdefgh"
REDIS_PRIMARIES = 3
REDIS_REPLICAS_EACH = 1
# Redis Cluster: a primary unreachable this long is suspected (PFAIL), then failed by a majority
# and replaced by its replica: failover takes about this plus 1-2 s (docs/operations.md).
REDIS_NODE_TIMEOUT_MS = 5000
# Each process's SQLAlchemy pool toward PgBouncer: at most POOL + OVERFLOW client connections.
DATABASE_POOL = 4
DATABASE_OVERFLOW = 2
# PgBouncer's server connections to PostgreSQL for the cluster's database, all processes together.
PGBOUNCER_SERVER_POOL = 12
# Ports HAProxy uses to reach one gateway: one connection needs a distinct (source address,
# source port, destination address, destination port); with one HAProxy address and the default
# ephemeral range 32768-60999, one destination port holds 28,232 connections at most.
EPHEMERAL_PORTS = 60999 - 32768 + 1
GATEWAY_PORTS = 4
# Janus's media (UDP, one port a PeerConnection): the range a single Janus takes by default,
# cut into one slice a node, so that no two instances of a deployment ever want the same port
# (in loopback mode they share the machine's ports; docs/operations.md#the-janus-pool).
RTP_PORTS = (20_000, 40_000)
# Janus's event loops a node: handles share these instead of a thread each (docs/av.md).
JANUS_EVENT_LOOPS = 2


@dataclass(frozen=True, slots=True)
class Node:
    """One node: a network namespace (or a 127.0.0.x address) with a `homeroom run` and a
    `homeroom live`. `live_ports` are the ports HAProxy dials for the gateway: the first is the
    one it listens on, the others are redirected to it inside the namespace (nftables)."""

    name: str
    address: str
    namespace: str | None
    http_port: int
    agent_port: int  # HOMEROOM_AGENT_PORT: `ready`/`drain` of the HTTP process
    live_ports: tuple[int, ...]
    live_agent_port: int  # HOMEROOM_LIVE_AGENT_PORT
    live_health_port: int  # HOMEROOM_LIVE_HEALTH_PORT: GET /healthz, /readyz of the gateway
    janus_port: int = 0  # the node's Janus: its WebSocket API's port; 0: no Janus
    janus_rtp: tuple[int, int] = (0, 0)  # its media ports (UDP), first and last
    # where its API listens: the node's address in a namespace; 127.0.0.1 for a 127.0.0.x
    # node, since Janus binds every interface when told an address no interface holds
    janus_host: str = ""

    @property
    def live_port(self) -> int:
        return self.live_ports[0]

    @property
    def janus_url(self) -> str:
        return f"ws://{self.janus_host}:{self.janus_port}" if self.janus_port else ""


@dataclass(frozen=True, slots=True)
class Topology:
    """Everything a deployment is made of, and where each part listens."""

    ident: str  # names the namespaces, the bridge and the database: several can coexist
    mode: Mode
    folder: str
    host_address: str  # where Redis and PgBouncer listen, as the nodes reach them
    subnet: str  # the nodes' network (netns), or "" (loopback)
    haproxy_port: int
    stats_port: int  # HAProxy's stats page, on 127.0.0.1
    redis_ports: tuple[int, ...]
    pgbouncer_port: int
    database: str
    nodes: tuple[Node, ...]
    live_balance: LiveBalance = "hash"
    gate_mode: str = "safety_net"  # HOMEROOM_MODE of every node: the gate open below capacity
    secret_keys: str = ""
    operator_token: str = ""
    janus_api_secret: str = ""  # every Janus of the pool: only the gateways know them
    janus_admin_key: str = ""
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def janus_urls(self) -> list[str]:
        """The Janus pool, one instance a node, in the nodes' order ([] without audio/video)."""
        return [n.janus_url for n in self.nodes if n.janus_port]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.haproxy_port}"

    @property
    def live_url(self) -> str:
        return f"ws://127.0.0.1:{self.haproxy_port}/live"

    @property
    def redis_url(self) -> str:
        return "redis+cluster://" + ",".join(f"{self.host_address}:{p}" for p in self.redis_ports)

    @property
    def database_url(self) -> str:
        """The processes' URL: PgBouncer's, which pools toward PostgreSQL's database."""
        return (
            f"postgresql+asyncpg://postgres@{self.host_address}:{self.pgbouncer_port}/"
            f"{self.database}"
        )

    @property
    def direct_database_url(self) -> str:
        """PostgreSQL itself, for what runs once before the processes: create, migrate, seed."""
        host, port = POSTGRES
        return f"postgresql+asyncpg://postgres@{host}:{port}/{self.database}"

    @property
    def balancer_address(self) -> str:
        """The source address of HAProxy's connections to the nodes, the one they trust for a
        PROXY header: an address of its own (.2 on the bridge, or 127.0.0.2), so that anything
        else on the host (the cluster's probes, an operator's curl) reaches a node as itself."""
        return self.subnet.removesuffix(".0/24") + ".2" if self.subnet else "127.0.0.2"

    @property
    def path(self) -> Path:
        return Path(self.folder)

    def env(self, node: Node) -> dict[str, str]:
        """The HOMEROOM_* settings of both processes of `node` (each also sets its own port)."""
        return {
            "HOMEROOM_BACKEND_URL": self.redis_url,
            "HOMEROOM_SECRET_KEYS": self.secret_keys,
            "HOMEROOM_OPERATOR_TOKEN": self.operator_token,
            "HOMEROOM_DATABASE_URL": self.database_url,
            "HOMEROOM_DATABASE_PGBOUNCER": "1",
            "HOMEROOM_DATABASE_POOL_SIZE": str(DATABASE_POOL),
            "HOMEROOM_DATABASE_MAX_OVERFLOW": str(DATABASE_OVERFLOW),
            "HOMEROOM_MODE": self.gate_mode,
            "HOMEROOM_HOST": node.address,
            "HOMEROOM_PORT": str(node.http_port),
            "HOMEROOM_AGENT_PORT": str(node.agent_port),
            "HOMEROOM_LIVE_HOST": node.address,
            "HOMEROOM_LIVE_PORT": str(node.live_port),
            "HOMEROOM_LIVE_AGENT_PORT": str(node.live_agent_port),
            "HOMEROOM_LIVE_HEALTH_PORT": str(node.live_health_port),
            "HOMEROOM_LIVE_PUBLIC_URL": self.live_url,
            # HAProxy, as the nodes see it, names the client: in X-Forwarded-For to `homeroom
            # run` (its connections shared between clients), in a PROXY header to the gateways
            "HOMEROOM_TRUSTED_PROXIES": f"{self.balancer_address}/32",
            "HOMEROOM_HTTP_PROXY_HEADER": "forwarded",
            **self.janus_env(),
        }

    def janus_env(self) -> dict[str, str]:
        """Every gateway gets the whole pool, so that placement spreads classes over it."""
        if not self.janus_urls:
            return {}
        return {
            "HOMEROOM_JANUS_URLS": ",".join(self.janus_urls),
            "HOMEROOM_JANUS_API_SECRET": self.janus_api_secret,
            "HOMEROOM_JANUS_ADMIN_KEY": self.janus_admin_key,
        }

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> Topology:
        data: dict[str, Any] = json.loads(text)
        data["nodes"] = tuple(
            Node(
                **{
                    **n,
                    "live_ports": tuple(n["live_ports"]),
                    "janus_rtp": tuple(n.get("janus_rtp", (0, 0))),
                }
            )
            for n in data["nodes"]
        )
        data["redis_ports"] = tuple(data["redis_ports"])
        return cls(**data)

    def save(self) -> None:
        """Write topology.json, readable by its owner only: it holds the deployment's secrets."""
        self.path.mkdir(parents=True, exist_ok=True)
        state = self.path / "topology.json"
        fresh = state.with_suffix(".tmp")
        fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(self.to_json())
        fresh.replace(state)

    @classmethod
    def load(cls, folder: Path) -> Topology | None:
        state = folder / "topology.json"
        return cls.from_json(state.read_text()) if state.exists() else None


def plan(
    folder: Path,
    mode: Mode,
    free_port: Callable[[], int],
    *,
    nodes: int = 3,
    subnet_octet: int = 0,
    live_balance: LiveBalance = "hash",
    gateway_ports: int = GATEWAY_PORTS,
    av: bool = True,
    gate_mode: str = "safety_net",
) -> Topology:
    """Lay a deployment out: a fresh identity, secrets, and a port for every part.

    In netns mode each node has an address of its own on a /24 (10.213.`subnet_octet`.0) and
    its ports need not differ from another node's; in loopback mode node i is 127.0.0.(11+i),
    and every port is still taken from `free_port`, so two deployments never meet. With `av`,
    each node has a Janus: an API port, and a slice of RTP_PORTS of its own.
    """
    if not 1 <= nodes <= len(NODE_NAMES):
        raise ValueError(f"nodes: 1 to {len(NODE_NAMES)}")
    ident = secrets.token_hex(3)
    subnet = f"10.213.{subnet_octet}" if mode == "netns" else ""
    host = f"{subnet}.1" if mode == "netns" else "127.0.0.1"
    laid: list[Node] = []
    low, high = RTP_PORTS
    slice_ = (high - low + 1) // nodes
    for i, name in enumerate(NODE_NAMES[:nodes]):
        netns = mode == "netns"
        rtp = (low + i * slice_, low + (i + 1) * slice_ - 1)
        laid.append(
            Node(
                name=name,
                address=f"{subnet}.{11 + i}" if netns else f"127.0.0.{11 + i}",
                namespace=f"hr-{ident}-{name}" if netns else None,
                http_port=free_port(),
                agent_port=free_port(),
                live_ports=tuple(free_port() for _ in range(gateway_ports if netns else 1)),
                live_agent_port=free_port(),
                live_health_port=free_port(),
                janus_port=free_port() if av else 0,
                janus_rtp=rtp if av else (0, 0),
                janus_host=(f"{subnet}.{11 + i}" if netns else "127.0.0.1") if av else "",
            )
        )
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return Topology(
        ident=ident,
        mode=mode,
        folder=str(folder.resolve()),
        host_address=host,
        subnet=f"{subnet}.0/24" if subnet else "",
        haproxy_port=free_port(),
        stats_port=free_port(),
        redis_ports=tuple(free_port() for _ in range(REDIS_PRIMARIES * (1 + REDIS_REPLICAS_EACH))),
        pgbouncer_port=free_port(),
        database=f"homeroom_cluster_{ident}",
        nodes=tuple(laid),
        live_balance=live_balance,
        gate_mode=gate_mode,
        secret_keys=f"1:{key}",
        operator_token=secrets.token_urlsafe(24),
        janus_api_secret=secrets.token_urlsafe(24) if av else "",
        janus_admin_key=secrets.token_urlsafe(24) if av else "",
    )
