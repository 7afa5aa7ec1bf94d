"""The gate's flows shared by its endpoints, its waiting page and route protection.

`Gatekeeper` owns one GateRuntime per configured gate and the abuse guard; `arrive` hands out
(or gives back) a ticket, `admit` turns an admitted ticket into a pass (docs/gate.md#flows).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from homeroom.backends.gate import BackendUnavailable, GateStore
from homeroom.config import Settings
from homeroom.core.lanes import Lane
from homeroom.core.tokens import Flag, KeyRing, Kind, Token, TokenError, binding_of
from homeroom.errors import (
    BadRequest,
    Forbidden,
    Gone,
    HomeroomError,
    NotFound,
    ProofOfWorkRequired,
    TooEarly,
    TooManyRequests,
    Unavailable,
)
from homeroom.gate.abuse import Abuse, Verdict, address_block
from homeroom.gate.runtime import GateRuntime

BROWSER_COOKIE = "hr_bid"
BROWSER_COOKIE_MAX_AGE = 400 * 86400


def ticket_cookie(gate: str) -> str:
    return f"hr_t_{gate}"


def pass_cookie(gate: str) -> str:
    return f"hr_p_{gate}"


@dataclass(frozen=True, slots=True)
class Arrival:
    text: str
    token: Token
    fresh: bool  # newly issued by this request
    horizon: int | None = None  # lane horizon as of the issue, when fresh


@dataclass(frozen=True, slots=True)
class Admission:
    text: str
    token: Token
    ticket: Arrival | None = None  # an exchanged pre-queue ticket to store in place of the old


def token_error(exc: TokenError, what: str) -> HomeroomError:
    """One clear error per way a ticket or pass can be wrong (docs/api.md#errors)."""
    noun_fr = "ticket" if what == "ticket" else "laissez-passer"
    if exc.reason == "malformed":
        return BadRequest(
            f"{what}_malformed", f"Ce {noun_fr} est illisible.", f"This {what} cannot be read."
        )
    if exc.reason == "expired":
        return Gone(
            f"{what}_expired",
            f"Ce {noun_fr} a expiré ; reprenez une place.",
            f"This {what} has expired; please take a new place.",
        )
    if exc.reason == "foreign":
        return Forbidden(
            f"{what}_foreign",
            f"Ce {noun_fr} n'appartient pas à cette salle d'attente.",
            f"This {what} belongs to another waiting room.",
        )
    return Forbidden(
        f"{what}_invalid",
        f"Ce {noun_fr} a été modifié ou n'est pas reconnu.",
        f"This {what} was altered or is not recognised.",
    )


class Gatekeeper:
    def __init__(
        self,
        settings: Settings,
        store: GateStore,
        keys: KeyRing,
        abuse: Abuse,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.keys = keys
        self.abuse = abuse
        self.gates = {
            gate: GateRuntime(gate, store, keys, settings, clock=clock) for gate in settings.gates
        }

    def runtime(self, gate: str) -> GateRuntime:
        rt = self.gates.get(gate)
        if rt is None:
            raise NotFound("no_such_gate", "Salle d'attente inconnue.", "No such waiting room.")
        return rt

    async def start(self) -> None:
        await self.abuse.start()
        for rt in self.gates.values():
            await rt.start()

    async def stop(self) -> None:
        for rt in self.gates.values():
            await rt.stop()
        await self.abuse.aclose()
        await self.store.aclose()

    # -- identity --------------------------------------------------------------------------

    @staticmethod
    def browser_id(request: Request) -> tuple[str, bool]:
        """The browser-id cookie, or a new one (True) to set on the response."""
        bid = request.cookies.get(BROWSER_COOKIE, "")
        if 16 <= len(bid) <= 64 and bid.replace("-", "").replace("_", "").isalnum():
            return bid, False
        return secrets.token_urlsafe(16), True

    def lane_for(self, rt: GateRuntime, grant: str | None, now: float) -> Lane:
        if not grant:
            return self.settings.anonymous_lane
        try:
            return rt.open(grant, Kind.GRANT, now).lane
        except TokenError as exc:
            raise token_error(exc, "grant") from exc

    # -- flows -----------------------------------------------------------------------------

    def held_ticket(self, rt: GateRuntime, text: str | None, bid: str, now: float) -> Token | None:
        """The ticket this browser already holds, if it is still good: same place on refresh."""
        if not text:
            return None
        try:
            token = rt.open(text, Kind.TICKET, now)
        except TokenError:
            return None
        return token if token.same_browser(binding_of(bid)) else None

    async def arrive(
        self,
        rt: GateRuntime,
        request: Request,
        bid: str,
        *,
        grant: str | None = None,
        altcha: str | None = None,
        rejoin: bool = False,
    ) -> Arrival:
        now = rt.clock()
        policy = rt.policy
        if policy.rules.maintenance:
            raise closed_error()
        held_text = request.cookies.get(ticket_cookie(rt.gate_id))
        held = None if rejoin else self.held_ticket(rt, held_text, bid, now)
        if held is not None and held_text is not None:
            return Arrival(held_text, held, fresh=False)
        if policy.before_prequeue(now):
            start = policy.opening_at - policy.prequeue_s
            raise Unavailable(
                "not_open",
                "La salle d'attente n'est pas encore ouverte.",
                "The waiting room is not open yet.",
                retry_after=max(1, int(start - now)),
                extra={"opens_at": start},
            )
        lane = self.lane_for(rt, grant, now)
        client = request.client.host if request.client else None
        check = await self.abuse.check_ticket(address_block(client), policy.rules.proof_of_work)
        if check.verdict is Verdict.LIMITED:
            rt.stats.refuse("rate_limited")
            raise TooManyRequests(
                "rate_limited",
                "Trop de demandes depuis votre réseau ; réessayez dans un instant.",
                "Too many requests from your network; please try again shortly.",
                retry_after=check.retry_after,
            )
        if check.verdict is Verdict.PROOF_OF_WORK and not self.abuse.verify(altcha):
            rt.stats.refuse("proof_of_work" if not altcha else "proof_of_work_invalid")
            raise ProofOfWorkRequired(
                "proof_of_work_required",
                "Une courte vérification automatique est nécessaire.",
                "A short automatic check is needed.",
                extra={"challenge_url": f"/gate/{rt.gate_id}/challenge"},
            )
        try:
            issued, number = await rt.take_number(lane, policy.prequeue_open(now))
        except BackendUnavailable as exc:
            rt.stats.refuse("backend_unavailable")
            raise degraded_error() from exc
        flags = Flag.PREQUEUE if issued.prequeue else Flag.NONE
        text, token = rt.seal(
            Kind.TICKET, lane, number, binding_of(bid), self.settings.ticket_ttl_s, flags, now
        )
        rt.stats.issued[lane] += 1
        return Arrival(text, token, fresh=True, horizon=None if issued.prequeue else issued.horizon)

    async def admit(
        self, rt: GateRuntime, arrival: Arrival, bid: str, now: float | None = None
    ) -> Admission:
        """Redeem an admitted ticket for a pass; raises TooEarly while it is not its turn."""
        now = rt.clock() if now is None else now
        token = arrival.token
        if not token.same_browser(binding_of(bid)):
            rt.stats.refuse("wrong_browser")
            raise Forbidden(
                "ticket_foreign",
                "Ce ticket a été pris dans un autre navigateur.",
                "This ticket was taken in another browser.",
            )
        exchanged: Arrival | None = None
        if token.flags & Flag.PREQUEUE:
            number = rt.exchange_prequeue(token)
            if number is None:
                wait = max(1, int(rt.policy.opening_at - now)) if rt.policy.opening_at else 5
                raise TooEarly(
                    "prequeue",
                    "Vous êtes dans la pré-file : l'ordre sera tiré au sort à l'ouverture.",
                    "You are in the pre-queue: the order is drawn at random at opening.",
                    retry_after=min(wait, 60),
                    extra={"opening_at": rt.policy.opening_at or None},
                )
            text, token = rt.seal(
                Kind.TICKET, token.lane, number, token.binding, self.settings.ticket_ttl_s, now=now
            )
            exchanged = Arrival(text, token, fresh=False)
        if rt.degraded:
            return self._admit_degraded(rt, token, now, exchanged)
        try:
            await rt.redeem(token, now, arrival.horizon)
        except Unavailable:
            return self._admit_degraded(rt, token, now, exchanged)
        text, pass_token = rt.seal(
            Kind.PASS, token.lane, token.number, token.binding, self.settings.pass_ttl_s, now=now
        )
        return Admission(text, pass_token, exchanged)

    def _admit_degraded(
        self, rt: GateRuntime, token: Token, now: float, exchanged: Arrival | None
    ) -> Admission:
        """Backend away: admit from this process's own small budget, or keep the place."""
        if not rt.degraded_admission(now):
            raise degraded_error()
        text, pass_token = rt.seal(
            Kind.PASS, token.lane, 0, token.binding, self.settings.pass_ttl_s, now=now
        )
        rt.stats.redeemed[token.lane] += 1
        return Admission(text, pass_token, exchanged)

    def check_pass(self, rt: GateRuntime, text: str | None, bid: str | None, now: float) -> Token:
        """Verify a pass without any backend call; raises a HomeroomError."""
        if not rt.policy.rules.passes_valid:
            raise closed_error()
        if not text:
            raise Forbidden("no_pass", "Aucun laissez-passer.", "No pass.")
        try:
            token = rt.open(text, Kind.PASS, now)
        except TokenError as exc:
            raise token_error(exc, "pass") from exc
        if bid is None or not token.same_browser(binding_of(bid)):
            raise Forbidden(
                "pass_foreign",
                "Ce laissez-passer a été délivré à un autre navigateur.",
                "This pass was issued to another browser.",
            )
        return token


def closed_error() -> Unavailable:
    return Unavailable(
        "closed",
        "Le service est en maintenance. Merci de revenir un peu plus tard.",
        "The service is under maintenance. Please come back a little later.",
        retry_after=300,
    )


def degraded_error() -> Unavailable:
    return Unavailable(
        "degraded",
        "La salle d'attente est momentanément indisponible ; votre place est gardée.",
        "The waiting room is briefly unavailable; your place is kept.",
        retry_after=5,
    )
