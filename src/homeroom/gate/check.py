"""The pass check for proxies: GET|HEAD /gate/{gate}/check, as a route and below the router.

nginx's `auth_request` and HAProxy ask it before every request to a workspace homeroom does not
own (docs/gate.md#the-pass-check-for-proxies). It reads the pass cookie `hr_p_<gate>` (or that of
a gate sharing passes with it) and the browser cookie `hr_bid` from the forwarded Cookie header,
and answers from the pass's signature and expiry alone:

- a valid pass: 204, no body; a pass older than the gate's renew age is renewed (the one store
  call of the check) and the answer carries its Set-Cookie, which the proxy copies;
- no pass, or a forged, tampered, expired or foreign one: 401, `{"error": "<word>"}` and
  `X-Homeroom-Wait: /gate/{gate}/wait?next=<X-Original-URI>` (next is "/" unless the original
  URI is a path on this site), which the proxy turns into a redirect; no backend call at all;
- the gate closed (maintenance): 503 with Retry-After.

Every answer has `Cache-Control: no-store`. The route and the fast path (`CheckFastPath`, in
front of every other layer) answer with the same function, so with the same bytes.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from homeroom.backends.gate import BackendUnavailable
from homeroom.core.tokens import Token
from homeroom.errors import HomeroomError
from homeroom.gate.fastpath import respond
from homeroom.gate.http import GateCookies
from homeroom.gate.runtime import GateRuntime
from homeroom.gate.service import Gatekeeper
from homeroom.web.http import safe_next

log = logging.getLogger("homeroom.gate")

Header = tuple[bytes, bytes]
Answer = tuple[int, Sequence[Header], bytes]

WAIT_HEADER = b"x-homeroom-wait"
ORIGINAL_URI = b"x-original-uri"
_NO_STORE: Header = (b"cache-control", b"no-store")
_JSON: Header = (b"content-type", b"application/json")
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode
VALID: Answer = (204, (_NO_STORE,), b"")  # a valid pass needing no renewal: one object, always


def request_cookies(headers: Iterable[Header]) -> tuple[Mapping[str, str], bytes | None]:
    """The cookies of a request head (every Cookie header) and its X-Original-URI, if any.

    Cookies are split as browsers send them (`a=b; c=d`); the gate's values are base64url, so
    none needs unquoting. The first of a name wins (browsers send the most specific path's
    first, RFC 6265 5.4; Starlette keeps the last). The mapping is shared (read it, never
    change it): a browser sends the same Cookie header with every request of a page, so each
    header's cookies are remembered (`_cookies`)."""
    cookies: Mapping[str, str] = _NO_COOKIES
    original: bytes | None = None
    for name, value in headers:
        if name == b"cookie":
            more = _cookies(value)
            cookies = more if cookies is _NO_COOKIES else {**more, **cookies}
        elif name == ORIGINAL_URI:
            original = value
    return cookies, original


@functools.lru_cache(maxsize=8192)
def _cookies(header: bytes) -> Mapping[str, str]:
    """The cookies of one Cookie header, read only."""
    cookies: dict[str, str] = {}
    for pair in header.decode("latin-1").split(";"):
        key, sep, text = pair.partition("=")
        key = key.strip()
        if sep and key and key not in cookies:
            cookies[key] = text.strip()
    return MappingProxyType(cookies)


_NO_COOKIES: Mapping[str, str] = MappingProxyType({})


def wait_target(original: bytes | None) -> str:
    """The `next` of the waiting page, percent-encoded: the original URI when it is a path on
    this site (a single "/" first, no scheme or host, no backslash, no control character or
    space), else "/" (never an open redirect)."""
    if not original or any(b <= 0x20 or b == 0x7F for b in original):
        return "/"
    text = original.decode("latin-1")  # byte for byte: what is checked is what is sent on
    if safe_next(text) != text:
        return "/"
    return quote(original, safe="/")


@dataclass(frozen=True, slots=True)
class Renewal:
    """A valid pass past its renew age, and the gate that issued it (which renews it)."""

    holder: GateRuntime
    token: Token
    now: float


class PassCheck:
    """What the check answers, for the route and the fast path alike."""

    def __init__(self, keeper: Gatekeeper) -> None:
        self.keeper = keeper
        self.cookies = GateCookies(keeper.settings.secure_cookies)

    def routes(self) -> list[Route]:
        return [Route("/gate/{gate}/check", self.route, methods=["GET", "HEAD"])]

    async def route(self, request: Request) -> Response:
        rt = self.keeper.runtime(request.path_params["gate"])
        status, headers, body = await self.answer(rt, request.scope)
        response = Response(body, status)
        response.raw_headers = list(headers)
        return response

    def settle(self, rt: GateRuntime, scope: Scope) -> Answer | Renewal:
        """The answer to the check of `rt`'s gate for the request `scope`, or the pass to renew
        first (the one case that needs the store): everything else is decided here, at once."""
        cookies, original = request_cookies(scope["headers"])
        now = rt.clock()
        try:
            holder, token = self.keeper.find_pass(rt, cookies, now)
        except HomeroomError as exc:
            _count(rt, exc.reason)
            return self._refused(rt, exc, original, scope["method"] == "HEAD")
        if now - token.issued >= holder.renew_after_s:
            return Renewal(holder, token, now)  # counted once renewed
        _count(rt, "valid")
        return VALID

    async def answer(self, rt: GateRuntime, scope: Scope) -> Answer:
        """(status, headers, body) of the check of `rt`'s gate for the request `scope`."""
        settled = self.settle(rt, scope)
        if not isinstance(settled, Renewal):
            return settled
        headers = [_NO_STORE]
        fresh = await self._renew(settled.holder, settled.token, settled.now)
        if fresh is not None:
            headers.append(fresh)
        _count(rt, "valid" if fresh is None else "renewed")
        return 204, headers, b""

    async def _renew(self, holder: GateRuntime, token: Token, now: float) -> Header | None:
        """The renewed pass's Set-Cookie, by the gate that issued (and counts) it; None when it
        cannot be renewed now: the pass stays good until its own expiry."""
        try:
            result = await self.keeper.renew(holder, token, now)
        except BackendUnavailable:
            return None
        if result is None:
            return None
        text, new = result
        return self.cookies.pass_header(holder.gate_id, text, new, now)

    @staticmethod
    def _refused(rt: GateRuntime, exc: HomeroomError, original: bytes | None, head: bool) -> Answer:
        body = _ENCODE({"error": exc.reason}).encode()
        length = (b"content-length", b"%d" % len(body))
        if exc.reason == "closed":
            retry = (b"retry-after", b"%d" % (exc.retry_after or 300))
            return 503, [_NO_STORE, retry, length, _JSON], b"" if head else body
        wait = f"/gate/{rt.gate_id}/wait?next={wait_target(original)}".encode()
        return 401, [_NO_STORE, length, _JSON, (WAIT_HEADER, wait)], b"" if head else body


def _count(rt: GateRuntime, answer: str) -> None:
    checks = rt.stats.checks
    checks[answer] = checks.get(answer, 0) + 1


class CheckFastPath:
    """Answers GET/HEAD /gate/{gate}/check in front of every other layer; the rest goes on.

    A path a protection rule covers stays with the router (`protected(path, method)`), as in
    gate/ticketpath.py; `resource` are the security headers of a non-page answer, which the
    routed answer gets from SecurityHeaders."""

    def __init__(
        self,
        app: ASGIApp,
        check: PassCheck,
        resource: Sequence[Header],
        protected: Callable[[str, str], bool],
    ) -> None:
        self.app = app
        self.check = check
        self.resource = tuple(resource)
        self.valid_headers = [*VALID[1], *self.resource]
        self.paths = {
            path: rt
            for gate, rt in check.keeper.gates.items()
            if not protected(path := f"/gate/{gate}/check", "GET")
        }
        self.answered = 0  # requests this layer answered itself (the tests look)

    def at_door(self, scope: Scope) -> Answer | None:
        """The whole answer to `scope` when it is a check that needs no store call, with its
        security headers; None for anything else (a renewal included). `homeroom run` asks
        this as soon as a request head is read, before any ASGI task is made for it
        (httpserver.py, `DoorProtocol`): the busiest answer of a proxied workspace costs no
        task, no middleware and no coroutine."""
        rt = self.paths.get(scope["path"])
        if rt is None or scope["method"] not in ("GET", "HEAD"):
            return None
        settled = self.check.settle(rt, scope)
        if isinstance(settled, Renewal):
            return None
        self.answered += 1
        rt.stats.checks_at_door += 1
        if settled is VALID:  # the same list each time: the door keeps its head made (httpserver)
            return VALID[0], self.valid_headers, VALID[2]
        status, headers, body = settled
        return status, [*headers, *self.resource], body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            rt = self.paths.get(scope["path"])
            if rt is not None and scope["method"] in ("GET", "HEAD"):
                self.answered += 1
                status, headers, body = await self.check.answer(rt, scope)
                await respond(scope, send, status, [*headers, *self.resource], body)
                return
        await self.app(scope, receive, send)
