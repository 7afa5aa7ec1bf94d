"""The fast path of the gate's two busy POSTs: a ticket and its redeem, answered below the router.

docs/gate.md#the-fast-path. Every arrival takes a ticket and, when its turn comes, redeems it: at
the scale of the issue, thousands a second per process. Routed, each crossed Starlette's error
and exception layers, its router (a match against every route), a Request and a Response object
and the security-headers layer; this layer answers `POST /gate/{gate}/ticket` and `.../redeem`
before all of that, with the same flows (`GateEndpoints.take_ticket`, `redeem_ticket`), the same
bytes (the JSON as Starlette renders it, the headers in the same order) and the same errors (the
application's own exception handlers, then the security headers). What it leaves to the router:
every other path or method, a path that a protection rule covers, a body announced above the
limit (refused by the body limit's layer), and a ticket asked with a session cookie (the school is
asked who it is: rare, and dearer than the routing). It is the outermost layer of the application,
so that these two cross no other (app.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from homeroom.gate.fastpath import announced_within, respond
from homeroom.gate.http import Answer, GateEndpoints
from homeroom.gate.runtime import GateRuntime
from homeroom.gate.who import SESSION_COOKIE
from homeroom.headers import BrowserPolicy, SecurityHeaders
from homeroom.web.http import read_body

Header = tuple[bytes, bytes]
Handler = Callable[[Request, Exception], Awaitable[Response] | Response]
Flow = Callable[[GateRuntime, Request, dict[str, Any]], Awaitable[Answer]]

# Byte for byte what starlette.responses.JSONResponse renders for these answers (strings, whole
# numbers, booleans, nulls, objects: compact, UTF-8 as is), in a twelfth of the time: 0.7 µs a
# ticket's answer against 8.6 µs for the standard library's encoder
# (tests/service/test_gate_fast_path.py compares the bytes of both paths).
_ENCODE = orjson.dumps
_NO_STORE: Header = (b"cache-control", b"no-store")
_JSON: Header = (b"content-type", b"application/json")


class TicketFastPath:
    """Answers POST /gate/{gate}/ticket and /gate/{gate}/redeem; everything else goes on to `app`.

    `protected(path, method)` says whether a protection rule covers a path (gate/protect.py):
    such a path stays with the router, behind its protection. `handlers` are the application's
    exception handlers (Starlette's `exception_handlers`): an error is answered by the same
    handler as on the routed path, and one without a handler of its own by the 500 handler, then
    raised again, as Starlette's ServerErrorMiddleware does.
    """

    def __init__(
        self,
        app: ASGIApp,
        endpoints: GateEndpoints,
        policy: BrowserPolicy,
        handlers: Mapping[Any, Handler],
        protected: Callable[[str, str], bool],
    ) -> None:
        self.app = app
        self.endpoints = endpoints
        self.policy = policy
        self.limit = endpoints.limit
        self.resource = policy.resource
        self.flows: dict[str, tuple[GateRuntime, Flow, bool]] = {}
        for gate, rt in endpoints.keeper.gates.items():
            for name, flow, ticket in (
                ("ticket", endpoints.take_ticket, True),
                ("redeem", endpoints.redeem_ticket, False),
            ):
                path = f"/gate/{gate}/{name}"
                if not protected(path, "POST"):
                    self.flows[path] = (rt, flow, ticket)
        self.handlers = {k: h for k, h in handlers.items() if k not in (500, Exception)}
        self.server_error = handlers.get(500) or handlers.get(Exception)
        self.answered = 0  # requests this layer answered itself (the tests look)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            found = self.flows.get(scope["path"])
            if found is not None and announced_within(scope, self.limit):  # else BodyLimit's 413
                rt, flow, ticket = found
                request = Request(scope, receive)
                if not (ticket and request.cookies.get(SESSION_COOKIE)):
                    await self._answer(rt, flow, request, send)
                    return
        await self.app(scope, receive, send)

    async def _answer(self, rt: GateRuntime, flow: Flow, request: Request, send: Send) -> None:
        self.answered += 1
        try:
            answer = await flow(rt, request, await read_body(request, self.limit))
        except Exception as exc:
            await self._error(request, exc, send)
            return
        body = _ENCODE(answer.data)
        headers = [
            _NO_STORE,
            (b"content-length", b"%d" % len(body)),
            _JSON,
            *answer.cookies,
            *self.resource,
        ]
        await respond(request.scope, send, answer.status, headers, body)

    async def _error(self, request: Request, exc: Exception, send: Send) -> None:
        """As on the routed path: the exception's own handler, or the 500 one and raise."""
        handler = next((self.handlers[c] for c in type(exc).__mro__ if c in self.handlers), None)
        if handler is None and self.server_error is None:
            raise exc
        answer = (handler or self.server_error)(request, exc)  # type: ignore[misc]
        response = await answer if inspect.isawaitable(answer) else answer
        await SecurityHeaders(response, self.policy)(request.scope, request.receive, send)
        if handler is None:
            raise exc
        exc.__traceback__ = None  # a reused exception would keep growing its traceback
