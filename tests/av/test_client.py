"""homeroom's Janus client against a scripted server on 127.0.0.1: what the real Janus will not do on demand.

Silence, garbage, a server that is not Janus, a close in the middle of a request, events for
handles: the layer of tests with injected faults (docs/av.md#how-it-is-tested). Everything the
real Janus does is tested against it (tests/av/test_janus.py). Fast tier: no process started.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from homeroom.av.client import MAX_EVENTS, JanusClient, JanusGone, JanusTimeout, SessionGone
from homeroom.core import janus

Script = Callable[[ServerConnection, dict[str, Any]], Awaitable[None]]


@asynccontextmanager
async def scripted(script: Script, subprotocol: bool = True) -> AsyncIterator[str]:
    """A server on a free port calling `script` with each request it receives; its URL."""

    async def handler(ws: ServerConnection) -> None:
        async for text in ws:
            await script(ws, json.loads(text))

    chosen = (lambda _ws, _offered: "janus-protocol") if subprotocol else (lambda _ws, _o: None)
    async with serve(handler, "127.0.0.1", 0, select_subprotocol=chosen) as server:  # type: ignore[arg-type]
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


async def answers(ws: ServerConnection, request: dict[str, Any]) -> None:
    """Create and attach answered with ids 1 and 2; keepalives acked; nothing else."""
    t = request["transaction"]
    if request["janus"] in ("create", "attach"):
        ident = 1 if request["janus"] == "create" else 2
        await ws.send(json.dumps({"janus": "success", "transaction": t, "data": {"id": ident}}))
    elif request["janus"] == "keepalive":
        await ws.send(json.dumps({"janus": "ack", "session_id": 1, "transaction": t}))


async def test_silence_is_a_timeout_naming_the_request() -> None:
    async def silent(ws: ServerConnection, request: dict[str, Any]) -> None:
        return None

    async with scripted(silent) as url, await JanusClient.connect(url, None, timeout_s=0.2) as c:
        with pytest.raises(JanusTimeout, match=r"did not answer create within 0\.2 s"):
            await c.create_session(keepalive_s=60)
        assert c._talk.pending == frozenset()  # forgotten: a late answer is no answer


async def test_a_server_that_does_not_speak_janus_protocol_is_refused() -> None:
    async with scripted(answers, subprotocol=False) as url:
        with pytest.raises(JanusGone, match="did not accept the janus-protocol subprotocol"):
            await JanusClient.connect(url, None)


async def test_garbage_is_skipped_and_the_answer_still_arrives() -> None:
    async def noisy(ws: ServerConnection, request: dict[str, Any]) -> None:
        await ws.send("not json")
        await ws.send(json.dumps({"janus": "webrtcup"}))  # no session_id
        await answers(ws, request)

    async with scripted(noisy) as url, await JanusClient.connect(url, None) as c:
        session = await c.create_session(keepalive_s=60)
        assert session.id == 1


async def test_a_close_during_a_request_is_janus_gone() -> None:
    async def closes(ws: ServerConnection, request: dict[str, Any]) -> None:
        if request["janus"] == "attach":
            await ws.close()
        else:
            await answers(ws, request)

    async with scripted(closes) as url, await JanusClient.connect(url, None) as c:
        session = await c.create_session(keepalive_s=60)
        with pytest.raises(JanusGone, match="closed the connection"):
            await session.attach()
        with pytest.raises(JanusGone):
            await session.next_event(timeout_s=1)
        with pytest.raises(JanusGone):
            await c.info()


async def test_events_go_to_their_handle_and_detached_ends_it() -> None:
    sent = asyncio.Event()

    async def news(ws: ServerConnection, request: dict[str, Any]) -> None:
        await answers(ws, request)
        if request["janus"] == "attach":
            for message in (
                {"janus": "webrtcup", "session_id": 1, "sender": 2},
                {"janus": "webrtcup", "session_id": 1, "sender": 99},  # no handle of ours
                {"janus": "webrtcup", "session_id": 7, "sender": 2},  # no session of ours
                {"janus": "detached", "session_id": 1, "sender": 2},
            ):
                await ws.send(json.dumps(message))
            sent.set()

    async with scripted(news) as url, await JanusClient.connect(url, None) as c:
        session = await c.create_session(keepalive_s=60)
        handle = await session.attach()
        await sent.wait()
        assert await handle.next_event(timeout_s=2) == janus.WebrtcUp(1, 2)
        assert await handle.next_event(timeout_s=2) == janus.Detached(1, 2)
        with pytest.raises(SessionGone, match="detached handle 2"):
            await handle.next_event(timeout_s=2)
        # the event for a sender that is no handle of ours goes to the session
        assert await session.next_event(timeout_s=2) == janus.WebrtcUp(1, 99)


async def test_keepalives_are_sent_and_a_forgotten_session_ends() -> None:
    keepalives = 0

    async def forgets(ws: ServerConnection, request: dict[str, Any]) -> None:
        nonlocal keepalives
        if request["janus"] == "keepalive":
            keepalives += 1
            if keepalives == 3:  # Janus no longer knows the session
                error = {"code": 458, "reason": "No such session 1"}
                await ws.send(
                    json.dumps(
                        {"janus": "error", "transaction": request["transaction"], "error": error}
                    )
                )
                return
        await answers(ws, request)

    async with scripted(forgets) as url, await JanusClient.connect(url, None) as c:
        session = await c.create_session(keepalive_s=0.01)
        with pytest.raises(SessionGone, match="No such session 1"):
            await session.next_event(timeout_s=5)
        assert session.keepalives == 2 and keepalives == 3


async def test_unread_events_are_bounded_oldest_dropped_first() -> None:
    sent = asyncio.Event()

    async def floods(ws: ServerConnection, request: dict[str, Any]) -> None:
        await answers(ws, request)
        if request["janus"] == "attach":
            for n in range(MAX_EVENTS + 5):
                message = {"janus": "media", "session_id": 1, "sender": 2, "type": "audio"}
                await ws.send(json.dumps({**message, "mid": str(n)}))
            await ws.send(json.dumps({"janus": "detached", "session_id": 1, "sender": 2}))
            sent.set()

    async with scripted(floods) as url, await JanusClient.connect(url, None) as c:
        handle = await (await c.create_session(keepalive_s=60)).attach()
        await sent.wait()
        async with asyncio.timeout(5):  # until the reader has routed the last one
            while handle.gone is None:
                await asyncio.sleep(0.01)
        first = await handle.next_event(timeout_s=2)
        assert isinstance(first, janus.Media) and first.mid == "6"
        assert handle.dropped == 6  # 1,006 events (the detached among them) for 1,000 places
