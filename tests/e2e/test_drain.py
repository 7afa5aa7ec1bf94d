"""SIGTERM drains real processes: `homeroom live` gateways sharing a class through a real Redis,
and `homeroom run` with a request in flight; then a rolling restart of both (docs/operations.md#drain).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from random import Random

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from homeroom.config import load_settings
from homeroom.core.live.parts import Role
from homeroom.keys import live_join_key
from homeroom.live.jointoken import JoinClaims, JoinTokens
from tests.drain_clients import Balancer, LiveClient, audit, ready
from tests.gate_process import HOMEROOM, GateProcess, wait_http
from tests.redis_servers import RedisServer, free_port

pytestmark = pytest.mark.slow
KEYS = "1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
NOTICE, WINDOW, DEADLINE = 1.0, 3.0, 10.0
GRACE = DEADLINE - NOTICE - WINDOW
JITTER = 0.5  # the clients' full-jitter bound after a 1001 `drain`
DRAIN_ENV = {
    "HOMEROOM_DRAIN_NOTICE_S": str(NOTICE),
    "HOMEROOM_DRAIN_WINDOW_S": str(WINDOW),
    "HOMEROOM_DRAIN_DEADLINE_S": str(DEADLINE),
}
TEACHER = Role.TEACHER
TEACHERS, STROKES = 9, 38
SETTLE_S = 20.0  # the bound on waiting for the class to settle after the drains


class Gateway:
    """`homeroom live` with its health and agent ports, in a folder of its own."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port, self.health, self.agent = free_port(), free_port(), free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="homeroom-drain-"))
        self.env = {
            **os.environ,
            "HOMEROOM_LOG_LEVEL": "warning",
            **env,
            "HOMEROOM_LIVE_PORT": str(self.port),
            "HOMEROOM_LIVE_HEALTH_PORT": str(self.health),
            "HOMEROOM_LIVE_AGENT_PORT": str(self.agent),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.sigterm_at = 0.0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.health}"

    def start(self) -> Gateway:
        self.proc = subprocess.Popen(
            [HOMEROOM, "live"],
            env=self.env,
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=(self.workdir / "stderr").open("wb"),
        )
        wait_http(f"{self.health_url}/readyz", process=self.proc)
        return self

    def terminate(self) -> None:
        assert self.proc is not None
        self.sigterm_at = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)

    def exited_within(self, seconds: float) -> int | None:
        assert self.proc is not None
        try:
            return self.proc.wait(seconds)
        except subprocess.TimeoutExpired:
            return None

    def stderr(self) -> str:
        return (self.workdir / "stderr").read_text(errors="replace")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)


def agent_word(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        return sock.recv(64)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def started() -> Iterator[list[Gateway | GateProcess]]:
    """Every process a test starts, stopped at its end whatever happened."""
    processes: list[Gateway | GateProcess] = []
    yield processes
    for process in processes:
        process.stop()


def tokens_for(redis: RedisServer) -> JoinTokens:
    return JoinTokens(live_join_key(load_settings(backend_url=redis.url, secret_keys=KEYS)))


def token(tokens: JoinTokens, room: str, person: str, role: Role = Role.PUPIL) -> str:
    claims = JoinClaims(room, person, role, person.title(), int(time.time()) + 3600)
    return tokens.issue(claims)


async def until(condition: object, what: str, timeout_s: float = SETTLE_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {timeout_s} s")
        await asyncio.sleep(0.05)


async def chatting(pupils: list[LiveClient], stop: asyncio.Event, every_s: float = 0.1) -> None:
    """One pupil after the other sends a chat message, every `every_s`, until told to stop."""
    n = 0
    while not stop.is_set():
        pupils[n % len(pupils)].chat(n)
        n += 1
        await asyncio.sleep(every_s)


async def settled(clients: list[LiveClient], reference: LiveClient) -> None:
    """Every outbox empty, and everyone caught up with the reference's last event."""

    def done() -> bool:
        if any(c.outbox for c in clients) or any(c.ws is None for c in clients):
            return False
        last = reference.seq
        return all(c.epoch == reference.epoch and c.seq >= last for c in clients)

    await until(done, "every message applied and every client caught up")
    await asyncio.sleep(0.5)  # a late doubled event would come now
    assert done()


async def test_a_drained_gateway_sends_its_clients_to_the_other_with_nothing_lost_or_doubled(
    redis: RedisServer, started: list[Gateway | GateProcess]
) -> None:
    env = {"HOMEROOM_BACKEND_URL": redis.url, "HOMEROOM_SECRET_KEYS": KEYS, **DRAIN_ENV}
    env["HOMEROOM_LIVE_HEARTBEAT_S"] = "1.5"
    a, b = Gateway(env), Gateway(env)
    started += [a, b]
    a.start(), b.start()
    rng = Random(10)
    balancer = Balancer(rng)
    balancer.add(a.address, a.health_url)
    balancer.add(b.address, b.health_url)
    tokens, room = tokens_for(redis), f"s-{secrets.token_hex(4)}"
    teacher = LiveClient(
        "t1", token(tokens, room, "t1", Role.TEACHER), balancer, rng, first=b.address
    ).start()
    await teacher.joined.wait()
    pupils = [
        LiveClient(
            f"p{i}",
            token(tokens, room, f"p{i}"),
            balancer,
            rng,
            jitter_s=JITTER,
            first=(a if i % 2 == 0 else b).address,
        ).start()
        for i in range(16)
    ]
    everyone = [teacher, *pupils]
    for pupil in pupils:
        await asyncio.wait_for(pupil.joined.wait(), 10)
    on_a = [p for p in pupils if p.ws is not None and int(p.person[1:]) % 2 == 0]
    assert len(on_a) == 8
    assert agent_word(a.agent) == b"ready\n"

    stop = asyncio.Event()
    chat = asyncio.create_task(chatting(pupils, stop))
    await asyncio.sleep(1.0)
    a.terminate()
    await until(lambda: not ready(a.health_url), "a's readiness failed", 3)
    assert agent_word(a.agent) == b"drain\n"
    assert ready(b.health_url) and agent_word(b.agent) == b"ready\n"
    status, metrics = get(f"{a.health_url}/metrics")
    line = next(x for x in metrics.splitlines() if x.startswith("homeroom_draining{"))
    assert status == 200 and line.endswith(" 1.0")
    code = await asyncio.to_thread(a.exited_within, DEADLINE + 5)
    assert code == 0, a.stderr()
    stop.set()
    await chat
    await settled(everyone, teacher)

    for pupil in on_a:  # each closed once with 1001 `drain`, in its slot, then on b
        (close, *later) = pupil.closes
        assert (close.code, close.reason, close.address) == (1001, "drain", a.address)
        assert a.sigterm_at + NOTICE <= close.at < a.sigterm_at + NOTICE + WINDOW + GRACE / 2
        assert not later and pupil.ws is not None
    assert all(not p.closes for p in pupils if p not in on_a) and not teacher.closes
    found = audit(everyone)
    assert found.missing == {c.person: 0 for c in everyone}
    assert found.doubled == {c.person: 0 for c in everyone}
    assert found.snapshots == {c.person: 0 for c in everyone}  # every resume was exact
    assert found.gaps == 0
    sent = [cid for p in pupils for cid in p.sent]
    assert len(sent) > 40 and found.unsent == []
    assert {cid: found.applied[cid] for cid in sent} == {cid: 1 for cid in sent}
    for client in everyone:
        await client.stop()


async def test_a_client_that_reads_nothing_does_not_hold_the_gateway_past_its_deadline(
    started: list[Gateway | GateProcess],
) -> None:
    keys = "1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    env = {"HOMEROOM_BACKEND_URL": "memory://", "HOMEROOM_SECRET_KEYS": keys}
    env.update(
        {
            "HOMEROOM_DRAIN_NOTICE_S": "0.2",
            "HOMEROOM_DRAIN_WINDOW_S": "0.5",
            "HOMEROOM_DRAIN_DEADLINE_S": "4",
        }
    )
    gateway = Gateway(env)
    started.append(gateway)
    gateway.start()
    tokens = JoinTokens(live_join_key(load_settings(secret_keys=keys)))
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    stuck.connect(("127.0.0.1", gateway.port))
    head = (
        f"GET /live?token={token(tokens, 's1', 'quiet')} HTTP/1.1\r\nHost: x\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    stuck.sendall(head.encode())
    teachers = [
        await connect(f"ws://{gateway.address}/live?token={token(tokens, 's1', f't{n}', TEACHER)}")
        for n in range(TEACHERS)
    ]
    try:
        # The kernel takes up to 4 MB for a socket whose reader sleeps (tcp_wmem), then the
        # gateway holds 256 KiB before it counts it lagging: 9 × 38 strokes of 14 KB is more.
        stroke = {"type": "board.stroke", "points": [[0.123, 0.456]] * 1000, "width": 2}
        sent = dict.fromkeys(teachers, 0)
        for i in range(STROKES):
            for teacher in teachers:
                await teacher.send(json.dumps({**stroke, "id": f"b{i}", "colour": "#000000"}))
                sent[teacher] += 1
            if i % 8 == 7:  # the board holds 100,000 points: wiped now and then
                clearing = teachers[i // 8]
                await clearing.send(json.dumps({"type": "board.clear", "id": f"c{i}"}))
                sent[clearing] += 1
        for teacher in teachers:
            answered = 0
            while answered < sent[teacher]:
                answer = json.loads(await asyncio.wait_for(teacher.recv(), 10))
                assert answer.get("error") != "rate_limited", answer
                answered += answer.get("type") in ("ack", "error") and "id" in answer
        readers = [asyncio.create_task(read_all(t)) for t in teachers]
        gateway.terminate()
        code = await asyncio.to_thread(gateway.exited_within, 4 + 5)
        assert code == 0, "still running past its deadline, or ended by the watchdog"
        assert "1 connections did not take their close, cut" in gateway.stderr()
        await asyncio.gather(*readers)
    finally:
        stuck.close()
        for teacher in teachers:
            teacher.transport.abort()


async def read_all(ws: ClientConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for _ in ws:
            pass


def test_homeroom_run_finishes_a_request_in_flight_and_stops_accepting_after_the_notice(
    started: list[Gateway | GateProcess],
) -> None:
    agent = free_port()
    http = GateProcess({**DRAIN_ENV, "HOMEROOM_AGENT_PORT": str(agent)})
    started.append(http)
    http.start()
    assert http.proc is not None
    assert get(f"{http.base}/readyz") == (200, "ready\n")
    assert agent_word(agent) == b"ready\n"
    slow = socket.create_connection(("127.0.0.1", http.port), timeout=DEADLINE)
    body = b'{"lane": "pupils"}'
    slow.sendall(
        b"POST /gate/national/ticket HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(body)}\r\n\r\n".encode()
        + body[:5]
    )
    time.sleep(0.2)  # the head is in: the request is in flight
    sigterm_at = time.monotonic()
    http.proc.send_signal(signal.SIGTERM)
    while get(f"{http.base}/readyz")[0] != 503:  # answered while the balancer notices
        assert time.monotonic() < sigterm_at + NOTICE, "readiness did not fail in the notice"
        time.sleep(0.02)
    assert agent_word(agent) == b"drain\n"
    while True:  # after the notice: nothing new is accepted
        try:
            socket.create_connection(("127.0.0.1", http.port), timeout=1).close()
        except OSError:
            break
        assert time.monotonic() < sigterm_at + DEADLINE, "still accepting"
        time.sleep(0.05)
    assert time.monotonic() >= sigterm_at + NOTICE
    slow.sendall(body[5:])  # the request in flight completes
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = slow.recv(65536)
        if not chunk:
            break
        answer += chunk
    slow.close()
    assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
    # gone by the deadline, on its own: uvicorn re-raises the SIGTERM it got once it is done
    # (the watchdog's forced exit is status 1)
    assert http.proc.wait(DEADLINE + 5) == -signal.SIGTERM
    http.proc = None


class Prober:
    """Requests all along through a balancer of `homeroom run` processes, as HAProxy sends
    them: a connection refused is tried on another one (`retries` with `option redispatch`);
    a request sent and then failed, or answered 5xx, is a failure."""

    def __init__(self, balancer: Balancer) -> None:
        self.balancer = balancer
        self.answered = 0
        self.failures: list[str] = []

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.to_thread(self._one)
            await asyncio.sleep(0.02)

    def _one(self) -> None:
        for _ in range(3):
            address = asyncio.run(self.balancer.pick())
            if address is None:
                time.sleep(0.05)
                continue
            request = urllib.request.Request(
                f"http://{address}/gate/national/ticket",
                data=b"{}",
                headers={"content-type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    response.read()
                    self.answered += 1
                    return
            except urllib.error.HTTPError as exc:
                if exc.code >= 500:
                    self.failures.append(f"{address}: {exc.code}")
                else:
                    self.answered += 1
                return
            except urllib.error.URLError as exc:
                if not isinstance(exc.reason, ConnectionRefusedError):
                    self.failures.append(f"{address}: {exc.reason}")
                    return
        self.failures.append("no process took the connection")


@pytest.mark.timeout(240)  # four process starts (a few seconds each here) and four drains
async def test_a_rolling_restart_of_every_process_mid_class_loses_and_doubles_nothing(
    redis: RedisServer, started: list[Gateway | GateProcess]
) -> None:
    env = {"HOMEROOM_BACKEND_URL": redis.url, "HOMEROOM_SECRET_KEYS": KEYS, **DRAIN_ENV}
    env["HOMEROOM_LIVE_HEARTBEAT_S"] = "1.5"
    rng = Random(20)
    gateways, runs = Balancer(rng), Balancer(rng)

    async def gateway() -> Gateway:
        process = Gateway(env)
        started.append(process)
        await asyncio.to_thread(process.start)
        gateways.add(process.address, process.health_url)
        return process

    async def http() -> GateProcess:
        process = GateProcess(env)
        started.append(process)
        await asyncio.to_thread(process.start)
        runs.add(f"127.0.0.1:{process.port}", process.base)
        return process

    old_gateways = [await gateway(), await gateway()]
    old_runs = [await http(), await http()]
    tokens, room = tokens_for(redis), f"s-{secrets.token_hex(4)}"
    teacher = LiveClient("t1", token(tokens, room, "t1", Role.TEACHER), gateways, rng).start()
    await asyncio.wait_for(teacher.joined.wait(), 10)  # so that nobody waits in the lobby
    pupils = [
        LiveClient(f"p{i}", token(tokens, room, f"p{i}"), gateways, rng, jitter_s=JITTER).start()
        for i in range(12)
    ]
    everyone = [teacher, *pupils]
    for client in everyone:
        await asyncio.wait_for(client.joined.wait(), 10)
    stop = asyncio.Event()
    prober = Prober(runs)
    background = [
        asyncio.create_task(chatting(pupils, stop, every_s=0.15)),
        asyncio.create_task(prober.run(stop)),
    ]
    sigterm_at: dict[str, float] = {}
    for old in old_gateways:  # one after the other: SIGTERM, start the replacement
        old.terminate()
        sigterm_at[old.address] = old.sigterm_at
        await gateway()
        # by the deadline: on its own (0), or, on a machine too busy to finish in time, by the
        # watchdog (1); what matters here is that the classes did not notice
        code = await asyncio.to_thread(old.exited_within, DEADLINE + 5)
        assert code in (0, 1), old.stderr()
        gateways.remove(old.address)
    for old_run in old_runs:
        assert old_run.proc is not None
        old_run.proc.send_signal(signal.SIGTERM)
        await http()
        code = await asyncio.to_thread(old_run.proc.wait, DEADLINE + 5)
        assert code in (
            -signal.SIGTERM,
            1,
        )  # its own way out (the SIGTERM re-raised), or the watchdog's
        runs.remove(f"127.0.0.1:{old_run.port}")
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.gather(*background)
    await settled(everyone, teacher)

    for client in everyone:  # every close was a drain's, in its gateway's window
        for close in client.closes:
            assert (close.code, close.reason) == (1001, "drain")
            began = sigterm_at[close.address]
            assert began + NOTICE <= close.at < began + NOTICE + WINDOW + GRACE / 2
    assert sum(len(c.closes) for c in everyone) >= len(everyone)  # everyone moved at least once
    found = audit(everyone)
    assert found.missing == {c.person: 0 for c in everyone}
    assert found.doubled == {c.person: 0 for c in everyone}
    assert found.snapshots == {c.person: 0 for c in everyone}
    assert found.gaps == 0
    sent = [cid for p in pupils for cid in p.sent]
    assert found.unsent == [] and {cid: found.applied[cid] for cid in sent} == dict.fromkeys(
        sent, 1
    )
    assert prober.failures == [] and prober.answered > 50
    for client in everyone:
        await client.stop()


async def test_a_supervisor_passes_sigterm_on_and_every_worker_drains(
    redis: RedisServer, started: list[Gateway | GateProcess]
) -> None:
    env = {"HOMEROOM_BACKEND_URL": redis.url, "HOMEROOM_SECRET_KEYS": KEYS, **DRAIN_ENV}
    supervisor = Gateway({**env, "HOMEROOM_LIVE_PROCESSES": "2"})
    started.append(supervisor)
    supervisor.start()
    tokens = tokens_for(redis)
    url = f"ws://{supervisor.address}/live?token="
    clients = [
        await connect(url + token(tokens, "s1", f"t{i}", TEACHER), open_timeout=10)
        for i in range(8)
    ]
    readers = [asyncio.create_task(read_all(ws)) for ws in clients]
    supervisor.terminate()
    await until(lambda: not ready(supervisor.health_url), "readiness failed", 5)
    assert agent_word(supervisor.agent) == b"drain\n"
    code = await asyncio.to_thread(supervisor.exited_within, DEADLINE + 5)
    assert code == 0, supervisor.stderr()
    await asyncio.gather(*readers)
    assert {(ws.close_code, ws.close_reason) for ws in clients} == {(1001, "drain")}
