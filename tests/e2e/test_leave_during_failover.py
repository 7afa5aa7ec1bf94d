"""The report of issue 10 §3.2, replayed: passes given back to a real `homeroom run` while the
Redis Cluster primary holding their lane is killed. Before, `POST /gate/<g>/leave` answered
`500 internal` about a hundred times in 4 s and the passes stayed counted; now every answer is
`200` or `202`, and every pass is uncounted once the node is back
(docs/operations.md#when-a-store-is-away).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.test_gate_processes import env, eventually
from tests.gate_process import GateProcess
from tests.redis_servers import RedisClusterProcesses, command

pytestmark = pytest.mark.slow
JSON = {"accept": "application/json"}
LANE_KEY = "hr:{national:pupils}:n"
PEOPLE = 40
OUTAGE_S = 4.0  # as long as the report's burst; not a figure asserted


@pytest.fixture
def cluster() -> Iterator[RedisClusterProcesses]:
    nodes = RedisClusterProcesses()
    for server in nodes.servers:
        server.args = (*server.args, "--appendonly", "yes", "--appendfsync", "always")
    with nodes:
        yield nodes


def test_leaves_during_a_primary_kill_are_answered_and_honoured_after(
    cluster: RedisClusterProcesses,
) -> None:
    with GateProcess(env(cluster.url, HOMEROOM_MODE="safety_net")) as gate:
        people = [httpx.Client(base_url=gate.base, timeout=10) for _ in range(PEOPLE)]
        try:
            for person in people:
                person.post("/gate/national/ticket", headers=JSON)
            for person in people:
                eventually(
                    lambda p=person: (
                        p.post("/gate/national/redeem", headers=JSON).status_code == 200
                    ),
                    what="a pass",
                )
            eventually(lambda: gate.admin("GET", "status")["active"] == PEOPLE, what="counted")
            passes = [p.cookies["hr_p_national"] for p in people]
            dead = next(
                s
                for s in cluster.servers
                if not (command(s.port, "EXISTS", LANE_KEY) or "").startswith("-MOVED")
            )
            assert dead.process is not None
            dead.process.kill()
            dead.process.wait(10)
            statuses: list[int] = []
            started = time.monotonic()
            while time.monotonic() - started < OUTAGE_S:  # everyone leaves, again and again
                for person, text in zip(people, passes, strict=True):
                    person.cookies.set("hr_p_national", text)
                    statuses.append(person.post("/gate/national/leave", headers=JSON).status_code)
            assert 500 not in statuses and set(statuses) <= {200, 202}, set(statuses)
            assert 202 in statuses
            cluster.start_again()
            eventually(
                lambda: gate.admin("GET", "status")["active"] == 0,
                timeout_s=30,
                what="every pass given back uncounted",
            )
            metrics = httpx.get(f"{gate.base}/metrics").text
            assert 'homeroom_gate_pending_leaves{gate="national"} 0.0' in metrics
        finally:
            for person in people:
                person.close()
