"""Route protection: a request to a protected path needs a valid pass of the path's gate.

Passes are verified from their signature alone, with no backend call; a gate also takes the
passes of the gates it shares passes with (HOMEROOM_PASS_SHARED, docs/gate.md#shared-passes). Without one, a browser is
sent to the waiting page and an API client gets 503 with Retry-After; in the safety net an
arrival is admitted on the spot when there is room, so no waiting page is shown at all.

A rule may name a method (`POST /api/v1/session=national`: the password check waits its turn,
signing out does not). The sign-in page itself (`HOMEROOM_SIGNIN_PAGE`, GET only) lets a person
whose session is still valid through without a pass: they need not sign in again, the page
sends them on, and no password is checked (docs/gate.md#who-is-coming).
"""

from __future__ import annotations

import time
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from homeroom.backends.gate import BackendUnavailable
from homeroom.core.tokens import Token
from homeroom.errors import HomeroomError
from homeroom.gate.http import GateCookies
from homeroom.gate.runtime import GateRuntime
from homeroom.gate.service import Gatekeeper
from homeroom.web import i18n
from homeroom.web.http import error_response, wants_html
from homeroom.web.pages import render_page

WAITING_FR = "Salle d'attente : prenez un ticket et attendez votre tour."
WAITING_EN = "Waiting room: take a ticket and wait for your turn."


Rule = tuple[str | None, str, str]  # method (None: any), path prefix, gate


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


class Protect:
    def __init__(
        self,
        app: ASGIApp,
        keeper: Gatekeeper,
        prefixes: list[tuple[str, str]] | None = None,
        *,
        rules: list[Rule] | None = None,
    ) -> None:
        self.app = app
        self.keeper = keeper
        # longest prefix first; a rule with a method before one for any method
        self.rules: list[Rule] = list(rules or []) + [(None, p, g) for p, g in prefixes or []]
        self.signin_page = keeper.settings.signin_page
        self.cookies = GateCookies(keeper.settings.secure_cookies)

    def gate_for(self, path: str, method: str = "GET") -> str | None:
        for rule_method, prefix, gate in self.rules:
            if (rule_method is None or rule_method == method) and _under(path, prefix):
                return gate
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gate = (
            self.gate_for(scope.get("path", ""), scope.get("method", "GET"))
            if scope["type"] == "http"
            else None
        )
        if gate is None:
            await self.app(scope, receive, send)
            return
        rt = self.keeper.runtime(gate)
        request = Request(scope)
        now = rt.clock()
        renewed: list[tuple[bytes, bytes]] = []
        try:
            holder, token = self.keeper.find_pass(rt, request.cookies, now)
        except HomeroomError as exc:
            if exc.reason == "closed":
                await self._maintenance(request, exc)(scope, receive, send)
                return
            if await self._signed_in_on_signin_page(request):
                await self.app(scope, receive, send)
                return
            turned = await self._turn_away(rt, request)
            if isinstance(turned, list):  # admitted on the spot: this very request goes on
                await self._forward(rt, scope, receive, send, turned)
                return
            await turned(scope, receive, send)
            return
        if now - token.issued >= holder.renew_after_s:  # renewed by the gate that counts it
            fresh = await self._renew(holder, token, now)
            if fresh is not None:
                renewed.append(fresh)
        await self._forward(rt, scope, receive, send, renewed)

    async def _signed_in_on_signin_page(self, request: Request) -> bool:
        """A valid session need not sign in again: the sign-in page lets it through (GET)."""
        if not self.signin_page or request.method not in ("GET", "HEAD"):
            return False
        if not _under(request.url.path, self.signin_page):
            return False
        return await self.keeper.person_of(request) is not None

    async def _renew(self, rt: GateRuntime, token: Token, now: float) -> tuple[bytes, bytes] | None:
        try:
            result = await self.keeper.renew(rt, token, now)
        except BackendUnavailable:  # the pass stays valid until its own expiry
            return None
        if result is None:
            return None
        text, new = result
        return self.cookies.pass_header(rt.gate_id, text, new, now)

    async def _forward(
        self,
        rt: GateRuntime,
        scope: Scope,
        receive: Receive,
        send: Send,
        extra: list[tuple[bytes, bytes]],
    ) -> None:
        start = time.perf_counter()
        status = 500

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if extra:
                    message = dict(message)
                    message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            rt.record(time.perf_counter() - start, status >= 500)

    async def _turn_away(
        self, rt: GateRuntime, request: Request
    ) -> Response | list[tuple[bytes, bytes]]:
        """No pass: admit on the spot if the safety net has room, else the waiting room.

        Admitted on the spot, a GET is sent back to its own URL with the pass (307); any other
        method goes on at once with the cookies added to its answer (the list returned), so a
        form or an API call is neither lost nor sent twice, and a client that does not follow
        redirects signs in as well."""
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        wait_url = f"/gate/{rt.gate_id}/wait?next={quote(target, safe='/')}"
        if rt.policy.rules.instant and not rt.degraded:
            bid, new_bid = self.keeper.browser_id(request)
            try:
                arrival = await self.keeper.arrive(rt, request, bid)
                if (
                    arrival.fresh
                    and arrival.horizon is not None
                    and arrival.horizon >= arrival.token.number
                ):
                    admission = await self.keeper.admit(rt, arrival, bid)
                    response: Response = RedirectResponse(target, 307)
                    now = rt.clock()
                    self.cookies.pass_(response, rt.gate_id, admission, now)
                    self.cookies.ticket(response, rt.gate_id, arrival, now)
                    if new_bid:
                        self.cookies.browser(response, bid)
                    if request.method not in ("GET", "HEAD"):
                        return [(k, v) for k, v in response.raw_headers if k == b"set-cookie"]
                    return response
                if arrival.fresh:  # not admitted at once: keep the place for the waiting page
                    response = self._to_waiting(request, wait_url, rt)
                    self.cookies.ticket(response, rt.gate_id, arrival, rt.clock())
                    if new_bid:
                        self.cookies.browser(response, bid)
                    return response
            except HomeroomError as exc:
                if exc.status not in (403, 425, 503):
                    return error_response(request, exc)
        return self._to_waiting(request, wait_url, rt)

    @staticmethod
    def _to_waiting(request: Request, wait_url: str, rt: GateRuntime) -> Response:
        if wants_html(request) or (
            request.method == "GET" and "json" not in request.headers.get("accept", "")
        ):
            return RedirectResponse(wait_url, 303, headers={"cache-control": "no-store"})
        lang = i18n.negotiate(request.headers.get("accept-language"))
        body = {
            "error": "waiting_room",
            "message": WAITING_EN if lang == "en" else WAITING_FR,
            "wait_url": wait_url,
            "ticket_url": f"/gate/{rt.gate_id}/ticket",
            "state_url": f"/gate/{rt.gate_id}/state",
        }
        return JSONResponse(body, 503, headers={"retry-after": "5", "cache-control": "no-store"})

    @staticmethod
    def _maintenance(request: Request, exc: HomeroomError) -> Response:
        lang = i18n.negotiate(request.headers.get("accept-language"))
        headers = {"retry-after": str(exc.retry_after or 300), "cache-control": "no-store"}
        if wants_html(request):
            return HTMLResponse(
                render_page("maintenance.html", lang, message=exc.message(lang)),
                503,
                headers=headers,
            )
        return JSONResponse(exc.body(lang), 503, headers=headers)
