#!/usr/bin/env python3
"""A coverage-guided fuzz target (atheris) over what turns a client's bytes into a room's input.

The path is the gateway's, in process and without sockets: frames (live/wire.py `Frames.feed`),
the JSON decoder (core/clientjson.py `decode`), the command parser (core/live/commands.py
`parse`), the room (core/live/room.py `handle`, `snapshot`) and the frames sent back
(live/wire.py `json_frame`). Every input must keep these invariants; anything else that escapes
is a finding, and libFuzzer stops with the input that caused it:

- `Frames.feed` raises only WireError, with a close code of docs/live.md;
- `decode` raises only Refused, with one of its three words, and what it accepts re-encodes as
  strict JSON in UTF-8;
- `parse` raises only Invalid, with a word of the protocol's schema, and what it accepts
  re-encodes; the room's `handle` raises nothing, and every event, reply and snapshot goes out
  as a frame of strict JSON in UTF-8 whose reasons are the schema's.

tests/fuzz/test_fuzz.py runs it for a bounded time in the slow tier; CONTRIBUTING.md says how
to run it longer by hand. Inputs: tests/fuzz/seeds.py.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import atheris

with atheris.instrument_imports():
    from homeroom.core import clientjson
    from homeroom.core.live import commands
    from homeroom.core.live.parts import Role
    from homeroom.core.live.room import Room
    from homeroom.live.wire import Frames, Message, WireError, json_frame

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.fuzz import seeds  # (the repository root is on the path only from here)
from tests.live.strategies import FIELDS, GOOD, TYPES

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "live-protocol.schema.json"
ERRORS = set(
    json.loads(SCHEMA.read_text(encoding="utf-8"))["$defs"]["error"]["properties"]["error"]["enum"]
)
DECODE_REASONS = {"bad_json", "too_deep", "bad_text"}
CLOSE_CODES = {1002, 1003, 1007, 1008, 1009}  # docs/live.md#close-codes, for a broken frame
MAX_FRAME = 1024  # smaller than the gateway's 16 KiB, so that the fuzzer reaches the limit


def strict(value: Any) -> bytes:
    """Raises unless `value` is strict JSON in UTF-8: no NaN, no infinity, no lone surrogate."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False).encode()


def _refuse_constant(name: str) -> Any:
    raise AssertionError(f"the server wrote {name}")


def sent(message: dict[str, Any]) -> None:
    """The frame of `message` is valid UTF-8 holding strict JSON equal to it."""
    frame = json_frame(message)
    size = frame[1] & 0x7F
    payload = frame[2:] if size < 126 else frame[4:] if size == 126 else frame[10:]
    back = json.loads(payload.decode("utf-8"), parse_constant=_refuse_constant)
    strict(back)
    if back.get("type") == "error":
        assert back["error"] in ERRORS, back


def message(text: str) -> None:
    """One message's text, as the gateway handles it."""
    try:
        value = clientjson.decode(text)
    except clientjson.Refused as exc:
        assert exc.reason in DECODE_REASONS, exc.reason
        return
    strict(value)
    handled(value)


def handled(value: Any) -> None:
    """A decoded message, as the parser and a room take it."""
    try:
        command = commands.parse(value)
    except commands.Invalid as exc:
        assert exc.reason in ERRORS, exc.reason
    else:
        strict(dataclasses.asdict(command))
    room = Room("s1", "e1", lobby=False)
    room.join("t1", "Prof", Role.TEACHER, 1.0)
    room.join("p1", "Léa", Role.PUPIL, 1.0)
    for person in ("p1", "t1"):
        out = room.handle(person, value, 2.0)
        assert len(out.replies) == 1, out
        for event in out.events:
            sent(event.message(room.epoch))
        for reply in out.replies:
            sent(reply)
    for person in room.members:
        sent(room.snapshot(person))


def frames(data: bytes, piece: int) -> None:
    """Bytes from the socket, in reads of `piece` bytes."""
    parser = Frames(MAX_FRAME)
    try:
        for start in range(0, len(data), piece):
            for item in parser.feed(data[start : start + piece]):
                if isinstance(item, Message):
                    message(item.text)
    except WireError as exc:
        assert exc.code in CLOSE_CODES, exc.code


# The protocol's words, for `build`: each field can then meet each type of value.
WORDS = sorted({*FIELDS, "ping", "all", "teacher", "p1", "t1", "#ff0000", *commands.REACTIONS})
KEYS = sorted({name for names in FIELDS.values() for name in names} | {"type", "id", "v"})


def build(fdp: atheris.FuzzedDataProvider, depth: int = 0) -> Any:
    """A JSON value the fuzzer's bytes choose: three times in four a command of the protocol,
    each field right, or any value, or missing; otherwise any value."""
    if depth == 0 and fdp.ConsumeIntInRange(0, 3):
        return build_command(fdp)
    kind = fdp.ConsumeIntInRange(0, 7 if depth < 8 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.ConsumeInt(fdp.ConsumeIntInRange(1, 9))
    if kind == 3:
        return fdp.ConsumeFloat()  # NaN and the infinities too
    if kind == 4:
        return fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 12))  # lone surrogates too
    if kind == 5:
        return fdp.PickValueInList(WORDS)
    if kind == 6:
        return [build(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 4))]
    return {build_key(fdp): build(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 4))}


def build_command(fdp: atheris.FuzzedDataProvider) -> dict[str, Any]:
    kind = fdp.PickValueInList(TYPES)
    out: dict[str, Any] = {"type": kind, "id": fdp.PickValueInList(["a1", "b-2", "p1"])}
    for name in FIELDS[kind]:
        how = fdp.ConsumeIntInRange(0, 2)
        if how == 0:
            out[name] = fdp.PickValueInList(GOOD[name])
        elif how == 1:
            out[name] = build(fdp, 1)
    for _ in range(fdp.ConsumeIntInRange(0, 2)):
        out[build_key(fdp)] = build(fdp, 1)
    return out


def build_key(fdp: atheris.FuzzedDataProvider) -> str:
    key: str = fdp.PickValueInList(KEYS) if fdp.ConsumeBool() else fdp.ConsumeUnicode(4)
    return key


def value(data: bytes) -> None:
    """A built value: its text through the gateway's path, and the value straight to the room
    (the parser must hold on its own, lone surrogates and NaN included)."""
    fdp = atheris.FuzzedDataProvider(data)
    built = build(fdp)
    message(json.dumps(built, ensure_ascii=fdp.ConsumeBool()))
    handled(built)


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode, rest = data[0] % seeds.MODES, data[1:]
    if mode == seeds.FRAMES:
        frames(rest, len(rest) or 1)
    elif mode == seeds.FRAMES_IN_PIECES:
        frames(rest, data[0] // seeds.MODES + 1)
    elif mode == seeds.UTF8:
        try:
            text = rest.decode()
        except UnicodeDecodeError:
            return  # the wire closes with 1007 before any parser sees it
        message(text)
    elif mode == seeds.UTF16:
        message(rest[: len(rest) // 2 * 2].decode("utf-16-le", "surrogatepass"))
    else:
        value(rest)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
