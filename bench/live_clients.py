"""WebSocket client load for `bench/live_bench.py`: many connections in one process, loopback only.

    python bench/live_clients.py        # commands on stdin, one JSON object a line; replies on stdout

Raw asyncio protocols on uvloop with a minimal client side of RFC 6455 written here: the
handshake by hand, frames masked with a zero key (legal, and free), server frames parsed only
as far as their length, pings answered with their own data (as websockets requires). Source
addresses rotate over 127.0.0.2-127.0.0.9 with IP_BIND_ADDRESS_NO_PORT set before bind, so the
kernel does not search for a port at bind time.
A process holds at most 19,000 connections (the machine allows 20,000 open files a process).

Commands (`op`):
- `connect`: open the connections listed in the file `spec` (`port`, `path`, `kind`: `ws`
  (a first text frame means joined: homeroom's snapshot), `plain` (joined at the 101) or `sio`
  (Socket.IO: joined when the server's `joined` event comes back)); replies when all are joined.
- `arm` a marker, `fire` a text frame on one connection, `wait` until `count` connections
  have received a frame holding the marker: times are `time.monotonic()`, the same clock in
  every process of the machine.
- `class`: connections in groups; each group's first one sends a chat message every `period_s`
  for `duration_s`, stamped with its send time, from a phase drawn with `seed` (give each
  process its own); every other member records the delivery delay.
- `stats`, `quit`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import socket
import struct
import sys
import time
from array import array
from typing import Any

MAX_CONNECTIONS = 19_000
MAX_LIFETIME_S = 1800  # whatever the parent does, this process does not outlive this
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
SOURCES = [f"127.0.0.{i}" for i in range(2, 10)]
KEY = base64.b64encode(b"homeroom-bench!!").decode()
STAMP = b"@@"  # a class message's text carries "@@<send time>@@"


def masked_text(payload: bytes) -> bytes:
    """A final, masked text frame with a zero masking key (RFC 6455 §5.3 allows any key)."""
    return masked_frame(0x81, payload)


def masked_frame(first: int, payload: bytes) -> bytes:
    """A masked frame (`first`: FIN and opcode) with a zero masking key: the payload as it is."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", first, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, n)
    return head + b"\0\0\0\0" + payload


class Client(asyncio.Protocol):
    __slots__ = ("buf", "index", "kind", "marked", "owner", "ready", "transport", "upgraded")

    def __init__(self, owner: Load, index: int, kind: str) -> None:
        self.owner = owner
        self.index = index
        self.kind = kind
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.upgraded = False
        self.marked = False
        self.ready: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.owner.lost += 1
        if self.ready is not None and not self.ready.done():
            self.ready.set_exception(ConnectionError("closed before joining"))

    def send_text(self, payload: bytes) -> None:
        if self.transport is not None:
            self.transport.write(masked_text(payload))

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self._fail(buf[: buf.find(b"\r\n")].decode("latin-1"))
                return
            self.upgraded = True
            buf = buf[end + 4 :]
            if self.kind == "plain":
                self._joined()
        offset, size = 0, len(buf)
        owner = self.owner
        while size - offset >= 2:
            b1 = buf[offset + 1] & 0x7F
            start = offset + 2
            if b1 == 126:
                if size - offset < 4:
                    break
                b1 = (buf[offset + 2] << 8) | buf[offset + 3]
                start += 2
            elif b1 == 127:
                if size - offset < 10:
                    break
                b1 = struct.unpack_from("!Q", buf, offset + 2)[0]
                start += 8
            end = start + b1
            if end > size:
                break
            opcode = buf[offset] & 0x0F
            if opcode == 1:
                owner.text(self, buf, start, end)
            elif opcode == 9 and self.transport is not None:  # ping: the same data back, masked
                # (RFC 6455 §5.5.3: websockets closes a connection whose pongs do not match)
                self.transport.write(masked_frame(0x8A, buf[start:end]))
            offset = end
        self.buf = buf[offset:] if offset < size else b""

    def _joined(self) -> None:
        if self.ready is not None and not self.ready.done():
            self.ready.set_result(None)

    def _fail(self, why: str) -> None:
        if self.ready is not None and not self.ready.done():
            self.ready.set_exception(ConnectionError(why))
        if self.transport is not None:
            self.transport.close()


class Load:
    def __init__(self) -> None:
        self.clients: list[Client] = []
        self.lost = 0
        self.frames = 0
        self.marker = b""
        self.marked = 0
        self.first_mark = 0.0
        self.last_mark = 0.0
        self.mark_bytes = 0
        self.want = 0
        self.all_marked: asyncio.Future[None] | None = None
        self.delays: array[float] | None = None
        self.sio_rooms: dict[int, str] = {}

    # -- frames in -------------------------------------------------------------------------

    def text(self, client: Client, buf: bytes, start: int, end: int) -> None:
        self.frames += 1
        if client.ready is not None and not client.ready.done():
            if client.kind == "ws":
                client._joined()
            elif client.kind == "sio":
                self._sio(client, buf[start:end])
            return
        if client.kind == "sio" and end - start == 1 and buf[start] == 0x32:  # engine.io ping
            client.send_text(b"3")
            return
        if self.delays is not None:
            if client.marked:  # a sender: its own message coming back is not a delivery
                return
            at = buf.find(STAMP, start, end)
            if at >= 0:
                stop = buf.find(STAMP, at + 2, end)
                self.delays.append(time.monotonic() - float(buf[at + 2 : stop]))
            return
        if self.marker and not client.marked and buf.find(self.marker, start, end) >= 0:
            now = time.monotonic()
            client.marked = True
            if not self.marked:
                self.first_mark = now
                self.mark_bytes = end - start
            self.marked += 1
            self.last_mark = now
            if self.marked >= self.want and self.all_marked and not self.all_marked.done():
                self.all_marked.set_result(None)

    def _sio(self, client: Client, payload: bytes) -> None:
        if payload[:1] == b"0":  # engine.io open: connect to the default namespace
            client.send_text(b"40")
        elif payload[:2] == b"40":  # connected: join the room named in the path
            room = self.sio_rooms[client.index]
            client.send_text(b'42["join",' + json.dumps(room).encode() + b"]")
        elif payload.startswith(b'42["joined"'):
            client._joined()
        elif payload == b"2":
            client.send_text(b"3")

    # -- commands --------------------------------------------------------------------------

    async def connect(self, cmd: dict[str, Any]) -> dict[str, Any]:
        with open(cmd["spec"]) as handle:
            conns = json.load(handle)
        if len(self.clients) + len(conns) > MAX_CONNECTIONS:
            raise ValueError(f"at most {MAX_CONNECTIONS} connections a process")
        gate = asyncio.Semaphore(int(cmd.get("concurrency", 200)))
        errors: dict[str, int] = {}
        started = time.monotonic()
        joined_at: list[float] = []
        loop = asyncio.get_running_loop()

        async def one(spec: dict[str, Any]) -> None:
            index = len(self.clients)
            client = Client(self, index, spec.get("kind", "ws"))
            self.clients.append(client)
            if "room" in spec:
                self.sio_rooms[index] = spec["room"]
            async with gate:
                try:
                    await self._open(loop, client, spec, index)
                    joined_at.append(time.monotonic())
                except (OSError, ConnectionError) as exc:
                    key = str(exc)[:60] or type(exc).__name__
                    errors[key] = errors.get(key, 0) + 1

        await asyncio.wait_for(
            asyncio.gather(*(one(spec) for spec in conns)), float(cmd.get("timeout", 300))
        )
        elapsed = time.monotonic() - started
        return {
            "joined": len(joined_at),
            "failed": sum(errors.values()),
            "errors": errors,
            "elapsed_s": elapsed,
            "first_s": (min(joined_at) - started) if joined_at else None,
            "total": len(self.clients),
        }

    async def _open(
        self, loop: asyncio.AbstractEventLoop, client: Client, spec: dict[str, Any], index: int
    ) -> None:
        host, port = "127.0.0.1", int(spec["port"])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((SOURCES[index % len(SOURCES)], 0))
            sock.setblocking(False)
            await loop.sock_connect(sock, (host, port))
        except BaseException:
            sock.close()
            raise
        client.ready = loop.create_future()
        transport, _ = await loop.create_connection(lambda: client, sock=sock)
        transport.write(
            (
                f"GET {spec['path']} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        await asyncio.wait_for(client.ready, 60)
        client.ready = None

    def arm(self, cmd: dict[str, Any]) -> dict[str, Any]:
        self.marker = cmd["marker"].encode()
        self.want = int(cmd["count"])
        self.marked = 0
        self.first_mark = self.last_mark = 0.0
        for client in self.clients:
            client.marked = False
        self.all_marked = asyncio.get_running_loop().create_future()
        return {"armed": True}

    def fire(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """The same text frame from each connection in `indices` (a teacher each), at once."""
        frame = masked_text(cmd["text"].encode())
        senders = [self.clients[int(i)].transport for i in cmd["indices"]]
        sent = time.monotonic()
        for transport in senders:
            if transport is not None:
                transport.write(frame)
        return {"sent": sent, "fired_s": time.monotonic() - sent}

    async def wait(self, cmd: dict[str, Any]) -> dict[str, Any]:
        assert self.all_marked is not None
        try:
            await asyncio.wait_for(asyncio.shield(self.all_marked), float(cmd["timeout"]))
            complete = True
        except TimeoutError:
            complete = False
        return {
            "received": self.marked,
            "complete": complete,
            "first": self.first_mark,
            "last": self.last_mark,
            "frame_bytes": self.mark_bytes,
        }

    async def classes(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Each group's first connection sends; the others measure how long delivery took."""
        groups: list[list[int]] = cmd["groups"]
        period, duration = float(cmd.get("period_s", 1.0)), float(cmd["duration_s"])
        self.delays = array("d")
        for group in groups:
            self.clients[group[0]].marked = True
        sent = [0]
        # Each process draws its own phases (`seed`: its index): with one seed for all, the
        # classes of every process would fire together, in bursts no real school makes.
        rng = random.Random(int(cmd.get("seed", 1)))
        pad = "x" * int(cmd.get("pad", 40))

        async def sender(group: list[int]) -> None:
            client = self.clients[group[0]]
            await asyncio.sleep(rng.random() * period)  # spread the classes over the second
            next_at = time.monotonic()
            stop_at = next_at + duration
            n = 0
            while next_at < stop_at:
                n += 1
                now = time.monotonic()
                text = f"@@{now:.6f}@@ {pad}"
                message = {"type": "chat.send", "id": f"c{n}", "text": text, "to": "all"}
                client.send_text(json.dumps(message, separators=(",", ":")).encode())
                sent[0] += 1
                next_at += period
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

        started = time.monotonic()
        await asyncio.gather(*(sender(g) for g in groups))
        await asyncio.sleep(float(cmd.get("drain_s", 2.0)))  # the last ones arrive
        delays, self.delays = self.delays, None
        for group in groups:
            self.clients[group[0]].marked = False
        return {
            "sent": sent[0],
            "delivered": len(delays),
            "elapsed_s": time.monotonic() - started,
            "delays": base64.b64encode(delays.tobytes()).decode(),
        }

    def stats(self) -> dict[str, Any]:
        return {
            "open": sum(1 for c in self.clients if c.transport is not None),
            "lost": self.lost,
            "frames": self.frames,
            "pid": os.getpid(),
        }


async def serve() -> None:
    load = Load()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    loop.call_later(MAX_LIFETIME_S, os._exit, 3)
    while True:
        line = await reader.readline()
        if not line:
            return  # the parent is gone
        cmd = json.loads(line)
        op = cmd["op"]
        try:
            if op == "connect":
                out = await load.connect(cmd)
            elif op == "arm":
                out = load.arm(cmd)
            elif op == "fire":
                out = load.fire(cmd)
            elif op == "wait":
                out = await load.wait(cmd)
            elif op == "class":
                out = await load.classes(cmd)
            elif op == "stats":
                out = load.stats()
            elif op == "quit":
                for client in load.clients:
                    if client.transport is not None:
                        client.transport.abort()
                return
            else:
                out = {"error": f"unknown op {op}"}
        except Exception as exc:
            out = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


def main() -> None:
    import uvloop

    uvloop.run(serve())


if __name__ == "__main__":
    main()
