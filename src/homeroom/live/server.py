"""The gateway process: listen (SO_REUSEPORT, one process per core), sweep, shut down.

One sweep every few seconds does what would otherwise need a timer per connection: close those
whose join token has expired (4001), ping the quiet ones, cut the silent ones, and forget rooms
nobody has been in for a while (docs/live.md#gateway).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from websockets.frames import CloseCode, Opcode

from homeroom.backends.live import RoomLog
from homeroom.live.conn import CLOSE_EXPIRED, Conn, Gateway, Limits
from homeroom.live.hub import Hub, Recorder
from homeroom.live.jointoken import JoinTokens
from homeroom.live.wire import control_frame

log = logging.getLogger("homeroom.live")

SWEEP_S = 5.0
PING_AFTER_S = 25.0  # quiet this long: a ping, which the browser answers by itself
DEAD_AFTER_S = 70.0  # silent this long, pings included: the connection is gone


@dataclass(frozen=True, slots=True)
class Swept:
    expired: int
    pinged: int
    dead: int
    rooms_forgotten: int


def sweep(gateway: Gateway, now: float) -> Swept:
    expired = pinged = dead = 0
    ping = control_frame(Opcode.PING, b"hr")
    for conn in list(gateway.open):
        if conn.claims.expires <= now:
            conn.close(CLOSE_EXPIRED, "token_expired")
            expired += 1
        elif now - conn.seen >= DEAD_AFTER_S:
            conn.close(CloseCode.GOING_AWAY, "no answer")
            dead += 1
        elif now - conn.seen >= PING_AFTER_S:
            conn.send(ping)
            pinged += 1
    return Swept(expired, pinged, dead, gateway.hub.forget_idle(now))


class LiveServer:
    def __init__(
        self,
        secret: bytes,
        *,
        room_log: RoomLog | None = None,
        recorder: Recorder | None = None,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.time,
        lobby: bool = False,
    ) -> None:
        self.hub = Hub(room_log, recorder, clock=clock, lobby=lobby)
        self.gateway = Gateway(self.hub, JoinTokens(secret), limits)
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self.gateway.protocol, host, port, reuse_port=reuse_port or None, backlog=4096
        )
        self._sweeper = asyncio.create_task(self._sweep_forever())
        gc.collect()
        gc.freeze()  # what start-up made is never collected: the collector walks less
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            try:
                sweep(self.gateway, self.hub.clock())
            except Exception:  # a sweep must not stop the sweeping
                log.exception("sweep failed")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for conn in list(self.gateway.open):
            conn.close(CloseCode.GOING_AWAY, "server stopping")
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def connections(self) -> set[Conn]:
        return self.gateway.open
