"""The gate's flows shared by its endpoints, its waiting page and route protection.

`Gatekeeper` owns one GateRuntime per configured gate and the abuse guard; `arrive` hands out
(or gives back) a ticket, `admit` turns an admitted ticket into a pass (docs/gate.md#flows).
A signed-in person (the school's `Who` says who) queues in the lane of their role, holds one
place whatever the device, and a pupil early for class gets an appointment instead of a place
(docs/gate.md#who-is-coming).
"""

from __future__ import annotations

import enum
import logging
import math
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from starlette.requests import Request

from homeroom.backends.gate import BackendUnavailable, GateStore, PersonRecord, PersonStatus
from homeroom.config import Settings
from homeroom.core.blocks import address_block
from homeroom.core.lanes import Lane
from homeroom.core.tokens import Flag, KeyRing, Kind, Token, TokenError, account_key, binding_of
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
from homeroom.gate.abuse import Abuse, Verdict
from homeroom.gate.runtime import GateRuntime
from homeroom.gate.who import Person, Who, has_session

log = logging.getLogger("homeroom.gate")

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

    @property
    def appointment(self) -> bool:
        return bool(self.token.flags & Flag.APPOINTMENT)


def who_of(token: Token) -> str | None:
    """The key of the token's person record: hex of the account half, None if anonymous."""
    account = token.account
    return None if account is None else account.hex()


def place_of(token: Token) -> str:
    """The place of a token as PersonRecord.place spells it: an appointment's number is 0."""
    return f"{token.lane.value}:{token.number}:"


class Left(enum.Enum):
    """What giving a pass back did."""

    LEFT = "left"  # uncounted now
    NOT_COUNTED = "not_counted"  # nothing to uncount (given back already, uncounted pass)
    PENDING = "pending"  # the store is away: uncounted once it is back


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
        who: Who | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.keys = keys
        self.abuse = abuse
        self.who = who
        self.gates = {
            gate: GateRuntime(gate, store, keys, settings, clock=clock) for gate in settings.gates
        }
        # gate -> the runtimes of the other gates whose passes open it (HOMEROOM_PASS_SHARED)
        self.shares: dict[str, tuple[GateRuntime, ...]] = {
            gate: tuple(self.gates[g] for g in settings.pass_shares(gate)) for gate in self.gates
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

    def identify_with(self, who: Who) -> None:
        """Let the gate know signed-in people (the school, wired by the application)."""
        self.who = who

    async def person_of(self, request: Request) -> Person | None:
        """The signed-in person, asked of the school only when the session cookie is there."""
        if self.who is None or not has_session(request):
            return None
        return await self.who.identify(request)

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
        if rt.from_lost_state(token):
            rt.stats.refuse("state_lost")  # counted; the person gets a new place at once
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
        person = await self.person_of(request)
        held_text = request.cookies.get(ticket_cookie(rt.gate_id))
        held = None if rejoin else self.held_ticket(rt, held_text, bid, now)
        if held is not None and held_text is not None:
            # An anonymous ticket taken before signing in (or another person's) is not kept:
            # the person queues in their own lane.
            mine = person is None or held.account == account_key(person.account)
            if mine and held.flags & Flag.APPOINTMENT and now >= held.not_before:
                return await self._exchange(rt, held.binding, place_of(held), now)
            if mine:
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
        if person is not None:
            return await self._arrive_person(
                rt, request, bid, person, lane if grant else person.lane, rejoin, now
            )
        await self._check_abuse(rt, request, altcha, policy.rules.proof_of_work)
        return await self._issue(rt, lane, binding_of(bid), now)

    async def _check_abuse(
        self, rt: GateRuntime, request: Request, altcha: str | None, proof_of_work: bool
    ) -> None:
        client = request.client.host if request.client else None
        check = await self.abuse.check_ticket(address_block(client), proof_of_work)
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

    async def _issue(self, rt: GateRuntime, lane: Lane, binding: bytes, now: float) -> Arrival:
        """A new number in `lane`, sealed in a ticket bound to `binding`."""
        try:
            issued, number = await rt.take_number(lane, rt.policy.prequeue_open(now))
        except BackendUnavailable as exc:
            rt.stats.refuse("backend_unavailable")
            raise degraded_error() from exc
        flags = Flag.PREQUEUE if issued.prequeue else Flag.NONE
        text, token = rt.seal(
            Kind.TICKET, lane, number, binding, self.settings.ticket_ttl_s, flags, now
        )
        rt.stats.issued[lane] += 1
        return Arrival(text, token, fresh=True, horizon=None if issued.prequeue else issued.horizon)

    # -- signed-in people ------------------------------------------------------------------

    async def _arrive_person(
        self,
        rt: GateRuntime,
        request: Request,
        bid: str,
        person: Person,
        lane: Lane,
        rejoin: bool,
        now: float,
    ) -> Arrival:
        """One place per person: the place their record holds, an appointment, or a new one."""
        who = account_key(person.account).hex()
        binding = binding_of(bid, person.account)
        record = await self._person(rt, who)
        over = "" if record is None else record.place  # what a new place replaces
        if record is not None and record.expires <= now:
            record = None  # its ticket, appointment or pass has expired: a new place
        if record is not None and not rejoin:
            if record.status is PersonStatus.APPOINTMENT and now >= record.not_before:
                return await self._exchange(rt, binding, record.place, now)
            return self._reseal(rt, record, binding, now)
        due = self.appointment_for(rt, person, lane, now)
        if due is not None:
            come_back, starts_at = due
            appointment = PersonRecord(
                lane,
                0,
                PersonStatus.APPOINTMENT,
                int(Flag.APPOINTMENT),
                come_back,
                starts_at + self.settings.appointment_lead_s,
                starts_at,
            )
            held = await self._hold(rt, who, appointment, over, now)
            arrival = self._reseal(rt, held, binding, now)
            return Arrival(arrival.text, arrival.token, fresh=held == appointment)
        # The session is the proof a person is no robot: the rate limit holds, not the puzzle.
        await self._check_abuse(rt, request, None, False)
        arrival = await self._issue(rt, lane, binding, now)
        held = await self._hold(rt, who, self._record(arrival.token), over, now)
        if held.place != place_of(arrival.token):  # another device of theirs was first
            return self._reseal(rt, held, binding, now)
        return arrival

    def appointment_for(
        self, rt: GateRuntime, person: Person, lane: Lane, now: float
    ) -> tuple[int, int] | None:
        """(come back at, class starts at) if this pupil is early for class and would have to
        wait: their next class starts more than `appointment_lead_s` ahead. In the safety net
        with room, nobody waits, so nobody is sent away with an appointment."""
        if person.next_start is None or lane not in (Lane.PUPILS, Lane.PRIORITY):
            return None
        come_back = math.floor(person.next_start) - self.settings.appointment_lead_s
        if come_back <= now:
            return None
        rules = rt.policy.rules
        c = rt.counters[lane]
        if rules.admits and rules.instant and c.issued <= c.horizon and c.ceiling > c.issued:
            return None
        return come_back, math.floor(person.next_start)

    async def _exchange(self, rt: GateRuntime, binding: bytes, over: str, now: float) -> Arrival:
        """From come-back time an appointment becomes a place in the appointment lane (priority
        by default): ahead of the crowd in the pupils' lane. Idempotent per person: the record
        tells a second device (or a retry) the place the first exchange took."""
        who = binding[8:].hex()
        record = await self._person(rt, who)
        if record is not None and record.expires <= now:
            over = record.place  # a stale record is replaced
        elif record is not None and record.status is not PersonStatus.APPOINTMENT:
            return self._reseal(rt, record, binding, now)
        arrival = await self._issue(rt, self.settings.appointment_lane, binding, now)
        held = await self._hold(rt, who, self._record(arrival.token), over, now)
        if held.place != place_of(arrival.token):
            return self._reseal(rt, held, binding, now)
        return arrival

    def _record(self, token: Token, status: PersonStatus = PersonStatus.WAITING) -> PersonRecord:
        return PersonRecord(
            token.lane, token.number, status, int(token.flags), expires=token.expires
        )

    def _reseal(self, rt: GateRuntime, record: PersonRecord, binding: bytes, now: float) -> Arrival:
        """The person's place, sealed for this browser: the same number on every device."""
        expires = record.expires if record.expires > now else int(now) + self.settings.ticket_ttl_s
        text, token = rt.seal(
            Kind.TICKET,
            record.lane,
            record.number,
            binding,
            0,
            Flag(record.flags),
            now,
            not_before=record.not_before,
            expires=expires,
        )
        return Arrival(text, token, fresh=False)

    async def _person(self, rt: GateRuntime, who: str) -> PersonRecord | None:
        try:
            return await self.store.person(rt.gate_id, who)
        except BackendUnavailable as exc:
            rt.stats.refuse("backend_unavailable")
            raise degraded_error() from exc

    async def _hold(
        self, rt: GateRuntime, who: str, record: PersonRecord, over: str, now: float
    ) -> PersonRecord:
        """Keep the record as long as its ticket (or appointment) is good."""
        ttl = max(1, record.expires - int(now))
        try:
            return await self.store.hold_person(rt.gate_id, who, record, ttl, over)
        except BackendUnavailable as exc:
            rt.stats.refuse("backend_unavailable")
            raise degraded_error() from exc

    async def _mark_admitted(self, rt: GateRuntime, ticket: Token, over: str, now: float) -> None:
        """The person holds a live pass: the dashboard counts them in, until it expires."""
        who = who_of(ticket)
        if who is None:
            return
        record = replace(
            self._record(ticket, PersonStatus.ADMITTED), expires=int(now) + rt.pass_ttl_s
        )
        try:
            await self.store.hold_person(rt.gate_id, who, record, rt.pass_ttl_s, over)
        except BackendUnavailable:  # the pass holds by its signature; the count catches up
            log.warning("gate %s: person record not updated (backend away)", rt.gate_id)

    async def renew(self, rt: GateRuntime, token: Token, now: float) -> tuple[str, Token] | None:
        """A fresh pass for an active holder; a signed-in person stays counted as in."""
        result = await rt.renew(token, now)
        if result is not None and result[1].number > 0 and who_of(token) is not None:
            await self._mark_admitted(rt, token, place_of(token), now)
        return result

    async def leave(self, rt: GateRuntime, token: Token) -> Left:
        """The pass given back (logout): uncounted once, and the person no longer counts in.

        With the store away the pass is kept to uncount by the first tick that reaches it
        again (PENDING): a logout is not retried by the browser, so a 503 would leave the place
        counted until the pass expires (docs/operations.md#when-a-store-is-away)."""
        who = who_of(token)
        try:
            left = await rt.leave(token)
        except BackendUnavailable:
            kept = rt.defer_leave(token, who, place_of(token))
            return Left.PENDING if kept else Left.NOT_COUNTED
        if who is not None and token.number > 0 and not rt.from_lost_state(token):
            try:
                await self.store.forget_person(rt.gate_id, who, place_of(token))
            except BackendUnavailable:
                rt.defer_leave(token, who, place_of(token))  # uncounted; the record goes later
        return Left.LEFT if left else Left.NOT_COUNTED

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
        if rt.from_lost_state(token):  # before any exchange: that would seal a new ticket
            raise rt.state_lost()
        exchanged: Arrival | None = None
        original = token
        if token.flags & Flag.APPOINTMENT:
            if now < token.not_before:
                raise self.too_early_for_appointment(token, now)
            exchanged = await self._exchange(rt, token.binding, place_of(token), now)
            token = original = exchanged.token
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
        except Gone:
            # Another device of this person redeemed the place and holds a live pass: one
            # place per person, whatever the device, even after the claim window.
            if not await self._admitted_elsewhere(rt, token):
                raise
        await self._mark_admitted(rt, token, place_of(original), now)
        text, pass_token = rt.seal(
            Kind.PASS, token.lane, token.number, token.binding, rt.pass_ttl_s, now=now
        )
        return Admission(text, pass_token, exchanged)

    async def _admitted_elsewhere(self, rt: GateRuntime, token: Token) -> bool:
        who = who_of(token)
        if who is None:
            return False
        record = await self._person(rt, who)
        return (
            record is not None
            and record.status is PersonStatus.ADMITTED
            and record.place == place_of(token)
            and record.expires > rt.clock()
        )

    def too_early_for_appointment(self, token: Token, now: float) -> TooEarly:
        starts_at = token.not_before + self.settings.appointment_lead_s
        return TooEarly(
            "appointment",
            "Votre cours n'a pas encore commencé : revenez à l'heure indiquée, "
            "votre place est gardée.",
            "Your class has not started yet: come back at the time given, your place is kept.",
            retry_after=max(1, math.ceil(token.not_before - now)),
            extra={"come_back_at": token.not_before, "starts_at": starts_at},
        )

    def _admit_degraded(
        self, rt: GateRuntime, token: Token, now: float, exchanged: Arrival | None
    ) -> Admission:
        """Backend away: admit from this process's own small budget, or keep the place."""
        if not rt.degraded_admission(now):
            raise degraded_error()
        text, pass_token = rt.seal(Kind.PASS, token.lane, 0, token.binding, rt.pass_ttl_s, now=now)
        rt.stats.redeemed[token.lane] += 1
        return Admission(text, pass_token, exchanged)

    def check_pass(self, rt: GateRuntime, text: str | None, bid: str | None, now: float) -> Token:
        """Verify a pass without any backend call; raises a HomeroomError."""
        if not rt.policy.rules.passes_valid:
            raise closed_error()
        return self._verify_pass(rt, text, bid, now)

    def find_pass(
        self, rt: GateRuntime, cookies: Mapping[str, str], now: float
    ) -> tuple[GateRuntime, Token]:
        """The pass that opens `rt`'s gate among a request's cookies: its own, else one of a
        gate sharing passes with it (HOMEROOM_PASS_SHARED), with the runtime of the gate that
        issued it (the one that counts it and renews it). No backend call; raises the error of
        the gate's own pass (or of the first shared one there is) when none is valid."""
        if not rt.policy.rules.passes_valid:
            raise closed_error()
        bid = cookies.get(BROWSER_COOKIE)
        own = cookies.get(pass_cookie(rt.gate_id))
        first: HomeroomError | None = None
        for other in (rt, *self.shares.get(rt.gate_id, ())):
            text = own if other is rt else cookies.get(pass_cookie(other.gate_id))
            if not text:
                continue
            try:
                return other, self._verify_pass(other, text, bid, now)
            except HomeroomError as exc:
                first = first or exc
        raise first or no_pass_error()

    def _verify_pass(self, rt: GateRuntime, text: str | None, bid: str | None, now: float) -> Token:
        if not text:
            raise no_pass_error()
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


def no_pass_error() -> Forbidden:
    return Forbidden("no_pass", "Aucun laissez-passer.", "No pass.")


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
