"""Janus VideoRoom's requests and what it answers, as data (docs/av.md#janus).

Bodies for a `message` to a VideoRoom handle (core.janus builds the message around them), and
`answer(data)` reading what the plugin said into one frozen value. Rooms and participants are
integers (`string_ids = false` in homeroom's configuration). Subscribers use the multistream
API of Janus ≥ 1.0: `subscribe` names feeds (and optionally their `mid`s), Janus offers, the
subscriber answers with `start`; `configure` picks each stream's simulcast layer
(`substream` 0–2, `temporal` 0–2) or stops it (`send: false`), which is how the ladder is applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from homeroom.core.janus import JanusProtocolError, PluginError, plugin_error

JSON = dict[str, Any]
PLUGIN: Final = "janus.plugin.videoroom"
MAX_ID: Final = (1 << 53) - 1  # Janus's ids are JSON numbers: exact up to 2**53 in a browser


def _room(room: int) -> int:
    if not isinstance(room, int) or isinstance(room, bool) or not 0 < room <= MAX_ID:
        raise ValueError(f"a room is an integer between 1 and 2**53-1, not {room!r}")
    return room


# -- requests ---------------------------------------------------------------------------------


def create(
    room: int,
    admin_key: str,
    *,
    description: str = "",
    publishers: int = 3,
    bitrate: int = 0,
    is_private: bool = False,
    audiolevel_event: bool = True,
    audio_active_packets: int = 50,
    audio_level_average: int = 40,
    videocodec: str = "vp8",
) -> JSON:
    """A room for one class: `publishers` at most publishing at once (the teacher's camera and
    screen, a pupil given the floor), `bitrate` the cap of each publisher's video (0: none),
    `talking` events after `audio_active_packets` packets (50: 1 s) above `audio_level_average`
    (dBov, 0 loudest, 127 silent)."""
    if not 1 <= publishers <= 100:
        raise ValueError(f"publishers: between 1 and 100, not {publishers}")
    if bitrate < 0:
        raise ValueError(f"bitrate: not negative ({bitrate})")
    if not 1 <= audio_active_packets <= 1000 or not 0 <= audio_level_average <= 127:
        raise ValueError("audio_active_packets: 1-1000, audio_level_average: 0-127")
    body: JSON = {
        "request": "create",
        "room": _room(room),
        "admin_key": admin_key,
        "description": description or f"room {room}",
        "publishers": publishers,
        "is_private": is_private,
        "audiolevel_event": audiolevel_event,
        "audio_active_packets": audio_active_packets,
        "audio_level_average": audio_level_average,
        "videocodec": videocodec,
        "permanent": False,
    }
    if bitrate:
        body["bitrate"] = bitrate
    return body


def destroy(room: int) -> JSON:
    return {"request": "destroy", "room": _room(room), "permanent": False}


def list_rooms(admin_key: str | None = None) -> JSON:
    """Every public room; private ones too when `admin_key` is given."""
    body: JSON = {"request": "list"}
    if admin_key is not None:
        body["admin_key"] = admin_key
    return body


def exists(room: int) -> JSON:
    return {"request": "exists", "room": _room(room)}


def participants(room: int) -> JSON:
    return {"request": "listparticipants", "room": _room(room)}


def join_publisher(room: int, display: str = "", participant: int | None = None) -> JSON:
    body: JSON = {"request": "join", "ptype": "publisher", "room": _room(room)}
    if display:
        body["display"] = display
    if participant is not None:
        body["id"] = participant
    return body


def publish(audio: bool = True, video: bool = True, bitrate: int = 0) -> JSON:
    """Sent with the publisher's offer (jsep); Janus answers in the `event`."""
    body: JSON = {"request": "publish", "audio": audio, "video": video}
    if bitrate:
        body["bitrate"] = bitrate
    return body


def unpublish() -> JSON:
    return {"request": "unpublish"}


def subscribe(room: int, feeds: Sequence[int], private_id: int | None = None) -> JSON:
    """A subscriber handle's join: every stream of each feed; Janus's event carries its offer."""
    if not feeds:
        raise ValueError("subscribe: at least one feed")
    body: JSON = {
        "request": "join",
        "ptype": "subscriber",
        "room": _room(room),
        "streams": [{"feed": feed} for feed in feeds],
    }
    if private_id is not None:
        body["private_id"] = private_id
    return body


def start() -> JSON:
    """Sent with the subscriber's answer (jsep)."""
    return {"request": "start"}


def configure_stream(
    mid: str, *, send: bool = True, substream: int | None = None, temporal: int | None = None
) -> JSON:
    """One subscribed stream: stop or resume it, or choose its simulcast layer (0 lowest)."""
    stream: JSON = {"mid": mid, "send": send}
    for name, layer in (("substream", substream), ("temporal", temporal)):
        if layer is not None:
            if layer not in (0, 1, 2):
                raise ValueError(f"{name}: 0, 1 or 2, not {layer!r}")
            stream[name] = layer
    return {"request": "configure", "streams": [stream]}


def leave() -> JSON:
    return {"request": "leave"}


# -- answers ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Created:
    room: int


@dataclass(frozen=True, slots=True)
class Destroyed:
    room: int


@dataclass(frozen=True, slots=True)
class Rooms:
    rooms: tuple[JSON, ...]  # each: room, description, num_participants, ...

    def ids(self) -> frozenset[int]:
        return frozenset(r["room"] for r in self.rooms if isinstance(r.get("room"), int))


@dataclass(frozen=True, slots=True)
class Exists:
    room: int
    exists: bool


@dataclass(frozen=True, slots=True)
class Participants:
    room: int
    participants: tuple[JSON, ...]


@dataclass(frozen=True, slots=True)
class Joined:
    """A publisher joined: its id, the private id its subscriptions may name, who publishes."""

    room: int
    participant: int
    private_id: int | None
    publishers: tuple[JSON, ...]


@dataclass(frozen=True, slots=True)
class Attached:
    """A subscriber joined: Janus's offer goes with this event (its jsep)."""

    room: int
    streams: tuple[JSON, ...]


@dataclass(frozen=True, slots=True)
class Talking:
    """A publisher started (`talking`) or stopped talking (audiolevel_event)."""

    room: int
    participant: int
    talking: bool
    level: float | None


@dataclass(frozen=True, slots=True)
class News:
    """Any other event: `event` (publishers came, left, unpublished; configured; started),
    `updated`, `slow_link`, ...; `data` as Janus sent it."""

    kind: str
    data: JSON


Answer = Created | Destroyed | Rooms | Exists | Participants | Joined | Attached | Talking | News


def _int(data: JSON, key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise JanusProtocolError(f"videoroom {data.get('videoroom')}: {key} is {value!r}")
    return value


def _list(data: JSON, key: str) -> tuple[JSON, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise JanusProtocolError(f"videoroom {data.get('videoroom')}: {key} is not a list")
    return tuple(value)


def answer(data: JSON) -> Answer:
    """What the VideoRoom said; its refusal (`error_code`) is raised as PluginError."""
    refusal: PluginError | None = plugin_error(PLUGIN, data)
    if refusal is not None:
        raise refusal
    kind = data.get("videoroom")
    if not isinstance(kind, str):
        raise JanusProtocolError(f"videoroom data without a `videoroom` word: {data!r}")
    match kind:
        case "created":
            return Created(_int(data, "room"))
        case "destroyed":
            return Destroyed(_int(data, "room"))
        case "success" if "list" in data:
            return Rooms(_list(data, "list"))
        case "success" if "exists" in data:
            return Exists(_int(data, "room"), bool(data["exists"]))
        case "participants":
            return Participants(_int(data, "room"), _list(data, "participants"))
        case "joined":
            private = data.get("private_id")
            return Joined(
                _int(data, "room"),
                _int(data, "id"),
                private if isinstance(private, int) else None,
                _list(data, "publishers"),
            )
        case "attached":
            return Attached(_int(data, "room"), _list(data, "streams"))
        case "talking" | "stopped-talking":
            level = data.get("audio-level-dBov-avg")
            return Talking(
                _int(data, "room"),
                _int(data, "id"),
                kind == "talking",
                float(level) if isinstance(level, int | float) else None,
            )
        case _:
            return News(kind, data)
