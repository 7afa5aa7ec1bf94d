"""The peers of `make bench-live`: what a Python team would otherwise run, doing only the job.

    python bench/live_peers.py websockets PORT   # plain websockets: hold, and broadcast on demand
    python bench/live_peers.py socketio PORT     # python-socketio on aiohttp, with rooms

Both run on uvloop, as `homeroom live` does, with each library's defaults otherwise. A client
asks for the broadcast: with websockets a text message `broadcast:<payload>` makes the server
send `<payload>` to every connection it holds (`websockets.broadcast`); with Socket.IO the event
`join` (a room name) enters the room and answers `joined`, and the event `broadcast`
(room, payload) emits `b` with the payload to the room. Prints `ready <pid>` once listening.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import uvloop

MAX_LIFETIME_S = 1800


async def plain_websockets(port: int) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve
    from websockets.exceptions import ConnectionClosed

    connections: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        connections.add(ws)
        try:
            async for message in ws:
                if isinstance(message, str) and message.startswith("broadcast:"):
                    broadcast(connections, message.removeprefix("broadcast:"))
        except ConnectionClosed:
            pass  # the bench's clients go without a closing handshake
        finally:
            connections.discard(ws)

    async with serve(handler, "127.0.0.1", port, backlog=4096):
        await _until_stopped()


async def socketio(port: int) -> None:
    import socketio as sio_lib
    from aiohttp import web

    sio = sio_lib.AsyncServer(async_mode="aiohttp", transports=["websocket"])
    app = web.Application()
    sio.attach(app)

    @sio.event  # type: ignore[misc]
    async def join(sid: str, room: str) -> None:
        await sio.enter_room(sid, room)
        await sio.emit("joined", room, to=sid)

    @sio.event  # type: ignore[misc]
    async def broadcast(sid: str, data: list[str]) -> None:
        room, payload = data
        await sio.emit("b", payload, room=room)

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
    await site.start()
    try:
        await _until_stopped()
    finally:
        await runner.cleanup()


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.call_later(MAX_LIFETIME_S, stop.set)
    print(f"ready {os.getpid()}", flush=True)
    await stop.wait()


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    server = {"websockets": plain_websockets, "socketio": socketio}[kind]
    uvloop.run(server(port))


if __name__ == "__main__":
    main()
