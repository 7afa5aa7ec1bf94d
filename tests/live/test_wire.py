"""Frames: split anywhere, fragmented, control frames, what breaks the protocol, and what goes out."""

from __future__ import annotations

import json

import pytest
from websockets.frames import Frame, Opcode

from homeroom.live.wire import PARTS_MAX, Control, Frames, Message, WireError, json_frame


def client(opcode: Opcode, data: bytes, fin: bool = True) -> bytes:
    return Frame(opcode, data, fin=fin).serialize(mask=True)


def test_a_frame_split_at_every_byte_gives_one_message() -> None:
    data = client(Opcode.TEXT, "héllo".encode())
    for cut in range(1, len(data)):
        frames = Frames(1024)
        first = list(frames.feed(data[:cut]))
        assert first == [] and list(frames.feed(data[cut:])) == [Message("héllo")]


def test_several_frames_in_one_read_and_fragments_with_a_ping_between() -> None:
    frames = Frames(1024)
    data = (
        client(Opcode.TEXT, b"one")
        + client(Opcode.TEXT, b"tw", fin=False)
        + client(Opcode.PING, b"p")
        + client(Opcode.CONT, b"o")
    )
    assert list(frames.feed(data)) == [Message("one"), Control(Opcode.PING, b"p"), Message("two")]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (client(Opcode.TEXT, b"x" * 2000), 1009),
        (client(Opcode.TEXT, b"x" * 600, fin=False) + client(Opcode.CONT, b"x" * 600), 1009),
        (client(Opcode.BINARY, b"\x00"), 1003),
        (client(Opcode.TEXT, b"\xff\xfe"), 1007),
        (client(Opcode.CONT, b"orphan"), 1003),
        (Frame(Opcode.TEXT, b"unmasked").serialize(mask=False), 1002),
    ],
    # the frames are masked with a random key: named, so every run collects the same tests
    ids=["too_big", "too_big_in_parts", "binary", "bad_utf8", "orphan_continuation", "unmasked"],
)
def test_what_breaks_the_protocol_gets_its_close_code(data: bytes, code: int) -> None:
    with pytest.raises(WireError) as broken:
        list(Frames(1024).feed(data))
    assert broken.value.code == code


def test_a_message_in_too_many_parts_is_refused() -> None:
    parts = [client(Opcode.TEXT, b"x", fin=False)]
    parts += [client(Opcode.CONT, b"x", fin=False) for _ in range(PARTS_MAX - 2)]
    frames = Frames(1024)
    assert list(frames.feed(b"".join(parts) + client(Opcode.CONT, b"x"))) == [
        Message("x" * PARTS_MAX)
    ]
    parts.append(client(Opcode.CONT, b"x", fin=False))
    with pytest.raises(WireError) as broken:
        list(frames.feed(b"".join(parts) + client(Opcode.CONT, b"x")))
    assert broken.value.code == 1008


def test_a_read_of_thousands_of_frames_gives_each_once_in_order_and_keeps_the_rest() -> None:
    pings = b"".join(client(Opcode.PING, str(n).encode()) for n in range(10_000))
    tail = client(Opcode.TEXT, "fin de la série".encode())
    frames = Frames(1024)
    got = list(frames.feed(pings + tail[:5]))
    assert got == [Control(Opcode.PING, str(n).encode()) for n in range(10_000)]
    assert list(frames.feed(tail[5:])) == [Message("fin de la série")]


def test_a_frame_the_encoder_cannot_write_as_is_still_goes_out_as_strict_json() -> None:
    frame = json_frame({"type": "x", "text": "a \ud800 b", "n": float("nan"), "m": [float("inf")]})
    assert frame[1] < 126  # a small unmasked frame: two bytes of header, then the payload
    text = frame[2:].decode("utf-8")  # valid UTF-8, as a browser requires
    assert json.loads(text) == {"type": "x", "text": "a \ud800 b", "n": None, "m": [None]}
    assert "NaN" not in text and "Infinity" not in text
