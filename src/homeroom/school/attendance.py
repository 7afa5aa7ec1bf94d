"""How many of a class are admitted, waiting, or not connected, for the teacher's dashboard.

The gate knows who is waiting and who was let in; the school knows who is in the class. An
`Attendance` answers for one session from both (docs/school.md#attendance).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol


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
