"""Who a signed-in person is (roles, classes, children), kept a few seconds per process.

Every signed-in request needs the Principal; loading it is two queries, which is most of what a
signed-in request costs (bench/school_bench.py, `session_check_per_s`). So it is cached next to
the session for the same time and with the same rule: a change made by this process is seen at
once (`forget`), by the other processes within `CACHE_S` (docs/school.md#sessions).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from homeroom.school.auth.sessions import CACHE_MAX, CACHE_S
from homeroom.school.data.access import Principal
from homeroom.school.data.queries import load_principal


class Principals:
    def __init__(self, clock: Callable[[], float] = time.time, ttl_s: float = CACHE_S) -> None:
        self._clock = clock
        self._ttl_s = ttl_s
        self._cache: OrderedDict[int, tuple[float, Principal]] = OrderedDict()

    async def get(self, db: AsyncSession, person_id: int) -> Principal | None:
        """The person's Principal, or None when they are disabled or gone."""
        now = self._clock()
        hit = self._cache.get(person_id)
        if hit is not None and hit[0] > now:
            self._cache.move_to_end(person_id)
            return hit[1]
        principal = await load_principal(db, person_id)
        if principal is None:
            self._cache.pop(person_id, None)
            return None
        self._cache[person_id] = (now + self._ttl_s, principal)
        self._cache.move_to_end(person_id)
        if len(self._cache) > CACHE_MAX:
            self._cache.popitem(last=False)
        return principal

    def forget(self, person_id: int) -> None:
        """After a change to the person's roles, classes or children made here."""
        self._cache.pop(person_id, None)
