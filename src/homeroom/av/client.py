"""homeroom's asyncio client of Janus's WebSocket API: sessions, handles, keepalives (docs/av.md#janus).

The messages are core.janus's; this layer owns the socket (`websockets`, subprotocol
`janus-protocol`), the clock and the tasks:

- one reader task matches answers to their waiting requests and puts every event on the queue
  of the handle (or session) it names;
- one keepalive task a session sends `keepalive` every third of Janus's `session_timeout` (read
  from `info`; 60 s by default, so every 20 s): a session without one is destroyed with its
  handles;
- every request waits at most `timeout_s` (JanusTimeout);
- when Janus goes (closed socket, killed process, unreachable), every waiting request, every
  event reader and every later call raises JanusGone, saying which instance and why.

Errors, one tree: JanusUnavailable (JanusGone, JanusTimeout) for the instance, core.janus's
JanusError for a request Janus refused, PluginError for a plugin's refusal, JanusProtocolError
for a message that is not Janus's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from homeroom.core import janus, videoroom
from homeroom.core.janus import JanusError, PluginError, plugin_error

log = logging.getLogger(__name__)

SUBPROTOCOL = "janus-protocol"
MAX_EVENTS = 1000  # unread events kept per session or handle
KEEPALIVE_S = 20.0  # the longest interval between keepalives (Janus's default timeout: 60 s)
JSON = dict[str, Any]


class JanusUnavailable(ConnectionError):
    """The Janus instance cannot serve the request (gone, or too slow)."""


class JanusGone(JanusUnavailable):
    """The connection to Janus is closed or was never made; the message says why."""


class JanusTimeout(JanusUnavailable, TimeoutError):
    """Janus did not answer a request in time."""


class SessionGone(JanusUnavailable):
    """Janus destroyed the session (it timed out, or was destroyed)."""


_END = object()  # put on an event queue when its session or connection ends


class JanusClient:
    """One WebSocket connection to one Janus instance."""

    def __init__(
        self, ws: ClientConnection, url: str, api_secret: str | None, timeout_s: float
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._ws = ws
        self._talk = janus.Conversation(api_secret)
        self._waiting: dict[str, asyncio.Future[janus.Answer]] = {}
        self._on_success: dict[str, Callable[[janus.Success], None]] = {}
        self._sessions: dict[int, Session] = {}
        self._gone: JanusGone | None = None
        self._keepalive_s: float | None = None
        self._reader = asyncio.create_task(self._read(), name=f"janus-reader {url}")

    @classmethod
    async def connect(
        cls, url: str, api_secret: str | None, *, timeout_s: float = 5.0
    ) -> JanusClient:
        """Open the WebSocket; JanusGone if Janus cannot be reached or does not speak its API."""
        try:
            ws = await websockets.connect(
                url,
                subprotocols=[websockets.Subprotocol(SUBPROTOCOL)],
                open_timeout=timeout_s,
                ping_interval=None,  # Janus's own keepalives keep the session; see Session
                max_size=janus.MAX_TEXT,
            )
        except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
            raise JanusGone(f"cannot reach Janus at {url}: {exc or type(exc).__name__}") from exc
        if ws.subprotocol != SUBPROTOCOL:
            await ws.close()
            raise JanusGone(f"{url} did not accept the {SUBPROTOCOL} subprotocol: not Janus")
        return cls(ws, url, api_secret, timeout_s)

    @property
    def gone(self) -> JanusGone | None:
        """Why the connection ended, or None while it is open."""
        return self._gone

    async def close(self) -> None:
        """Close the connection; sessions on it end (Janus destroys them: no reclaim)."""
        self._end(JanusGone(f"the connection to Janus at {self.url} was closed by homeroom"))
        await self._ws.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    async def __aenter__(self) -> JanusClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- requests ---------------------------------------------------------------------------

    async def request(
        self,
        kind: janus.Kind,
        session_id: int | None = None,
        handle_id: int | None = None,
        timeout_s: float | None = None,
        *,
        on_success: Callable[[janus.Success], None] | None = None,
        **fields: Any,
    ) -> janus.Success | janus.ServerInfo | janus.PluginEvent | janus.Ack:
        """Send one request and wait for its answer; JanusError if Janus refused it.
        `on_success` runs in the reader as the success arrives, before any later message is
        read: a session or handle is registered there, so no event of its is missed."""
        if self._gone is not None:
            raise self._gone
        out = self._talk.ask(kind, session_id, handle_id, **fields)
        future: asyncio.Future[janus.Answer] = asyncio.get_running_loop().create_future()
        self._waiting[out.transaction] = future
        if on_success is not None:
            self._on_success[out.transaction] = on_success
        try:
            await self._ws.send(out.text)
            answer = await asyncio.wait_for(future, timeout_s or self.timeout_s)
        except TimeoutError:
            if self._gone is not None:
                raise self._gone from None
            raise JanusTimeout(
                f"Janus at {self.url} did not answer {kind} within {timeout_s or self.timeout_s} s"
            ) from None
        except websockets.exceptions.ConnectionClosed as exc:
            self._end(self._closed(exc))
            assert self._gone is not None
            raise self._gone from exc
        finally:
            self._waiting.pop(out.transaction, None)
            self._on_success.pop(out.transaction, None)
            self._talk.forget(out.transaction)
        if isinstance(answer.reply, janus.Failure):
            raise answer.reply.error
        return answer.reply

    async def info(self) -> JSON:
        """Janus's server_info (version, plugins and transports loaded, session timeout)."""
        reply = await self.request("info")
        assert isinstance(reply, janus.ServerInfo)
        return reply.info

    async def create_session(self, keepalive_s: float | None = None) -> Session:
        """A new session, kept alive every `keepalive_s` until destroyed or the connection ends;
        by default a third of the instance's session timeout (read once from `info`), at most
        KEEPALIVE_S: two keepalives may be lost or late before Janus drops the session."""
        if keepalive_s is None:
            keepalive_s = await self.keepalive_interval()
        made: list[Session] = []

        def register(reply: janus.Success) -> None:
            made.append(Session(self, _id(reply.data), keepalive_s))
            self._sessions[made[0].id] = made[0]

        await self.request("create", on_success=register)
        return made[0]

    async def keepalive_interval(self) -> float:
        """A third of Janus's `session-timeout` (0: none, then KEEPALIVE_S), at most KEEPALIVE_S."""
        if self._keepalive_s is None:
            timeout = (await self.info()).get("session-timeout")
            if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
                self._keepalive_s = min(KEEPALIVE_S, timeout / 3)
            else:
                self._keepalive_s = KEEPALIVE_S
        return self._keepalive_s

    # -- the reader -------------------------------------------------------------------------

    async def _read(self) -> None:
        try:
            async for text in self._ws:
                try:
                    received = self._talk.receive(text)
                except janus.JanusProtocolError as exc:
                    log.warning("Janus at %s sent what is not a Janus message: %s", self.url, exc)
                    continue
                if isinstance(received, janus.Answer):
                    self._answer(received)
                elif received is not None:
                    self._route(received)
        except websockets.exceptions.ConnectionClosed as exc:
            self._end(self._closed(exc))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must not leave callers waiting forever
            self._end(JanusGone(f"the reader of Janus at {self.url} failed: {exc!r}"))
            raise
        else:
            self._end(JanusGone(f"Janus at {self.url} closed the connection"))

    def _answer(self, answer: janus.Answer) -> None:
        future = self._waiting.get(answer.transaction)
        if future is None or future.done():
            return
        hook = self._on_success.pop(answer.transaction, None)
        if hook is not None and isinstance(answer.reply, janus.Success):
            try:
                hook(answer.reply)
            except janus.JanusProtocolError as exc:
                future.set_exception(exc)
                return
        future.set_result(answer)

    def _closed(self, exc: websockets.exceptions.ConnectionClosed) -> JanusGone:
        how = "closed the connection" if exc.rcvd is not None else "went away (no close frame)"
        return JanusGone(f"Janus at {self.url} {how}: {exc}")

    def _route(self, event: janus.Event) -> None:
        session_id = getattr(event, "session_id", None)
        session = self._sessions.get(session_id) if isinstance(session_id, int) else None
        if session is None:
            log.debug("Janus event for no session of ours: %r", event)
            return
        if isinstance(event, janus.Timeout):
            self._sessions.pop(session.id, None)
            session._end(SessionGone(f"Janus timed session {session.id} out"))
            return
        sender = getattr(event, "sender", None)
        handle = session.handles.get(sender) if isinstance(sender, int) else None
        (handle or session)._put(event)
        if isinstance(event, janus.Detached) and handle is not None:
            session.handles.pop(handle.id, None)
            handle._end(SessionGone(f"Janus detached handle {handle.id}"))

    def _end(self, why: JanusGone) -> None:
        if self._gone is not None:
            return
        self._gone = why
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(why)
        for session in list(self._sessions.values()):
            session._end(why)
        self._sessions.clear()


class _Events:
    """What Janus said of a session or handle, in order; ends with the reason it ended."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[object] = asyncio.Queue()
        self.dropped = 0  # events dropped, oldest first, because nobody read them
        self._ended: JanusUnavailable | None = None

    @property
    def gone(self) -> JanusUnavailable | None:
        """Why the session or handle ended, or None while it lives."""
        return self._ended

    def _put(self, event: janus.Event) -> None:
        # bounded: a handle whose events nobody reads (talking, a second at a time, for an
        # hour) must not grow without end; its reader learns of the gap from `dropped`
        if self.events.qsize() >= MAX_EVENTS:
            self.events.get_nowait()
            self.dropped += 1
        self.events.put_nowait(event)

    def _end(self, why: JanusUnavailable) -> None:
        if self._ended is None:
            self._ended = why
            self.events.put_nowait(_END)

    async def next_event(self, timeout_s: float = 10.0) -> janus.Event:
        """The next event; the reason it ended once it has (JanusGone, SessionGone)."""
        if self.events.empty() and self._ended is not None:
            raise self._ended
        item = await asyncio.wait_for(self.events.get(), timeout_s)
        if item is _END:
            self.events.put_nowait(_END)  # for the next reader too
            assert self._ended is not None
            raise self._ended
        return item  # type: ignore[return-value]

    async def wait_for(
        self, matches: Callable[[janus.Event], bool], timeout_s: float = 10.0
    ) -> janus.Event:
        """The first event that `matches`, others dropped; TimeoutError after `timeout_s`."""
        async with asyncio.timeout(timeout_s):
            while True:
                event = await self.next_event(timeout_s)
                if matches(event):
                    return event


class Session(_Events):
    """A Janus session: the handles homeroom attached, kept alive by a task of its own."""

    def __init__(self, client: JanusClient, session_id: int, keepalive_s: float) -> None:
        super().__init__()
        self.client = client
        self.id = session_id
        self.handles: dict[int, Handle] = {}
        self.keepalives = 0  # acknowledged keepalives, for tests and metrics
        self._keepalive = asyncio.create_task(
            self._keep(keepalive_s), name=f"janus-ka {session_id}"
        )

    async def _keep(self, every_s: float) -> None:
        while self._ended is None:
            await asyncio.sleep(every_s)
            try:
                await self.client.request("keepalive", self.id)
            except JanusError as exc:  # 458: Janus no longer knows the session
                self.client._sessions.pop(self.id, None)
                self._end(SessionGone(f"session {self.id}: {exc}"))
            except JanusUnavailable:
                continue  # gone: the client ends every session; slow: the next one may pass
            else:
                self.keepalives += 1

    def _end(self, why: JanusUnavailable) -> None:
        super()._end(why)
        for handle in self.handles.values():
            handle._end(why)
        if self._keepalive is not asyncio.current_task():
            self._keepalive.cancel()

    async def attach(self, plugin: str = janus.VIDEOROOM) -> Handle:
        if self._ended is not None:
            raise self._ended
        made: list[Handle] = []

        def register(reply: janus.Success) -> None:
            made.append(Handle(self, _id(reply.data), plugin))
            self.handles[made[0].id] = made[0]

        await self.client.request("attach", self.id, plugin=plugin, on_success=register)
        return made[0]

    async def destroy(self) -> None:
        """Destroy the session in Janus (its handles with it) and stop its keepalives."""
        try:
            await self.client.request("destroy", self.id)
        finally:
            self.client._sessions.pop(self.id, None)
            self._end(SessionGone(f"session {self.id} destroyed by homeroom"))


class Handle(_Events):
    """A handle on a plugin: its messages, trickle, and its events."""

    def __init__(self, session: Session, handle_id: int, plugin: str) -> None:
        super().__init__()
        self.session = session
        self.id = handle_id
        self.plugin = plugin

    async def message(
        self, body: JSON, jsep: JSON | None = None, timeout_s: float | None = None
    ) -> tuple[JSON, JSON | None]:
        """A plugin request: what the plugin answered and the jsep with it; PluginError if the
        plugin refused."""
        fields: JSON = {"body": body}
        if jsep is not None:
            fields["jsep"] = jsep
        reply = await self.session.client.request(
            "message", self.session.id, self.id, timeout_s, **fields
        )
        if isinstance(reply, janus.Success):
            data, answer_jsep = reply.plugindata or {}, None
        elif isinstance(reply, janus.PluginEvent):
            data, answer_jsep = reply.data, reply.jsep
        else:
            raise janus.JanusProtocolError(f"a message answered by {type(reply).__name__}")
        refusal: PluginError | None = plugin_error(self.plugin, data)
        if refusal is not None:
            raise refusal
        return data, answer_jsep

    async def videoroom(
        self, body: JSON, jsep: JSON | None = None, timeout_s: float | None = None
    ) -> tuple[videoroom.Answer, JSON | None]:
        """A VideoRoom request, its answer read by core.videoroom."""
        data, answer_jsep = await self.message(body, jsep, timeout_s)
        return videoroom.answer(data), answer_jsep

    async def trickle(self, candidate: JSON | None) -> None:
        """One ICE candidate of the peer, or None when it has no more."""
        await self.session.client.request(
            "trickle",
            self.session.id,
            self.id,
            candidate=candidate if candidate is not None else {"completed": True},
        )

    async def hangup(self) -> None:
        await self.session.client.request("hangup", self.session.id, self.id)

    async def detach(self) -> None:
        try:
            await self.session.client.request("detach", self.session.id, self.id)
        finally:
            self.session.handles.pop(self.id, None)
            self._end(SessionGone(f"handle {self.id} detached by homeroom"))


def _id(data: JSON) -> int:
    value = data.get("id")
    if not isinstance(value, int) or isinstance(value, bool):
        raise janus.JanusProtocolError(f"an id that is not an integer: {value!r}")
    return value
