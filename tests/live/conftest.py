"""A gateway in the test's own event loop on 127.0.0.1:0, with a clock the test moves."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from websockets.asyncio.client import ClientConnection, connect

from homeroom.core.live.parts import Role
from homeroom.live.conn import Limits
from homeroom.live.hub import MemoryRecorder
from homeroom.live.jointoken import JoinClaims, JoinTokens
from homeroom.live.server import LiveServer

SECRET = b"live-test-secret-0123456789abcdef"
NOW = 1_790_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@dataclass
class Live:
    server: LiveServer
    port: int
    clock: Clock
    recorder: MemoryRecorder
    tokens: JoinTokens

    def token(
        self, person: str, role: Role = Role.PUPIL, room: str = "s1", ttl: float = 3600
    ) -> str:
        claims = JoinClaims(room, person, role, person.title(), int(self.clock.now + ttl))
        return self.tokens.issue(claims)

    def url(self, token: str, **query: Any) -> str:
        extra = "".join(f"&{k}={quote(str(v))}" for k, v in query.items())
        return f"ws://127.0.0.1:{self.port}/live?token={quote(token)}{extra}"

    def open(self, person: str, role: Role = Role.PUPIL, **query: Any) -> Any:
        return connect(self.url(self.token(person, role), **query), open_timeout=5)


@pytest.fixture
def limits() -> Limits:
    return Limits()


@pytest.fixture
async def live(limits: Limits) -> AsyncIterator[Live]:
    clock = Clock()
    recorder = MemoryRecorder()
    server = LiveServer(SECRET, recorder=recorder, limits=limits, clock=clock)
    port = await server.start("127.0.0.1", 0)
    try:
        yield Live(server, port, clock, recorder, JoinTokens(SECRET))
    finally:
        await server.stop()


async def receive(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(decode=True), timeout)
    message: dict[str, Any] = json.loads(raw)
    return message


async def until(
    ws: ClientConnection, match: Callable[[dict[str, Any]], bool], limit: int = 50
) -> dict[str, Any]:
    """The first message `match` accepts (others are skipped)."""
    for _ in range(limit):
        message = await receive(ws)
        if match(message):
            return message
    raise AssertionError("no such message")
