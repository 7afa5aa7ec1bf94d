"""A simulated gate, built from the core and the memory store with a fake clock (docs/gate.md).

`SimGate` plays the gate's I/O layer: it issues tickets, runs the controller tick as GATE.md says
(read counters, pending = (horizon − horizon_at(now − claim window)) − redeemed in between,
plan_tick, advance), and lets the simulated people redeem, renew and leave. A hypothesis state
machine drives it and checks the invariants of the issue after every step.

The over-admission bound found here: 0, when every claim is checked against the live history
just before the atomic redeem. After each tick, active + pending + the safety net's room ≤
capacity (the controller subtracts both and hands out at most the difference); between ticks a
redeem only turns pending into active, an instant admission only turns room into pending, and a
claim that has left the controller's pending is LAPSED at that same instant, so nothing is added.
What the controller counts is an upper bound of what is real: active counts a pass until the
end of its 10-second expiry bucket (`backends.gate.bucket_of`: rounded up, so never early).

Two things make it non-zero:
- a claim checked on a view older than the last tick (a cached read) and redeemed after it: the
  bound is every claim that lapsed meanwhile, ≤ the admissions of the history steps that left
  the window, i.e. ≤ one tick's budget per tick of staleness (test_stale_claim_check_overadmits);
  the store's redeem does not check the claim window, so only the I/O layer's order prevents it;
- before the fix of History.claim (`now − at <= window`), a redemption at exactly
  admitted_at + window took a place the controller had just given back: one step's admissions
  (test_claim_at_the_window_boundary_is_lapsed).
A lowered capacity is not over-admission: places promised before are kept and drain away.
"""

from __future__ import annotations

import math
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from homeroom.backends.gate import LaneCounters, RedeemOutcome, bucket_now, bucket_of
from homeroom.backends.memory import MemoryGateStore
from homeroom.core.controller import LaneView, TickPlan, plan_tick
from homeroom.core.history import Claim
from homeroom.core.lanes import LANES, Lane, normalise_shares
from homeroom.core.policy import GatePolicy, Mode

T = TypeVar("T")
GATE = "g"
START = 1_700_000_017  # not on a minute boundary


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Finish one MemoryGateStore call: its methods never suspend, so one send runs them."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coro.close()
    raise AssertionError("a MemoryGateStore method suspended")


@dataclass
class Person:
    lane: Lane
    number: int
    redeemed: bool = False
    expires: int = 0
    left: bool = False
    late: bool = False  # redeemed after the controller had given the place back

    def holds_pass(self, now: int) -> bool:
        return self.redeemed and not self.left and now < self.expires


class SimGate:
    def __init__(self, policy: GatePolicy, capacity: int, pass_ttl_s: int) -> None:
        self.now = START
        self.store = MemoryGateStore(clock=lambda: self.now)
        self.policy = policy
        self.capacity = capacity
        self.pass_ttl_s = pass_ttl_s
        self.carry = 0.0
        self.people: dict[tuple[Lane, int], Person] = {}
        self.prev_issued = {lane: 0 for lane in LANES}
        self.plans: list[tuple[dict[Lane, LaneView], TickPlan]] = []

    @property
    def window(self) -> int:
        return self.policy.claim_window_s

    @property
    def bucket(self) -> int:
        return bucket_now(self.now)

    def counters(self) -> dict[Lane, LaneCounters]:
        return run(self.store.counters(GATE, self.bucket))

    def given_back(self, c: LaneCounters) -> int:
        """Numbers up to this one are no longer counted as pending by the controller."""
        return c.history.horizon_at(self.now - self.window)

    def pending(self, lane: Lane, c: LaneCounters) -> int:
        low = self.given_back(c)
        return (c.horizon - low) - run(self.store.redeemed_between(GATE, lane, low, c.horizon))

    def issue(self, lane: Lane, count: int) -> list[Person]:
        out = run(self.store.issue(GATE, lane, count, False))
        people = [Person(lane, n) for n in range(out.first, out.last + 1)]
        self.people.update({(lane, p.number): p for p in people})
        return people

    def tick(self, dt: int = 1) -> tuple[dict[Lane, LaneView], TickPlan]:
        self.now += dt
        counters = self.counters()
        views = {
            lane: LaneView(
                issued=c.issued,
                horizon=c.horizon,
                active=c.active,
                pending=self.pending(lane, c),
                arrived=c.issued - self.prev_issued[lane],
            )
            for lane, c in counters.items()
        }
        plan = plan_tick(self.policy, views, dt, self.capacity, self.carry)
        self.carry = plan.carry
        keep_s = max(self.window, 60)
        run(self.store.advance(GATE, plan.horizons, plan.ceilings, self.now, keep_s, self.bucket))
        self.prev_issued = {lane: c.issued for lane, c in counters.items()}
        self.plans.append((views, plan))
        return views, plan

    def claim(self, person: Person) -> Claim:
        c = self.counters()[person.lane]
        return c.history.claim(person.number, c.horizon, self.now, self.window)

    def redeem(self, person: Person, claim: Claim | None = None) -> RedeemOutcome | Claim:
        """Check the claim (on the live view unless one is given), then redeem atomically."""
        c = self.counters()[person.lane]
        if claim is None:
            claim = c.history.claim(person.number, c.horizon, self.now, self.window)
        if claim is not Claim.OPEN:
            return claim
        expires = self.now + self.pass_ttl_s
        out = run(self.store.redeem(GATE, person.lane, person.number, bucket_of(expires)))
        if out is RedeemOutcome.OK:
            assert not person.redeemed, "a number was redeemed twice"
            person.redeemed, person.expires = True, expires
            person.late = person.number <= self.given_back(c)
        return out

    def renew(self, person: Person) -> bool:
        if not person.holds_pass(self.now):
            return False  # the I/O layer refuses an expired pass before the store sees it
        new = self.now + self.pass_ttl_s
        moved = run(
            self.store.renew(
                GATE, person.lane, person.number, bucket_of(person.expires), bucket_of(new)
            )
        )
        if moved:
            person.expires = new
        return moved

    def leave(self, person: Person) -> bool:
        first = run(self.store.leave(GATE, person.lane, person.number, bucket_of(person.expires)))
        assert first is not person.left
        person.left = True
        return first

    def real_active(self) -> int:
        return sum(1 for p in self.people.values() if p.holds_pass(self.now))

    def late_active(self) -> int:
        return sum(1 for p in self.people.values() if p.late and p.holds_pass(self.now))

    def committed(self) -> int:
        """Places taken or promised: valid passes, admitted numbers the controller still counts
        as pending, and the safety net's room for arrivals before the next tick."""
        total = self.real_active()
        for lane, c in self.counters().items():
            total += self.pending(lane, c) + (c.ceiling - c.horizon)
        return total


PRESET_SHARES = [
    None,  # the defaults
    {Lane.PUPILS: 1.0},
    {Lane.STAFF: 1.0, Lane.GUESTS: 1.0},
    {Lane.STAFF: 0.5, Lane.PRIORITY: 0.25, Lane.PUPILS: 0.2, Lane.GUESTS: 0.05},
]


class GateMachine(RuleBasedStateMachine):
    @initialize(
        mode=st.sampled_from([Mode.SAFETY_NET, Mode.QUEUE, Mode.UNDER_ATTACK]),
        capacity=st.integers(0, 30),
        rate_per_min=st.sampled_from([60, 120, 300, 600, 3_000]),
        window=st.integers(10, 20),
        ttl=st.integers(5, 150),
        threshold=st.sampled_from([0.5, 0.8, 1.0]),
        shares=st.sampled_from(PRESET_SHARES),
    )
    def setup(self, mode, capacity, rate_per_min, window, ttl, threshold, shares):
        policy = GatePolicy(
            mode=mode,
            capacity=capacity,
            rate_per_min=rate_per_min,
            claim_window_s=window,
            safety_threshold=threshold,
            **({"shares": shares} if shares else {}),
        )
        self.gate = SimGate(policy, capacity, ttl)
        self.envelope = capacity
        self.horizons = {lane: 0 for lane in LANES}

    def pick(self, index: int, wanted) -> Person | None:
        found = [p for p in self.gate.people.values() if wanted(p)]
        return found[index % len(found)] if found else None

    @rule(lane=st.sampled_from(LANES), count=st.integers(1, 8))
    def issue(self, lane, count):
        self.gate.issue(lane, count)

    @rule(
        dt=st.sampled_from([1, 1, 1, 2, 5]), redeemers=st.lists(st.integers(0, 10**6), max_size=6)
    )
    def tick(self, dt, redeemers):
        """A controller tick, then a few of the admitted people come in."""
        views, plan = self.gate.tick(dt)
        self.check_plan(views, plan)
        for index in redeemers:
            person = self.pick(index, lambda p: not p.redeemed and self.gate.claim(p) is Claim.OPEN)
            if person is not None:
                assert self.gate.redeem(person) is RedeemOutcome.OK

    def check_plan(self, views: dict[Lane, LaneView], plan: TickPlan) -> None:
        # No lane falls below its share when it has people waiting.
        norm = normalise_shares(self.gate.policy.shares)
        for lane in LANES:
            owed = min(views[lane].waiting, math.floor(norm[lane] * plan.budget))
            assert plan.admitted[lane] >= owed
        # After the tick, what the controller knows to be taken or promised fits the capacity.
        if plan.budget > 0:
            counted = sum(v.active + v.pending for v in views.values())
            extension = sum(plan.ceilings[la] - plan.horizons[la] for la in LANES)
            assert counted + sum(plan.admitted.values()) + extension <= self.gate.capacity

    @rule(seconds=st.integers(1, 30))
    def idle(self, seconds):
        """Time passes without a tick (the lease changes hands, a pause)."""
        self.gate.now += seconds

    @rule(index=st.integers(0, 10**6))
    def redeem(self, index):
        person = self.pick(index, lambda p: not p.redeemed)
        if person is None:
            return
        claim = self.gate.claim(person)
        out = self.gate.redeem(person)
        if claim is Claim.OPEN:
            assert out is RedeemOutcome.OK
        else:
            assert out is claim

    @rule(index=st.integers(0, 10**6), early=st.sampled_from([0, 0, 1]))
    def redeem_at_the_last_moment(self, index, early):
        """Tick at the second the claim lapses (or the one before), then try to redeem it."""
        gate = self.gate
        person = self.pick(index, lambda p: not p.redeemed and gate.claim(p) is Claim.OPEN)
        if person is None:
            return
        at = gate.counters()[person.lane].history.admitted_at(person.number)
        if at is None or at + gate.window - early <= gate.now:
            return
        self.check_plan(*gate.tick(at + gate.window - early - gate.now))
        out = gate.redeem(person)
        assert out is (RedeemOutcome.OK if early else Claim.LAPSED)

    @rule(index=st.integers(0, 10**6))
    def redeem_again(self, index):
        person = self.pick(index, lambda p: p.redeemed)
        if person is None:
            return
        out = run(self.gate.store.redeem(GATE, person.lane, person.number, self.gate.bucket + 5))
        if person.left:
            assert out in (RedeemOutcome.LEFT, RedeemOutcome.LAPSED)
        else:
            assert out in (RedeemOutcome.DUPLICATE, RedeemOutcome.LAPSED)

    @rule(index=st.integers(0, 10**6))
    def jump_the_queue(self, index):
        """A waiting person forges their way to the store: the horizon still says no."""
        person = self.pick(index, lambda p: not p.redeemed)
        if person is None:
            return
        horizon = self.gate.counters()[person.lane].horizon
        if person.number > horizon:
            out = run(self.gate.store.redeem(GATE, person.lane, person.number, self.gate.bucket))
            assert out is RedeemOutcome.NOT_YET

    @rule(index=st.integers(0, 10**6))
    def renew(self, index):
        person = self.pick(index, lambda p: p.holds_pass(self.gate.now))
        if person is not None:
            assert self.gate.renew(person)

    @rule(index=st.integers(0, 10**6))
    def leave(self, index):
        person = self.pick(index, lambda p: p.redeemed and not p.left)
        if person is not None:
            assert self.gate.leave(person)
            store = self.gate.store
            assert not run(store.renew(GATE, person.lane, person.number, 0, self.gate.bucket + 9))
            assert not run(store.leave(GATE, person.lane, person.number, 0))

    @rule(capacity=st.integers(0, 30))
    def set_capacity(self, capacity):
        self.gate.capacity = capacity

    @rule(mode=st.sampled_from(list(Mode)))
    def set_mode(self, mode):
        self.gate.policy = self.gate.policy.updated({"mode": mode})

    @invariant()
    def capacity_is_never_exceeded(self):
        committed = self.gate.committed()
        # When capacity is lowered, places already promised are kept: the envelope only falls
        # as fast as they are released. The bound beyond it is 0 (module docstring).
        assert self.gate.late_active() == 0, "a place given back was redeemed"
        assert self.gate.real_active() <= committed <= self.envelope
        self.envelope = max(self.gate.capacity, min(self.envelope, committed))

    @invariant()
    def first_in_first_out_within_a_lane(self):
        """Admission is number ≤ horizon, so FIFO within a lane is: the horizon never goes back
        nor passes the numbers issued, and nobody gets in above it (see jump_the_queue)."""
        for lane, c in self.gate.counters().items():
            assert c.horizon <= c.issued, "a number was admitted before it was issued"
            assert c.horizon <= c.ceiling
            assert c.horizon >= self.horizons[lane], "a horizon went back"
            self.horizons[lane] = c.horizon
        for person in self.gate.people.values():
            if person.redeemed:
                assert person.number <= self.horizons[person.lane], "got in without admission"


GateMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=50, deadline=None)
TestGateModel = GateMachine.TestCase


def drain(gate: SimGate, ticks: int, no_shows: set[tuple[Lane, int]]) -> int:
    """Tick until everyone is admitted; each admitted person redeems at once unless a no-show."""
    seen = {lane: 0 for lane in LANES}
    for tick in range(1, ticks + 1):
        gate.tick()
        counters = gate.counters()
        for lane, c in counters.items():
            for number in range(seen[lane] + 1, c.horizon + 1):
                if (lane, number) not in no_shows:
                    assert gate.redeem(gate.people[(lane, number)]) is RedeemOutcome.OK
            seen[lane] = c.horizon
        if all(c.horizon >= c.issued for c in counters.values()):
            return tick
    return -1


@settings(max_examples=15, deadline=None)
@given(
    tickets=st.fixed_dictionaries({lane: st.integers(0, 40) for lane in LANES}),
    capacity=st.integers(1, 30),
    rate_per_min=st.integers(10, 3_000),
    ttl=st.integers(5, 120),
    window=st.integers(10, 30),
    mode=st.sampled_from([Mode.SAFETY_NET, Mode.QUEUE]),
    shares=st.sampled_from(PRESET_SHARES),
    no_show_every=st.sampled_from([0, 2, 5]),
)
def test_every_ticket_is_eventually_admitted(
    tickets, capacity, rate_per_min, ttl, window, mode, shares, no_show_every
):
    policy = GatePolicy(
        mode=mode,
        rate_per_min=rate_per_min,
        claim_window_s=window,
        **({"shares": shares} if shares else {}),
    )
    gate = SimGate(policy, capacity, ttl)
    people = [p for lane, k in tickets.items() if k for p in gate.issue(lane, k)]
    no_shows = {(p.lane, p.number) for p in people[:: no_show_every or len(people) + 1]}
    total = len(people)
    # A place is held by a pass for ttl, plus up to 60 s of its expiry-minute bucket, plus a
    # tick; by a no-show for the claim window plus a tick. The rate cap alone needs
    # total / (rate/60) ticks, plus 2 for the carry.
    hold = max(ttl + 61, window + 1) + 1
    bound = math.ceil(total / capacity) * hold + math.ceil(total * 60 / rate_per_min) + 2
    took = drain(gate, bound, no_shows)
    assert took != -1, f"{total} tickets not all admitted within {bound} ticks"
    assert all(p.redeemed for p in people if (p.lane, p.number) not in no_shows)


def test_claim_at_the_window_boundary_is_lapsed():
    """Regression: at admitted_at + window the controller gives the place back and the claim
    must be LAPSED at that very second, or its holder and the next person both get in."""
    policy = GatePolicy(mode=Mode.QUEUE, rate_per_min=6_000, claim_window_s=10)
    gate = SimGate(policy, capacity=1, pass_ttl_s=300)
    first, second = gate.issue(Lane.PUPILS, 2)
    gate.tick()  # admits number 1, recorded at START + 1
    for _ in range(9):
        gate.tick()
    assert gate.claim(first) is Claim.OPEN  # START + 10: still within the window
    gate.tick()
    # At START + 11 the controller no longer counts number 1 as pending and admits number 2.
    assert gate.counters()[Lane.PUPILS].horizon == 2
    assert gate.redeem(second) is RedeemOutcome.OK
    assert gate.redeem(first) is Claim.LAPSED
    assert gate.real_active() <= gate.capacity


def test_stale_claim_check_overadmits_by_the_claims_lapsed_meanwhile():
    """Documents the I/O layer's race (not a core bug): check the claim, tick, then redeem."""
    policy = GatePolicy(mode=Mode.QUEUE, rate_per_min=6_000, claim_window_s=10)
    gate = SimGate(policy, capacity=3, pass_ttl_s=300)
    early = gate.issue(Lane.PUPILS, 3)
    later = gate.issue(Lane.PUPILS, 3)
    gate.tick()  # admits the first three
    for _ in range(9):
        gate.tick()
    checked = [gate.claim(p) for p in early]  # OPEN, seen on the view before the next tick
    assert checked == [Claim.OPEN] * 3
    gate.tick()
    gate.tick()  # their claims lapse; the next three are admitted
    for person in later:
        assert gate.redeem(person) is RedeemOutcome.OK
    for person, claim in zip(early, checked, strict=True):
        assert gate.redeem(person, claim) is RedeemOutcome.OK  # the store does not check lapses
    over = gate.real_active() - gate.capacity
    assert over == 3  # every claim that lapsed between the check and the redeem
