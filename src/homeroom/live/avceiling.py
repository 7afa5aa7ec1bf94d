"""Each Janus instance's load ceiling, which every gateway using it agrees on through the placement store (docs/av.md#instance-ceilings).

At each tick a gateway shares its part of an instance's work (its subscribers on each rung and
the streams Janus sends them, `core.avload.part`) and gets back the sum over every gateway and
the instance's state; it steps that state (`core.ladder.instance_step`) on the estimated load
and writes it back only from the state it read (`Placement.swap`), so two gateways stepping at
once make one step, and all of them then cap their watchers at the same ceiling. The clock is
the wall clock, shared by the gateways (the ladder's own is each process's monotonic one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from homeroom.backends.av_placement import Placement
from homeroom.core import avload
from homeroom.core.ladder import LOAD_LIMITS, TOP, Instance, LoadLimits, Rung, instance_step

log = logging.getLogger("homeroom.live.av")


@dataclass(frozen=True, slots=True)
class CeilingSettings:
    """The marks (`HOMEROOM_JANUS_PPS_*`, `_CPU_*`) and the cores each instance may use."""

    limits: LoadLimits = LOAD_LIMITS
    cores: float = 1.0


CEILING: Final = CeilingSettings()


class Ceilings:
    """The ceiling of every instance this gateway uses, as of its last tick."""

    def __init__(
        self,
        placement: Placement,
        origin: str,
        clock: Callable[[], float],
        settings: CeilingSettings = CEILING,
    ) -> None:
        self.placement = placement
        self.origin = origin
        self.clock = clock
        self.settings = settings
        self.now: dict[str, Rung] = {}  # url → ceiling

    def of(self, url: str) -> Rung:
        return self.now.get(url, TOP)

    async def step(self, url: str, part: dict[str, int], ttl_s: float) -> Rung:
        """Share this gateway's `part` of `url`'s work and answer the instance's ceiling now."""
        total, text = await self.placement.share(url, self.origin, part, ttl_s)
        before = _read(url, text)
        load = avload.load(total, self.settings.cores)
        after = instance_step(before, load, avload.top(total), self.clock(), self.settings.limits)
        if after != before:
            held = await self.placement.swap(url, text, avload.dumps(after), ttl_s)
            after = _read(url, held)
            if after.ceiling != before.ceiling:
                log.info(
                    "Janus at %s: ceiling %s (%.0f packets/s a core, %.0f %% CPU estimated)",
                    url,
                    after.ceiling.wire,
                    load.pps,
                    100 * load.cpu,
                )
        self.now[url] = after.ceiling
        return after.ceiling

    def forget(self, urls: set[str]) -> None:
        """Instances this gateway no longer uses: their ceilings are other gateways' business."""
        for url in set(self.now) - urls:
            del self.now[url]


def _read(url: str, text: str | None) -> Instance:
    if text is None:
        return Instance()
    try:
        return avload.loads(text)
    except ValueError as exc:  # another version's, or damaged: start afresh (swap replaces it)
        log.warning("Janus at %s: its ceiling state in the store is unreadable: %s", url, exc)
        return Instance()
