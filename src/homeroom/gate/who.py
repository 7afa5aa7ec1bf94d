"""Who is coming: what the gate may learn of a signed-in person (docs/gate.md#who-is-coming).

The gate does not read the school's database itself. The application gives the Gatekeeper a
`Who`, which the school implements (school/api/gatelink.py) from its sign-in session. The gate asks
only for a request that carries the session cookie, so anonymous arrivals and the state cost no
database call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from starlette.requests import Request

from homeroom.core.lanes import Lane

SESSION_COOKIE = "hr_sid"  # the school's long sign-in session (school/auth/sessions.py)


@dataclass(frozen=True, slots=True)
class Person:
    account: str  # the school's person id, as text; only its hash goes into tokens
    lane: Lane  # from the role: teacher → staff, pupil with an accommodation → priority
    next_start: float | None = None  # a pupil's next class today (unix seconds), not yet ended


class Who(Protocol):
    async def identify(self, request: Request) -> Person | None:
        """The signed-in person of this request, or None (no, forged or expired session, or
        the school unreachable). Never raises for bad input."""
        ...


def has_session(request: Request) -> bool:
    return bool(request.cookies.get(SESSION_COOKIE))
