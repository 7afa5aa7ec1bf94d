"""The gate's shared state: a few counters per lane, and a small record per signed-in person.

`GateStore` is what the gate's I/O layer needs from a backend. Every implementation passes the
same contract suite (tests/contract/test_gate_store.py); the memory store is the reference.
Guarantees that every implementation must keep are stated on each method.

Anonymous waiting stays counters only: a waiting person is a number inside their own ticket.
Only a person the school knows (a valid sign-in session) gets a `PersonRecord`, keyed by the
account half of the binding, with a TTL: it gives every device of that person the same place,
and tells the teacher's dashboard who is waiting or in (docs/gate.md#who-is-coming).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from homeroom.core.adaptive import Health
from homeroom.core.history import History
from homeroom.core.lanes import Lane
from homeroom.core.policy import GatePolicy

# Active passes are counted in buckets of their expiry time (a few fields a lane, whatever the
# crowd). A pass counts until the end of its bucket, so a place comes back at most a bucket
# after its pass expired: 10 s, where a person who stops using a workspace must free their
# place within its idle time (docs/gate.md#pass-times-per-gate). The stores take buckets as
# opaque whole numbers, compared with the bucket of now.
ACTIVE_BUCKET_S = 10


def bucket_of(expiry: int) -> int:
    """The bucket of a pass expiring at `expiry`: rounded up, so that a pass is counted until
    the end of the bucket in which it expires (rounding down would under-count)."""
    return -(-expiry // ACTIVE_BUCKET_S)


def bucket_now(now: float) -> int:
    """The bucket of `now`: passes in it and before no longer count."""
    return int(now // ACTIVE_BUCKET_S)


BITMAP_CHUNK_BITS = 1 << 23  # one Redis string per 1 MiB of redeemed-number bits


class BackendUnavailable(Exception):
    """The backend cannot be reached; callers fall back to the documented degraded mode."""


class RedeemOutcome(StrEnum):
    OK = "ok"
    NOT_YET = "not_yet"  # number above the horizon
    DUPLICATE = "duplicate"  # number already redeemed
    LAPSED = "lapsed"  # admitted longer ago than the claim window: its place was given back
    LEFT = "left"  # already redeemed, and its pass was given back (logout)


@dataclass(frozen=True, slots=True)
class Issued:
    first: int  # numbers first..last were taken, in this order
    last: int
    prequeue: bool  # numbers are pre-queue numbers, ranked at opening
    horizon: int  # lane horizon after the issue (≥ last if admitted at once)


@dataclass(frozen=True, slots=True)
class PrequeueFreeze:
    base: int  # main-counter value before the pre-queue's ranks were appended
    count: int  # pre-queue numbers 1..count were ranked


@dataclass(frozen=True, slots=True)
class LaneCounters:
    issued: int = 0
    horizon: int = 0
    ceiling: int = 0
    redeemed: int = 0  # numbers redeemed so far
    active: int = 0  # passes whose expiry bucket is after `now_bucket` (the bucket of now)
    prequeue: int = 0  # pre-queue numbers taken
    frozen: PrequeueFreeze | None = None
    history: History = field(default_factory=History)
    # when this lane's state began (unix seconds, by the clock of the call that began it; 0:
    # unknown, a state older than the stamp): a later value means the store lost the lane
    born: int = 0


class PersonStatus(StrEnum):
    WAITING = "waiting"  # holds a ticket
    APPOINTMENT = "appointment"  # holds an appointment: come back from `not_before`
    ADMITTED = "admitted"  # redeemed: holds a live pass


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """One signed-in person's place at one gate: enough to seal the same ticket for any device."""

    lane: Lane
    number: int  # 0 for an appointment
    status: PersonStatus
    flags: int = 0  # core.tokens.Flag of the ticket
    not_before: int = 0  # appointment: come-back time (unix seconds)
    expires: int = 0  # the ticket's (or appointment's) expiry (unix seconds)
    starts_at: int = 0  # appointment: the class's start (unix seconds)

    @property
    def place(self) -> str:
        """What identifies the place (lane and number): the `over` of a compare-and-set."""
        return f"{self.lane.value}:{self.number}:"

    def encode(self) -> str:
        return (
            f"{self.place}{self.flags}:{self.not_before}:{self.expires}:{self.starts_at}"
            f"|{self.status.value}"
        )

    @classmethod
    def decode(cls, text: str) -> PersonRecord | None:
        """The record of `encode`, or None if `text` is not one (never raises)."""
        try:
            head, _, status = text.partition("|")
            lane, number, flags, not_before, expires, starts_at = head.split(":")
            return cls(
                Lane(lane),
                int(number),
                PersonStatus(status),
                int(flags),
                int(not_before),
                int(expires),
                int(starts_at),
            )
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class ClaimWindow:
    """One lane read in one atomic step, so that no redeem falls between two of its figures."""

    horizon: int
    active: int  # passes whose expiry bucket is after `now_bucket` (the bucket of now)
    redeemed: int  # numbers in (low, horizon] redeemed


class GateStore(Protocol):
    """Shared state of any number of gates. All methods may raise BackendUnavailable."""

    async def get_policy(self, gate: str) -> GatePolicy | None:
        """The operator's policy, or None if none was ever saved."""

    async def set_policy(self, gate: str, policy: GatePolicy) -> None:
        """Replace the policy; every process sees it at its next refresh."""

    async def issue(
        self, gate: str, lane: Lane, count: int, prequeue: bool, at: int | None = None
    ) -> Issued:
        """Atomically take `count` consecutive numbers in `lane`.

        Every call that writes a lane's state and is given `at` (issue, advance, freeze) stamps
        the lane's `born` with it if the lane had no state yet; nothing else changes `born`.

        With `prequeue` and the lane's pre-queue not yet frozen, the numbers come from the
        pre-queue counter. Otherwise from the main counter; then, if nobody waits ahead
        (horizon ≥ first − 1), the horizon is raised to min(last, ceiling): those arrivals are
        admitted at once. Numbers are never reused, whatever the number of processes.
        """

    async def redeem(self, gate: str, lane: Lane, number: int, expiry_bucket: int) -> RedeemOutcome:
        """Atomically: if released < number ≤ horizon and it was never redeemed, mark it redeemed
        and count one active pass in the bucket of `expiry_bucket`. At most one call per number
        returns OK; a number at or below the lane's released horizon is LAPSED; a number already
        redeemed is DUPLICATE, or LEFT once its holder gave the pass back."""

    async def renew(
        self, gate: str, lane: Lane, number: int, old_bucket: int, new_bucket: int
    ) -> bool:
        """Move one active pass from one expiry bucket to another; False if it has left."""

    async def leave(self, gate: str, lane: Lane, number: int, bucket: int) -> bool:
        """The pass holder left: uncount their pass once. True only on the first call."""

    async def counters(self, gate: str, now_bucket: int) -> dict[Lane, LaneCounters]:
        """Every lane's counters; `active` sums the expiry buckets after `now_bucket`."""

    async def redeemed_between(self, gate: str, lane: Lane, low: int, high: int) -> int:
        """How many numbers in (low, high] were redeemed."""

    async def window(
        self, gate: str, lane: Lane, low: int, high: int, now_bucket: int
    ) -> ClaimWindow:
        """Atomically: the lane's horizon, its active passes, and how many numbers in
        (low, min(high, horizon)] were redeemed. `high` bounds where the horizon can be (the
        ceiling read before); a redeem moves a place from pending to active, never out of both.
        """

    async def advance(
        self,
        gate: str,
        horizons: dict[Lane, int],
        ceilings: dict[Lane, int],
        at: int,
        keep_s: int,
        now_bucket: int,
        released: dict[Lane, int] | None = None,
    ) -> None:
        """Raise horizons (never lower them), set ceilings, raise each lane's released horizon
        (numbers at or below it lapsed: their places were given back), record a history step
        where the horizon moved (kept for `keep_s`), and drop expired active buckets."""

    async def freeze_prequeue(self, gate: str, lane: Lane, at: int | None = None) -> PrequeueFreeze:
        """Close the lane's pre-queue and append its numbers to the main counter. Idempotent:
        later calls return the first freeze. Pre-queue issues after it take main numbers."""

    async def reset_prequeue(self, gate: str) -> None:
        """Start a new pre-queue in every lane (a new scheduled opening)."""

    async def person(self, gate: str, who: str) -> PersonRecord | None:
        """The live record of person `who` (hex of the account half), or None."""

    async def people(self, gate: str, whos: Sequence[str]) -> dict[str, PersonRecord]:
        """The live records of several people (a class); those without one are left out."""

    async def hold_person(
        self, gate: str, who: str, record: PersonRecord, ttl_s: int, over: str = ""
    ) -> PersonRecord:
        """Atomically compare and set: store `record` for `ttl_s` seconds if `who` has no live
        record, or if `over` is not empty and the live record's place starts with `over`
        (`PersonRecord.place`). Return the record held afterwards: `record`, or the one that
        was there first. Two devices of one person racing for a place get the same place."""

    async def forget_person(self, gate: str, who: str, over: str) -> None:
        """Drop `who`'s record if its place starts with `over` (the pass given back)."""

    async def acquire_lease(self, gate: str, holder: str, ttl_s: float) -> bool:
        """Take or extend the controller lease; True if `holder` holds it. One holder at a time."""

    async def report_health(self, gate: str, holder: str, health: Health, ttl_s: int) -> None:
        """Record one process's view of the protected app's health, forgotten after `ttl_s`."""

    async def health(self, gate: str) -> list[Health]:
        """Every live report."""

    async def ping(self) -> None:
        """Raise BackendUnavailable unless the backend answers."""

    async def aclose(self) -> None:
        """Release connections."""
