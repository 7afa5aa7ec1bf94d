"""Real `homeroom live` processes: two on one Redis share a class; one on memory serves alone.

The teacher is connected to one process and the pupils to the other, over real WebSockets;
join tokens are signed with the deployment's key (homeroom.keys), as the school app signs them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from homeroom.config import load_settings
from homeroom.core.live.parts import Role
from homeroom.keys import live_join_key
from homeroom.live.jointoken import JoinClaims, JoinTokens
from homeroom.school.data.db import engine_for, sessions, upgrade
from homeroom.school.links.revocations import revoke_live
from tests.gate_process import HOMEROOM, QUICK_STOP, wait_http
from tests.redis_servers import RedisServer, free_port

pytestmark = pytest.mark.slow
KEYS = "1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
DEADLINE_S = 15.0
Message = dict[str, Any]
SEQ_NOT = ("snapshot", "ack")


class LiveProcess:
    """`homeroom live` on a port of its own, in a folder of its own."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="homeroom-live-"))
        self.env = {**os.environ, "HOMEROOM_LOG_LEVEL": "warning", **QUICK_STOP, **env}
        self.env["HOMEROOM_LIVE_PORT"] = str(self.port)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> LiveProcess:
        self.proc = subprocess.Popen(
            [HOMEROOM, "live"], env=self.env, cwd=self.workdir, stdout=subprocess.DEVNULL
        )
        wait_http(f"http://127.0.0.1:{self.port}/live", process=self.proc)  # 403: no token
        return self

    def url(self, token: str, **query: object) -> str:
        extra = "".join(f"&{k}={quote(str(v))}" for k, v in query.items())
        return f"ws://127.0.0.1:{self.port}/live?token={quote(token)}{extra}"

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


class Client:
    """A WebSocket client that keeps every message it receives."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[Message] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.messages.append(json.loads(raw))
        except ConnectionClosed:
            pass

    async def send(self, kind: str, cid: str, **fields: object) -> None:
        await self.ws.send(json.dumps({"v": 1, "type": kind, "id": cid, **fields}))

    async def until(self, match: Callable[[Message], bool], what: str) -> Message:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            found = next((m for m in self.messages if match(m)), None)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {DEADLINE_S} s: {self.messages[-5:]}")
            await asyncio.sleep(0.01)

    def numbered(self) -> dict[int, Message]:
        """The room's numbered events it got (acks and snapshots carry a seq but are not)."""
        return {m["seq"]: m for m in self.messages if "seq" in m and m["type"] not in SEQ_NOT}

    async def close(self) -> None:
        await self.ws.close()
        await self.task


def kind(name: str, **fields: object) -> Callable[[Message], bool]:
    return lambda m: m.get("type") == name and all(m.get(k) == v for k, v in fields.items())


class Tokens:
    def __init__(self, tokens: JoinTokens, room: str) -> None:
        self.tokens, self.room = tokens, room

    def __call__(self, person: str, role: Role = Role.PUPIL) -> str:
        claims = JoinClaims(self.room, person, role, person.title(), int(time.time()) + 3600)
        return self.tokens.issue(claims)


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def pair(redis: RedisServer) -> Iterator[tuple[LiveProcess, LiveProcess]]:
    env = {
        "HOMEROOM_BACKEND_URL": redis.url,
        "HOMEROOM_SECRET_KEYS": KEYS,
        "HOMEROOM_LIVE_HEARTBEAT_S": "1.5",
    }
    a, b = LiveProcess(env), LiveProcess(env)
    try:
        yield a.start(), b.start()
    finally:
        a.stop()
        b.stop()


@pytest.fixture
def tokens(redis: RedisServer) -> Tokens:
    settings = load_settings(backend_url=redis.url, secret_keys=KEYS)
    return Tokens(JoinTokens(live_join_key(settings)), f"s-{secrets.token_hex(4)}")


@pytest.fixture
async def opened() -> AsyncIterator[list[Client]]:
    clients: list[Client] = []
    yield clients
    for client in clients:
        await client.close()


async def join(clients: list[Client], url: str) -> Client:
    client = Client(await connect(url, open_timeout=5))
    clients.append(client)
    await client.until(kind("snapshot"), "snapshot")
    return client


async def test_a_class_across_two_processes_sees_one_sequence_and_resumes_exactly(
    pair: tuple[LiveProcess, LiveProcess], tokens: Tokens, opened: list[Client]
) -> None:
    a, b = pair
    teacher = await join(opened, a.url(tokens("t1", Role.TEACHER)))
    await teacher.send("lobby.set", "t-lobby", on=True)
    await teacher.until(kind("settings", lobby=True), "the lobby on")
    p1 = await join(opened, b.url(tokens("p1")))
    p2 = await join(opened, b.url(tokens("p2")))
    assert p1.messages[0]["you"]["where"] == "lobby"
    await teacher.until(kind("lobby.waiting", person="p2"), "p2 waiting")

    await teacher.send("lobby.admit", "t-admit", person=None)  # the lobby admit, across processes
    for pupil in (p1, p2):
        await pupil.until(lambda m: m["type"] == "snapshot" and m["you"]["where"] == "in", "in")
    await p1.send("chat.send", "p1-hello", text="bonjour", to="all")
    for client in (teacher, p1, p2):
        await client.until(kind("chat.message", text="bonjour"), "the chat message")
    await teacher.send("poll.open", "t-poll", question="2+2?", choices=["3", "4"], multiple=False)
    opened_poll = await p2.until(kind("poll.opened"), "the poll")
    await p2.send("poll.vote", "p2-vote", poll=opened_poll["poll"], choices=[1])
    results = await teacher.until(
        lambda m: m["type"] == "poll.results" and sum(m.get("counts", [0])) == 1, "the vote"
    )
    assert results["counts"] == [0, 1]
    ack = await p2.until(kind("ack", id="p2-vote"), "the vote's ack")
    assert ack["seq"] in p2.numbered()

    # Everyone numbers the same events alike: one sequence, whatever the process.
    for one in (teacher, p1, p2):
        for other in (teacher, p1, p2):
            shared = one.numbered().keys() & other.numbered().keys()
            assert all(one.numbered()[s] == other.numbered()[s] for s in shared)
    chat = [m for m in teacher.numbered().values() if m["type"] == "chat.message"]
    assert [m["seq"] for m in chat] == [m["seq"] for m in p2.numbered().values() if m in chat]

    # p2 is cut; the class goes on; p2 comes back on the *other* process with what it had.
    last = max(p2.numbered())
    epoch = p2.numbered()[last]["epoch"]
    await p2.close()
    opened.remove(p2)
    await teacher.until(kind("presence.left", person="p2"), "p2 gone")
    for n in range(3):
        await teacher.send("chat.send", f"t-{n}", text=f"missed {n}", to="all")
    await p1.until(kind("chat.message", text="missed 2"), "the last missed message")
    back = Client(await connect(a.url(tokens("p2"), epoch=epoch, seq=last), open_timeout=5))
    opened.append(back)
    await back.until(kind("presence.joined", person="p2"), "p2 back")
    assert not any(m["type"] == "snapshot" for m in back.messages)
    resumed = [m for m in back.messages if "seq" in m and m["type"] not in SEQ_NOT]
    expected = [m for s, m in sorted(p1.numbered().items()) if last < s <= resumed[-1]["seq"]]
    assert resumed == expected  # exactly what it missed, in order, from the other process
    assert [m["text"] for m in resumed if m["type"] == "chat.message"] == [
        "missed 0",
        "missed 1",
        "missed 2",
    ]


async def test_the_people_of_a_killed_process_leave_for_the_others(
    pair: tuple[LiveProcess, LiveProcess], tokens: Tokens, opened: list[Client]
) -> None:
    a, b = pair
    teacher = await join(opened, a.url(tokens("t1", Role.TEACHER)))
    await join(opened, b.url(tokens("p1")))
    await teacher.until(kind("presence.joined", person="p1"), "p1 in")
    b.stop(signal.SIGKILL)  # no leave is ever sent: only its heartbeat stops
    left = await teacher.until(kind("presence.left", person="p1"), "p1 left")
    snapshot = teacher.messages[0]
    assert left["epoch"] == snapshot["epoch"]


async def test_heartbeats_missing_for_less_than_their_life_let_go_of_nobody(
    redis: RedisServer,
    pair: tuple[LiveProcess, LiveProcess],
    tokens: Tokens,
    opened: list[Client],
) -> None:
    """As after a Redis that came back empty: every heartbeat is missing at once, and the live
    processes beat again within a sweep. Nobody is declared gone for that (docs/live.md)."""
    a, b = pair
    teacher = await join(opened, a.url(tokens("t1", Role.TEACHER)))
    pupil = await join(opened, b.url(tokens("p1")))
    await teacher.until(kind("presence.joined", person="p1"), "p1 in")
    # For 1 s (the heartbeats live 1.5 s, a watches every 0.5 s): delete them as they come
    admin = Redis.from_url(redis.url)
    try:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            beats = await admin.keys("*:live:proc:*")
            if beats:
                await admin.delete(*beats)
            await asyncio.sleep(0.02)
    finally:
        await admin.aclose()
    await pupil.send("chat.send", "c1", text="toujours là", to="all")
    await teacher.until(kind("chat.message", text="toujours là"), "the class goes on")
    await asyncio.sleep(1.5)  # a watch or three after the heartbeats are back
    assert not [m for m in teacher.messages if m["type"] == "presence.left"]
    assert pupil.ws.close_code is None and teacher.ws.close_code is None


async def test_homeroom_live_on_memory_with_one_process_serves_a_class(
    opened: list[Client],
) -> None:
    live = LiveProcess({"HOMEROOM_BACKEND_URL": "memory://", "HOMEROOM_SECRET_KEYS": ""})
    live.env.pop("HOMEROOM_SECRET_KEYS")
    live.start()
    try:
        settings = load_settings(backend_url="memory://")
        key = live_join_key(settings, folder=live.workdir / ".homeroom")  # the file it made
        tokens = Tokens(JoinTokens(key), "s1")
        teacher = await join(opened, live.url(tokens("t1", Role.TEACHER)))
        pupil = await join(opened, live.url(tokens("p1")))
        await pupil.send("chat.send", "c1", text="salut", to="all")
        seen = await teacher.until(kind("chat.message", text="salut"), "the chat message")
        ack = await pupil.until(kind("ack", id="c1"), "the ack")
        assert seen["seq"] == ack["seq"]
    finally:
        for client in opened:
            await client.close()
        opened.clear()
        live.stop()


async def test_after_redis_lost_the_rooms_everyone_reconnects_to_a_new_epoch(
    redis: RedisServer,
    pair: tuple[LiveProcess, LiveProcess],
    tokens: Tokens,
    opened: list[Client],
) -> None:
    a, b = pair
    teacher = await join(opened, a.url(tokens("t1", Role.TEACHER)))
    pupil = await join(opened, b.url(tokens("p1")))
    await teacher.until(kind("presence.joined", person="p1"), "p1 in")
    old = teacher.messages[0]["epoch"]
    redis.stop()
    redis.start()  # no persistence: every room's log is gone
    for client in (teacher, pupil):  # told to come back (1012), not left with a stale room
        await asyncio.wait_for(client.task, DEADLINE_S)
        assert client.ws.close_code == 1012
    last = max(teacher.numbered())
    teacher = await join(opened, a.url(tokens("t1", Role.TEACHER), epoch=old, seq=last))
    pupil = await join(opened, b.url(tokens("p1")))
    assert teacher.messages[0]["epoch"] != old  # a snapshot of the new epoch, not a replay
    await pupil.send("chat.send", "c1", text="encore là", to="all")
    await teacher.until(kind("chat.message", text="encore là"), "the class goes on")


async def test_a_token_revoked_at_the_school_closes_its_socket_within_seconds(
    opened: list[Client], tmp_path: Path
) -> None:
    """The school writes a revocation row; the real process reads it and closes with 4003."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'school.db'}"
    await asyncio.to_thread(upgrade, url)
    keys = "1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    env = {"HOMEROOM_BACKEND_URL": "memory://", "HOMEROOM_SECRET_KEYS": keys}
    live = LiveProcess({**env, "HOMEROOM_DATABASE_URL": url}).start()
    engine = engine_for(url)
    try:
        tokens = JoinTokens(live_join_key(load_settings(secret_keys=keys)))
        now_ms = int(time.time() * 1000)

        def token(person: str, role: Role, grant: str) -> str:
            expires = int(time.time()) + 3600
            return tokens.issue(JoinClaims("s1", person, role, "X", expires, now_ms - 1, grant))

        teacher = await join(opened, live.url(token("t1", Role.TEACHER, "gt")))
        pupil = await join(opened, live.url(token("p1", Role.PUPIL, "gp")))
        async with sessions(engine)() as db:
            await revoke_live(db, time.time(), grant="gp")  # the pupil signed out
            await db.commit()
        await teacher.until(kind("presence.left", person="p1"), "the pupil leaving")
        await pupil.task
        assert pupil.ws.close_code == 4003 and pupil.ws.close_reason == "revoked"
        assert teacher.ws.close_code is None
    finally:
        for client in opened:
            await client.close()
        opened.clear()
        live.stop()
        await engine.dispose()
