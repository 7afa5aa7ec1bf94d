"""Real gate processes on a real Redis: shared capacity, and a Redis outage survived."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.gate_process import GateProcess
from tests.redis_servers import RedisServer

pytestmark = pytest.mark.slow
JSON = {"accept": "application/json"}
KEYS = "1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def env(url: str, **extra: str) -> dict[str, str]:
    return {
        "HOMEROOM_BACKEND_URL": url,
        "HOMEROOM_SECRET_KEYS": KEYS,
        "HOMEROOM_MODE": "queue",
        "HOMEROOM_TICK_S": "0.2",
        **extra,
    }


def eventually(check: Callable[[], bool], timeout_s: float = 15, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    # Persistence on, as a production Redis has: a restart keeps the counters.
    server = RedisServer(args=("--appendonly", "yes", "--appendfsync", "always")).start()
    yield server
    server.stop()


def test_two_processes_on_one_redis_share_capacity(redis: RedisServer) -> None:
    extra = {"HOMEROOM_CAPACITY": "5", "HOMEROOM_RATE_PER_MIN": "60000"}
    with GateProcess(env(redis.url, **extra)) as a, GateProcess(env(redis.url, **extra)) as b:
        people = [httpx.Client(base_url=(a if i % 2 else b).base) for i in range(12)]
        try:
            numbers = [
                p.post("/gate/national/ticket", headers=JSON).json()["number"] for p in people
            ]
            assert sorted(numbers) == list(range(1, 13))  # no number given twice
            eventually(
                lambda: a.admin("GET", "status")["lanes"]["pupils"]["horizon"] >= 5,
                what="admission",
            )
            time.sleep(1.0)  # several more ticks: the horizon must stay at capacity
            outcomes = [p.post("/gate/national/redeem", headers=JSON).status_code for p in people]
            assert outcomes.count(200) == 5
            assert outcomes.count(425) == 7
            eventually(lambda: b.admin("GET", "status")["active"] == 5, what="active count")
            # one leaves: exactly one more gets in, whichever process they use
            assert people[numbers.index(1)].post("/gate/national/leave").json()["left"] is True
            waiting = [p for p, o in zip(people, outcomes, strict=True) if o == 425]
            admitted: list[httpx.Client] = []

            def one_more() -> bool:
                for p in waiting:
                    if (
                        p not in admitted
                        and p.post("/gate/national/redeem", headers=JSON).status_code == 200
                    ):
                        admitted.append(p)
                return len(admitted) >= 1

            eventually(one_more, what="the freed place to be given to the next number")
            time.sleep(1.0)  # more ticks: nobody else
            assert [
                p.post("/gate/national/redeem", headers=JSON).status_code for p in waiting
            ].count(200) == 1
            assert admitted[0] is people[numbers.index(6)]  # the next number, in order
        finally:
            for p in people:
                p.close()


def test_redis_outage_keeps_passes_and_resumes(redis: RedisServer) -> None:
    with GateProcess(env(redis.url)) as gate:
        inside = httpx.Client(base_url=gate.base)
        waiting = httpx.Client(base_url=gate.base)
        late = httpx.Client(base_url=gate.base)
        try:
            inside.post("/gate/national/ticket", headers=JSON)
            eventually(
                lambda: inside.post("/gate/national/redeem", headers=JSON).status_code == 200,
                what="pass",
            )
            held = waiting.post("/gate/national/ticket", headers=JSON).json()
            gate.admin("PATCH", "policy", {"mode": "paused"})  # `waiting` keeps waiting
            redis.stop()
            eventually(
                lambda: httpx.get(f"{gate.base}/gate/national/state").json()["degraded"],
                what="degraded",
            )
            assert inside.get("/class/", headers=JSON).status_code == 200  # stateless pass check
            refused = late.post("/gate/national/ticket", headers=JSON)
            assert refused.status_code == 503
            assert refused.json()["error"] == "degraded"
            assert int(refused.headers["retry-after"]) >= 1
            again = waiting.post("/gate/national/ticket", headers=JSON)  # held ticket: same place
            assert again.status_code == 200 and again.json()["number"] == held["number"]
            assert httpx.get(f"{gate.base}/healthz").status_code == 200
            redis.start()
            eventually(
                lambda: not httpx.get(f"{gate.base}/gate/national/state").json()["degraded"],
                what="resume",
            )
            gate.admin("PATCH", "policy", {"mode": "queue"})
            # Numbers are given again once every process has put back what it knows the store
            # had (HOMEROOM_FAILOVER_PAUSE_S after the outage: docs/gate.md).
            tries: list[httpx.Response] = []
            eventually(
                lambda: (
                    tries.append(late.post("/gate/national/ticket", headers=JSON))
                    or tries[-1].status_code != 503
                ),
                what="tickets again",
            )
            fresh = tries[-1]
            assert fresh.status_code == 201
            assert fresh.json()["number"] == held["number"] + 1  # counters survived the restart
            eventually(
                lambda: waiting.post("/gate/national/redeem", headers=JSON).status_code == 200,
                what="resumed admission",
            )
        finally:
            for c in (inside, waiting, late):
                c.close()


def test_bad_configuration_stops_start_up_naming_the_variable() -> None:
    import subprocess
    import sys
    from pathlib import Path

    homeroom = str(Path(sys.executable).with_name("homeroom"))
    out = subprocess.run(
        [homeroom, "config"],
        env={"PATH": "/usr/bin:/bin", "HOMEROOM_CAPACITY": "lots"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert "HOMEROOM_CAPACITY" in out.stderr
    out = subprocess.run(
        [homeroom, "config"],
        env={"PATH": "/usr/bin:/bin", "HOMEROOM_BACKEND_URL": "redis://127.0.0.1:1"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert "HOMEROOM_SECRET_KEYS" in out.stderr


def test_operator_command_line_steers_a_running_gate() -> None:
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.gate_process import OPERATOR

    homeroom = str(Path(sys.executable).with_name("homeroom"))
    with GateProcess({"HOMEROOM_MODE": "safety_net"}) as gate:
        environ = {**os.environ, "HOMEROOM_OPERATOR_TOKEN": OPERATOR, "HOMEROOM_URL": gate.base}

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [homeroom, "gate", *args], env=environ, capture_output=True, text=True, timeout=30
            )

        shown = cli("show")
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["policy"]["mode"] == "safety_net"
        assert json.loads(cli("mode", "under_attack").stdout)["mode"] == "under_attack"
        assert json.loads(cli("capacity", "2500").stdout)["capacity"] == 2500
        assert json.loads(cli("rate", "900").stdout)["rate_per_min"] == 900
        shares = json.loads(cli("shares", "staff=0.5,pupils=0.5").stdout)["shares"]
        assert shares["staff"] == 0.5 and shares["guests"] == 0.0
        scheduled = json.loads(
            cli("schedule", "2030-09-01T08:00+02:00", "--prequeue-minutes", "20").stdout
        )
        assert scheduled["opening_at"] == 1914472800 and scheduled["prequeue_s"] == 1200
        refused = cli("mode", "party")
        assert refused.returncode == 1
        assert "bad_policy" in refused.stdout
        wrong = subprocess.run(
            [homeroom, "gate", "show"],
            capture_output=True,
            text=True,
            timeout=30,
            env={**environ, "HOMEROOM_OPERATOR_TOKEN": "nope"},
        )
        assert wrong.returncode == 1 and "operator_only" in wrong.stdout
