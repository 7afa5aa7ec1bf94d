"""Drain on SIGTERM, the I/O shared by `homeroom run` and `homeroom live` (docs/operations.md#drain).

`Drain` is the process's state (ready, or draining since when) that its readiness answers;
`serve_agent` is the TCP agent check HAProxy asks (`ready\\n`, then `drain\\n`); `serve_health`
is the `GET /healthz` and `GET /readyz` of a process that has no HTTP app of its own (the live
gateway); `watchdog` ends the process at the deadline whatever is still running. When each
client is closed is the sans-I/O schedule's business (core/drain.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from homeroom.core.drain import Timeline

log = logging.getLogger("homeroom.drain")

PROBE_READ_S = 5.0  # a health check's request head within this, else closed
PROBE_HEAD_MAX = 4096


class Drain:
    """Ready, or draining since a time: what readiness and agent checks answer."""

    def __init__(self, timeline: Timeline, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeline = timeline
        self.clock = clock
        self.since: float | None = None
        self.clients_left = 0  # a gateway's connections still open while it drains
        self.closed = 0  # clients this drain has closed (1001 `drain`)

    @classmethod
    def of(cls, notice_s: float, window_s: float, deadline_s: float) -> Drain:
        return cls(Timeline(notice_s, window_s, deadline_s))

    @property
    def draining(self) -> bool:
        return self.since is not None

    def begin(self) -> bool:
        """Start draining now; False if it had started already (a second SIGTERM)."""
        if self.since is not None:
            return False
        self.since = self.clock()
        return True

    def elapsed(self) -> float:
        return 0.0 if self.since is None else self.clock() - self.since

    async def until(self, offset_s: float) -> None:
        """Sleep until `offset_s` after the drain began."""
        await asyncio.sleep(max(0.0, offset_s - self.elapsed()))

    def agent_word(self) -> bytes:
        return b"drain\n" if self.draining else b"ready\n"


class DrainCollector(Collector):
    """`homeroom_draining` (0 or 1), and for a gateway the clients it has yet to close."""

    def __init__(self, drain: Drain, *, gateway: bool, process: str = "") -> None:
        self.drain, self.gateway, self.process = drain, gateway, process

    def collect(self) -> Iterator[Metric]:
        labels = ["process"] if self.process else []
        values = [self.process] if self.process else []
        draining = GaugeMetricFamily(
            "homeroom_draining", "1 from SIGTERM until the process exits", labels=labels
        )
        draining.add_metric(values, 1.0 if self.drain.draining else 0.0)
        yield draining
        if self.gateway:
            left = GaugeMetricFamily(
                "homeroom_drain_clients_left",
                "connections still open while the gateway drains",
                labels=labels,
            )
            left.add_metric(values, float(self.drain.clients_left if self.drain.draining else 0))
            yield left
            closed = GaugeMetricFamily(
                "homeroom_drain_clients_closed",
                "connections this drain closed with 1001 drain",
                labels=labels,
            )
            closed.add_metric(values, float(self.drain.closed))
            yield closed


async def serve_agent(drain: Drain, host: str, port: int, *, reuse_port: bool) -> asyncio.Server:
    """HAProxy's agent check: each connection gets one word, `ready` or `drain`, and is closed."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            writer.write(drain.agent_word())
            await writer.drain()
        writer.close()

    return await asyncio.start_server(answer, host, port, reuse_port=reuse_port or None)


def _answer(status: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {len(body)}\r\n"
        "cache-control: no-store\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


def health_answer(
    drain: Drain, request_line: bytes, metrics: Callable[[], bytes] | None = None
) -> bytes:
    """The answer to one request line: /healthz 200 while alive, /readyz 503 once draining,
    and /metrics (the gateway's own port stops accepting when it drains; this one does not)."""
    parts = request_line.split()
    if len(parts) != 3 or parts[0] not in (b"GET", b"HEAD"):
        return _answer("400 Bad Request", b"bad_request\n")
    path = parts[1].split(b"?", 1)[0]
    if path == b"/metrics" and metrics is not None:
        return _answer("200 OK", metrics()).replace(b"text/plain", b"text/plain; version=0.0.4", 1)
    if path == b"/healthz":
        return _answer("200 OK", b"ok\n")
    if path == b"/readyz":
        if drain.draining:
            return _answer("503 Service Unavailable", b"draining\n")
        return _answer("200 OK", b"ready\n")
    return _answer("404 Not Found", b"not_found\n")


async def serve_health(
    drain: Drain,
    host: str,
    port: int,
    *,
    reuse_port: bool,
    metrics: Callable[[], bytes] | None = None,
) -> asyncio.Server:
    """`GET /healthz`, `/readyz` (and `/metrics`) over HTTP/1.1, one request a connection."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(PROBE_READ_S):
                head = await reader.readuntil(b"\r\n\r\n")
            writer.write(health_answer(drain, head.split(b"\r\n", 1)[0], metrics))
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        writer.close()

    return await asyncio.start_server(
        answer, host, port, reuse_port=reuse_port or None, limit=PROBE_HEAD_MAX
    )


def watchdog(after_s: float, what: str) -> threading.Timer:
    """End the process `after_s` from now whatever is still running (a client that reads
    nothing, a database that does not answer): the deadline an orchestrator relies on."""

    def expire() -> None:
        log.error("%s: drain deadline reached, exiting now", what)
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(max(0.0, after_s), expire)
    timer.daemon = True
    timer.start()
    return timer
