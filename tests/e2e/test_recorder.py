"""The recorder against real gateways: a class chats while one `homeroom live` is killed (-9).

Two `homeroom live` processes on one real redis-server; ten recorded clients (the browser's
contract: resume, outbox, full-jitter backoff) pick either gateway at each attempt, as behind a
balancer. One gateway is killed mid-class and started again on its port; the audit of every
client's record must then find nothing: no gap, no repeat, each message applied exactly once.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator

import pytest

from homeroom.config import load_settings
from homeroom.core.live.parts import Role
from homeroom.keys import live_join_key
from homeroom.live.jointoken import JoinTokens
from homeroom.rehearsal.audit import audit
from homeroom.rehearsal.recorder import Fleet
from homeroom.rehearsal.records import CHAT, EVENT
from tests.e2e.test_live_processes import KEYS, LiveProcess, Tokens
from tests.redis_servers import RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]
PUPILS = 9
MESSAGES = 60


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def gateways(redis: RedisServer) -> Iterator[list[LiveProcess]]:
    env = {
        "HOMEROOM_BACKEND_URL": redis.url,
        "HOMEROOM_SECRET_KEYS": KEYS,
        "HOMEROOM_LIVE_HEARTBEAT_S": "1.5",
    }
    pair = [LiveProcess(env), LiveProcess(env)]
    try:
        yield [g.start() for g in pair]
    finally:
        for g in pair:
            g.stop()


def tokens_for(redis: RedisServer) -> Tokens:
    settings = load_settings(backend_url=redis.url, secret_keys=KEYS)
    return Tokens(JoinTokens(live_join_key(settings)), "s-recorded")


async def test_a_class_through_a_killed_gateway_loses_and_doubles_nothing(
    redis: RedisServer, gateways: list[LiveProcess]
) -> None:
    a = gateways[0]
    tokens = tokens_for(redis)
    urls = [f"ws://127.0.0.1:{g.port}/live" for g in gateways]
    fleet = Fleet(seed=10)
    try:
        teacher = fleet.add("t", tokens.room, "t1", urls[:1], lambda: tokens("t1", Role.TEACHER))
        teacher.start()
        await fleet.until(lambda: teacher.joined and teacher.epoch is not None, 10, "teacher")
        pupils = []
        for n in range(PUPILS):
            person = f"p{n}"
            pupil = fleet.add(person, tokens.room, person, urls, lambda p=person: tokens(p))
            pupil.start()
            pupils.append(pupil)
        await fleet.until(lambda: all(p.epoch for p in pupils), 10, "the pupils in")
        teacher.urls = urls  # from now on the teacher too goes wherever the balancer says
        everyone = [teacher, *pupils]
        for n in range(MESSAGES):
            everyone[n % len(everyone)].chat()
            if n == MESSAGES // 3:
                a.stop(signal.SIGKILL)  # kill -9: no close frame, no leave
            if n == MESSAGES // 2:
                a.start()  # back on its port; b held the class meanwhile
            await asyncio.sleep(0.05)
        await fleet.until(fleet.caught_up, 30, "every client caught up")
    finally:
        records = await fleet.close()

    report = audit(records, settled=True)
    assert report.ok, report.findings
    assert report.messages == MESSAGES
    # The kill cut someone, who came back: the audit covered a reconnection, not a calm class.
    cut = [r for r in records if any(code == 1006 for _, code in r.closes)]
    assert cut and all(len(r.opened) >= 2 for r in cut)
    # Everyone saw every message once (as an event, or in a snapshot taken after it).
    for record in records:
        seen = [e[4] for e in record.timeline if e[0] == EVENT and e[3] == CHAT]
        assert len(seen) == len(set(seen))
