"""The HTTP server of `homeroom run`: uvicorn, httptools and uvloop, with the door (docs/server.md).

uvicorn gives a request head no deadline and counts nobody, so one address trickling header
lines could hold files until the process has none left. `DoorProtocol` is uvicorn's httptools
protocol that also tells a `Doorman` where each connection is (its head unfinished, complete,
its answer sent) and closes what the door decides: a head past its deadline (408), an idle
kept-alive connection when files run short; it refuses a connection (503) from a block that has
too many unfinished heads, or when the process is above its high-water mark of open files.

`DrainingServer` is uvicorn's server with SIGTERM turned into a drain (docs/operations.md#drain):
`/readyz` and the agent check fail at once, the server goes on serving for the notice (the
balancer is still sending), then stops accepting and finishes the requests in flight, and the
process is gone by the deadline. SIGINT stops at once, as uvicorn does.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, ClassVar, cast

import uvicorn
from uvicorn._types import ASGI3Application
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from homeroom import heap
from homeroom.app import Homeroom
from homeroom.config import Settings
from homeroom.core.door import Door
from homeroom.door import (
    BAD_PROXY,
    LATE,
    REFUSED,
    DoorCollector,
    Doorman,
    Refusal,
    Visitor,
    peer_host,
)
from homeroom.drain import Drain, serve_agent, watchdog
from homeroom.gate.fastpath import WHOLE_RESPONSE

Header = tuple[bytes, bytes]
AtDoor = Callable[[Any], tuple[int, Sequence[Header], bytes] | None]  # scope → whole answer or None
_LEAN_METHODS = {b"GET": "GET", b"HEAD": "HEAD"}  # what the lean lane may answer
EXIT_MARGIN_S = 1.0  # requests in flight are cut this long before the deadline: shutdown runs


class DoorProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, watched by the door (bound to one by `protocol_for`)."""

    doorman: ClassVar[Doorman]
    policy: ClassVar[Door[Visitor]]  # the doorman's, at hand: called a few times a request
    # the app's answers given as soon as a head is read, with no ASGI task (the pass check):
    # none or one function (in a tuple, so that it is not bound as a method)
    at_door: ClassVar[tuple[AtDoor, ...]] = ()
    # the lean lane's last head and what it was made of (`_answer_at_door`)
    last_head: ClassVar[tuple[object, object, tuple[int, bool], bytes]] = (
        None,
        None,
        (0, False),
        b"",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.heading = False  # the parser is inside a request head
        self.refused = False
        # The scope extension of every request of this connection (gate/fastpath.py). It holds
        # the protocol, not a request's cycle: that would make each request's scope a reference
        # cycle, left for the garbage collector instead of freed once answered (measured: every
        # request's scope, cycle and headers were garbage; with this, none).
        self.whole: dict[object, object] = {"write": self.write_whole}
        # balancers trusted: what came before the PROXY header is whole (None once it is)
        self.unread: bytes | None = None
        self.proxied = False  # the peer is a trusted balancer: its header comes first
        self.lean = False  # this request was answered in the lean lane (`_answer_at_door`)
        self.queued = b""  # its answers not written yet (`_queue`)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        host = peer_host(transport)
        if self.doorman.trusted:
            self.unread = b""
            self.proxied = self.doorman.trusted.covers(host)
        if self.doorman.arrive(self, host, self.proxied) is not None:
            self.refused = True  # closed: asyncio delivers it no data
            self.transport = transport
            transport.write(REFUSED)
            transport.close()
            return
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.queued = b""
        # It held the protocol: freed now rather than by the collector. An answer still being
        # made (a ticket waiting on the store when the client went) finds no whole write and
        # takes the usual way, which uvicorn drops for a gone peer.
        self.whole["write"] = _peer_gone
        self.policy.leave(self)
        if not self.refused:
            super().connection_lost(exc)

    # A head that arrives whole in one read (nearly all) costs the door `done` and `rest`; only
    # one left unfinished by a read is a head with a deadline (`begin`).

    def data_received(self, data: bytes) -> None:
        if self.unread is not None:
            rest = self._unwrap(data)
            if not rest:
                return
            data = rest
        super().data_received(data)
        if self.heading and self.policy.begin(self, self.doorman.clock()) is not None:
            self.door_closes(Refusal.BLOCK)  # its block is full: as for a new connection

    def on_message_begin(self) -> None:
        # uvicorn's scope is made in `on_headers_complete`, once the lean lane has declined
        self.url = b""
        self.expect_100_continue = False
        self.headers = []
        self.heading = True
        self.lean = False

    def on_headers_complete(self) -> None:
        self.heading = False
        self.policy.done(self)
        if self.at_door and self._answer_at_door():
            return
        url, headers, expect = self.url, self.headers, self.expect_100_continue
        super().on_message_begin()  # uvicorn's scope of this request, as it makes it
        self.url, self.headers, self.expect_100_continue = url, headers, expect
        self.scope["headers"] = headers
        super().on_headers_complete()
        cycle = self.cycle  # this request's, made just now (its task has not run yet)
        if cycle is not None and cycle.scope is self.scope and not cycle.access_log:
            self.scope.setdefault("extensions", {})[WHOLE_RESPONSE] = self.whole

    def _answer_at_door(self) -> bool:
        """The lean lane (docs/server.md#answers-at-the-door): a GET or HEAD the app's door
        function answers whole, written here from the parser's own callbacks, with no scope of
        uvicorn's, no cycle, no event and no task. True when answered; False leaves the request
        to uvicorn as usual: a request behind an unanswered one (pipelining keeps its order),
        writing paused, an upgrade, a path with escapes, uvicorn's access log on, or anything
        the door function declines."""
        cycle = self.cycle
        if (cycle is not None and not cycle.response_complete) or self.access_log or self.root_path:
            return False
        url = self.url
        if not url.startswith(b"/") or b"%" in url or self.flow.write_paused:
            return False
        method = self.parser.get_method()
        if method not in _LEAN_METHODS or self.parser.should_upgrade():
            return False
        path, _, query = url.partition(b"?")
        scope = {
            "type": "http",
            "method": _LEAN_METHODS[method],
            "path": path.partition(b"#")[0].decode("ascii"),
            "query_string": query,
            "headers": self.headers,
        }
        for at_door in self.at_door:
            answer = at_door(scope)
            if answer is not None:
                break
        else:
            return False
        self.lean = True  # its body, if any, is read and dropped (on_body)
        keep_alive = self.parser.should_keep_alive() and self.parser.get_http_version() != "1.0"
        status, headers, body = answer
        # The head of the last answer is kept, made again only when something in it is not
        # the very same object (the date changes each second: uvicorn makes a new list then)
        default = self.server_state.default_headers
        last = DoorProtocol.last_head
        if last[0] is default and last[1] is headers and last[2] == (status, keep_alive):
            head = last[3]
        else:
            head = whole_head(status, (*default, *headers), keep_alive)
            DoorProtocol.last_head = (default, headers, (status, keep_alive), head)
        if keep_alive:
            self._queue(head + body)
        else:
            self.send_queued()
            self.transport.write(head + body)
            self.transport.close()
        self.on_response_complete()
        return True

    def _queue(self, data: bytes) -> None:
        """Write `data` once the loop has read what this turn brought (docs/server.md#answers-
        at-the-door): the answers of one turn leave together, and the client is woken once for
        them rather than once each (measured: 46 → 40 µs of CPU a check)."""
        if not self.queued:
            if not _QUEUED:
                self.loop.call_soon(_write_queued)
            _QUEUED.append(self)
        self.queued += data

    def send_queued(self) -> None:
        """Write what `_queue` holds now: before anything else is written on this connection."""
        data = self.queued
        if data:
            self.queued = b""
            if not self.transport.is_closing():
                self.transport.write(data)

    def shutdown(self) -> None:
        self.send_queued()  # uvicorn closes an idle connection at once
        super().shutdown()

    def send_400_response(self, msg: str) -> None:
        self.send_queued()  # an answer of the lean lane before the error after it
        super().send_400_response(msg)

    def on_body(self, body: bytes) -> None:
        if not self.lean:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self.lean:
            super().on_message_complete()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        """uvicorn starts a request's task here, at once or once the request before it on the
        connection is answered (pipelining): an answer the app gives at the door leaves now,
        in one write, in its turn (docs/server.md#answers-at-the-door)."""
        # Asked only when the answer can leave now: a check settled here is counted, and one
        # that then took the usual way would be settled and counted a second time.
        if self.at_door and not cycle.access_log and can_write_whole(cycle):
            scope = cast(dict[str, Any], cycle.scope)
            for at_door in self.at_door:
                answer = at_door(scope)
                if answer is not None:
                    self._whole(cycle, *answer)
                    return
        super()._start_asgi_task(cycle, app)

    def write_whole(
        self, scope: object, status: int, headers: Sequence[Header], body: bytes
    ) -> bool:
        """`whole_response` in the cycle of `scope`, if it is still the connection's current
        one (a pipelined request behind it takes the usual way)."""
        cycle = self.cycle
        if cycle is None or cycle.scope is not scope:
            return False
        return self._whole(cycle, status, headers, body)

    def _whole(
        self, cycle: RequestResponseCycle, status: int, headers: Sequence[Header], body: bytes
    ) -> bool:
        """`whole_response`, kept-alive answers queued with the lean lane's (`_queue`): the
        answers a turn of the loop completes (a batch of redeems the store answered together)
        leave together."""
        if cycle.keep_alive:
            return whole_response(cycle, status, headers, body, self._queue)
        self.send_queued()
        return whole_response(cycle, status, headers, body)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.timeout_keep_alive_task is not None:  # armed when waiting for the next request
            self.policy.rest(self)

    def _unwrap(self, data: bytes) -> bytes:
        """The PROXY header first (docs/server.md#the-clients-real-address): the client it
        names is the scope's `client` for every request of the connection. Returns what follows
        it, b"" while it is not whole or when the connection is closed for it."""
        assert self.unread is not None and self.transport is not None
        data = self.unread + data
        header = self.doorman.unwrap(self, data, self.proxied)
        if header is None:  # not whole yet: bounded by read_header, timed by the head's deadline
            self.unread = data
            return b""
        if isinstance(header, Refusal):  # counted and logged by the door
            self.transport.write(REFUSED if header is Refusal.BLOCK else BAD_PROXY)
            self.transport.close()
            return b""
        self.unread = None
        if header.client is not None:
            self.client = header.client
        return data[header.length :]

    def _unsupported_upgrade_warning(self) -> None:
        """The app serves no WebSocket (the live gateway does): not a line of log a request."""

    def door_closes(self, why: Refusal | None) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        self.send_queued()
        if self.cycle is None or self.cycle.response_complete:  # nothing of an answer sent
            if why is Refusal.LATE:
                transport.write(LATE)
            elif why is Refusal.BLOCK:  # a kept-alive connection's next head, its block full
                transport.write(REFUSED)
        transport.close()


def _peer_gone(scope: object, status: int, headers: Sequence[Header], body: bytes) -> bool:
    """The whole write of a connection that is closed: none."""
    return False


_QUEUED: list[DoorProtocol] = []  # connections with answers of the lean lane to write


def _write_queued() -> None:
    """The lean lane's answers of this turn of the loop, written one after the other."""
    queued = _QUEUED[:]
    _QUEUED.clear()
    for protocol in queued:
        protocol.send_queued()


def whole_head(status: int, headers: Sequence[Header], keep_alive: bool) -> bytes:
    """The status line and headers of a whole answer (the lean lane's, `whole_response`'s),
    blank line included."""
    parts = [STATUS_LINE[status]]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def can_write_whole(cycle: RequestResponseCycle) -> bool:
    """Whether `whole_response` can answer in `cycle` now: nothing sent yet, the peer still
    there, writing not paused (a full buffer)."""
    return not (cycle.response_started or cycle.disconnected or cycle.flow.write_paused)


def whole_response(
    cycle: RequestResponseCycle,
    status: int,
    headers: Sequence[Header],
    body: bytes,
    queue: Callable[[bytes], None] | None = None,
) -> bool:
    """A complete answer of the fast paths (gate/fastpath.py) in one write, head and body.

    uvicorn writes a head and its body in two writes, each a system call and a segment on the
    wire, and checks every header against two expressions: the fast paths' headers are made by
    homeroom (constants, base64url cookies, numbers). Keeps uvicorn's cycle as its own `send`
    leaves it, so keep-alive, pipelining and the door go on as usual. False when the answer
    must take the usual way: started already, the peer gone, or writing paused (a full buffer).
    `queue`, when given, writes the answer of a kept-alive connection instead (in order with
    what it already holds); what went before on the connection is the caller's to write.
    """
    if not can_write_whole(cycle):
        return False
    cycle.response_started = cycle.response_complete = True
    cycle.waiting_for_100_continue = False
    head = whole_head(status, (*cycle.default_headers, *headers), cycle.keep_alive)
    if queue is not None and cycle.keep_alive:
        queue(head + body)
    else:
        cycle.transport.write(head + body)
    cycle.message_event.set()
    if not cycle.keep_alive:
        cycle.transport.close()
    cycle.on_response()
    return True


def protocol_for(
    doorman: Doorman,
    at_door: AtDoor | None = None,
) -> type[DoorProtocol]:
    """A DoorProtocol class whose connections report to `doorman` (uvicorn makes one a
    connection from the class it is given), answering at the door what `at_door` answers."""
    fields = {
        "doorman": doorman,
        "policy": doorman.policy,
        "at_door": (at_door,) if at_door else (),
    }
    return type("DoorProtocol", (DoorProtocol,), fields)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, draining on SIGTERM (see the module's docstring)."""

    def __init__(self, config: uvicorn.Config, drain: Drain, agent: tuple[str, int]) -> None:
        super().__init__(config)
        self.drain = drain
        self.agent = agent  # (host, port) of the agent check; port 0: none
        self._agent: asyncio.Server | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        heap.settle()  # the app is made and started: what is alive now lives as long (heap.py)
        host, port = self.agent
        if port and self.started:
            self._agent = await serve_agent(self.drain, host, port, reuse_port=False)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and not self.should_exit:
            if self.drain.begin():  # a second SIGTERM changes nothing: the deadline holds
                self._captured_signals.append(sig)
                watchdog(self.drain.timeline.deadline_s, f"homeroom run (pid {os.getpid()})")
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self.drain.draining and self.drain.elapsed() >= self.drain.timeline.notice_s:
            self.should_exit = True  # then uvicorn stops accepting and finishes what is in flight
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        if self._agent is not None:
            self._agent.close()


def _forwarded(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for X-Forwarded-For (see `server_for`)."""
    if not settings.trusted_proxies:
        return {"proxy_headers": True}
    if settings.http_proxy_header == "forwarded":
        return {"proxy_headers": True, "forwarded_allow_ips": list(settings.trusted_proxies)}
    return {"proxy_headers": False}


def server_for(app: Homeroom, settings: Settings, host: str, port: int) -> DrainingServer:
    """A uvicorn server of `app` behind a door made from `settings`; the door's counters are
    added to the app's /metrics. SIGTERM drains it (`app.drain`)."""
    doorman = Doorman.from_settings(settings, http=True)
    app.registry.register(DoorCollector(doorman))
    config = uvicorn.Config(
        app.asgi,  # its layers themselves: `Homeroom` only holds them, a call more a request
        host=host,
        port=port,
        loop="uvloop",
        http=protocol_for(doorman, app.door),
        ws="none",  # the live gateway is its own process (docs/live.md)
        lifespan="on",
        access_log=False,
        log_level=settings.log_level,
        server_header=False,
        # Behind a trusted balancer the client's address comes from its PROXY header alone:
        # X-Forwarded-For is not believed then (uvicorn believes it from 127.0.0.1, where a
        # balancer on the same host connects from), unless the balancers are said to send
        # X-Forwarded-For instead (`http_proxy_header`): then it is believed from them alone.
        # Without one, uvicorn's default as before (the nginx site of deploy/nginx sends
        # X-Forwarded-For and -Proto from 127.0.0.1).
        **_forwarded(settings),
        backlog=4096,
        timeout_keep_alive=settings.keepalive_s,
        # what the deadline leaves after the notice for the requests in flight
        # (whole seconds, rounded down: the watchdog holds the deadline in any case)
        timeout_graceful_shutdown=max(
            1, int(settings.drain_deadline_s - settings.drain_notice_s - EXIT_MARGIN_S)
        ),
    )
    return DrainingServer(config, app.drain, (host, settings.agent_port))
