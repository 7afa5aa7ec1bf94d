"""A TCP proxy a test can cut and restore: a real server (PostgreSQL) made unreachable for a while.

`cut()` drops every connection through it (both sides reset) and closes its port, so clients
meet what a stopped or crashed server gives them: refused connections and connections lost
mid-query. `restore()` listens again on the same port. The server behind it is never touched,
so tests can use the machine's shared PostgreSQL without stopping it for anybody else.
"""

from __future__ import annotations

import asyncio
import contextlib


class FaultProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.server: asyncio.Server | None = None
        self.port = 0  # chosen by the system at the first start, kept after
        self.pipes: set[asyncio.StreamWriter] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.held = asyncio.Event()  # set: bytes stop flowing, both ways, until `release`

    @property
    def up(self) -> bool:
        return self.server is not None

    async def start(self) -> FaultProxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    restore = start

    def hold(self) -> None:
        """Black-hole: connections stay open, nothing goes through either way (a host that
        stopped answering, a network partition); new connections are accepted and hang."""
        self.held.set()

    def release(self) -> None:
        self.held.clear()

    async def cut(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()
        for writer in list(self.pipes):
            writer.transport.abort()
        self.pipes.clear()

    async def close(self) -> None:
        """Cut, and let every connection's task end (its sockets are aborted: they do at once).
        Not cancelled: asyncio's stream callback logs a cancelled connection task as an error."""
        self.release()
        await self.cut()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.pipes.add(writer)
        while self.held.is_set():
            await asyncio.sleep(0.05)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.pipes |= {writer, up_writer}
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
            )
        finally:
            if task is not None:
                self.tasks.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                while self.held.is_set():  # what was sent meanwhile arrives after, if ever
                    await asyncio.sleep(0.05)
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.transport.abort()
            self.pipes.discard(writer)
