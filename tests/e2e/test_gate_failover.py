"""The gate on a lost primary: two real `homeroom run` processes, a private Redis Cluster with
replicas, and the primary of the lane's slot killed while people redeem (tests/e2e/gate_failover.py).

The issue's contract: a replica is promoted, the gate admits again within 10 s of the kill, and
lets in at most 1 % of capacity beyond it; no number is admitted twice. The promoted replica is
made to miss the last second of writes first (the worst case a failover can give), so the test
fails if the gate trusts what the replica says.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.gate_failover import env, queue_through_a_kill
from tests.gate_process import GateProcess
from tests.redis_servers import RedisClusterProcesses

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
CAPACITY = 300


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[RedisClusterProcesses]:
    with RedisClusterProcesses(tmp_path, replicas=1, node_timeout_ms=1000) as started:
        yield started


@pytest.fixture
def gates(cluster: RedisClusterProcesses) -> Iterator[list[GateProcess]]:
    settings = env(cluster.url, CAPACITY, rate_per_min=3000)
    started: list[GateProcess] = []
    try:
        for _ in range(2):
            started.append(GateProcess(settings).start())
        yield started
    finally:
        for gate in started:
            gate.stop()


async def test_the_gate_admits_again_soon_and_never_beyond_capacity(
    cluster: RedisClusterProcesses, gates: list[GateProcess]
) -> None:
    result = await queue_through_a_kill(cluster, gates, capacity=CAPACITY, lost_writes=True)
    assert result.doubled == 0
    assert result.over_admitted <= CAPACITY // 100, result.over_admitted
    assert len(result.admitted) >= CAPACITY  # the gate went on admitting up to capacity
    assert result.gap_s <= 10.0, result.gap_s  # the bound, from the kill
    assert 500 not in result.statuses
