"""Redis away (killed with SIGKILL, then started again from its append-only file): every route
answers a documented word, never 500; a pass given back meanwhile is uncounted once it is back;
the gate's tick neither dies nor stops, and resumes (docs/operations.md#when-a-store-is-away).

The whole application runs in process on a real private redis-server (the gate's store and the
rate limits); the school's database is SQLite, which stays up.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from homeroom.school.auth.sessions import COOKIE
from tests.redis_servers import RedisServer
from tests.service.conftest import Gate
from tests.service.sweep import sweep
from tests.service.test_gate_school import School, school  # noqa: F401 (a fixture)

pytestmark = pytest.mark.slow
JSON = {"accept": "application/json"}
AWAY_WORDS = {"degraded", "store_unavailable", "waiting_room"}
DEADLINE_S = 20.0
KEYS = "1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    # every write on disk before it is answered: a kill -9 loses nothing the gate was told
    server = RedisServer(args=("--appendonly", "yes", "--appendfsync", "always")).start()
    yield server
    server.stop()


@pytest.fixture
def settings_overrides(redis: RedisServer, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The gate's store and the rate limits on `redis`; a test may add settings (indirect)."""
    return {"backend_url": redis.url, "secret_keys": KEYS, **getattr(request, "param", {})}


def kill(server: RedisServer) -> None:
    assert server.process is not None
    server.process.kill()  # SIGKILL: no goodbye to its clients
    server.process.wait(10)


async def until(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {DEADLINE_S} s")
        await asyncio.sleep(0.02)


async def admitted(gate: Gate, client: Any) -> str:
    """A counted pass for `client`: its cookie's text."""
    await client.post("/gate/national/ticket", headers=JSON)
    await gate.tick()
    redeemed = await client.post("/gate/national/redeem", headers=JSON)
    assert redeemed.status_code == 200, redeemed.text
    await gate.tick()
    text: str = client.cookies["hr_p_national"]
    return text


async def test_a_pass_given_back_while_redis_is_away_is_uncounted_once_it_is_back(
    gate: Gate, redis: RedisServer
) -> None:
    async with gate.make_client() as one, gate.make_client() as two:
        await admitted(gate, one)
        await admitted(gate, two)
        assert gate.rt.active == 2
        kill(redis)
        left = await one.post("/gate/national/leave", headers=JSON)
        assert left.status_code == 202, left.text
        assert left.json() == {"left": False, "pending": True}
        assert "hr_p_national" not in one.cookies  # the browser is signed out of the gate now
        assert len(gate.rt.pending_leaves) == 1
        await gate.tick()  # away: the tick keeps the leave for later, and does not fail
        assert gate.rt.degraded and len(gate.rt.pending_leaves) == 1
        redis.start()  # the same port, its append-only file read back
        await gate.tick()
        assert not gate.rt.degraded
        assert gate.rt.pending_leaves == {}
        await gate.tick()
        assert gate.rt.active == 1  # `one`'s place is free again, `two` still counts
        metrics = (await one.get("/metrics")).text
        assert 'homeroom_gate_leaves_late_total{gate="national"} 1.0' in metrics


async def test_a_leave_kept_for_later_is_done_once_even_if_given_back_twice(
    gate: Gate, redis: RedisServer
) -> None:
    async with gate.make_client() as one:
        text = await admitted(gate, one)
        kill(redis)
        for _ in range(2):  # a retry, or a second tab: one pending leave
            one.cookies.set("hr_p_national", text)
            assert (await one.post("/gate/national/leave")).status_code == 202
        assert len(gate.rt.pending_leaves) == 1
        redis.start()
        await gate.tick()
        await gate.tick()
        assert gate.rt.active == 0
        one.cookies.set("hr_p_national", text)
        again = await one.post("/gate/national/leave")  # back: a plain answer, nothing to give
        assert again.status_code == 200 and again.json() == {"left": False, "pending": False}


async def test_every_route_answers_a_documented_word_while_redis_is_away(
    gate: Gate,
    redis: RedisServer,
    school: School,  # noqa: F811
) -> None:
    async with gate.make_client() as client:
        await admitted(gate, client)  # a pass: protected routes let it through
        client.cookies.set(COOKIE, school.cookies["prof"])  # signed in: the deeper paths
        kill(redis)
        await gate.tick()
        ids = {"gate": "national", "session_id": str(school.session_id), "id": "1"}
        answers, asked = await sweep(client, gate.keeper_app_routes(), ids)
    assert "/gate/{gate}/leave" in asked and "/api/v1/session" in asked
    errors = [a for a in answers if a.status >= 500 and a.status != 503]
    assert errors == [], "\n".join(map(str, errors))
    unavailable = [a for a in answers if a.status == 503]
    assert unavailable, "nothing met the store away: the sweep did not reach it"
    for answer in unavailable:
        assert answer.retry_after is not None and int(answer.retry_after) >= 1, str(answer)
        assert answer.word in AWAY_WORDS, str(answer)


async def test_sign_in_answers_503_while_its_counters_are_away(
    gate: Gate,
    redis: RedisServer,
    school: School,  # noqa: F811
) -> None:
    async with gate.make_client() as client:
        await admitted(gate, client)  # sign-in sits behind the gate
        kill(redis)
        answer = await client.post(
            "/api/v1/session", headers=JSON, json={"login": "prof", "password": "x"}
        )
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"] == "store_unavailable"
    assert answer.headers["retry-after"] == "5"


@pytest.mark.parametrize("settings_overrides", [{"tick_s": 0.1}], indirect=True)
async def test_the_gate_loop_outlives_an_outage_and_resumes_by_itself(
    gate: Gate, redis: RedisServer
) -> None:
    # the running loop this time, not ticks called by the test
    await until(lambda: gate.rt.stats.ticks > 0, "tick")
    kill(redis)
    await until(lambda: gate.rt.degraded, "degraded mode")
    ticks = gate.rt.stats.ticks
    await until(lambda: gate.rt.stats.ticks >= ticks + 3, "ticks while Redis is away")
    redis.start()
    await until(lambda: not gate.rt.degraded, "the loop to find Redis back")
    assert gate.rt._task is not None and not gate.rt._task.done()
    # then admissions pause while the counts are put back (HOMEROOM_FAILOVER_PAUSE_S, gate.md)
    gate.clock.advance(gate.rt.paused_until - gate.rt.clock())  # the tests' clock: move it
    async with gate.make_client() as client:
        fresh = await client.post("/gate/national/ticket", headers=JSON)
    assert fresh.status_code == 201, fresh.text


async def test_a_redis_that_stops_answering_is_given_up_not_waited_for(
    gate: Gate,
    redis: RedisServer,
    school: School,  # noqa: F811
) -> None:
    """SIGSTOP: the server holds its connections and answers nothing (a stuck host, a network
    partition). Every request that needs it gives up after the client's timeout with its 503."""
    async with gate.make_client() as client:
        await admitted(gate, client)
        assert redis.process is not None
        redis.process.send_signal(signal.SIGSTOP)
        try:
            async with asyncio.timeout(DEADLINE_S):  # a hang fails the test, not the run
                signin = await client.post(
                    "/api/v1/session", headers=JSON, json={"login": "prof", "password": "x"}
                )
                left = await client.post("/gate/national/leave", headers=JSON)
                async with gate.make_client() as newcomer:
                    ticket = await newcomer.post("/gate/national/ticket", headers=JSON)
        finally:
            redis.process.send_signal(signal.SIGCONT)

    assert (signin.status_code, signin.json()["error"]) == (503, "store_unavailable")
    assert left.status_code == 202
    assert (ticket.status_code, ticket.json()["error"]) == (503, "degraded")
