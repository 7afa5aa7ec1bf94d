"""`homeroom cluster up`, a class held through HAProxy across two nodes, then `down` (docs/operations.md#the-deployment).

Real parts only: HAProxy, three nodes (network namespaces where this machine allows them,
127.0.0.x otherwise), a Redis Cluster of 3 primaries and 3 replicas, PgBouncer in transaction
mode before PostgreSQL. A teacher and a pupil sign in through HAProxy (so through PgBouncer),
join the demo class, and chat from two gateways on different nodes; `down` then leaves no
process, namespace, veth pair or database behind. Everything is stopped on failure too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from websockets.asyncio.client import connect

from homeroom.deploy import cluster, netns, pgbouncer, rediscluster
from homeroom.deploy.cluster import gateway_sessions, haproxy_command
from homeroom.deploy.topology import REDIS_NODE_TIMEOUT_MS, Mode, Topology
from tests.e2e.test_live_processes import Client, kind
from tests.gate_process import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
JSON = {"accept": "application/json"}
TEACHER = ("claire.dubois", "demo-prof")
PUPIL = ("lea.martin", "demo-eleve")


@pytest.fixture(scope="module", autouse=True)
def tools() -> None:
    need = [str(ROOT / "scripts" / "need"), "haproxy", "pgbouncer", "redis-server", "ip", "nft"]
    subprocess.run(need, check=True, timeout=300)


@pytest.fixture
def deployment(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Topology]:
    mode: Mode | None = getattr(request, "param", None)
    t = cluster.up(tmp_path / "cluster", mode=mode)  # stops what it started if a part fails
    try:
        yield t
    finally:
        cluster.down(t.path)


def sign_in(t: Topology, login: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=t.url, headers=JSON, timeout=20)
    done = client.post("/api/v1/session", json={"login": login, "password": password})
    assert done.status_code == 201, done.text
    return client


def join(client: httpx.Client) -> dict[str, str]:
    """The join of the demo's class that starts in ten minutes: room, token and URL."""
    sessions = client.get("/api/v1/me/sessions").json()["sessions"]
    soon = next(s for s in sessions if "bientôt" in s["title"])
    csrf = client.get("/api/v1/me").json()["csrf"]
    joined = client.post(f"/api/v1/sessions/{soon['id']}/join", headers={"x-csrf-token": csrf})
    assert joined.status_code == 200, joined.text
    body: dict[str, str] = joined.json()
    return body


async def open_class(joined: dict[str, str]) -> Client:
    url = f"{joined['url']}?room={joined['room']}&token={joined['token']}"
    ws = await connect(url, open_timeout=10)
    client = Client(ws)
    await client.until(kind("snapshot"), "the class's snapshot")
    return client


def chat_across_nodes(t: Topology) -> None:
    teacher_http, pupil_http = sign_in(t, *TEACHER), sign_in(t, *PUPIL)
    try:
        teacher_join, pupil_join = join(teacher_http), join(pupil_http)
    finally:
        teacher_http.close()
        pupil_http.close()
    assert teacher_join["url"] == t.live_url  # the page connects through HAProxy
    assert teacher_join["room"] == pupil_join["room"]

    async def hold_class() -> None:
        teacher = await open_class(teacher_join)
        try:
            on = [name for name, n in gateway_sessions(t).items() if n]
            assert len(on) == 1, gateway_sessions(t)
            # the room hashes the pupil to the teacher's gateway: drain that node's ports so
            # that HAProxy sends the pupil elsewhere (the class then spans two nodes)
            for node in t.nodes:
                if node.name == on[0]:
                    for i in range(len(node.live_ports)):
                        haproxy_command(t, f"set server gateways/{node.name}{i} state drain")
            pupil = await open_class(pupil_join)
            try:
                sessions = gateway_sessions(t)
                assert sorted(n for n in sessions.values() if n) == [1, 1], sessions
                await pupil.send("chat.send", "c-1", text="bonjour madame", to="all")
                await teacher.until(kind("chat.message", text="bonjour madame"), "the chat")
                await teacher.send("chat.send", "c-2", text="bonjour Léa", to="all")
                await pupil.until(kind("chat.message", text="bonjour Léa"), "the answer")
            finally:
                await pupil.close()
        finally:
            await teacher.close()

    asyncio.run(hold_class())


def until(t: Topology, holds: Callable[[dict[str, str]], bool], what: str) -> None:
    """Wait (20 s at most) until HAProxy's view of its servers satisfies `holds`."""
    deadline = time.monotonic() + 20
    while not holds(states := cluster.servers_up(t)):
        assert time.monotonic() < deadline, f"no {what} within 20 s: {states}"
        time.sleep(0.2)


def nothing_left(t: Topology) -> None:
    for name, pid in t.pids.items():
        assert not cluster.alive(pid), f"{name} (pid {pid}) still runs"
    assert netns.leftovers(t.ident) == []
    assert not (t.path / "topology.json").exists()
    assert not pgbouncer.folder(t).exists()
    databases = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "SELECT datname FROM pg_database"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert t.database not in databases


def test_a_class_through_haproxy_spans_two_nodes_then_down_leaves_nothing(
    deployment: Topology,
) -> None:
    t = deployment
    assert t.mode == cluster.detect()[0]
    assert len(t.nodes) == 3 and len(t.redis_ports) == 6
    assert httpx.get(f"{t.url}/healthz", timeout=5).status_code == 200
    assert sorted(rediscluster.roles(t).values()) == ["master"] * 3 + ["slave"] * 3
    for port in t.redis_ports:
        with redis.Redis(host=t.host_address, port=port, decode_responses=True) as node:
            got = node.config_get("appendonly") | node.config_get("appendfsync")
            got |= node.config_get("cluster-node-timeout")
        assert got == {
            "appendonly": "yes",
            "appendfsync": "everysec",
            "cluster-node-timeout": str(REDIS_NODE_TIMEOUT_MS),
        }
    assert all(state.startswith("UP") for state in cluster.servers_up(t).values())
    chat_across_nodes(t)
    shown = "\n".join(cluster.status(t.path))
    assert "GONE" not in shown and shown.count(" running") == len(t.pids), shown
    # sign-in, the class's pages and the gateways' records all went through PgBouncer
    assert int(pgbouncer.stats(t)[t.database]["total_xact_count"]) > 0
    assert cluster.down(t.path)  # reads the folder's copy: `t` keeps every pid to check
    nothing_left(t)


@pytest.mark.parametrize("deployment", ["loopback"], indirect=True)
def test_without_namespaces_each_node_has_its_own_loopback_address(
    deployment: Topology,
) -> None:
    t = deployment
    assert t.mode == "loopback"
    assert [n.address for n in t.nodes] == ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
    assert all(n.namespace is None for n in t.nodes)
    client = sign_in(t, *PUPIL)
    try:
        me = client.get("/api/v1/me")
    finally:
        client.close()
    assert me.status_code == 200 and json.loads(me.text)["roles"]

    # kill -9 a node's processes: HAProxy takes it out and the others serve; started again,
    # it is back in
    assert len(cluster.kill_node(t, "a")) == 2
    until(t, lambda states: states.get("web/a", "").startswith("DOWN"), "web/a DOWN")
    for _ in range(6):
        assert httpx.get(f"{t.url}/healthz", timeout=5).status_code == 200
    cluster.start_node(t, t.nodes[0])
    until(t, lambda states: states.get("web/a") == "UP", "web/a UP again")
    # HAProxy reloaded with a node list without c: the new worker has no server c
    cluster.reload_haproxy(dataclasses.replace(t, nodes=t.nodes[:2]))
    until(t, lambda states: "web/c" not in states and "web/b" in states, "a file without c")
    assert httpx.get(f"{t.url}/healthz", timeout=5).status_code == 200
    assert cluster.down(t.path)
    nothing_left(t)
