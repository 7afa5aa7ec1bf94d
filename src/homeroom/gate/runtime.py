"""One gate's live view and loops: refresh, controller, batched issue, redeem (docs/gate.md).

Every gate process keeps the gate's counters and policy as of the last refresh (about a second
old) and the public state encoded once from them. One process at a time, the lease holder, also
runs the controller. Nothing here holds a record per waiting person.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from homeroom.backends.coalesce import Coalescer
from homeroom.backends.gate import (
    BackendUnavailable,
    GateStore,
    Issued,
    LaneCounters,
    RedeemOutcome,
    bucket_now,
    bucket_of,
)
from homeroom.config import Settings
from homeroom.core import adaptive, prequeue, probing, state
from homeroom.core.adaptive import Health
from homeroom.core.controller import LaneView, plan_tick
from homeroom.core.history import Claim, estimated_wait_s
from homeroom.core.lanes import LANES, Lane
from homeroom.core.policy import GatePolicy
from homeroom.core.probing import Outcome
from homeroom.core.tokens import Flag, KeyRing, Kind, Token, gate_tag
from homeroom.errors import Conflict, Gone, TooEarly, Unavailable
from homeroom.gate.failover import Memory

log = logging.getLogger("homeroom.gate")

HISTORY_MARGIN_S = 120  # history kept beyond the claim window
PENDING_LEAVES_MAX = 10_000  # passes given back while the store was away, kept to uncount later
STATE_SKEW_S = 2  # clocks of the gate's processes agree within this (NTP does far better)


@dataclass(frozen=True, slots=True)
class PendingLeave:
    """A pass given back while the store was away: uncounted (and its person record dropped)
    by the first tick that reaches the store again (docs/operations.md#when-a-store-is-away)."""

    lane: Lane
    number: int
    bucket: int  # the pass's expiry bucket: after it the pass no longer counts anyway
    who: str | None = None  # a signed-in person's record key, and their place
    place: str = ""


@dataclass
class Stats:
    """What /metrics reports, counted by this process."""

    issued: dict[Lane, int] = field(default_factory=lambda: dict.fromkeys(LANES, 0))
    redeemed: dict[Lane, int] = field(default_factory=lambda: dict.fromkeys(LANES, 0))
    refused: dict[str, int] = field(default_factory=dict)
    admitted_per_s: float = 0.0
    ticks: int = 0
    controller: bool = False
    leaves_deferred: int = 0  # passes given back while the store was away
    leaves_late: int = 0  # of those, uncounted once it was back (or found expired)
    restored: int = 0  # numbers, places and redemptions put back after failovers
    probes: dict[str, int] = field(default_factory=dict)  # outside health probes, by outcome
    probe_s: float | None = None  # how long the last probe took
    # the proxies' pass check (gate/check.py): answers by word ("valid", "renewed", or why
    # refused: "no_pass", "pass_expired", ..., "closed"), and how many were given at the door
    checks: dict[str, int] = field(default_factory=dict)
    checks_at_door: int = 0

    def refuse(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1


class GateRuntime:
    def __init__(
        self,
        gate_id: str,
        store: GateStore,
        keys: KeyRing,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.gate_id = gate_id
        self.store = store
        self.keys = keys
        self.settings = settings
        self.clock = clock
        self.tag = gate_tag(gate_id)
        # how long a pass lasts since its last renewal, and the age at which it is renewed
        self.pass_ttl_s, self.renew_after_s = settings.pass_times(gate_id)
        self.holder = secrets.token_hex(8)
        self.initial_policy = GatePolicy(
            mode=settings.mode,
            capacity=settings.capacity,
            rate_per_min=settings.rate_per_min,
            claim_window_s=settings.claim_window_s,
            safety_threshold=settings.safety_threshold,
        ).updated(settings.policy_changes().get(gate_id, {}))
        self.policy = self.initial_policy
        self.counters: dict[Lane, LaneCounters] = {lane: LaneCounters() for lane in LANES}
        self.capacity = self.policy.capacity
        self.degraded = False
        self.stats = Stats()
        self.state = state.encode({})
        self.poll_s = 5
        self._carry = 0.0
        self._credit: dict[Lane, float] = {}
        self._last_tick: float | None = None
        self._prev_issued: dict[Lane, int] = {}
        self._latencies: list[float] = []
        self._errors = 0
        self._probed: Health | None = None  # the workspace's health probes since the last tick
        self._degraded_allowance = 0.0
        self.memory = Memory()  # what this process saw of each lane (gate/failover.py)
        self.paused_until = 0.0  # after an outage: no admission before this (confirming)
        self._task: asyncio.Task[None] | None = None
        self.pending_leaves: dict[tuple[Lane, int], PendingLeave] = {}
        self._numbers: Coalescer[tuple[Lane, bool], None, tuple[Issued, int]] = Coalescer(
            self._take_numbers
        )
        self._prequeue_key = prequeue.event_key(keys.keys[keys.current], gate_id, 0)
        self._rebuild_state(int(clock()))

    # -- loops ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self.step()
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"gate:{self.gate_id}"
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        task = asyncio.current_task()
        while True:
            await asyncio.sleep(self.settings.tick_s)
            await self.step()
            # a cancel that arrived during a Redis call may have come out as the client's own
            # timeout error, which `step` survives: stop now, not a tick later
            if task is not None and task.cancelling():
                raise asyncio.CancelledError

    async def step(self) -> None:
        """One tick: run the controller if this process holds the lease, then refresh."""
        now = self.clock()
        try:
            held = await self.store.acquire_lease(
                self.gate_id, self.holder, 3 * self.settings.tick_s
            )
            self.stats.controller = held
            if self.degraded:
                await self._confirm(now)
            if held and now >= self.paused_until:
                await self._control(now)
            await self._report_health()
            await self.refresh(now)
            await self._uncount_pending(now)
            if self.degraded:
                log.warning("gate %s: backend is back", self.gate_id)
            self.degraded = False
        except BackendUnavailable as exc:
            if not self.degraded:
                log.warning("gate %s: backend unavailable, degraded mode: %s", self.gate_id, exc)
            self.degraded = True
            self._rebuild_state(int(now))
        except Exception:  # the loop must outlive any bug; the next tick tries again
            log.exception("gate %s: tick failed", self.gate_id)
        self.stats.ticks += 1

    async def refresh(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        policy = await self.store.get_policy(self.gate_id)
        if policy is None:
            policy = self.initial_policy
            await self.store.set_policy(self.gate_id, policy)
        if policy.opening_at != self.policy.opening_at:
            self._prequeue_key = prequeue.event_key(
                self.keys.keys[self.keys.current], self.gate_id, policy.opening_at
            )
        self.policy = policy
        counters = await self.store.counters(self.gate_id, bucket_now(now))
        for lane, c in counters.items():
            before = self.counters.get(lane)
            if before is not None and before.born and c.born > before.born:
                log.error(
                    "gate %s, lane %s: the store lost this lane's state (born again at %s, "
                    "%s numbers were issued before): tickets taken before then take a new place",
                    self.gate_id,
                    lane.value,
                    c.born,
                    before.issued,
                )
        for lane, c in counters.items():
            self.memory.saw(lane, c)
        self.counters = counters
        self._rebuild_state(int(now))

    async def _confirm(self, now: float) -> None:
        """Back from an outage, which may have been a failover to a replica behind its primary:
        put back what this process knows the store had, and admit nobody (neither the
        controller's horizon nor a redemption here) for `failover_pause_s`, time for every
        other process to do the same at its next tick (docs/operations.md#a-redis-primary-dies).
        """
        pause = max(self.settings.failover_pause_s, 2 * self.settings.tick_s)
        self.paused_until = now + pause
        counters = await self.store.counters(self.gate_id, bucket_now(now))
        keep_s = self.policy.claim_window_s + HISTORY_MARGIN_S
        restored = await self.memory.confirm(self.store, self.gate_id, counters, now, keep_s)
        for r in restored:
            self.stats.restored += r.issued + r.horizon + r.redeemed
        self.paused_until = self.clock() + pause

    def _rebuild_state(self, now: int) -> None:
        lanes = {
            lane: state.LaneState(c.issued, c.horizon, c.history.rate(now), c.born)
            for lane, c in self.counters.items()
        }
        paused = self.degraded or now < self.paused_until  # confirming after an outage
        doc = state.document(self.gate_id, self.policy, lanes, now, self.capacity, paused)
        self.poll_s = int(doc["poll_s"])  # type: ignore[call-overload]
        self.state = state.encode(doc)

    async def _control(self, now: float) -> None:
        policy = await self.store.get_policy(self.gate_id) or self.initial_policy
        bucket = bucket_now(now)
        if policy.opening_at and now >= policy.opening_at:
            for lane, c in self.counters.items():
                if c.frozen is None and c.prequeue > 0:
                    await self.store.freeze_prequeue(self.gate_id, lane, at=int(now))
        counters = await self.store.counters(self.gate_id, bucket)
        views: dict[Lane, LaneView] = {}
        released: dict[Lane, int] = {}
        for lane, c in counters.items():
            since = c.history.horizon_at(now - policy.claim_window_s) if c.history.steps else 0
            released[lane] = since
            # Active passes and redeemed claims read together: a redeem in between would be
            # counted in neither, and its place given twice.
            seen = await self.store.window(
                self.gate_id, lane, since, max(c.ceiling, c.horizon, c.issued), bucket
            )
            unredeemed = (seen.horizon - since) - seen.redeemed
            arrived = max(0, c.issued - self._prev_issued.get(lane, c.issued))  # 0 after a loss
            views[lane] = LaneView(c.issued, seen.horizon, seen.active, max(0, unredeemed), arrived)
        self._prev_issued = {lane: c.issued for lane, c in counters.items()}
        dt = self.settings.tick_s if self._last_tick is None else now - self._last_tick
        dt = min(dt, 2 * self.settings.tick_s)
        self._last_tick = now
        health, probed = await self._health(), self._probed
        self._probed = None  # each probe is one step of the controller
        self.capacity = adaptive.next_capacity(
            policy,
            self.capacity if policy.adaptive else policy.capacity,
            health if probed is None else _merged([probed] if health is None else [health, probed]),
            min_samples=adaptive.MIN_SAMPLES if probed is None else 1,
        )
        plan = plan_tick(policy, views, dt, self.capacity, self._carry, self._credit)
        self._carry, self._credit = plan.carry, plan.credit
        await self.store.advance(
            self.gate_id,
            plan.horizons,
            plan.ceilings,
            int(now),
            policy.claim_window_s + HISTORY_MARGIN_S,
            bucket,
            released,
        )
        self.stats.admitted_per_s = sum(plan.admitted.values()) / dt if dt > 0 else 0.0

    # -- health --------------------------------------------------------------------------

    def record(self, seconds: float, error: bool) -> None:
        """One response of a protected route, for adaptive capacity."""
        if len(self._latencies) < 10_000:
            self._latencies.append(seconds)
        self._errors += int(error)

    async def _report_health(self) -> None:
        if not self._latencies:
            return
        ordered = sorted(self._latencies)
        p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)] * 1000
        health = Health(p95, self._errors / len(ordered), len(ordered))
        self._latencies, self._errors = [], 0
        await self.store.report_health(self.gate_id, self.holder, health, 10)

    async def _health(self) -> Health | None:
        reports = await self.store.health(self.gate_id)
        return _merged(reports) if reports else None

    def probed(self, outcome: Outcome, seconds: float) -> None:
        """One probe of the workspace's health URL (gate/probe.py), for the next tick."""
        self.stats.probes[outcome.value] = self.stats.probes.get(outcome.value, 0) + 1
        self.stats.probe_s = seconds
        health = probing.health_of(outcome, seconds)
        if health is not None:
            self._probed = health if self._probed is None else _merged([self._probed, health])

    # -- tokens --------------------------------------------------------------------------

    def seal(
        self,
        kind: Kind,
        lane: Lane,
        number: int,
        binding: bytes,
        ttl_s: int,
        flags: Flag = Flag.NONE,
        now: float | None = None,
        *,
        not_before: int = 0,
        expires: int | None = None,
    ) -> tuple[str, Token]:
        now_i = int(self.clock() if now is None else now)
        until = now_i + ttl_s if expires is None else expires
        keys = self.keys
        token = Token(
            kind, self.tag, lane, number, now_i, until, binding, flags, not_before, keys.current
        )
        return keys.seal(token), token

    def open(self, text: str, kind: Kind, now: float | None = None) -> Token:
        """Verify a token of this gate; raises a core.tokens.TokenError."""
        return self.keys.open(
            text, kind=kind, gate=self.tag, now=self.clock() if now is None else now
        )

    # -- issue and redeem ----------------------------------------------------------------

    async def take_number(self, lane: Lane, prequeue_wanted: bool) -> tuple[Issued, int]:
        """A number in `lane`; concurrent arrivals share one backend call, in arrival order."""
        return await self._numbers.call((lane, prequeue_wanted), None)

    async def _take_numbers(
        self, key: tuple[Lane, bool], waiters: list[None]
    ) -> list[tuple[Issued, int]]:
        lane, at = key[0], int(self.clock())
        if self.degraded or at < self.paused_until:  # a number given now might be given twice
            raise BackendUnavailable("paused after an outage, until the state is confirmed")
        issued = await self.store.issue(self.gate_id, lane, len(waiters), key[1], at=at)
        known = self.memory.known_issued(lane)
        if not issued.prequeue and issued.first <= known:  # the count went back (a failover)
            if known > issued.last:
                await self.store.issue(self.gate_id, lane, known - issued.last, False, at=at)
            issued = await self.store.issue(self.gate_id, lane, len(waiters), False, at=at)
        self.memory.issued(lane, issued)
        return [(issued, issued.first + i) for i in range(len(waiters))]

    def from_lost_state(self, token: Token) -> bool:
        """A ticket or pass sealed before the store lost its lane's state (a Redis that came
        back empty, a restarted memory store): its number belongs to a count that no longer
        exists (docs/gate.md#when-the-store-loses-its-state). Appointments hold a time, not a
        number: they stay good."""
        born = self.counters[token.lane].born
        return (
            born > 0 and not token.flags & Flag.APPOINTMENT and token.issued < born - STATE_SKEW_S
        )

    def state_lost(self) -> Gone:
        self.stats.refuse("state_lost")
        return Gone(
            "gate_restarted",
            "La salle d'attente a redémarré et a perdu l'ordre d'arrivée : reprenez une place.",
            "The waiting room restarted and lost the order of arrival: please take a new place.",
        )

    def position(self, token: Token) -> int:
        return token.number - self.counters[token.lane].horizon

    def wait_s(self, token: Token, now: float) -> int | None:
        rate = self.counters[token.lane].history.rate(now)
        return estimated_wait_s(self.position(token), rate)

    def exchange_prequeue(self, token: Token) -> int | None:
        """The main number of a pre-queue ticket once its lane's pre-queue is frozen."""
        frozen = self.counters[token.lane].frozen
        if frozen is None or token.number > frozen.count:
            return None
        return frozen.base + prequeue.rank(self._prequeue_key, token.number, frozen.count)

    def claim(self, token: Token, now: float, fresh_horizon: int | None = None) -> Claim:
        c = self.counters[token.lane]
        horizon = max(c.horizon, fresh_horizon or 0)
        return c.history.claim(token.number, horizon, now, self.policy.claim_window_s)

    async def redeem(self, token: Token, now: float, fresh_horizon: int | None = None) -> None:
        """Turn an admitted ticket into a counted pass, or raise why not. Idempotent for the
        ticket's own browser within the claim window; after the pass was given back, 409.

        `fresh_horizon` is a horizon just read from the backend (by the issue that took the
        number), newer than this process's last refresh.
        """
        claim = self.claim(token, now, fresh_horizon)
        if claim is Claim.LAPSED:
            raise self.lapsed()
        if claim is Claim.NOT_YET and not self.policy.rules.instant:
            raise self.too_early(token, now)
        expiry = int(now) + self.pass_ttl_s
        try:
            if self.degraded or now < self.paused_until:  # confirming the store's state
                raise BackendUnavailable("paused after an outage, until the state is confirmed")
            outcome = await self.store.redeem(
                self.gate_id, token.lane, token.number, bucket_of(expiry)
            )
        except BackendUnavailable as exc:
            self.stats.refuse("backend_unavailable")
            raise Unavailable(
                "degraded",
                "La salle d'attente est momentanément indisponible ; votre place est gardée.",
                "The waiting room is briefly unavailable; your place is kept.",
                retry_after=5,
            ) from exc
        if outcome is RedeemOutcome.NOT_YET:
            raise self.too_early(token, now)
        if outcome is RedeemOutcome.LAPSED:
            raise self.lapsed()
        if outcome is RedeemOutcome.DUPLICATE:
            # Redeemed already, by this browser (the caller checked the binding), within its
            # claim window: the answer was lost on the way (a bad network) or a second tab
            # asks. The same access again, counted once.
            return
        if outcome is RedeemOutcome.LEFT:
            self.stats.refuse("replay_after_leave")
            raise Conflict(
                "duplicate",
                "Ce ticket a déjà servi et son accès a été rendu : reprenez une place.",
                "This ticket was already used and its access given back: take a new place.",
            )
        self.stats.redeemed[token.lane] += 1
        self.memory.redeemed(token.lane, token.number, bucket_of(expiry), now)

    def lapsed(self) -> Gone:
        self.stats.refuse("claim_lapsed")
        return Gone(
            "claim_lapsed",
            "Votre tour est passé sans que vous vous présentiez ; reprenez une place.",
            "Your turn came and went; please take a new place in the queue.",
        )

    def too_early(self, token: Token, now: float) -> TooEarly:
        wait = self.wait_s(token, now)
        return TooEarly(
            "not_yet",
            "Ce n'est pas encore votre tour.",
            "It is not your turn yet.",
            retry_after=int(max(2, min(wait or self.settings.tick_s * 5, 60))),
            extra={"position": max(0, self.position(token))},
        )

    def degraded_admission(self, now: float) -> bool:
        """While the backend is away: may this process admit one more person on its own?"""
        per_s = self.settings.degraded_admit_per_min / 60.0
        if per_s <= 0:
            return False
        self._degraded_allowance = min(
            per_s * 10, self._degraded_allowance + per_s * self.settings.tick_s
        )
        if self._degraded_allowance >= 1:
            self._degraded_allowance -= 1
            return True
        return False

    async def renew(self, token: Token, now: float) -> tuple[str, Token] | None:
        """A fresh pass for an active holder, moving their count; None if it cannot be renewed.

        A pass from a lost count keeps its holder inside, uncounted (number 0, as a pass given
        while the backend was away): its number belongs to someone else in the new count."""
        number = 0 if self.from_lost_state(token) else token.number
        new_text, new = self.seal(
            Kind.PASS, token.lane, number, token.binding, self.pass_ttl_s, now=now
        )
        if number > 0:
            ok = await self.store.renew(
                self.gate_id,
                token.lane,
                token.number,
                bucket_of(token.expires),
                bucket_of(new.expires),
            )
            if not ok:
                return None
        return new_text, new

    async def leave(self, token: Token) -> bool:
        """Uncount a pass given back; raises BackendUnavailable (see `defer_leave`)."""
        if token.number <= 0 or self.from_lost_state(token):
            return False  # uncounted, or counted in a count that is gone
        return await self.store.leave(
            self.gate_id, token.lane, token.number, bucket_of(token.expires)
        )

    def defer_leave(self, token: Token, who: str | None, place: str) -> bool:
        """The store is away: keep the pass to uncount once it is back. False if not kept
        (PENDING_LEAVES_MAX reached: that pass stays counted until it expires)."""
        key = (token.lane, token.number)
        if key not in self.pending_leaves and len(self.pending_leaves) >= PENDING_LEAVES_MAX:
            self.stats.refuse("leave_not_kept")
            return False
        self.pending_leaves[key] = PendingLeave(
            token.lane, token.number, bucket_of(token.expires), who, place
        )
        self.stats.leaves_deferred += 1
        return True

    async def _uncount_pending(self, now: float) -> None:
        """Passes given back during an outage, uncounted now; stops at the first failure
        (the rest wait for the next tick). Leaving is idempotent, so one done twice is once."""
        bucket = bucket_now(now)
        for key, leave in list(self.pending_leaves.items()):
            if leave.bucket > bucket:  # an expired pass's bucket no longer counts
                await self.store.leave(self.gate_id, leave.lane, leave.number, leave.bucket)
                if leave.who is not None:
                    await self.store.forget_person(self.gate_id, leave.who, leave.place)
            if self.pending_leaves.pop(key, None) is not None:  # not done by a step meanwhile
                self.stats.leaves_late += 1

    @property
    def active(self) -> int:
        return sum(c.active for c in self.counters.values())


def _merged(reports: list[Health]) -> Health:
    """Several views of one gate's health: the worst latency and error rate, every sample."""
    return Health(
        max(h.p95_ms for h in reports),
        max(h.error_rate for h in reports),
        sum(h.samples for h in reports),
    )
