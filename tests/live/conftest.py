"""A gateway in the test's own event loop on 127.0.0.1:0, with a clock the test moves.

Every message a test receives is checked against the protocol's JSON Schema
(docs/live-protocol.schema.json, `#/$defs/server`), and for being strict JSON in UTF-8, before
the test sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest
from jsonschema.exceptions import best_match
from websockets.asyncio.client import ClientConnection, connect

from homeroom.core.live.parts import Role
from homeroom.live.conn import Limits
from homeroom.live.hub import MemoryRecorder
from homeroom.live.jointoken import JoinClaims, JoinTokens
from homeroom.live.server import LiveServer

SECRET = b"live-test-secret-0123456789abcdef"
NOW = 1_790_000_000.0
SCHEMA = Path(__file__).parents[2] / "docs" / "live-protocol.schema.json"


@functools.cache
def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)  # once: it takes half a second
    return schema


@functools.cache
def protocol(part: str) -> jsonschema.Draft202012Validator:
    """A validator of one part of the protocol's schema: `server`, `client`, `event`, ..."""
    root = {key: value for key, value in _schema().items() if key != "oneOf"}
    return jsonschema.Draft202012Validator({**root, "$ref": f"#/$defs/{part}"})


def check(part: str, message: Any) -> None:
    """Fail with the most telling error if `message` is not a valid `part` message."""
    error = best_match(protocol(part).iter_errors(message))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the message"
        raise AssertionError(
            f"{part} message off the schema at {where}: {error.message}\n{message}"
        )


@functools.cache
def _server_kinds() -> dict[str, str]:
    """The definition each `type` of server message is checked against (`#/$defs/server`)."""
    return {
        rule["if"]["properties"]["type"]["const"]: rule["then"]["$ref"].removeprefix("#/$defs/")
        for rule in _schema()["$defs"]["server"]["allOf"]
    }


def check_server(message: Any) -> None:
    """`check("server", message)`, ten times faster: straight to the definition of its type,
    which is what `#/$defs/server` does after its list of conditions."""
    kind = message.get("type") if isinstance(message, dict) else None
    part = _server_kinds().get(kind) if isinstance(kind, str) else None
    check(part or "server", message)


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


@contextlib.asynccontextmanager
async def teacher_and_pupil(live: Live) -> AsyncIterator[tuple[ClientConnection, ClientConnection]]:
    """A teacher `t1` and a pupil `p1` in the class, their snapshots read."""
    async with live.open("t1", Role.TEACHER) as teacher, live.open("p1") as pupil:
        await receive(teacher)
        await receive(pupil)
        yield teacher, pupil


async def receive(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(decode=True), timeout)
    message: dict[str, Any] = json.loads(raw)
    check_server(message)
    strict(message)
    return message


def strict(message: Any) -> None:
    """Fail if a message holds what strict JSON in UTF-8 cannot: NaN, an infinity, or a lone
    surrogate (sent escaped, it would still be one in every client's copy)."""
    try:
        json.dumps(message, ensure_ascii=False, allow_nan=False).encode()
    except ValueError as exc:  # UnicodeEncodeError is one
        raise AssertionError(f"not strict JSON in UTF-8 ({exc}): {message!r}") from exc


async def until(
    ws: ClientConnection, match: Callable[[dict[str, Any]], bool], limit: int = 50
) -> dict[str, Any]:
    """The first message `match` accepts (others are skipped)."""
    for _ in range(limit):
        message = await receive(ws)
        if match(message):
            return message
    raise AssertionError("no such message")
