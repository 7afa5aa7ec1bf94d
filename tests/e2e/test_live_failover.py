"""A class on two real `homeroom live` processes while the Redis primary of its room dies.

A private Redis Cluster of 3 primaries and 3 replicas (tests/redis_servers.py); the primary
serving the room's slot is killed with SIGKILL and a replica promoted. Clients follow the browser
client's contract (tests/e2e/chat_clients.py) and every one is audited: per epoch no event
missing or doubled, and every message some client saw acknowledged in the room once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeroom.config import load_settings
from homeroom.core.live.parts import Role
from homeroom.keys import live_join_key
from homeroom.live.jointoken import JoinTokens
from tests.e2e.chat_clients import ChatClient, Outcome, applied_once, settled
from tests.e2e.test_live_processes import KEYS, LiveProcess, Tokens
from tests.redis_servers import RedisClusterProcesses, command

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
SETTLE_S = 30.0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[RedisClusterProcesses]:
    with RedisClusterProcesses(tmp_path, replicas=1, node_timeout_ms=1000) as started:
        yield started


@pytest.fixture
def gateways(cluster: RedisClusterProcesses) -> Iterator[list[LiveProcess]]:
    env = {
        "HOMEROOM_BACKEND_URL": cluster.url,
        "HOMEROOM_SECRET_KEYS": KEYS,
        "HOMEROOM_LIVE_HEARTBEAT_S": "5",
        "HOMEROOM_LIVE_SLOT_REFRESH_S": "0.5",
    }
    started: list[LiveProcess] = []
    try:
        for _ in range(2):
            started.append(LiveProcess(env).start())
        yield started
    finally:
        for gateway in started:
            gateway.stop()


def people(
    gateways: list[LiveProcess], cluster: RedisClusterProcesses, n: int, room: str = ""
) -> list[ChatClient]:
    """`n` people (teachers: every event of the room reaches each), spread over the gateways."""
    settings = load_settings(backend_url=cluster.url, secret_keys=KEYS)
    tokens = Tokens(JoinTokens(live_join_key(settings)), room or f"s-failover-{time.time_ns()}")
    clients = []
    for i in range(n):
        gateway, token = gateways[i % len(gateways)], tokens(f"p{i}", Role.TEACHER)

        def url(epoch: str | None, seq: int | None, g=gateway, t=token) -> str:  # type: ignore[no-untyped-def]
            return g.url(t) if epoch is None else g.url(t, epoch=epoch, seq=seq)

        clients.append(ChatClient(f"p{i}", url))
    clients[0].room = tokens.room  # type: ignore[attr-defined]
    return clients


def channel(clients: list[ChatClient]) -> str:
    return f"hr:{{lr:{clients[0].room}}}:ch"  # type: ignore[attr-defined]


async def joined(clients: list[ChatClient]) -> None:
    for c in clients:
        c.start()
    await settled(clients, SETTLE_S)


async def chat(clients: list[ChatClient], rounds: int) -> None:
    """Each client says something, and it reaches everyone."""
    for _ in range(rounds):
        for c in clients:
            c.say()
    await settled(clients, SETTLE_S)


async def test_entries_acknowledged_then_lost_start_a_new_epoch_and_come_back(
    cluster: RedisClusterProcesses, gateways: list[LiveProcess]
) -> None:
    clients = people(gateways, cluster, 4)
    try:
        await joined(clients)
        await chat(clients, 1)
        first = clients[0].epoch
        assert first is not None
        old = cluster.primary_for(channel(clients))
        replica = cluster.replica_of(old)
        assert command(old, "WAIT", "1", "5000") == ":1\r\n"
        cluster.detach(replica)
        await chat(clients, 2)  # acknowledged, delivered, and never on the replica
        acked_before = {t for c in clients for t in c.acked_texts()}
        assert len(acked_before) == 12
        cluster.kill(old)
        assert await asyncio.to_thread(cluster.wait_promoted, channel(clients), old) == replica
        await settled(clients, SETTLE_S, epoch_other_than=first)
        for c in clients:
            assert c.audit.missing == 0 and c.audit.doubled == 0, (c.name, c.audit)
            assert c.audit.epochs[0] == first and len(c.audit.epochs) == 2
            assert all(c.chat[text] == 1 for text in acked_before), (c.name, c.chat)
            assert c.closes[1012] >= 1  # the gateway let the old epoch go
        await chat(clients, 1)  # and the class goes on in the new one
        assert applied_once(clients) == (0, 0)
    finally:
        for c in clients:
            await c.stop()


async def test_a_class_chats_through_the_kill_of_its_primary(
    cluster: RedisClusterProcesses, gateways: list[LiveProcess]
) -> None:
    clients = people(gateways, cluster, 4)
    talking = True

    async def talk(c: ChatClient) -> None:
        while talking:
            c.say()
            await asyncio.sleep(0.4)

    try:
        await joined(clients)
        tasks = [asyncio.create_task(talk(c)) for c in clients]
        await asyncio.sleep(2)
        old = cluster.primary_for(channel(clients))
        kill_at = time.monotonic()
        cluster.kill(old)
        await asyncio.to_thread(cluster.wait_promoted, channel(clients), old)
        outcome = Outcome(clients, kill_at, time.monotonic() - kill_at)
        await asyncio.sleep(3)  # the class goes on after the failover
        talking = False
        await asyncio.gather(*tasks)
        await settled(clients, SETTLE_S)
        assert outcome.missing() == 0 and outcome.doubled() == 0
        assert applied_once(clients) == (0, 0)
        sent = sum(len(c.sent) for c in clients)
        assert sum(len(c.acked_texts()) for c in clients) == sent  # every message went in
        for c in clients:
            assert sum(c.chat.values()) == sent  # each once, in every view
            assert any(t > kill_at + outcome.promoted_s for t in c.events_at)
    finally:
        talking = False
        for c in clients:
            await c.stop()
