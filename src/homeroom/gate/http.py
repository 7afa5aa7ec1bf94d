"""The gate's HTTP endpoints and waiting page (docs/api.md).

Endpoints parse, call the flows of gate/service.py and set cookies; errors are HomeroomErrors,
rendered as JSON or HTML by the Accept header in one handler (web/http.py, `error_response`).
"""

from __future__ import annotations

import hmac
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from homeroom.core.history import Claim
from homeroom.core.lanes import Lane
from homeroom.core.policy import PolicyError
from homeroom.core.tokens import Flag, Kind, Token, TokenError
from homeroom.errors import (
    BadRequest,
    Forbidden,
    HomeroomError,
    ProofOfWorkRequired,
    TooEarly,
    Unavailable,
)
from homeroom.gate.runtime import GateRuntime
from homeroom.gate.service import (
    BROWSER_COOKIE,
    BROWSER_COOKIE_MAX_AGE,
    Admission,
    Arrival,
    Gatekeeper,
    Left,
    pass_cookie,
    ticket_cookie,
    token_error,
)
from homeroom.web import i18n
from homeroom.web.http import Cookies, lang_of, read_body, safe_next
from homeroom.web.pages import render_page

Header = tuple[bytes, bytes]


def field(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 4096:
        raise BadRequest("bad_field", f"Champ « {name} » invalide.", f"Invalid field {name!r}.")
    return value


class GateCookies(Cookies):
    """Set-Cookie headers of the gate's three cookies: browser id, ticket, pass."""

    def browser_header(self, bid: str) -> Header:
        return self.header(BROWSER_COOKIE, bid, BROWSER_COOKIE_MAX_AGE)

    def browser(self, response: Response, bid: str) -> None:
        response.raw_headers.append(self.browser_header(bid))

    def ticket_header(self, gate: str, arrival: Arrival, now: float) -> Header:
        return self.header(ticket_cookie(gate), arrival.text, int(arrival.token.expires - now))

    def ticket(self, response: Response, gate: str, arrival: Arrival, now: float) -> None:
        response.raw_headers.append(self.ticket_header(gate, arrival, now))

    def pass_header(self, gate: str, text: str, token: Token, now: float) -> Header:
        return self.header(pass_cookie(gate), text, int(token.expires - now))

    def pass_(self, response: Response, gate: str, admission: Admission, now: float) -> None:
        response.raw_headers.append(self.pass_header(gate, admission.text, admission.token, now))

    def forget(self, response: Response, gate: str) -> None:
        response.raw_headers.append(self.header(ticket_cookie(gate), "", 0))
        response.raw_headers.append(self.header(pass_cookie(gate), "", 0))


NO_STORE = {"cache-control": "no-store"}


@dataclass(frozen=True, slots=True)
class Answer:
    """A JSON answer of the ticket or redeem endpoint: status, document and Set-Cookie headers.

    `response()` makes the routed endpoint's Starlette response; the fast path
    (gate/ticketpath.py) writes the same bytes without it."""

    status: int
    data: dict[str, Any]
    cookies: list[Header]

    def response(self) -> Response:
        response = JSONResponse(self.data, self.status, headers=NO_STORE)
        response.raw_headers += self.cookies
        return response


def appointment_json(rt: GateRuntime, token: Token) -> dict[str, Any]:
    """When to come back and why; `lane` is where the place is kept from `come_back_at`."""
    return {
        "starts_at": token.not_before + rt.settings.appointment_lead_s,
        "come_back_at": token.not_before,
        "until": token.expires,
        "lane": rt.settings.appointment_lane.value,
    }


def ticket_json(rt: GateRuntime, arrival: Arrival, now: float) -> dict[str, Any]:
    token = arrival.token
    prequeue = bool(token.flags & Flag.PREQUEUE)
    if arrival.appointment:
        position: int | None = None
        wait_s: int | None = max(0, math.ceil(token.not_before - now))
    else:
        position = None if prequeue else max(0, rt.position(token))
        wait_s = None if prequeue else rt.wait_s(token, now)
    return {
        "gate": rt.gate_id,
        "ticket": arrival.text,
        "lane": token.lane.value,
        "number": token.number,
        "prequeue": prequeue,
        "opening_at": rt.policy.opening_at or None,
        "position": position,
        "wait_s": wait_s,
        "expires": token.expires,
        "signed_in": token.account is not None,
        "appointment": appointment_json(rt, token) if arrival.appointment else None,
        "state_url": f"/gate/{rt.gate_id}/state",
        "redeem_url": f"/gate/{rt.gate_id}/redeem",
    }


class GateEndpoints:
    def __init__(self, keeper: Gatekeeper) -> None:
        self.keeper = keeper
        self.cookies = GateCookies(keeper.settings.secure_cookies)
        self.limit = keeper.settings.max_body_bytes
        self.waiting_content = _load_waiting_content(keeper.settings.waiting_content_file)

    def routes(self) -> list[Route]:
        return [
            Route("/gate/{gate}/state", self.state, methods=["GET"]),
            Route("/gate/{gate}/ticket", self.ticket, methods=["POST"]),
            Route("/gate/{gate}/redeem", self.redeem, methods=["POST"]),
            Route("/gate/{gate}/pass", self.check_pass, methods=["GET"]),
            Route("/gate/{gate}/leave", self.leave, methods=["POST"]),
            Route("/gate/{gate}/challenge", self.challenge, methods=["GET"]),
            Route("/gate/{gate}/wait", self.wait_page, methods=["GET", "POST"]),
        ]

    async def state(self, request: Request) -> Response:
        rt = self.keeper.runtime(request.path_params["gate"])  # only when the fast path is off
        return Response(
            rt.state.body, media_type="application/json", headers={"etag": rt.state.etag}
        )

    async def ticket(self, request: Request) -> Response:
        rt = self.keeper.runtime(request.path_params["gate"])
        body = await read_body(request, self.limit)
        return (await self.take_ticket(rt, request, body)).response()

    async def take_ticket(self, rt: GateRuntime, request: Request, body: dict[str, Any]) -> Answer:
        """What POST /gate/{gate}/ticket answers, for the route and for the fast path
        (gate/ticketpath.py), which encodes it itself."""
        bid, new_bid = self.keeper.browser_id(request)
        arrival = await self.keeper.arrive(
            rt,
            request,
            bid,
            grant=field(body, "grant"),
            altcha=field(body, "altcha"),
            rejoin=body.get("rejoin") is True,
        )
        now = rt.clock()
        data = ticket_json(rt, arrival, now)
        admission: Admission | None = None
        if (
            arrival.fresh
            and arrival.horizon is not None
            and arrival.horizon >= arrival.token.number
        ):
            try:  # admitted at once: spare the client a round trip
                admission = await self.keeper.admit(rt, arrival, bid, now)
            except (TooEarly, Unavailable):
                admission = None
        data["admitted"] = admission is not None
        if admission is not None:  # the pass's own expiry, as the redeem's `expires` says it
            data["pass_expires"] = admission.token.expires
        cookies = self.cookies
        headers = [cookies.browser_header(bid)] if new_bid else []
        headers.append(cookies.ticket_header(rt.gate_id, arrival, now))
        if admission is not None:
            headers.append(cookies.pass_header(rt.gate_id, admission.text, admission.token, now))
        return Answer(201 if arrival.fresh else 200, data, headers)

    def _arrival_from(
        self, request: Request, rt: GateRuntime, body: dict[str, Any], bid: str
    ) -> Arrival:
        text = field(body, "ticket") or request.cookies.get(ticket_cookie(rt.gate_id))
        if not text:
            raise BadRequest("no_ticket", "Aucun ticket.", "No ticket.")
        try:
            token = rt.open(text, Kind.TICKET)
        except TokenError as exc:
            rt.stats.refuse(f"ticket_{exc.reason}")
            raise token_error(exc, "ticket") from exc
        return Arrival(text, token, fresh=False)

    async def redeem(self, request: Request) -> Response:
        rt = self.keeper.runtime(request.path_params["gate"])
        body = await read_body(request, self.limit)
        return (await self.redeem_ticket(rt, request, body)).response()

    async def redeem_ticket(
        self, rt: GateRuntime, request: Request, body: dict[str, Any]
    ) -> Answer:
        """What POST /gate/{gate}/redeem answers, for the route and for the fast path."""
        bid = request.cookies.get(BROWSER_COOKIE, "")
        arrival = self._arrival_from(request, rt, body, bid)
        now = rt.clock()
        admission = await self.keeper.admit(rt, arrival, bid, now)
        data = {
            "admitted": True,
            "lane": admission.token.lane.value,
            "expires": admission.token.expires,
            "next": safe_next(field(body, "next")),
        }
        headers = [self.cookies.pass_header(rt.gate_id, admission.text, admission.token, now)]
        if admission.ticket is not None:
            headers.append(self.cookies.ticket_header(rt.gate_id, admission.ticket, now))
        return Answer(200, data, headers)

    async def check_pass(self, request: Request) -> Response:
        rt = self.keeper.runtime(request.path_params["gate"])
        now = rt.clock()
        token = self.keeper.check_pass(
            rt,
            request.cookies.get(pass_cookie(rt.gate_id)) or _bearer(request),
            request.cookies.get(BROWSER_COOKIE),
            now,
        )
        return JSONResponse(
            {"valid": True, "gate": rt.gate_id, "lane": token.lane.value, "expires": token.expires},
            headers={"cache-control": "no-store"},
        )

    async def leave(self, request: Request) -> Response:
        rt = self.keeper.runtime(request.path_params["gate"])
        now = rt.clock()
        text = request.cookies.get(pass_cookie(rt.gate_id))
        outcome = Left.NOT_COUNTED
        if text:
            try:
                token = self.keeper.check_pass(rt, text, request.cookies.get(BROWSER_COOKIE), now)
                outcome = await self.keeper.leave(rt, token)
            except HomeroomError:
                outcome = Left.NOT_COUNTED
        pending = outcome is Left.PENDING  # accepted: uncounted once the store is back
        response = JSONResponse(
            {"left": outcome is Left.LEFT, "pending": pending},
            202 if pending else 200,
            headers={"cache-control": "no-store"},
        )
        self.cookies.forget(response, rt.gate_id)
        return response

    async def challenge(self, request: Request) -> Response:
        self.keeper.runtime(request.path_params["gate"])
        return JSONResponse(self.keeper.abuse.challenge(), headers={"cache-control": "no-store"})

    async def wait_page(self, request: Request) -> Response:
        """The waiting page; works without JavaScript (the server does what the script would)."""
        rt = self.keeper.runtime(request.path_params["gate"])
        lang = lang_of(request)
        ctx = self._page_context(rt, request, lang)
        body = await read_body(request, self.limit) if request.method == "POST" else {}
        bid, new_bid = self.keeper.browser_id(request)
        now = rt.clock()
        status_code = 200
        arrival: Arrival | None = None
        try:
            arrival = await self.keeper.arrive(
                rt,
                request,
                bid,
                grant=_grant_of(request),  # an invitation link: the wait page with `grant=`
                altcha=field(body, "altcha"),
                rejoin=request.query_params.get("rejoin") == "1",
            )
        except ProofOfWorkRequired as exc:
            ctx.update(status="proof_of_work", altcha={"challenge_url": exc.extra["challenge_url"]})
            status_code = 200 if request.method == "GET" else 403
        except Unavailable as exc:
            if exc.reason == "closed":
                html = render_page("maintenance.html", lang, message=exc.message(lang))
                return HTMLResponse(html, 503, headers={"retry-after": str(exc.retry_after or 300)})
            status = "not_open" if exc.reason == "not_open" else "degraded"
            ctx.update(status=status, message=exc.message(lang))
            ctx["refresh_s"] = int(min(exc.retry_after or 10, 60))
            status_code = 503
        response: Response
        admission = None
        if arrival is not None:
            admission = await self._advance_waiter(rt, arrival, bid, now, ctx, lang)
        if admission is not None:
            response = RedirectResponse(ctx["next_url"], 303)
            self.cookies.pass_(response, rt.gate_id, admission, now)
            arrival = admission.ticket or arrival
        else:
            headers = {"cache-control": "no-store"}
            if status_code == 503:
                headers["retry-after"] = str(ctx["refresh_s"])
            html = render_page("wait.html", lang, **ctx)
            response = HTMLResponse(html, status_code, headers=headers)
        if new_bid:
            self.cookies.browser(response, bid)
        if arrival is not None:
            self.cookies.ticket(response, rt.gate_id, arrival, now)
        return response

    def _page_context(self, rt: GateRuntime, request: Request, lang: str) -> dict[str, Any]:
        """What wait.html needs before anything is known about this person."""
        next_url = safe_next(request.query_params.get("next"))
        page_url = f"/gate/{rt.gate_id}/wait?next={quote(next_url, safe='/')}"
        if lang != i18n.negotiate(request.headers.get("accept-language")):
            page_url += f"&lang={lang}"
        if request.query_params.get("refresh") == "off":  # the person stopped auto-reload
            page_url += "&refresh=off"
        grant = _grant_of(request)
        if grant:  # kept for the page's own form (a puzzle to solve before the first ticket)
            page_url += f"&grant={quote(grant, safe='')}"
        opening = rt.policy.opening_at
        return {
            "gate_id": rt.gate_id,
            "lane": self.keeper.default_lane(rt, request).value,
            "number": None,
            "issued": None,
            "status": "waiting",
            "position": None,
            "wait_text": None,
            "opening_text": i18n.format_time(lang, opening) if opening else None,
            "opening_at": opening or None,
            "poll_s": rt.poll_s,
            "refresh_s": 10,
            "state_url": f"/gate/{rt.gate_id}/state",
            "redeem_url": f"/gate/{rt.gate_id}/redeem",
            "next_url": next_url,
            "page_url": page_url,
            "altcha": None,
            "waiting_content": self.waiting_content,
            "message": None,
            "appointment_starts": None,
            "appointment_come_back": None,
            "appointment_come_back_at": None,
            "appointment_wait_s": None,
            "appointment_lane": None,
        }

    async def _advance_waiter(
        self,
        rt: GateRuntime,
        arrival: Arrival,
        bid: str,
        now: float,
        ctx: dict[str, Any],
        lang: str,
    ) -> Admission | None:
        """Admit the waiter if their turn has come, else fill the page's context."""
        token = arrival.token
        ctx.update(lane=token.lane.value, number=token.number, issued=token.issued)
        try:
            return await self.keeper.admit(rt, arrival, bid, now)
        except TooEarly as exc:
            if exc.reason == "prequeue":
                ctx.update(status="prequeue", refresh_s=int(min(exc.retry_after or 30, 30)))
                return None
            if exc.reason == "appointment":
                self._appointment_context(rt, token, now, ctx, lang)
                return None
        except HomeroomError as exc:
            # the place is gone: offer to rejoin
            if exc.reason in ("claim_lapsed", "duplicate", "gate_restarted"):
                ctx.update(status="lapsed", message=exc.message(lang), refresh_s=60)
                return None
            if exc.reason == "degraded":
                ctx.update(status="degraded", message=exc.message(lang), refresh_s=10)
                return None
            raise
        claim = rt.claim(token, now)
        position = max(0, rt.position(token))
        wait = rt.wait_s(token, now)
        status = "paused" if not rt.policy.rules.admits else "waiting"
        ctx.update(
            status=status if claim is Claim.NOT_YET else "waiting",
            position=position,
            wait_text=i18n.format_wait(lang, wait) if wait is not None else None,
            poll_s=rt.poll_s,
        )
        ctx["refresh_s"] = _refresh_for(ctx["poll_s"], wait, position)
        return None

    @staticmethod
    def _appointment_context(
        rt: GateRuntime, token: Token, now: float, ctx: dict[str, Any], lang: str
    ) -> None:
        """The page of an appointment: the class's time and when to come back, no position.
        Without JavaScript it reloads at the come-back time (and every 10 minutes before)."""
        data = appointment_json(rt, token)
        wait = max(0, math.ceil(token.not_before - now))
        ctx.update(
            status="appointment",
            number=None,
            appointment_starts=i18n.format_time(lang, data["starts_at"]),
            appointment_come_back=i18n.format_time(lang, data["come_back_at"]),
            appointment_come_back_at=data["come_back_at"],
            appointment_wait_s=wait,
            appointment_lane=data["lane"],
            refresh_s=int(max(5, min(wait + 1, 600))),
        )


def _refresh_for(poll_s: int, wait: int | None, position: int) -> int:
    """Without JavaScript, reload sooner when the turn is near."""
    if wait is None:  # no admission rate yet (paused, or just opened)
        return 5 if position <= NEAR_FRONT else max(10, poll_s * 2)
    return int(min(max(3, math.ceil(wait / 4)), 60, max(poll_s * 3, 10)))


NEAR_FRONT = 20


def _grant_of(request: Request) -> str | None:
    """The lane grant of an invitation link (`/gate/{gate}/wait?next=/...&grant=...`)."""
    grant = request.query_params.get("grant") or None
    if grant is not None and len(grant) > 4096:
        raise BadRequest("bad_field", "Champ « grant » invalide.", "Invalid field 'grant'.")
    return grant


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    return auth[7:] if auth.lower().startswith("bearer ") else None


def _load_waiting_content(path: str) -> str | None:
    if not path:
        return None
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def lane_of(value: str) -> Lane:
    try:
        return Lane(value)
    except ValueError as exc:
        raise BadRequest("bad_lane", "File inconnue.", f"Unknown lane {value!r}.") from exc


def operator_guard(request: Request, token: str | None) -> None:
    given = _bearer(request) or ""
    if not token or not hmac.compare_digest(given.encode(), token.encode()):
        raise Forbidden("operator_only", "Réservé aux opérateurs.", "Operators only.")


def policy_error(exc: PolicyError) -> BadRequest:
    return BadRequest("bad_policy", str(exc), str(exc))
