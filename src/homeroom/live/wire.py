"""WebSocket frames after the handshake, on websockets' sans-I/O codec, for idle-cheap sockets.

An idle connection holds no parser: `Frames.feed` parses what arrived with
`websockets.frames.Frame.parse` over a reader made for the call, and keeps only the bytes of an
incomplete frame (usually none) and of an unfinished fragmented message. Outgoing frames are
encoded once (`text_frame`) and the same bytes written to every recipient (docs/live.md#gateway).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import PayloadTooBig, ProtocolError
from websockets.frames import Close, CloseCode, Frame, Opcode
from websockets.streams import StreamReader


class WireError(Exception):
    """The peer broke the protocol; close with `code`."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Message:
    """A complete text message."""

    text: str


@dataclass(frozen=True, slots=True)
class Control:
    opcode: Opcode
    data: bytes


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final text frame (server to client)."""
    return Frame(Opcode.TEXT, payload).serialize(mask=False)


# json.dumps with options builds an encoder on every call; one is enough (it keeps no state).
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def json_frame(message: dict[str, Any]) -> bytes:
    """A message as a text frame: compact JSON, UTF-8 as it is."""
    return text_frame(_ENCODER.encode(message).encode())


def control_frame(opcode: Opcode, data: bytes = b"") -> bytes:
    return Frame(opcode, data).serialize(mask=False)


def close_frame(code: int, reason: str) -> bytes:
    return control_frame(Opcode.CLOSE, Close(code, reason[:100]).serialize())


def _parse_one(data: bytes, max_size: int) -> tuple[Frame, int] | None:
    """The first frame of `data` and the bytes it took, or None when it is incomplete."""
    reader = StreamReader()
    reader.feed_data(data)
    parser = Frame.parse(reader.read_exact, mask=True, max_size=max_size)
    try:
        next(parser)  # it yields only when it needs more bytes than there are
    except StopIteration as done:
        frame: Frame = done.value
        return frame, len(data) - len(reader.buffer)
    return None


class Frames:
    """Incoming frames of one connection: bytes in, messages and control frames out."""

    __slots__ = ("_partial", "_pending", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._pending: bytes = b""  # an incomplete frame
        self._partial: bytearray | None = None  # a fragmented message so far

    def feed(self, data: bytes) -> Iterator[Message | Control]:
        """Everything complete in what arrived; raises WireError on a broken frame."""
        buffer = self._pending + data if self._pending else data
        offset = 0
        while offset < len(buffer):
            try:
                parsed = _parse_one(buffer[offset:], self.max_size)
            except PayloadTooBig as exc:
                raise WireError(CloseCode.MESSAGE_TOO_BIG, "frame too big") from exc
            except ProtocolError as exc:
                raise WireError(CloseCode.PROTOCOL_ERROR, str(exc)[:100]) from exc
            if parsed is None:
                break
            frame, used = parsed
            offset += used
            item = self._frame(frame)
            if item is not None:
                yield item
        rest = buffer[offset:]
        if len(rest) > self.max_size + 14:
            raise WireError(CloseCode.MESSAGE_TOO_BIG, "frame too big")
        self._pending = bytes(rest)

    def _frame(self, frame: Frame) -> Message | Control | None:
        if frame.opcode in (Opcode.CLOSE, Opcode.PING, Opcode.PONG):
            return Control(frame.opcode, bytes(frame.data))
        if frame.opcode is Opcode.BINARY or (frame.opcode is Opcode.CONT and self._partial is None):
            raise WireError(CloseCode.UNSUPPORTED_DATA, "text messages only")
        if frame.opcode is Opcode.TEXT and self._partial is not None:
            raise WireError(CloseCode.PROTOCOL_ERROR, "new message inside a fragmented one")
        if frame.fin and self._partial is None:
            return Message(_decode(frame.data))
        self._partial = (self._partial or bytearray()) + frame.data
        if len(self._partial) > self.max_size:
            raise WireError(CloseCode.MESSAGE_TOO_BIG, "message too big")
        if not frame.fin:
            return None
        whole, self._partial = bytes(self._partial), None
        return Message(_decode(whole))


def _decode(data: bytes | bytearray | memoryview) -> str:
    try:
        return bytes(data).decode()
    except UnicodeDecodeError as exc:
        raise WireError(CloseCode.INVALID_DATA, "text is not UTF-8") from exc
