"""`homeroom live`: the WebSocket gateway on uvloop, one or N processes on one port (docs/live.md).

One process serves in its own loop. With HOMEROOM_LIVE_PROCESSES=N > 1 this process is a small
supervisor: it starts N workers (`homeroom live --worker`) that each bind the port with
SO_REUSEPORT, so the kernel spreads connections over them; it restarts a worker that dies, and
stops them all on SIGTERM or SIGINT. N processes share rooms through the room log, so they need
a shared backend (redis:// or redis+cluster://).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time

import uvloop

from homeroom.backends.live import MemoryLog, RoomLog
from homeroom.backends.live_redis import RedisLog
from homeroom.config import Settings
from homeroom.door import Doorman
from homeroom.keys import live_join_key
from homeroom.live.conn import PATH
from homeroom.live.records import DatabaseRecorder
from homeroom.live.revocations import RevocationFeed
from homeroom.live.server import LiveServer
from homeroom.school.for_live import engine_for

log = logging.getLogger("homeroom.live")

RESTART_AFTER_S = 1.0  # a worker that died is started again after this


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


def run(settings: Settings, *, worker: bool = False) -> int:
    """`homeroom live`: serve here, or supervise N workers."""
    check(settings)
    if settings.live_processes > 1 and not worker:
        return supervise(settings.live_processes)
    uvloop.run(serve(settings, reuse_port=worker))
    return 0


async def serve(settings: Settings, *, reuse_port: bool) -> None:
    """One gateway process, until SIGTERM or SIGINT."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(name)s: %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)  # not a line per handshake
    # Chat messages and poll results go to the school database; `homeroom run` migrates it.
    # The gateway does not wait for it: records queue until the tables answer (docs/live.md).
    # Revocations of join tokens come from it too, read every few seconds.
    engine = engine_for(settings.database_url)
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
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    port = await server.start(settings.live_host, settings.live_port, reuse_port=reuse_port)
    where = settings.backend_url.partition("://")[0]  # the rest may hold a password
    print(
        f"homeroom live: ws://{settings.live_host}:{port}{PATH} (pid {os.getpid()}, log {where})",
        flush=True,
    )
    await stopping.wait()
    await server.stop()
    await recorder.aclose()  # after the last inputs: their records are written first
    await engine.dispose()


def supervise(count: int) -> int:
    """Start `count` workers, start again any that dies, stop them all on a signal."""
    argv = [sys.executable, "-m", "homeroom", "live", "--worker"]
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

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
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            worker.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(5)
    return 0
