"""The deployment's generated files: HAProxy's from the node list (and `haproxy -c` accepts it),
PgBouncer's pools, the topology's JSON, and the database engine's PgBouncer mode."""

from __future__ import annotations

import fcntl
import itertools
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from homeroom.config import load_settings
from homeroom.deploy import cluster, haproxy, pgbouncer
from homeroom.deploy.topology import (
    DATABASE_OVERFLOW,
    DATABASE_POOL,
    EPHEMERAL_PORTS,
    PGBOUNCER_SERVER_POOL,
    Topology,
    plan,
)
from homeroom.live.server import PING_AFTER_S
from homeroom.school.data import db
from tests.gate_process import ROOT


def ports() -> itertools.count[int]:
    return itertools.count(21_000)


def topology(tmp_path: Path, mode: str = "netns", nodes: int = 3) -> Topology:
    counter = ports()
    return plan(tmp_path, mode, lambda: next(counter), nodes=nodes, subnet_octet=7)  # type: ignore[arg-type]


def section(text: str, name: str) -> list[str]:
    """The lines of one section (`backend web`, ...), comments left out."""
    lines = text.splitlines()
    start = lines.index(name)
    out = []
    for line in lines[start + 1 :]:
        if line and not line.startswith(" "):
            break
        if line.strip() and not line.strip().startswith("#"):
            out.append(line.strip())
    return out


def test_every_node_is_a_web_server_and_a_gateway_on_each_of_its_ports(tmp_path: Path) -> None:
    t = topology(tmp_path)
    text = haproxy.config(t)
    web, gateways = section(text, "backend web"), section(text, "backend gateways")
    for node in t.nodes:
        assert any(
            line.startswith(f"server {node.name} {node.address}:{node.http_port} check")
            and f"agent-port {node.agent_port}" in line
            for line in web
        ), node
        for i, port in enumerate(node.live_ports):
            assert any(
                line.startswith(f"server {node.name}{i} {node.address}:{port} check")
                and f"agent-port {node.live_agent_port}" in line
                for line in gateways
            ), (node, port)
    assert len([line for line in gateways if line.startswith("server ")]) == 3 * 4


def test_classes_hash_on_the_room_with_a_bounded_load_and_the_rest_is_leastconn(
    tmp_path: Path,
) -> None:
    t = topology(tmp_path)
    gateways = section(haproxy.config(t), "backend gateways")
    assert "balance url_param room" in gateways
    assert "hash-type consistent" in gateways
    assert "hash-balance-factor 150" in gateways
    web = section(haproxy.config(t), "backend web")
    assert "balance leastconn" in web
    assert any("slowstart 20s" in line for line in web)
    plain = section(haproxy.config(t, live_balance="leastconn"), "backend gateways")
    assert "balance leastconn" in plain and "hash-type consistent" not in plain


def test_timeouts_rate_limits_and_reloads(tmp_path: Path) -> None:
    text = haproxy.config(topology(tmp_path))
    tunnel = re.search(r"timeout tunnel (\d+)s", text)
    assert tunnel is not None and int(tunnel.group(1)) > 2 * PING_AFTER_S
    assert re.search(r"timeout http-request \d+s", text)
    assert re.search(r"hard-stop-after \d+s", text)
    frontend = section(text, "frontend homeroom")
    assert "stick-table type ip size 1m expire 60s store conn_rate(10s)" in frontend
    assert "tcp-request connection track-sc0 src" in frontend
    assert "tcp-request connection reject if { sc0_conn_rate gt 2000 }" in frontend
    assert "use_backend gateways if live" in frontend


def test_a_gateway_has_enough_ports_for_its_connections(tmp_path: Path) -> None:
    t = topology(tmp_path)
    limits = haproxy.Limits()
    per_port = re.search(
        r"maxconn (\d+)", "\n".join(section(haproxy.config(t), "backend gateways"))
    )
    assert per_port is not None and int(per_port.group(1)) <= EPHEMERAL_PORTS
    assert len(t.nodes[0].live_ports) * EPHEMERAL_PORTS >= limits.gateway_maxconn


def test_the_tuned_lines_are_explained_in_the_file(tmp_path: Path) -> None:
    lines = haproxy.config(topology(tmp_path)).splitlines()
    for key in ("hard-stop-after", "timeout tunnel", "stick-table", "hash-balance-factor"):
        index = next(i for i, line in enumerate(lines) if line.strip().startswith(key))
        block = lines[max(0, index - 4) : index]
        assert any(line.strip().startswith("#") for line in block), f"{key}: no comment above"


@pytest.mark.parametrize("mode", ["netns", "loopback"])
def test_every_server_learns_the_client_from_the_balancer_the_nodes_trust(
    tmp_path: Path, mode: str
) -> None:
    t = topology(tmp_path, mode)
    text = haproxy.config(t)
    web, gateways = section(text, "backend web"), section(text, "backend gateways")
    # the HTTP processes: X-Forwarded-For on shared connections, never a PROXY header
    assert "option forwardfor" in web and "http-reuse safe" in web
    assert not any("send-proxy" in line for line in web)
    assert "http-request del-header x-forwarded-for" in section(text, "frontend homeroom")
    # the gateways: a PROXY header; their check goes to the plain health port: no header there
    assert "default-server send-proxy-v2" in gateways
    assert not any("check-send-proxy" in line for line in gateways)
    env = t.env(t.nodes[0])
    trusted = env["HOMEROOM_TRUSTED_PROXIES"]
    assert env["HOMEROOM_HTTP_PROXY_HEADER"] == "forwarded"
    balancer = "10.213.7.2" if mode == "netns" else "127.0.0.2"  # not the host's own address
    assert trusted == f"{balancer}/32" and balancer != t.host_address
    assert f"source {balancer}" in web and f"source {balancer}" in gateways
    assert load_settings(trusted_proxies=trusted).trusted_proxies == [trusted]


@pytest.mark.parametrize("mode", ["netns", "loopback"])
def test_haproxy_accepts_the_generated_file(tmp_path: Path, mode: str) -> None:
    with open(Path(tempfile.gettempdir()) / "homeroom-need.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # xdist workers: one apt-get at a time (make: before)
        subprocess.run([str(ROOT / "scripts" / "need"), "haproxy"], check=True, timeout=300)
    path = tmp_path / "haproxy.cfg"
    path.write_text(haproxy.config(topology(tmp_path, mode), haproxy.Limits(maxconn=5000)))
    checked = haproxy.check(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    broken = tmp_path / "broken.cfg"
    broken.write_text(path.read_text().replace("balance leastconn", "balance sometimes"))
    assert haproxy.check(broken).returncode != 0  # the check can fail


def test_loopback_nodes_have_their_own_address_and_one_port(tmp_path: Path) -> None:
    t = topology(tmp_path, "loopback")
    assert [n.address for n in t.nodes] == ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
    assert all(len(n.live_ports) == 1 and n.namespace is None for n in t.nodes)
    netns = topology(tmp_path, "netns")
    assert [n.address for n in netns.nodes] == ["10.213.7.11", "10.213.7.12", "10.213.7.13"]
    assert netns.host_address == "10.213.7.1"


def test_the_topology_survives_its_json_and_names_no_port_twice(tmp_path: Path) -> None:
    t = topology(tmp_path)
    t.pids["haproxy"] = 1234
    again = Topology.from_json(t.to_json())
    assert again == t
    used = [t.haproxy_port, t.stats_port, t.pgbouncer_port, *t.redis_ports]
    for n in t.nodes:
        used += [n.http_port, n.agent_port, *n.live_ports, n.live_agent_port, n.live_health_port]
    assert len(used) == len(set(used))


def test_every_process_goes_through_pgbouncer_with_a_bounded_pool(tmp_path: Path) -> None:
    t = topology(tmp_path)
    env = t.env(t.nodes[0])
    settings = load_settings(**{k.removeprefix("HOMEROOM_").lower(): v for k, v in env.items()})
    assert settings.database_url.endswith(f"@{t.host_address}:{t.pgbouncer_port}/{t.database}")
    assert settings.database_pgbouncer is True
    assert (settings.database_pool_size, settings.database_max_overflow) == (
        DATABASE_POOL,
        DATABASE_OVERFLOW,
    )
    ini = pgbouncer.config(t)
    assert "pool_mode = transaction" in ini
    assert f"default_pool_size = {PGBOUNCER_SERVER_POOL}" in ini
    # every process's whole pool fits, twice (old and new processes of a rolling restart)
    clients = int(re.search(r"max_client_conn = (\d+)", ini).group(1))  # type: ignore[union-attr]
    assert clients >= 2 * 2 * len(t.nodes) * (DATABASE_POOL + DATABASE_OVERFLOW)


async def test_the_engine_behind_pgbouncer_keeps_no_prepared_statement() -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:6432/x"
    engine = db.engine_for(url, pool_size=3, max_overflow=1, pgbouncer=True)
    try:
        assert engine.pool.size() == 3  # type: ignore[attr-defined]
        names = db.pgbouncer_args()
        assert names["statement_cache_size"] == 0 and names["prepared_statement_cache_size"] == 0
        first, second = (
            names["prepared_statement_name_func"](),
            names["prepared_statement_name_func"](),
        )
        assert first != second and first.startswith("__asyncpg_")
    finally:
        await engine.dispose()


def test_a_gateway_that_refuses_a_connection_is_marked_down_at_once(tmp_path: Path) -> None:
    # a node killed: without this the checks take 2-4 s to notice, and every reconnection
    # hashed to it meanwhile fails and backs off (docs/operations.md#when-a-node-dies)
    gateways = section(haproxy.config(topology(tmp_path)), "backend gateways")
    default = next(line for line in gateways if line.startswith("default-server "))
    assert "observe layer4 error-limit 1 on-error mark-down" in default


def test_the_ports_handed_out_keep_their_cluster_bus_below_the_kernels_outgoing_ports() -> None:
    allocate = cluster.port_allocator()
    ports = [allocate() for _ in range(200)]
    assert len(set(ports)) == 200  # none handed out twice
    low = cluster.first_ephemeral_port()
    assert all(port >= 20_000 and port + 10_000 < low for port in ports)


def test_the_first_outgoing_port_is_the_kernels() -> None:
    text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
    assert cluster.first_ephemeral_port() == int(text.split()[0])
