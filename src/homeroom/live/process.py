"""`homeroom live`: the WebSocket gateway on uvloop, one or N processes on one port (docs/live.md).

One process serves in its own loop. With HOMEROOM_LIVE_PROCESSES=N > 1 this process is a small
supervisor: it starts N workers (`homeroom live --worker`) that each bind the port with
SO_REUSEPORT, so the kernel spreads connections over them; it restarts a worker that dies, and
stops them all on SIGTERM or SIGINT. N processes share rooms through the room log, so they need
a shared backend (redis:// or redis+cluster://).

SIGTERM drains (docs/operations.md#drain): readiness and the agent check fail, the clients are
closed with 1001 `drain` spread over a window, and the process exits by the deadline. SIGINT
(Ctrl-C of `make run`) stops at once. The health and agent ports are bound by every worker with
SO_REUSEPORT, so whichever answers tells the truth of a process that drains with the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import subprocess
import sys
import time

import uvloop
from prometheus_client import generate_latest

from homeroom import heap
from homeroom.backends.av_placement import MemoryPlacement, Placement, RedisPlacement
from homeroom.backends.live import MemoryLog, RoomLog
from homeroom.backends.live_redis import RedisLog
from homeroom.config import Settings
from homeroom.core.ladder import LoadLimits
from homeroom.door import Doorman
from homeroom.drain import Drain, DrainCollector, serve_agent, serve_health, watchdog
from homeroom.keys import live_join_key
from homeroom.live.av import AvRelay, AvSettings
from homeroom.live.avceiling import CeilingSettings
from homeroom.live.conn import PATH
from homeroom.live.records import CLOSE_S, DatabaseRecorder, RecordsCollector
from homeroom.live.revocations import RevocationFeed
from homeroom.live.server import LiveServer
from homeroom.school.for_live import engine_from_settings

log = logging.getLogger("homeroom.live")

RESTART_AFTER_S = 1.0  # a worker that died is started again after this
EXIT_MARGIN_S = 0.5  # what is written after the drain must be done this long before the deadline


class Unsuitable(Exception):
    """Settings `homeroom live` cannot run with; the message names the variable."""


def check(settings: Settings) -> None:
    shared = not settings.backend_url.startswith("memory://")
    if settings.live_processes > 1 and not shared:
        raise Unsuitable(
            "HOMEROOM_LIVE_PROCESSES: more than one process shares rooms through a log:"
            " set HOMEROOM_BACKEND_URL to redis:// or redis+cluster://"
        )
    if settings.live_processes > 1 and settings.live_port == 0:
        raise Unsuitable("HOMEROOM_LIVE_PORT: N processes share one port, it cannot be 0")


def room_log(settings: Settings) -> RoomLog:
    if settings.backend_url.startswith("memory://"):
        return MemoryLog()
    return RedisLog.from_url(
        settings.backend_url,
        max_entries=settings.live_log_entries,
        idle_ttl_s=settings.live_log_idle_s,
        slot_refresh_s=settings.live_slot_refresh_s,
    )


def av_relay(settings: Settings) -> AvRelay:
    """Audio and video through the Janus instances of HOMEROOM_JANUS_URLS; none: off."""
    if not settings.janus_urls:
        return AvRelay(None, None)
    assert settings.janus_api_secret is not None and settings.janus_admin_key is not None
    av = AvSettings(
        tuple(settings.janus_urls),
        settings.janus_api_secret.get_secret_value(),
        settings.janus_admin_key.get_secret_value(),
        ceiling=CeilingSettings(
            LoadLimits(
                pps_high=settings.janus_pps_high,
                pps_low=settings.janus_pps_low,
                cpu_high=settings.janus_cpu_high,
                cpu_low=settings.janus_cpu_low,
            ),
            cores=settings.janus_cores,
        ),
    )
    placement: Placement
    if settings.backend_url.startswith("memory://"):
        placement = MemoryPlacement(time.time)
    else:
        placement = RedisPlacement.from_url(settings.backend_url, time.time)
    return AvRelay(av, placement, clock=time.time)  # the placement's clock, for the ceilings


def run(settings: Settings, *, worker: bool = False) -> int:
    """`homeroom live`: serve here, or supervise N workers."""
    check(settings)
    if settings.live_processes > 1 and not worker:
        return supervise(settings.live_processes, settings.drain_deadline_s)
    uvloop.run(serve(settings, reuse_port=worker))
    return 0


async def serve(settings: Settings, *, reuse_port: bool) -> None:
    """One gateway process, until SIGTERM or SIGINT."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(name)s: %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)  # not a line per handshake
    # Chat messages and poll results go to the school database; `homeroom run` migrates it.
    # The gateway does not wait for it: records queue until the tables answer (docs/live.md).
    # Revocations of join tokens come from it too, read every few seconds.
    engine = engine_from_settings(settings)
    recorder = DatabaseRecorder(engine)
    await recorder.check()
    recorder.start()
    server = LiveServer(
        live_join_key(settings),
        room_log=room_log(settings),
        recorder=recorder,
        heartbeat_s=settings.live_heartbeat_s,
        revocations=RevocationFeed(engine),
        door=Doorman.from_settings(settings),
        av=av_relay(settings),
    )
    drain = Drain.of(settings.drain_notice_s, settings.drain_window_s, settings.drain_deadline_s)
    server.gateway.registry.register(DrainCollector(drain, gateway=True, process=server.hub.origin))
    server.gateway.registry.register(RecordsCollector(recorder, process=server.hub.origin))
    stopping = asyncio.Event()
    signals: list[signal.Signals] = []
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        signals.append(sig)
        stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    port = await server.start(settings.live_host, settings.live_port, reuse_port=reuse_port)
    probes = await _probes(settings, drain, server, reuse_port=reuse_port)
    heap.settle()  # started: what is alive now lives as long as the process (heap.py)
    where = settings.backend_url.partition("://")[0]  # the rest may hold a password
    print(
        f"homeroom live: ws://{settings.live_host}:{port}{PATH} (pid {os.getpid()}, log {where})",
        flush=True,
    )
    await stopping.wait()
    if signals[0] == signal.SIGTERM:
        drain.begin()
        watchdog(settings.drain_deadline_s, f"homeroom live (pid {os.getpid()})")
        log.warning("draining: %d connections", len(server.connections))
        await server.drain(drain, random.Random())
        log.warning("drained: %d closed in %.1f s", drain.closed, drain.elapsed())
    await server.stop()
    left = settings.drain_deadline_s - drain.elapsed() - EXIT_MARGIN_S
    if drain.draining:
        log.warning("stopped at %.1f s; records written within %.1f s", drain.elapsed(), left)
    # after the last inputs: their records are written first, within the deadline if draining
    await recorder.aclose(max(0.1, left) if drain.draining else CLOSE_S)
    await engine.dispose()
    for probe in probes:
        probe.close()


async def _probes(
    settings: Settings, drain: Drain, server: LiveServer, *, reuse_port: bool
) -> list[asyncio.Server]:
    """The agent check and the health port, where configured."""
    probes = []
    host = settings.live_host
    if settings.live_agent_port:
        probes.append(
            await serve_agent(drain, host, settings.live_agent_port, reuse_port=reuse_port)
        )
    if settings.live_health_port:
        registry = server.gateway.registry
        probes.append(
            await serve_health(
                drain,
                host,
                settings.live_health_port,
                reuse_port=reuse_port,
                metrics=lambda: generate_latest(registry),
            )
        )
    return probes


def supervise(count: int, deadline_s: float) -> int:
    """Start `count` workers, start again any that dies, stop them all on a signal: the
    signal is passed on (SIGTERM: each worker drains), and a worker still there after the
    drain's deadline (and a second) is killed."""
    argv = [sys.executable, "-m", "homeroom", "live", "--worker"]
    stop = False
    how = signal.SIGTERM

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop, how
        stop, how = True, signal.Signals(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    workers = [subprocess.Popen(argv) for _ in range(count)]
    died_at: dict[int, float] = {}
    while not stop:
        for i, worker in enumerate(workers):
            if worker.poll() is None:
                continue
            now = time.monotonic()
            if i not in died_at:
                print(
                    f"homeroom live: worker {worker.pid} exited ({worker.returncode})", flush=True
                )
                died_at[i] = now
            elif now - died_at[i] >= RESTART_AFTER_S:
                del died_at[i]
                workers[i] = subprocess.Popen(argv)
        time.sleep(0.1)  # a supervisor's tick: signals interrupt it
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(how)
    ends = time.monotonic() + (deadline_s if how == signal.SIGTERM else 10.0) + 1.0
    for worker in workers:
        try:
            worker.wait(max(0.1, ends - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(5)
    return 0
