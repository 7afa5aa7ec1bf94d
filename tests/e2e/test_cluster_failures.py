"""Failures of the deployment with real processes (issue #10 §3): a node killed, HAProxy reloaded and restarted, a rolling restart.

The tests share one `homeroom cluster` (HAProxy, three nodes in network namespaces where the
machine allows them, a Redis Cluster of 3+3, PgBouncer), handed to each as new: every process
running and UP in HAProxy, nobody connected (tests/e2e/conftest.py; started afresh if it cannot
be). Each test starts classes of recorded clients (bench/cluster_clients.py: the browser's
contract, every event and message recorded), in rooms no other test used, that connect
through HAProxy with `?room=`, spread over the three nodes, and chat. After the
failure every client must be back through HAProxy, and the audit of every record must find
nothing missing or doubled, each message sent applied exactly once. Times are recorded by the
functions of `make bench-cluster` (bench/cluster_bench.py), never asserted here.
"""

from __future__ import annotations

import itertools

import pytest
from bench.cluster_bench import (
    Crowd,
    gather,
    haproxy_changes,
    node_loss,
    rolling_restart,
    settle_and_audit,
)

from homeroom.deploy import cluster
from homeroom.deploy.cluster import gateway_sessions
from homeroom.deploy.topology import Topology
from tests.gate_process import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
FIGURES = ROOT / ".homeroom" / "failure-figures.txt"
ROOMS = itertools.count(1)  # the tests share a deployment: each gathers in rooms of its own


@pytest.fixture(scope="module")
def cluster_env() -> dict[str, str]:
    return {
        # an old HAProxy worker cuts its tunnels 10 s after a reload here, not the operator's 60 s
        cluster.HARD_STOP_ENV: "10",
        # a gateway's drain closes its clients over 5 s, not the operator's 15 s: the rolling
        # restart drains three; the notice (5 s: the agent check is every 2 s) is left as it is
        "HOMEROOM_DRAIN_WINDOW_S": "5",
        "HOMEROOM_DRAIN_DEADLINE_S": "15",
    }


def record(name: str, figures: dict[str, object]) -> None:
    """The figures of a run, for the operator's guide (not asserted)."""
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    with FIGURES.open("a") as out:
        out.write(f"{name} {figures}\n")
    print(name, figures)


def class_of(t: Topology, classes: int, pupils: int) -> Crowd:
    crowd = gather(t, classes, pupils, chat_period_s=1.0, tag=f"f{next(ROOMS)}")
    assert crowd.joined == classes * (pupils + 1)
    return crowd


def test_a_node_killed_mid_class_every_client_comes_back_and_nothing_is_lost(
    deployed: Topology,
) -> None:
    t = deployed
    crowd = class_of(t, classes=10, pupils=30)
    try:
        spread = gateway_sessions(t)
        assert sorted(spread) == ["a", "b", "c"] and all(spread.values()), spread
        assert sum(spread.values()) == crowd.joined
        figures = node_loss(t, crowd)
        record("node_loss", figures)
        victim = figures["node_loss_victim"]
        assert figures["node_loss_killed"] == 2  # its `homeroom live` and `homeroom run`
        assert not any(cluster.alive(pid) for pid in [t.pids[f"live-{victim}"]])
        # the victim's sockets were cut, and every client is back through HAProxy, elsewhere
        assert figures["node_loss_cut"] >= spread[victim] > 0
        assert figures["node_loss_all_back"], figures
        after = figures["node_loss_sessions_after"]
        assert after[victim] == 0 and sum(after.values()) == crowd.joined, after
        report, settled = settle_and_audit(crowd)
    finally:
        crowd.stop()
    assert settled
    assert report.clients == crowd.joined and report.messages > 0
    assert report.ok, (report.summary(), report.findings)


def test_haproxy_reloaded_with_a_node_removed_then_added_then_killed_loses_nothing(
    deployed: Topology,
) -> None:
    t = deployed
    crowd = class_of(t, classes=3, pupils=20)
    removed = t.nodes[-1].name
    try:
        figures = haproxy_changes(t, crowd)
        record("haproxy", figures)
        # without the node: the new worker has no server of it, and nobody is on it
        assert not any(s.split("/")[1].startswith(removed) for s in
                       figures["reload_without_servers"] if s.startswith("gateways/"))  # fmt: skip
        assert figures["reload_without_sessions"][removed] == 0
        assert sum(figures["reload_without_sessions"].values()) == crowd.joined
        # the old worker's tunnels were cut at hard-stop-after and came back, each time
        for stage in ("without", "with"):
            assert figures[f"reload_{stage}_cut"] == crowd.joined, figures
            assert figures[f"reload_{stage}_all_back"], figures
        assert f"gateways/{removed}0" in figures["reload_with_servers"]
        # killed -9 and started again: every client back
        assert figures["restart_killed"] >= 2  # master and worker
        assert figures["restart_cut"] == crowd.joined and figures["restart_all_back"], figures
        assert sum(figures["restart_sessions"].values()) == crowd.joined
        report, settled = settle_and_audit(crowd)
    finally:
        crowd.stop()
    assert settled
    assert report.clients == crowd.joined and report.messages > 0
    assert report.ok, (report.summary(), report.findings)


def test_a_rolling_restart_of_every_process_mid_class_loses_nothing(deployed: Topology) -> None:
    t = deployed
    crowd = class_of(t, classes=6, pupils=20)
    try:
        figures = rolling_restart(t, crowd)
        record("rolling", figures)
        # every process drained and exited by itself, none needed kill -9
        assert len(figures["restart_stops"]) == 2 * len(t.nodes)
        assert figures["rolling_killed"] == 0, figures["restart_stops"]
        # the gateways closed their people with 1001 (drain), each of them came back
        assert figures["rolling_cut"] >= crowd.joined, figures
        assert set(figures["rolling_close_codes"]) == {1001}, figures["rolling_close_codes"]
        assert figures["rolling_all_back"], figures
        assert sum(figures["rolling_sessions"].values()) == crowd.joined
        report, settled = settle_and_audit(crowd)
    finally:
        crowd.stop()
    assert settled
    assert report.clients == crowd.joined and report.messages > 0
    assert report.ok, (report.summary(), report.findings)
