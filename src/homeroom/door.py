"""The door of a server process: core/door.py's policy with a clock, one timer, the open-file
limit and Prometheus counters; `homeroom run` (httpserver.py) and `homeroom live` (live/conn.py)
each keep one (docs/server.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from homeroom.config import Settings
from homeroom.core.blocks import address_block
from homeroom.core.door import Door, DoorLimits, Refusal
from homeroom.core.proxyproto import (
    V1_PREFIX,
    V2_SIGNATURE,
    BadHeader,
    Header,
    Trusted,
    read_header,
)

log = logging.getLogger("homeroom.door")

__all__ = [
    "BAD_PROXY",
    "LATE",
    "REFUSED",
    "DoorCollector",
    "Doorman",
    "Header",
    "Refusal",
    "Visitor",
    "files_limit",
    "peer_host",
    "plain_response",
]

NOBODY = Trusted()  # no balancer trusted: no PROXY header read (the default)
TICK_S = 1.0  # deadlines are kept to within this
LOG_EVERY_S = 60.0  # a refused block is named in the log at most this often
LOG_BLOCKS = 1024  # blocks remembered for that
RECOUNT_EVERY = 10  # ticks between two counts of the files open besides connections


def plain_response(status: str, body: bytes, *headers: str, kind: str = "text/plain") -> bytes:
    """A whole HTTP/1.1 answer after which the connection closes (no parser needed to send it)."""
    head = [f"HTTP/1.1 {status}", f"content-type: {kind}; charset=utf-8", *headers]
    head += [f"content-length: {len(body)}", "connection: close"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


# What a refused connection reads (if it reads before the close), and a head past its deadline.
REFUSED = plain_response(
    "503 Service Unavailable",
    "Trop de connexions ; réessayez bientôt. / Too many connections; retry soon.\n".encode(),
    "retry-after: 5",
)
# A connection that should have begun with a PROXY header and did not, or began with one it
# should not have (docs/server.md#the-clients-real-address).
BAD_PROXY = plain_response("400 Bad Request", b"bad_proxy_header\n")
LATE = plain_response("408 Request Timeout", b"Request too slow. / Requ\xc3\xaate trop lente.\n")


class Visitor(Protocol):
    """A connection the door may close (a key of the door's tables: hashed by identity)."""

    def __hash__(self) -> int: ...

    def door_closes(self, why: Refusal | None) -> None:
        """Close now: `Refusal.LATE` for a head past its deadline (answer 408 if it can), None
        for an idle kept-alive connection closed to make room."""


def files_limit() -> int:
    """This process's limit of open files (the soft RLIMIT_NOFILE), or a common default."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1_048_576


def files_open() -> int:
    """Files this process has open now (Linux); 0 where /proc does not say."""
    try:
        with os.scandir("/proc/self/fd") as entries:
            return sum(1 for _ in entries)
    except OSError:
        return 0


def peer_host(transport: asyncio.BaseTransport) -> str | None:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and peer and isinstance(peer[0], str):
        return peer[0]
    return None


def limits_of(settings: Settings) -> DoorLimits:
    return DoorLimits(
        head_s=settings.head_timeout_s,
        per_block=settings.heads_per_block,
        files=files_limit(),
        high_water=settings.files_high_water,
    )


class Doorman:
    """One process's door: arrivals go to the policy and what it sheds is closed; a timer each
    `TICK_S` closes the heads past their deadline. Connections report their other steps to
    `policy` (core/door.py) themselves: once a request, one call less."""

    def __init__(
        self,
        limits: DoorLimits,
        clock: Callable[[], float] = time.monotonic,
        count_files: Callable[[], int] = files_open,
        trusted: Trusted = NOBODY,
    ) -> None:
        self.policy: Door[Visitor] = Door(limits)
        self.trusted = trusted  # balancers whose PROXY header names the client (core/proxyproto)
        self.clock = clock
        self.count_files = count_files
        self._timer: asyncio.TimerHandle | None = None
        self._ticks = 0
        self._told: dict[str, float] = {}  # block ("" for files): when the log last said it

    @classmethod
    def from_settings(cls, settings: Settings, *, http: bool = False) -> Doorman:
        """The door of a process; `http`: `homeroom run`'s, where trusted balancers may name the
        client in X-Forwarded-For instead (`http_proxy_header`): then no PROXY header is read."""
        forwarded = http and settings.http_proxy_header == "forwarded"
        trusted = NOBODY if forwarded else Trusted.parse(settings.trusted_proxies)
        return cls(limits_of(settings), trusted=trusted)

    def arrive(self, visitor: Visitor, host: str | None, proxied: bool = False) -> Refusal | None:
        """A new connection: None if it may go on, else why it is refused (the caller answers
        and closes it; it is not tracked). Idle connections shed to make room are closed here.
        `proxied`: from a trusted balancer, counted in its client's block once `unwrap` knows it."""
        if self._timer is None:
            self._recount()
            self._schedule()
        block = "" if proxied else address_block(host)
        admission = self.policy.arrive(visitor, block, self.clock())
        for idle in admission.shed:
            idle.door_closes(None)
        if admission.refused is not None:
            self._tell(admission.refused, block)
        return admission.refused

    def unwrap(self, visitor: Visitor, data: bytes, trusted: bool) -> Header | Refusal | None:
        """The first bytes of a connection, when balancers are trusted (`self.trusted`): from a
        trusted peer, its PROXY header (None: not whole yet; the head's deadline runs), the
        connection then counted in the client's block; from any other peer, a `Header` of no
        client and length 0 (nothing to unwrap) unless the bytes begin like a PROXY header.
        A refusal is counted and logged here; the caller closes the connection."""
        try:
            if trusted:
                header = read_header(data)
            elif data.startswith(V1_PREFIX) or (
                data[:1] == b"\r" and data[:12] == V2_SIGNATURE[: len(data)]
            ):
                raise BadHeader("untrusted")
            else:
                return Header(None, 0)
        except BadHeader as exc:
            self.policy.refused[Refusal.PROXY] += 1
            self._tell(Refusal.PROXY, exc.reason)
            return Refusal.PROXY
        if header is None or header.client is None:
            return header
        refused = self.policy.move(visitor, address_block(header.client[0]))
        if refused is not None:
            self._tell(refused, address_block(header.client[0]))
            return refused
        return header

    def tick(self) -> int:
        """Close the heads past their deadline; returns how many."""
        self._ticks += 1
        if self._ticks % RECOUNT_EVERY == 0:
            self._recount()
        late = self.policy.overdue(self.clock())
        for visitor in late:
            visitor.door_closes(Refusal.LATE)
        return len(late)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _tell(self, refusal: Refusal, block: str) -> None:
        """A line of log for the operator, at most once a minute for each block (or for files)."""
        key = f"{refusal}:{block}" if refusal is not Refusal.FILES else ""
        now = self.clock()
        if now - self._told.get(key, -LOG_EVERY_S) < LOG_EVERY_S:
            return
        if len(self._told) >= LOG_BLOCKS:  # many blocks at once: start counting again
            self._told.clear()
        self._told[key] = now
        if refusal is Refusal.BLOCK:
            limit = self.policy.limits.per_block
            log.warning("door: %s has %d unfinished heads; refusing more", block, limit)
        elif refusal is Refusal.PROXY:
            log.warning(
                "door: closed a connection without a valid PROXY header (%s); see trusted_proxies",
                block,
            )
        else:
            log.warning(
                "door: %d files in use of %d, nothing idle to close; refusing new connections",
                self.policy.files_in_use,
                self.policy.limits.files,
            )

    def _recount(self) -> None:
        """What is open besides connections (listeners, logs, database and Redis pools)."""
        opened = self.count_files()
        if opened:
            self.policy.files_besides = max(0, opened - self.policy.connections)

    def _schedule(self) -> None:
        period = min(TICK_S, self.policy.limits.head_s / 4)
        self._timer = asyncio.get_running_loop().call_later(period, self._on_timer)

    def _on_timer(self) -> None:
        try:
            self.tick()
        finally:
            self._schedule()


class DoorCollector(Collector):
    """homeroom_door_* for /metrics, read from a Doorman at scrape time. `process` labels every
    series where several processes answer on one port (SO_REUSEPORT): each keeps its own."""

    def __init__(self, doorman: Doorman, process: str | None = None) -> None:
        self.doorman = doorman
        self.labels = {"process": process} if process else {}

    def collect(self) -> Iterable[Metric]:
        door, names, values = self.doorman.policy, list(self.labels), list(self.labels.values())
        refused = CounterMetricFamily(
            "homeroom_door_refused",
            "Connections closed at the door: address block full, files short, head too late",
            labels=[*names, "reason"],
        )
        for reason in Refusal:
            refused.add_metric([*values, reason.value], door.refused[reason])
        yield refused
        shed = CounterMetricFamily(
            "homeroom_door_idle_closed",
            "Idle kept-alive connections closed to make room near the open-file limit",
            labels=names,
        )
        shed.add_metric(values, door.shed_idle)
        yield shed
        gauges: list[tuple[str, str, Any]] = [
            ("connections", "Connections open", door.connections),
            ("unfinished_heads", "Connections whose request head is not complete", door.heads),
            ("idle", "Kept-alive connections waiting for a request", door.idle),
            ("files_in_use", "Files open, as the door counts them", door.files_in_use),
            ("files_high_water", "Above this many files, new connections are refused", door.limits.files_high),
        ]  # fmt: skip
        for name, text, value in gauges:
            gauge = GaugeMetricFamily(f"homeroom_door_{name}", text, labels=names)
            gauge.add_metric(values, value)
            yield gauge
