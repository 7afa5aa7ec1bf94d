"""The recorder opens its socket as the class page does: `?room=` first (HAProxy hashes on it).

A plain asyncio server on 127.0.0.1 reads the request line of the handshake; the client's URL
must carry its room, then its token, and on a resume the epoch and seq it applied last.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl, urlsplit

from homeroom.rehearsal.recorder import Fleet


async def first_request_line(fleet: Fleet, room: str, token: str) -> str:
    got: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        if not got.done():
            got.set_result(line.decode().split()[1])
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        client = fleet.add("p-1", room, "p-1", [f"ws://127.0.0.1:{port}/live"], lambda: token)
        client.epoch, client.seq = "ep-9", 12
        client.start()
        return await asyncio.wait_for(got, 10)
    finally:
        await fleet.close()
        server.close()
        await server.wait_closed()


async def test_the_socket_url_names_the_room_first_then_the_token_and_the_resume() -> None:
    target = await first_request_line(Fleet(seed=1), "class 5/B", "tok.en")
    parts = urlsplit(target)
    assert parts.path == "/live"
    query = parse_qsl(parts.query)
    assert query[0] == ("room", "class 5/B")
    assert dict(query) == {"room": "class 5/B", "token": "tok.en", "epoch": "ep-9", "seq": "12"}
