"""HAProxy's configuration, generated from the node list and commented line by line (docs/operations.md#haproxy-line-by-line).

`config(topology)` is the whole file. Nothing else writes HAProxy lines: the cluster, the tests
and the benches all take the file from here, and `haproxy -c` checks it (tests/unit/test_deploy_haproxy.py).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from homeroom.deploy.topology import EPHEMERAL_PORTS, LiveBalance, Topology
from homeroom.live.server import PING_AFTER_S


@dataclass(frozen=True, slots=True)
class Limits:
    """The numbers of the file that an operator tunes; each is explained where it is used."""

    maxconn: int = 200_000
    conn_rate_per_source: int = 2_000  # new connections per source address in 10 s
    hash_balance_factor: int = 150  # a gateway takes at most 150 % of the average load
    slowstart_s: int = 20
    http_request_s: int = 5
    hard_stop_after_s: int = 60
    gateway_maxconn: int = 100_000

    @property
    def tunnel_s(self) -> int:
        """Above twice the ping interval: a quiet class is pinged every PING_AFTER_S, and the
        answer crosses the tunnel, so only a connection dead for three intervals is cut."""
        return int(3 * PING_AFTER_S)


def _global(t: Topology, limits: Limits) -> list[str]:
    return [
        "global",
        "    # one process; threads default to the cores it may run on",
        f"    maxconn {limits.maxconn}",
        "    # the classes' sockets would pin an old process after a reload for as long as they",
        "    # last: it is stopped this long after a reload, its clients resume on the new one",
        f"    hard-stop-after {limits.hard_stop_after_s}s",
        f"    pidfile {t.path / 'haproxy.pid'}",
        f"    stats socket {t.path / 'haproxy.sock'} mode 600 level admin",
        "",
        "defaults",
        "    mode http",
        "    log global",
        "    option dontlognull",
        "    # a client has this long to send a whole request head (slowloris)",
        f"    timeout http-request {limits.http_request_s}s",
        "    timeout connect 3s",
        "    timeout client 30s",
        "    timeout server 30s",
        "    # kept-alive HTTP connections: a little longer than the app's own keep-alive",
        "    timeout http-keep-alive 10s",
        f"    # after a WebSocket upgrade: above twice the gateway's ping ({PING_AFTER_S:g} s)",
        f"    timeout tunnel {limits.tunnel_s}s",
        "    # a health check's answer within this, else the server counts one failure",
        "    timeout check 2s",
        "    # a request that failed to connect goes to another server once",
        "    retries 2",
        "    option redispatch 1",
        "",
    ]


def _frontend(t: Topology, limits: Limits) -> list[str]:
    return [
        "frontend homeroom",
        f"    bind 127.0.0.1:{t.haproxy_port}",
        "    # one row per source address: its new connections over 10 s (a school behind NAT",
        "    # is one address: the limit is for a whole school, not one pupil)",
        "    stick-table type ip size 1m expire 60s store conn_rate(10s)",
        "    tcp-request connection track-sc0 src",
        f"    tcp-request connection reject if {{ sc0_conn_rate gt {limits.conn_rate_per_source} }}",
        "    # a client's own X-Forwarded-For is dropped: the web backend adds the real one, the",
        "    # gateways learn it from the PROXY header their door needs before the handshake",
        "    http-request del-header x-forwarded-for",
        "    # the live classes: WebSocket upgrades of /live go to the gateways",
        "    acl live path /live",
        "    use_backend gateways if live",
        "    default_backend web",
        "",
        "listen stats",
        f"    bind 127.0.0.1:{t.stats_port}",
        "    stats enable",
        "    stats uri /",
        "    stats refresh 5s",
        "",
    ]


def _web(t: Topology, limits: Limits) -> list[str]:
    lines = [
        "backend web",
        "    # `homeroom run` on each node: the fewest connections first; a server that comes",
        f"    # back takes its share over {limits.slowstart_s} s, not the whole wave at once",
        "    balance leastconn",
        "    option httpchk",
        "    http-check send meth GET uri /healthz ver HTTP/1.1 hdr host homeroom",
        "    http-check expect status 200",
        "    # checked every 2 s, down after 2 failures, up after 2 successes; the agent answers",
        "    # `drain` (no new clients) or `ready`; a server marked down loses its sessions",
        f"    default-server inter 2s fall 2 rise 2 slowstart {limits.slowstart_s}s"
        " on-marked-down shutdown-sessions",
        "    # the client's address in an X-Forwarded-For header HAProxy adds to each request;",
        "    # the nodes believe it from this balancer alone (HOMEROOM_TRUSTED_PROXIES with",
        "    # HOMEROOM_HTTP_PROXY_HEADER=forwarded). Not a PROXY header here: it would make each",
        "    # connection to a node one client's own, and HAProxy would open a new connection for",
        "    # nearly every request (docs/operations.md#why-x-forwarded-for-to-the-http-processes)",
        "    option forwardfor",
        "    # idle connections to the nodes shared between clients' requests (the default, said)",
        "    http-reuse safe",
        "    # from an address of its own, the one the nodes trust for that header",
        f"    source {t.balancer_address}",
    ]
    for node in t.nodes:
        lines.append(
            f"    server {node.name} {node.address}:{node.http_port} check"
            f" agent-check agent-addr {node.address} agent-port {node.agent_port} agent-inter 2s"
        )
    return [*lines, ""]


def _gateways(t: Topology, limits: Limits, balance: LiveBalance) -> list[str]:
    lines = ["backend gateways"]
    if balance == "hash":
        lines += [
            "    # a class's people on as few gateways as fit: the room (?room= of the WebSocket",
            "    # URL) picks a gateway on a ring, so each gateway reads a room's entries from",
            f"    # Redis once for all its people; no gateway takes over {limits.hash_balance_factor} %"
            " of the",
            "    # average, the rest of a crowded room spills to the next gateway on the ring",
            "    balance url_param room",
            "    hash-type consistent",
            f"    hash-balance-factor {limits.hash_balance_factor}",
        ]
    else:
        lines += [
            "    # the fewest connections first (a class's people end up on every gateway)",
            "    balance leastconn",
        ]
    # The gateway's own health port (HOMEROOM_LIVE_HEALTH_PORT): /healthz answers 200 while the
    # process lives, also while it drains (the agent check says `drain`, not the health check)
    uri = "/healthz"
    lines += [
        "    option httpchk",
        f"    http-check send meth GET uri {uri} ver HTTP/1.1 hdr host homeroom",
        "    http-check expect status 200",
        "    # a gateway killed with its node refuses connections at once: the first refused",
        "    # (or timed-out) connect marks that server down, so the retry goes to a live one",
        "    # instead of waiting the checks' 2-4 s, while every cut class reconnects at once",
        f"    default-server inter 2s fall 2 rise 2 slowstart {limits.slowstart_s}s"
        f" maxconn {limits.gateway_maxconn // max(1, len(t.nodes[0].live_ports))}"
        " observe layer4 error-limit 1 on-error mark-down",
        "    # each connection begins with a PROXY v2 header naming the client (the gateway's",
        "    # door counts its handshake in the client's block)",
        # the check goes to the health port, a plain HTTP server: no header there
        "    default-server send-proxy-v2",
        f"    source {t.balancer_address}",
    ]
    per_port = min(EPHEMERAL_PORTS, limits.gateway_maxconn // max(1, len(t.nodes[0].live_ports)))
    lines.append(
        f"    # several ports per gateway: {EPHEMERAL_PORTS:,} source ports per destination"
        f" (address, port), so {per_port:,} connections a port at most"
    )
    for node in t.nodes:
        for i, port in enumerate(node.live_ports):
            lines.append(
                f"    server {node.name}{i} {node.address}:{port} check"
                + f" port {node.live_health_port}"
                + f" agent-check agent-addr {node.address} agent-port {node.live_agent_port}"
                " agent-inter 2s"
            )
    return [*lines, ""]


def config(
    t: Topology, limits: Limits | None = None, live_balance: LiveBalance | None = None
) -> str:
    """The whole file for `t`; `live_balance` overrides the topology's (the fan-out bench)."""
    limits = limits or Limits()
    balance = live_balance or t.live_balance
    head = [
        "# Generated by homeroom.deploy.haproxy from the topology: do not edit, regenerate.",
        f"# Deployment {t.ident} ({t.mode}), nodes: " + ", ".join(n.name for n in t.nodes),
        "",
    ]
    parts = [
        _global(t, limits),
        _frontend(t, limits),
        _web(t, limits),
        _gateways(t, limits, balance),
    ]
    return "\n".join(head + [line for part in parts for line in part])


def check(path: Path, haproxy: str = "haproxy") -> subprocess.CompletedProcess[str]:
    """`haproxy -c`: HAProxy's own verdict on the file (exit 0 when valid)."""
    return subprocess.run(
        [haproxy, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30
    )
