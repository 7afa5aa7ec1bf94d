"""The headers that let the browser protect people, on every answer (docs/operations.md#security-headers).

Pages get a Content-Security-Policy that allows this site's own files and the live gateway and
nothing else (no inline script or style, no framing, no plugins), plus no content sniffing, no
referrer to other sites and no shared browsing context; every other answer (JSON, static files,
redirects) gets a policy that allows nothing at all, and no sniffing. With an https public
origin, HSTS goes on every answer too.

`BrowserPolicy` computes the header tuples once from the settings; `SecurityHeaders` adds them to
the answers of the routed application, choosing by content type. The raw ASGI layers in front
of it (gate/fastpath.py) add `BrowserPolicy.resource` to their own answers, precomputed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from homeroom.config import Settings

Header = tuple[bytes, bytes]

# What a page may do, directive by directive; docs/operations.md#security-headers gives reasons.
PAGE_DIRECTIVES = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'{live}",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)
# JSON, files and redirects are never documents that should load anything, nor be framed.
RESOURCE_CSP = "default-src 'none'; frame-ancestors 'none'"
# A Host header we put into a policy: a DNS name or an IP address, with an optional port.
_HOST = re.compile(rb"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
_HOSTS_KEPT = 64  # policies remembered by Host header, when the gateway's address follows it


def page_csp(live_origin: str) -> str:
    """The pages' Content-Security-Policy, allowing WebSockets to `live_origin` ("" = none)."""
    return "; ".join(PAGE_DIRECTIVES).format(live=f" {live_origin}" if live_origin else "")


def origin_of(url: str) -> str:
    """scheme://host[:port] of an absolute URL, or "" for anything else."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.hostname or "@" in parts.netloc:
        return ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


class BrowserPolicy:
    """The header tuples of every kind of answer, computed once from the settings."""

    def __init__(self, settings: Settings) -> None:
        hsts: tuple[Header, ...] = ()
        if settings.https and settings.hsts_max_age_s > 0:
            hsts = ((b"strict-transport-security", b"max-age=%d" % settings.hsts_max_age_s),)
        # every answer that is not a page: JSON, files, redirects, the gate's fast path
        self.resource: tuple[Header, ...] = (
            (b"content-security-policy", RESOURCE_CSP.encode()),
            (b"x-content-type-options", b"nosniff"),
            *hsts,
        )
        self._page_rest: tuple[Header, ...] = (
            (b"x-frame-options", b"DENY"),  # frame-ancestors, for browsers before CSP 2
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"cross-origin-opener-policy", b"same-origin"),
            *hsts,
        )
        self._live_port = settings.live_port
        self._by_host: dict[tuple[str, bytes], tuple[Header, ...]] = {}
        configured = settings.live_public_url
        # the class page connects where school/api_live.py says: the configured URL, else this
        # host at the gateway's port; the latter depends on the Host of each request
        self._fixed: tuple[Header, ...] | None = None
        if configured or not settings.live_port:
            self._fixed = self._page(origin_of(configured) if configured else "")

    def _page(self, live_origin: str) -> tuple[Header, ...]:
        csp = (b"content-security-policy", page_csp(live_origin).encode())
        return (csp, *self._page_rest)

    def page(self, scope: Scope) -> tuple[Header, ...]:
        """The headers of a page answering `scope`."""
        if self._fixed is not None:
            return self._fixed
        scheme = "wss" if scope.get("scheme") == "https" else "ws"
        host = b""
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
                break
        key = (scheme, host)
        found = self._by_host.get(key)
        if found is None:
            found = self._page(self._live_origin(scheme, host, scope))
            if len(self._by_host) >= _HOSTS_KEPT:
                self._by_host.clear()  # a bound, not a cache policy: real sites have few names
            self._by_host[key] = found
        return found

    def _live_origin(self, scheme: str, host: bytes, scope: Scope) -> str:
        if not host:
            server = scope.get("server")
            host = str(server[0]).encode() if server else b""
        if not _HOST.fullmatch(host):
            return ""  # nothing odd goes into a policy; the page then cannot reach the gateway
        name = host.decode().lower()  # without its port: the gateway has its own
        name = name[: name.index("]") + 1] if name.startswith("[") else name.partition(":")[0]
        return f"{scheme}://{name.removesuffix('.')}:{self._live_port}"

    def add(self, scope: Scope, headers: Iterable[Header]) -> list[Header]:
        """`headers` and the policy's, except those the answer already sets."""
        out = list(headers)
        names = set()
        page = False
        for name, value in out:
            names.add(name)
            if name == b"content-type" and value.startswith(b"text/html"):
                page = True
        extra = self.page(scope) if page else self.resource
        out.extend(header for header in extra if header[0] not in names)
        return out


class SecurityHeaders:
    """ASGI layer: every HTTP answer of `app` leaves with the policy's headers."""

    def __init__(self, app: ASGIApp, policy: BrowserPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = self.policy.add(scope, message.get("headers", ()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
