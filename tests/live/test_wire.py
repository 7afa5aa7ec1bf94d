"""Incoming frames: split anywhere, fragmented, control frames, and what breaks the protocol."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode

from homeroom.live.wire import Control, Frames, Message, WireError


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
