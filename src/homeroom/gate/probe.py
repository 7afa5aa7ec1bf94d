"""A probe of an outside workspace's health URL, feeding its gate's adaptive capacity.

The workspace is other people's software (docs/gate.md#in-front-of-a-workspace-homeroom-does-
not-own): homeroom sees none of its requests, so its health is measured from outside. Once an
interval the gate's controller process (the lease holder, and only it) GETs the URL with a
timeout; the time to the whole answer and its outcome (core/probing.py) go to the next tick of
the controller. Redirects are not followed: a workspace that sends its health URL to a sign-in
page has answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import httpx

from homeroom.core.probing import BODY_READ, Outcome, classify
from homeroom.gate.runtime import GateRuntime

log = logging.getLogger("homeroom.gate")


class HealthProbe:
    def __init__(
        self, rt: GateRuntime, url: str, interval_s: float, timeout_s: float, marker: str
    ) -> None:
        self.rt = rt
        self.url = url
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.marker = marker
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._said: Outcome | None = None  # the last outcome logged: each change once

    @classmethod
    def for_gate(cls, rt: GateRuntime) -> HealthProbe | None:
        """The probe the settings ask of this gate, if any."""
        s = rt.settings
        url = s.health_urls().get(rt.gate_id)
        if url is None:
            return None
        return cls(
            rt, url, s.gate_health_interval_s, s.gate_health_timeout_s, s.gate_health_quota_marker
        )

    async def once(self) -> Outcome:
        """One probe, given to the gate's runtime; never raises for what the workspace does."""
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                outcome = await self._ask(self._client)
        except TimeoutError:
            outcome = Outcome.TIMEOUT
        except (httpx.TransportError, httpx.InvalidURL, OSError):
            outcome = Outcome.UNREACHABLE
        seconds = time.perf_counter() - start
        self.rt.probed(outcome, seconds)
        if outcome is not self._said:
            level = logging.INFO if outcome is Outcome.OK else logging.WARNING
            log.log(level, "gate %s: health probe of %s: %s", self.rt.gate_id, self.url, outcome)
            self._said = outcome
        return outcome

    async def _ask(self, client: httpx.AsyncClient) -> Outcome:
        async with client.stream("GET", self.url, headers={"cache-control": "no-cache"}) as answer:
            body = b""
            async for chunk in answer.aiter_bytes():
                body += chunk
                if len(body) >= BODY_READ:
                    break
            return classify(answer.status_code, body, self.marker)

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"gate-probe:{self.rt.gate_id}"
        )

    async def _run(self) -> None:
        while True:
            # Only the controller probes: one request an interval whatever the number of
            # processes, and the result is read where capacity is decided (no shared store).
            if self.rt.stats.controller:
                await self.once()
            await asyncio.sleep(self.interval_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None
