"""Fixtures the end-to-end tests share: one `homeroom cluster` deployment for a module's tests.

Starting a deployment (HAProxy, three nodes, a Redis Cluster of 3+3, PgBouncer, a database
seeded) and taking it down costs about 30 s here; the failure tests of a module share one, and
each test gets it back as new (docs/operations.md#the-deployment). A module uses it by asking
for `deployed`; it may override `cluster_env` (module scope) for the settings every process of
the deployment inherits, and the settings HAProxy's file is written with.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.cluster_bench import pin

from homeroom.deploy import cluster
from homeroom.deploy.cluster import gateway_sessions
from homeroom.deploy.topology import Topology
from tests.gate_process import ROOT

AS_NEW_WITHIN_S = 60.0


def running(t: Topology, name: str) -> bool:
    pid = t.pids.get(name)
    return pid is not None and cluster.alive(pid)


class SharedDeployment:
    """One deployment for the tests of a module, handed to each test as new: every process of
    every node running and UP in HAProxy (no DRAIN, no MAINT), nobody connected. What a test
    kills is started again; a deployment that cannot be brought back within AS_NEW_WITHIN_S
    (a test failed mid-way and left it broken) is taken down and started afresh, so that no test
    depends on what the one before it did, or on whether it passed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.starts = 0
        self.topology = self._up()

    def _up(self) -> Topology:
        self.starts += 1
        t = cluster.up(self.folder / f"cluster-{self.starts}")  # stops what it started on failure
        pin(t)
        return t

    def down(self) -> None:
        cluster.down(self.topology.path)

    def as_new(self) -> Topology:
        t = self.topology
        try:
            self._heal(t)
        except Exception as e:  # any failure to heal: start afresh
            print(f"the shared deployment could not be brought back ({e!r}): starting it afresh")
            self.down()
            self.topology = t = self._up()
        return t

    def _heal(self, t: Topology) -> None:
        parts = ["haproxy", "pgbouncer", *[f"redis-{p}" for p in t.redis_ports]]
        dead = [name for name in parts if not running(t, name)]
        if dead:
            raise RuntimeError(f"{', '.join(dead)} not running")
        for node in t.nodes:
            if not all(running(t, p) for p in cluster.node_processes(node)):
                cluster.kill_node(t, node.name)  # the one of the two still alive, if any
                cluster.start_node(t, node)
                pin(t)
        deadline = time.monotonic() + AS_NEW_WITHIN_S
        while not self._is_new(t):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"not as new in {AS_NEW_WITHIN_S:g} s: {cluster.servers_up(t)},"
                    f" sessions {gateway_sessions(t)}"
                )
            time.sleep(0.2)

    @staticmethod
    def _is_new(t: Topology) -> bool:
        states = {k: v for k, v in cluster.servers_up(t).items() if not k.startswith("stats/")}
        wanted = {f"web/{n.name}" for n in t.nodes}
        wanted |= {f"gateways/{n.name}{i}" for n in t.nodes for i in range(len(n.live_ports))}
        return (
            set(states) == wanted
            and all(v == "UP" for v in states.values())
            and not any(gateway_sessions(t).values())
        )


@pytest.fixture(scope="module")
def cluster_env() -> dict[str, str]:
    """Settings for every process of the module's deployment (and for HAProxy's file)."""
    return {}


@pytest.fixture(scope="module")
def shared_deployment(
    tmp_path_factory: pytest.TempPathFactory, cluster_env: dict[str, str]
) -> Iterator[SharedDeployment]:
    need = [str(ROOT / "scripts" / "need"), "haproxy", "pgbouncer", "redis-server", "ip", "nft"]
    subprocess.run(need, check=True, timeout=300)
    with pytest.MonkeyPatch.context() as env:  # for as long as the module runs: restarts too
        for name, value in cluster_env.items():
            env.setenv(name, value)
        shared = SharedDeployment(tmp_path_factory.mktemp("shared-cluster"))
        try:
            yield shared
        finally:
            shared.down()  # stops and removes everything, failing or not


@pytest.fixture
def deployed(shared_deployment: SharedDeployment) -> Topology:
    """The module's deployment, as new (see SharedDeployment)."""
    return shared_deployment.as_new()
