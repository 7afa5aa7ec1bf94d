"""WebSocket frames after the handshake, on websockets' sans-I/O codec, for idle-cheap sockets.

An idle connection holds no parser: `Frames.feed` parses what arrived with
`websockets.frames.Frame.parse` over a reader made for the call, and keeps only the bytes of an
incomplete frame (usually none) and of an unfinished fragmented message. Outgoing frames are
encoded once (`text_frame`) and the same bytes written to every recipient (docs/live.md#gateway).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import PayloadTooBig, ProtocolError
from websockets.frames import Close, CloseCode, Frame, Opcode
from websockets.streams import StreamReader

log = logging.getLogger("homeroom.live")


# Frames of one fragmented message. Browsers send a message in one frame; a message in 16,000
# one-byte parts would cost a frame's parse each for one message.
PARTS_MAX = 64


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
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def json_frame(message: dict[str, Any]) -> bytes:
    """A message as a text frame: compact JSON, UTF-8 as it is.

    It never fails on a value of JSON's kinds, so that one bad value cannot stop a frame to a
    whole class, or every snapshot of a room. The parsers keep such values out of rooms
    (core/clientjson.py); were one to get in, a lone surrogate goes out as its JSON escape
    (`backslashreplace` writes exactly `\\udxxx`, and only a surrogate can fail UTF-8), and a
    number JSON has no word for (NaN, an infinity) as null, which a browser can parse.
    """
    try:
        text = _ENCODER.encode(message)
    except ValueError:
        log.warning(
            "a %s message held a number JSON cannot carry: sent as null", message.get("type")
        )
        text = _ENCODER.encode(_finite(message))
    return text_frame(text.encode("utf-8", "backslashreplace"))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def control_frame(opcode: Opcode, data: bytes = b"") -> bytes:
    return Frame(opcode, data).serialize(mask=False)


def close_frame(code: int, reason: str) -> bytes:
    return control_frame(Opcode.CLOSE, Close(code, reason[:100]).serialize())


class Frames:
    """Incoming frames of one connection: bytes in, messages and control frames out."""

    __slots__ = ("_partial", "_parts", "_pending", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._pending: bytes = b""  # an incomplete frame
        self._partial: bytearray | None = None  # a fragmented message so far
        self._parts = 0  # its frames

    def feed(self, data: bytes) -> Iterator[Message | Control]:
        """Everything complete in what arrived; raises WireError on a broken frame.

        One reader for the whole read, so that a read of many small frames costs time linear in
        its size (a reader per frame, each a copy of the rest, took 7 s for 256 KB of pings).
        """
        buffer = self._pending + data if self._pending else data
        self._pending = b""
        reader = StreamReader()
        reader.feed_data(buffer)
        while reader.buffer:
            start = len(buffer) - len(reader.buffer)
            parser = Frame.parse(reader.read_exact, mask=True, max_size=self.max_size)
            try:
                next(parser)  # it yields only when it needs more bytes than there are
            except StopIteration as done:
                item = self._frame(done.value)
                if item is not None:
                    yield item
                continue
            except PayloadTooBig as exc:
                raise WireError(CloseCode.MESSAGE_TOO_BIG, "frame too big") from exc
            except ProtocolError as exc:
                raise WireError(CloseCode.PROTOCOL_ERROR, str(exc)[:100]) from exc
            rest = buffer[start:]  # an incomplete frame: parsed again when the rest comes
            if len(rest) > self.max_size + 14:
                raise WireError(CloseCode.MESSAGE_TOO_BIG, "frame too big")
            self._pending = bytes(rest)
            return

    def _frame(self, frame: Frame) -> Message | Control | None:
        if frame.opcode in (Opcode.CLOSE, Opcode.PING, Opcode.PONG):
            return Control(frame.opcode, bytes(frame.data))
        if frame.opcode is Opcode.BINARY or (frame.opcode is Opcode.CONT and self._partial is None):
            raise WireError(CloseCode.UNSUPPORTED_DATA, "text messages only")
        if frame.opcode is Opcode.TEXT and self._partial is not None:
            raise WireError(CloseCode.PROTOCOL_ERROR, "new message inside a fragmented one")
        if frame.fin and self._partial is None:
            return Message(_decode(frame.data))
        if self._partial is None:
            self._partial, self._parts = bytearray(), 0
        self._partial += frame.data
        self._parts += 1
        if len(self._partial) > self.max_size:
            raise WireError(CloseCode.MESSAGE_TOO_BIG, "message too big")
        if self._parts > PARTS_MAX:
            raise WireError(CloseCode.POLICY_VIOLATION, "message in too many parts")
        if not frame.fin:
            return None
        whole, self._partial = bytes(self._partial), None
        return Message(_decode(whole))


def _decode(data: bytes | bytearray | memoryview) -> str:
    try:
        return bytes(data).decode()
    except UnicodeDecodeError as exc:
        raise WireError(CloseCode.INVALID_DATA, "text is not UTF-8") from exc
