"""A lean HTTP/1.1 client for crowds: one kept-alive connection and one cookie jar a person, over h11.

httpx cost the crowd of the workspace proof about 4 ms of CPU a request, so one Python process
playing 2,000 people took more of this 2-core machine than the servers it measured; this does
what the crowd needs and no more: GET and POST (JSON), the answer's status, headers and body,
the cookies a browser would keep for one host (name=value, deleted by Max-Age=0 or an empty
value), and a request sent again once on a fresh connection when a kept-alive one was closed
under it before any answer (as browsers do).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import h11


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int
    headers: dict[str, list[str]]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.content)


class LeanBrowser:
    """One person's browser toward one host:port (`host` is what the Host header says)."""

    def __init__(
        self, address: tuple[str, int], host: str, headers: dict[str, str], timeout_s: float
    ) -> None:
        self.address = address
        self.host = host
        self.headers = headers
        self.timeout_s = timeout_s
        self.cookies: dict[str, str] = {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._conn: h11.Connection | None = None

    async def get(self, target: str, headers: dict[str, str] | None = None) -> Answer:
        return await self.request("GET", target, None, headers)

    async def post_json(
        self, target: str, body: object, headers: dict[str, str] | None = None
    ) -> Answer:
        return await self.request("POST", target, json.dumps(body).encode(), headers)

    async def request(
        self, method: str, target: str, body: bytes | None, headers: dict[str, str] | None
    ) -> Answer:
        for attempt in range(2):
            fresh = self._writer is None
            if fresh:
                await self._open()
            try:
                answer = await asyncio.wait_for(
                    self._exchange(method, target, body, headers or {}), self.timeout_s
                )
            except (ConnectionError, h11.RemoteProtocolError, asyncio.IncompleteReadError):
                self.close()
                if fresh or attempt:  # only a kept-alive connection closed under us is retried
                    raise
                continue
            except BaseException:
                self.close()
                raise
            self._keep(answer)
            return answer
        raise ConnectionError("unreachable")

    async def _open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(*self.address)
        self._conn = h11.Connection(h11.CLIENT)

    async def _exchange(
        self, method: str, target: str, body: bytes | None, extra: dict[str, str]
    ) -> Answer:
        assert self._conn is not None and self._reader is not None and self._writer is not None
        conn = self._conn
        head = [("host", self.host), *self.headers.items(), *extra.items()]
        if self.cookies:
            head.append(("cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items())))
        if body is not None:
            head += [("content-type", "application/json"), ("content-length", str(len(body)))]
        out = conn.send(h11.Request(method=method, target=target, headers=head))
        if body is not None:
            out += conn.send(h11.Data(data=body))
        out += conn.send(h11.EndOfMessage())
        self._writer.write(out)
        response: h11.Response | None = None
        chunks: list[bytes] = []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await self._reader.read(65536)
                if not data and response is None:
                    raise ConnectionError("closed before an answer")
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("closed during the answer")
        assert response is not None
        headers: dict[str, list[str]] = {}
        for name, value in response.headers:
            headers.setdefault(name.decode().lower(), []).append(value.decode("latin-1"))
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        else:
            self.close()
        return Answer(response.status_code, headers, b"".join(chunks))

    def _keep(self, answer: Answer) -> None:
        for line in answer.headers.get("set-cookie", []):
            pair, *attributes = line.split(";")
            name, _, value = pair.strip().partition("=")
            gone = any(a.strip().lower() in ("max-age=0", "max-age=-1") for a in attributes)
            if gone or not value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
        self._conn = None
