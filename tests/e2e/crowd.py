"""A crowd of people arriving at a workspace through a proxy, each with their own cookie jar, doing what the waiting page does.

A person asks for a page of the workspace; sent to the waiting page (303), they load it (which
takes their ticket), then poll the public state as static/gate.js does (every `poll_s` of the
state × 0.7 to 1.3) until the horizon passes their number, redeem, and go back to the URL they
asked for; every tenth person has no JavaScript and reloads the waiting page instead, at the
rate its meta refresh says. Once in, they use the workspace `clicks` times over `use_s`
seconds, then stop (no logout: their pass and session expire). Without a gate, a person who
meets "quota de connexions atteint" tries again by hand after a few seconds, as people did.

Every answer that says "not yet" (a state below their number, a waiting page) and the moment
the pass is given are kept per person, for the order audit (`order_pairs`).
"""

from __future__ import annotations

import asyncio
import random
import re
import resource
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h11

from tests.e2e.lean_browser import Answer, LeanBrowser
from tests.workspace_standin import QUOTA

NUMBER = re.compile(r'data-number="(\d+)"')
REFRESH = re.compile(r'http-equiv="refresh" content="(\d+)')
HOST = "ent.example.fr"
HTML = {"accept": "text/html", "accept-language": "fr-FR,fr;q=0.9"}


@dataclass
class Person:
    index: int
    javascript: bool
    number: int | None = None
    arrived_at: float = 0.0
    ticket_asked_at: float | None = None  # the waiting page first asked (it takes the ticket)
    not_yet_at: float = 0.0  # the last answer saying "not your turn yet"
    passed_at: float | None = None  # the pass given
    entered_at: float | None = None  # the workspace's first page
    last_used_at: float | None = None
    quota: int = 0  # "quota de connexions atteint" answers met
    sent_back: int = 0  # sent to wait again once inside: their pass lapsed between two uses
    errors: list[str] = field(default_factory=list)

    @property
    def user(self) -> str:
        return f"p{self.index:05d}"

    @property
    def path(self) -> str:
        return f"/cours/{self.index % 7}?user={self.user}"


@dataclass
class Crowd:
    address: tuple[str, int]  # the proxy's
    gate: str | None  # None: no gate, straight to the workspace
    people: int
    arrive_within_s: float
    use_s: float
    clicks: int
    retry_s: float = 5.0  # without a gate: a person tries again after about this
    give_up_s: float = 240.0
    seed: int = 11
    crowd: list[Person] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    worst_lag_s: float = 0.0
    cpu_s: float = 0.0  # the crowd's process, user and system, over the run  # the crowd's own event loop, late to wake by this at worst

    async def _timed(self, kind: str, request: Awaitable[Answer]) -> Answer:
        """The answer to `request`, its time kept under `kind` (the figures' latencies)."""
        start = time.monotonic()
        try:
            return await request
        finally:
            self.latencies.setdefault(kind, []).append(time.monotonic() - start)

    def latency_figures(self) -> dict[str, dict[str, float]]:
        """Per kind of request: how many, the median, p99 and worst, in seconds."""
        out = {}
        for kind, times in sorted(self.latencies.items()):
            ordered = sorted(times)
            out[kind] = {"n": len(ordered)} | {
                name: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)
                for name, q in (("p50", 0.5), ("p99", 0.99), ("max", 1.0))
            }
        return out

    async def _watch_lag(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.1)
            self.worst_lag_s = max(self.worst_lag_s, time.monotonic() - before - 0.1)

    async def run(self) -> list[Person]:
        rng = random.Random(self.seed)
        self.crowd = [Person(i, javascript=i % 10 != 9) for i in range(self.people)]
        start = time.monotonic()
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        watch = asyncio.create_task(self._watch_lag())
        try:
            async with asyncio.TaskGroup() as group:
                for person in self.crowd:
                    at = start + self.arrive_within_s * person.index / self.people
                    group.create_task(self._live(person, at, rng))
        finally:
            watch.cancel()
            done = resource.getrusage(resource.RUSAGE_SELF)
            self.cpu_s = done.ru_utime + done.ru_stime - cpu.ru_utime - cpu.ru_stime
        return self.crowd

    async def _live(self, person: Person, at: float, rng: random.Random) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        client = LeanBrowser(self.address, HOST, HTML, timeout_s=120)
        person.arrived_at = time.time()
        deadline = time.monotonic() + self.give_up_s
        uses = 0
        try:
            while uses <= self.clicks:
                if time.monotonic() > deadline:
                    person.errors.append("gave up")
                    return
                page = await self._timed("workspace", client.get(person.path))
                if page.status_code == 200:
                    person.last_used_at = time.time()
                    if person.entered_at is None:
                        person.entered_at = person.last_used_at
                    uses += 1
                    if uses <= self.clicks:
                        await asyncio.sleep(self.use_s / self.clicks * rng.uniform(0.8, 1.2))
                elif page.status_code == 503 and QUOTA in page.text:
                    person.quota += 1
                    await asyncio.sleep(self.retry_s * rng.uniform(0.5, 1.5))
                elif page.status_code == 303 and self.gate is not None:
                    if person.entered_at is not None:  # the pass lapsed while inside
                        person.sent_back += 1
                    await self._wait(client, person, page.header("location") or "", rng)
                else:
                    person.errors.append(f"asked: {page.status_code}")
                    return
        except (OSError, TimeoutError, h11.ProtocolError, KeyError, ValueError) as exc:
            person.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            client.close()

    async def _wait(
        self, client: LeanBrowser, person: Person, wait_url: str, rng: random.Random
    ) -> None:
        """From the waiting page to the pass, as the page with or without JavaScript does."""
        if person.ticket_asked_at is None:
            person.ticket_asked_at = time.time()
        page = await self._timed("waiting page", client.get(wait_url))
        while page.status_code == 200:  # waiting: the page shows the place
            person.not_yet_at = time.time()
            found = NUMBER.search(page.text)
            if found is None:
                raise ValueError("a waiting page without a number")
            person.number = int(found.group(1))
            if person.javascript:
                await self._poll(client, person, wait_url, rng)
                return
            refresh = REFRESH.search(page.text)
            await asyncio.sleep(int(refresh.group(1)) if refresh else 5)
            page = await self._timed("waiting page", client.get(wait_url))
        if page.status_code != 303:
            raise ValueError(f"waiting page: {page.status_code}")
        person.passed_at = time.time()  # admitted by the page itself (no JavaScript)

    async def _poll(
        self, client: LeanBrowser, person: Person, wait_url: str, rng: random.Random
    ) -> None:
        assert person.number is not None and self.gate is not None
        poll_s = 5.0
        while True:
            await asyncio.sleep(poll_s * rng.uniform(0.7, 1.3))
            got = await self._timed("state", client.get(f"/gate/{self.gate}/state"))
            state: dict[str, Any] = got.json()
            poll_s = float(state.get("poll_s") or poll_s)
            lane = state["lanes"]["pupils"]
            if person.number <= lane["horizon"]:
                break
            person.not_yet_at = time.time()
        next_url = parse_qs(urlsplit(wait_url).query)["next"][0]
        redeem = await self._timed(
            "redeem",
            client.post_json(
                f"/gate/{self.gate}/redeem",
                {"ticket": None, "next": next_url},
                headers={"accept": "application/json"},
            ),
        )
        if redeem.status_code != 200:
            raise ValueError(f"redeem: {redeem.status_code} {redeem.text[:80]}")
        person.passed_at = time.time()


def order_pairs(crowd: list[Person]) -> tuple[int, int]:
    """(concordant, discordant) pairs of the gate's admission order against ticket numbers.

    The gate let person p in at some instant of (p.not_yet_at, p.passed_at]: the last answer
    that said "not yet" and the pass. A pair is discordant when the later number was given its
    pass before the earlier number was last told "not yet" (the gate admitted out of order),
    concordant when the earlier one's pass came before the later one's last "not yet"; pairs
    whose intervals overlap say nothing (let in by the same step of the horizon). Kendall's
    tau over the pairs that say something is (c − d) / (c + d)."""
    people = sorted((p for p in crowd if p.number is not None and p.passed_at), key=_number)
    concordant = discordant = 0
    for i, early in enumerate(people):
        assert early.passed_at is not None
        for late in people[i + 1 :]:
            assert late.passed_at is not None
            if late.passed_at < early.not_yet_at:
                discordant += 1
            elif early.passed_at < late.not_yet_at:
                concordant += 1
    return concordant, discordant


def _number(person: Person) -> int:
    assert person.number is not None
    return person.number


def kendall_tau(values: list[float]) -> float:
    """Kendall's tau-a between the order of `values` (arrival) and the values themselves."""
    n = len(values)
    score = 0
    for i in range(n):
        for j in range(i + 1, n):
            score += (values[j] > values[i]) - (values[j] < values[i])
    return score / (n * (n - 1) / 2) if n > 1 else 1.0
