"""The seed inputs of the live input fuzz target (tests/fuzz/live_input.py): one of each kind of
message and frame, so that the fuzzer starts from the protocol rather than from nothing.

An input is one byte saying how the rest is read (`MODES`), then the rest.
"""

from __future__ import annotations

import json

from websockets.frames import Frame, Opcode

# The first byte, modulo MODES, says the rest is ...
MODES = 5
FRAMES, FRAMES_IN_PIECES, UTF8, UTF16, VALUE = range(MODES)
# ... bytes from the socket, in one read; the same, in reads of (first byte // MODES) + 1 bytes;
# a message's text as UTF-8 (as the wire gives it); as UTF-16 with lone surrogates allowed
# (text from anywhere else); the choices that build a JSON value from the protocol's words
# (tests/fuzz/live_input.py `build`), so that the fuzzer reaches each field with each type.

MESSAGES = [
    {"type": "ping", "id": "p1"},
    {"v": 1, "type": "chat.send", "id": "c1", "text": "bonjour 😀", "to": "all"},
    {"type": "chat.send", "id": "c2", "text": "psst", "to": "teacher"},
    {"type": "hand.raise", "id": "h1"},
    {"type": "hand.lower", "id": "h2", "person": "p1"},
    {"type": "react", "id": "r1", "emoji": "👍"},
    {"type": "poll.open", "id": "o1", "question": "2 + 2 ?", "choices": ["3", "4"]},
    {"type": "poll.vote", "id": "o2", "poll": 1, "choices": [1]},
    {"type": "poll.close", "id": "o3", "poll": 1},
    {
        "type": "board.stroke",
        "id": "b1",
        "points": [[0, 0.5], [1, 1]],
        "colour": "#ff0000",
        "width": 3,
        "erase": False,
    },
    {"type": "board.access", "id": "b2", "everyone": True},
    {"type": "slides.open", "id": "s1", "doc": "deck", "pages": 3},
    {"type": "slides.page", "id": "s2", "page": 2},
    {"type": "lobby.admit", "id": "l1", "person": None},
    {"type": "mod.mute", "id": "m1", "person": "p1", "on": True},
    {"type": "mod.lock", "id": "m2", "on": True},
    {"type": "breakout.start", "id": "g1", "groups": 2},
    {"type": "breakout.visit", "id": "g2", "group": 1},
    {"type": "class.end", "id": "e1"},
]
TEXTS = [json.dumps(m, ensure_ascii=False) for m in MESSAGES] + [
    '{"type": "chat.send", "id": "c1", "text": "\\ud800", "to": "all"}',
    '{"type": "ping", "id": "\\udfff"}',
    "[" * 40 + "]" * 40,
    '{"a": NaN, "b": 1e400, "c": -Infinity}',
    '{"type": "ping", "type": "hand.raise", "id": "d"}',
    "{not json",
]


def frame(opcode: Opcode, data: bytes, fin: bool = True) -> bytes:
    return Frame(opcode, data, fin=fin).serialize(mask=True)


def seeds() -> list[bytes]:
    out = [bytes([UTF8]) + text.encode() for text in TEXTS]
    out += [bytes([UTF16]) + text.encode("utf-16-le", "surrogatepass") for text in TEXTS[-6:]]
    for text in TEXTS[:4]:
        data = text.encode()
        out.append(bytes([FRAMES]) + frame(Opcode.TEXT, data))
        half = len(data) // 2
        pieces = frame(Opcode.TEXT, data[:half], fin=False) + frame(Opcode.CONT, data[half:])
        out.append(bytes([FRAMES_IN_PIECES + MODES * 6]) + pieces)  # in reads of 7 bytes
    out.append(bytes([FRAMES]) + frame(Opcode.PING, b"hr") + frame(Opcode.CLOSE, b"\x03\xe8"))
    out.append(bytes([FRAMES]) + frame(Opcode.BINARY, b"\x00") + frame(Opcode.TEXT, b"\xff"))
    out += [bytes([VALUE]) + bytes((n * k) % 256 for k in range(64)) for n in range(1, 16, 2)]
    return out
