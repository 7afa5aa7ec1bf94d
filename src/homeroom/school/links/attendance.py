"""How many of a class are admitted, waiting, or not connected, for the teacher's dashboard.

The gate knows who is waiting and who was let in; the school knows who is in the class. An
`Attendance` answers for one session from both (docs/school.md#attendance). `GateAttendance`
reads the gate's records of signed-in people (docs/gate.md#who-is-coming): one pipelined read
of the class's records per gate, in memory or Redis, and no database call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from homeroom.backends.gate import BackendUnavailable, PersonRecord, PersonStatus
from homeroom.core.history import Claim
from homeroom.core.tokens import Flag, account_key
from homeroom.errors import Unavailable

if TYPE_CHECKING:
    from homeroom.gate.runtime import GateRuntime
    from homeroom.gate.service import Gatekeeper


@dataclass(frozen=True, slots=True)
class Counts:
    admitted: int
    waiting: int
    not_connected: int


class Attendance(Protocol):
    async def counts(self, session_id: int, pupil_ids: Collection[int]) -> Counts:
        """Of `pupil_ids` (the session's class), how many the gate admitted or holds waiting."""
        ...


class NoAttendance:
    """No gate in front (tests of the school alone): everyone counts as not connected."""

    async def counts(self, session_id: int, pupil_ids: Collection[int]) -> Counts:
        return Counts(0, 0, len(pupil_ids))


ADMITTED, WAITING, AWAY = 2, 1, 0


class GateAttendance:
    """From what the gate records for signed-in people, on whatever backend it runs.

    Admitted: holds a live pass (the record lives as long as the pass, renewed with it).
    Waiting: holds a ticket or an appointment, unless the ticket's turn came and its claim
    lapsed (read from the gate's in-process counters, about a second old). Not connected: the
    rest. With several gates, a pupil counts by the best of their records.
    """

    def __init__(self, keeper: Gatekeeper, clock: Callable[[], float] = time.time) -> None:
        self.keeper = keeper
        self.clock = clock

    async def counts(self, session_id: int, pupil_ids: Collection[int]) -> Counts:
        keys = sorted({account_key(str(pid)).hex() for pid in pupil_ids})
        best = dict.fromkeys(keys, AWAY)
        now = self.clock()
        for gate, rt in self.keeper.gates.items():
            try:
                records = await self.keeper.store.people(gate, keys)
            except BackendUnavailable as exc:
                raise Unavailable(
                    "degraded",
                    "Les présences sont momentanément indisponibles.",
                    "Attendance is briefly unavailable.",
                    retry_after=5,
                ) from exc
            for who, record in records.items():
                best[who] = max(best[who], _state(rt, record, now))
        admitted = sum(1 for state in best.values() if state == ADMITTED)
        waiting = sum(1 for state in best.values() if state == WAITING)
        return Counts(admitted, waiting, len(keys) - admitted - waiting)


def _state(rt: GateRuntime, record: PersonRecord, now: float) -> int:
    if record.expires <= now:  # its ticket, appointment or pass has expired
        return AWAY
    if record.status is PersonStatus.ADMITTED:
        return ADMITTED
    if record.status is PersonStatus.APPOINTMENT or record.flags & Flag.PREQUEUE:
        return WAITING
    c = rt.counters[record.lane]
    claim = c.history.claim(record.number, c.horizon, now, rt.policy.claim_window_s)
    return AWAY if claim is Claim.LAPSED else WAITING
