"""A Redis Cluster primary killed (SIGKILL) under the whole application: every route answers a
documented word while its slots are unreachable and then while the cluster says CLUSTERDOWN,
never 500; a pass given back meanwhile is uncounted once the node is back
(docs/operations.md#when-a-store-is-away).

The cluster is three private redis-server primaries without replicas (tests/redis_servers.py),
with an append-only file each so the node killed comes back with what it had: this is the
outage between a primary's death and its return (or a replica's promotion, which the
deployment's own failover tests cover).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from homeroom.core.lanes import Lane
from homeroom.school.auth.sessions import COOKIE
from tests.redis_servers import RedisClusterProcesses, RedisServer, command
from tests.service.conftest import Gate
from tests.service.sweep import sweep
from tests.service.test_gate_school import School, school  # noqa: F401 (a fixture)
from tests.service.test_redis_away import AWAY_WORDS, KEYS, admitted, kill

pytestmark = pytest.mark.slow
JSON = {"accept": "application/json"}
LANE_KEY = "hr:{national:pupils}:n"  # the anonymous lane's counters (backends/redis.py)
NODE_TIMEOUT_S = 5  # tests/redis_servers.py: cluster-node-timeout 5000


@pytest.fixture
def cluster() -> Iterator[RedisClusterProcesses]:
    nodes = RedisClusterProcesses()
    for server in nodes.servers:
        server.args = (*server.args, "--appendonly", "yes", "--appendfsync", "always")
    with nodes:
        yield nodes


@pytest.fixture
def settings_overrides(cluster: RedisClusterProcesses) -> dict[str, Any]:
    return {"backend_url": cluster.url, "secret_keys": KEYS}


def owner(cluster: RedisClusterProcesses, key: str) -> RedisServer:
    """The primary serving `key`'s slot: the others answer MOVED."""
    for server in cluster.servers:
        reply = command(server.port, "EXISTS", key) or ""
        if not reply.startswith("-MOVED"):
            return server
    raise AssertionError(f"no node serves {key}")


def says_down(port: int) -> bool:
    return "cluster_state:fail" in (command(port, "CLUSTER", "INFO") or "")


def check(answers: list[Any]) -> None:
    errors = [a for a in answers if a.status >= 500 and a.status != 503]
    assert errors == [], "\n".join(map(str, errors))
    unavailable = [a for a in answers if a.status == 503]
    assert unavailable, "nothing met the store away"
    for answer in unavailable:
        assert answer.retry_after is not None and int(answer.retry_after) >= 1, str(answer)
        assert answer.word in AWAY_WORDS, str(answer)


async def test_every_route_answers_a_documented_word_while_a_cluster_primary_is_dead(
    gate: Gate,
    cluster: RedisClusterProcesses,
    school: School,  # noqa: F811
) -> None:
    ids = {"gate": "national", "session_id": str(school.session_id), "id": "1"}
    async with gate.make_client() as client, gate.make_client() as leaving:
        await admitted(gate, client)
        await admitted(gate, leaving)
        assert gate.rt.active == 2
        client.cookies.set(COOKIE, school.cookies["prof"])
        dead = owner(cluster, LANE_KEY)
        kill(dead)
        alive = next(s for s in cluster.servers if s is not dead)
        # at once: the lane's slot refuses connections, the rest of the cluster still answers
        answers, _ = await sweep(client, gate.keeper_app_routes(), ids)
        check(answers)
        left = await leaving.post("/gate/national/leave", headers=JSON)
        assert left.status_code == 202
        # after the node timeout the other primaries say CLUSTERDOWN for every slot
        deadline = time.monotonic() + 6 * NODE_TIMEOUT_S
        while not says_down(alive.port):
            assert time.monotonic() < deadline, "the cluster never said it was down"
            time.sleep(0.1)
        answers, _ = await sweep(client, gate.keeper_app_routes(), ids)
        check(answers)
        await gate.tick()
        assert gate.rt.degraded
        cluster.start_again()
        deadline = time.monotonic() + 6 * NODE_TIMEOUT_S
        while gate.rt.degraded:  # the client learns the topology again within a tick or two
            assert time.monotonic() < deadline, "the gate never found the cluster back"
            await gate.tick()
        assert gate.rt.pending_leaves == {}
        await gate.tick()
        # both passes were given back during the outage (`client`'s by the sweep's leave):
        # the node came back with its counts, and both were uncounted then
        assert gate.rt.stats.leaves_late == 2 and gate.rt.active == 0
        assert gate.rt.counters[Lane.PUPILS].issued >= 2  # not a count born again empty
        gate.clock.advance(gate.rt.paused_until - gate.rt.clock())  # the pause after an outage
        async with gate.make_client() as newcomer:
            assert (await newcomer.post("/gate/national/ticket", headers=JSON)).status_code == 201
