"""Route protection: a request to a protected path needs a valid pass of the path's gate.

Passes are verified from their signature alone, with no backend call. Without one, a browser is
sent to the waiting page and an API client gets 503 with Retry-After; in the safety net an
arrival is admitted on the spot when there is room, so no waiting page is shown at all.
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
from homeroom.gate import i18n
from homeroom.gate.http import Cookies, error_response, wants_html
from homeroom.gate.pages import render_page
from homeroom.gate.runtime import GateRuntime
from homeroom.gate.service import BROWSER_COOKIE, Gatekeeper, pass_cookie

WAITING_FR = "Salle d'attente : prenez un ticket et attendez votre tour."
WAITING_EN = "Waiting room: take a ticket and wait for your turn."


class Protect:
    def __init__(self, app: ASGIApp, keeper: Gatekeeper, prefixes: list[tuple[str, str]]) -> None:
        self.app = app
        self.keeper = keeper
        self.prefixes = prefixes  # longest first
        self.cookies = Cookies(keeper.settings.secure_cookies)

    def gate_for(self, path: str) -> str | None:
        for prefix, gate in self.prefixes:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return gate
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gate = self.gate_for(scope.get("path", "")) if scope["type"] == "http" else None
        if gate is None:
            await self.app(scope, receive, send)
            return
        rt = self.keeper.runtime(gate)
        request = Request(scope)
        now = rt.clock()
        renewed: list[tuple[bytes, bytes]] = []
        try:
            token = self.keeper.check_pass(
                rt, request.cookies.get(pass_cookie(gate)), request.cookies.get(BROWSER_COOKIE), now
            )
        except HomeroomError as exc:
            if exc.reason == "closed":
                await self._maintenance(request, exc)(scope, receive, send)
                return
            response = await self._turn_away(rt, request)
            await response(scope, receive, send)
            return
        if now - token.issued >= self.keeper.settings.pass_renew_after_s:
            fresh = await self._renew(rt, token, now)
            if fresh is not None:
                renewed.append(fresh)
        await self._forward(rt, scope, receive, send, renewed)

    async def _renew(self, rt: GateRuntime, token: Token, now: float) -> tuple[bytes, bytes] | None:
        try:
            result = await rt.renew(token, now)
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

    async def _turn_away(self, rt: GateRuntime, request: Request) -> Response:
        """No pass: admit on the spot if the safety net has room, else the waiting room."""
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
