"""Raw ASGI layers in front of the router: the public state and the body size limit.

The state is polled by every waiting person, so it is answered here from pre-encoded bytes,
below any routing (ARCHITECTURE.md: a routed endpoint cannot be the polling path). Both layers
add the security headers of a non-page answer (homeroom/headers.py) from a tuple made once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from homeroom.core.state import Encoded

STATE_MAX_AGE_S = 1
_JSON = b"application/json"
Header = tuple[bytes, bytes]

# A scope extension of `homeroom run` (httpserver.py): its "write"(scope, status, headers, body)
# sends a whole answer in one write, or returns False when it cannot (then send ASGI messages).
WHOLE_RESPONSE = "homeroom.whole_response"


async def respond(
    scope: Scope, send: Send, status: int, headers: list[Header], body: bytes
) -> None:
    """Send a complete answer: in one write where the server offers it, else as ASGI says."""
    extensions = scope.get("extensions")
    whole = extensions.get(WHOLE_RESPONSE) if extensions else None
    if whole is None or not whole["write"](scope, status, headers, body):
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class StateFastPath:
    """Answers GET/HEAD /gate/{gate}/state from `lookup(gate)`; everything else goes on."""

    def __init__(
        self,
        app: ASGIApp,
        lookup: Callable[[str], Encoded | None],
        headers: Iterable[Header] = (),
    ) -> None:
        self.app = app
        self.lookup = lookup
        # the same for every answer: made once (`headers` are the security headers)
        self.fixed: tuple[Header, ...] = (
            (b"cache-control", b"public, max-age=%d" % STATE_MAX_AGE_S),
            (b"vary", b"accept-encoding"),
            *headers,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and path.startswith("/gate/") and path.endswith("/state"):
            gate = path[6:-6]
            encoded = self.lookup(gate) if "/" not in gate else None
            if encoded is not None and scope["method"] in ("GET", "HEAD"):
                await self._answer(scope, send, encoded)
                return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, send: Send, encoded: Encoded) -> None:
        etag = encoded.etag.encode()
        headers = [(b"etag", etag), *self.fixed]
        for name, value in scope["headers"]:
            if name == b"if-none-match" and etag in value:
                await respond(scope, send, 304, headers, b"")
                return
        body = encoded.body
        headers += [(b"content-type", _JSON), (b"content-length", str(len(body)).encode())]
        await respond(scope, send, 200, headers, b"" if scope["method"] == "HEAD" else body)


class BodyLimit:
    """Refuses a request whose announced body is above `limit` bytes with 413 before reading it.

    `larger` names the few paths that take more (a roster upload), with their own limit. A body
    sent without Content-Length (chunked) is bounded where it is read (http.read_body).
    """

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        larger: Sequence[tuple[re.Pattern[str], int]] = (),
        headers: Iterable[Header] = (),
    ) -> None:
        self.app = app
        self.limit = limit
        self.larger = tuple(larger)
        self.headers = tuple(headers)

    def limit_for(self, path: str) -> int:
        for pattern, limit in self.larger:
            if pattern.fullmatch(path):
                return limit
        return self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            limit = self.limit_for(scope["path"])
            if not announced_within(scope, limit):
                await _too_large(send, limit, self.headers)
                return
        await self.app(scope, receive, send)


def announced_within(scope: Scope, limit: int) -> bool:
    """Whether the body a request announces (Content-Length) is at most `limit` bytes; one sent
    without a length is bounded where it is read (http.read_body)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return bool(value.isdigit() and int(value) <= limit)
    return True


async def _too_large(send: Send, limit: int, extra: tuple[Header, ...]) -> None:
    body = json.dumps(
        {"error": "too_large", "message": f"request body above {limit} bytes"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", _JSON),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
