"""A Janus instance's load, estimated from the streams its subscribers receive (docs/av.md#instance-ceilings).

Sans-I/O. Each gateway counts its own part of an instance's work (`part`: its subscribers on
each rung, and the streams Janus sends them, by kind and layer); the placement store sums the
parts of every gateway using the instance; `load` turns that sum into the `Load` the ladder's
`instance_step` judges, with the costs `make bench-av` measured a stream (docs/av.md). The
instance's shared state travels through the store as text (`dumps`, `loads`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Final

from homeroom.core.ladder import BOTTOM, Instance, Load, Rung

# Janus's CPU a subscriber costs, in cores, over the publisher alone (bench-av, the quiet run of
# 2026-12-06: 180p 0.00186, 360p 0.00315, audio 0.00203). With a thread a handle (Janus's
# `event_loops` 0) the handle, not its packets, dominates: an audio subscriber costs as much as
# a 180p one. 720p was not measured at scale: 360p's cost a packet times 720p's packets.
SUBSCRIBER_CPU: Final[dict[Rung, float]] = {
    Rung.P720: 0.0084,
    Rung.P360: 0.00315,
    Rung.P180: 0.00186,
    Rung.AUDIO: 0.00203,
    Rung.SLIDES: 0.00203,
    Rung.TEXT: 0.0,
}
# RTP packets a second a stream sent costs (bench-av, what a pupil's end of the veth received:
# audio 51 a second; a pupil at 180p, 360p, 720p received 83, 114, 304 with the audio).
AUDIO_PPS: Final = 51
VIDEO_PPS: Final = (32, 63, 253)  # simulcast substreams 0 (180p), 1 (360p), 2 (720p)

_SUB = "sub:"  # a part's keys: "sub:<rung>" subscribers, "audio" and "video:<layer>" streams
_AUDIO = "audio"
_VIDEO = "video:"


def part(watchers: Iterable[tuple[Rung, Iterable[int | None]]]) -> dict[str, int]:
    """One gateway's part of an instance's work, as the store sums it: for each subscription,
    its rung and the streams Janus sends it (None: an audio stream; 0–2: a video layer)."""
    out: dict[str, int] = {}
    for rung, streams in watchers:
        key = _SUB + Rung(rung).wire
        out[key] = out.get(key, 0) + 1
        for layer in streams:
            if layer is not None and layer not in range(len(VIDEO_PPS)):
                raise ValueError(f"a video layer is 0 to {len(VIDEO_PPS) - 1}, not {layer!r}")
            name = _AUDIO if layer is None else f"{_VIDEO}{layer}"
            out[name] = out.get(name, 0) + 1
    return out


def load(total: Mapping[str, int], cores: float) -> Load:
    """The instance's load a core from the sum of every gateway's part. A key this version does
    not know (a newer gateway's) counts nothing, and a negative count is refused."""
    if not (math.isfinite(cores) and cores > 0):
        raise ValueError(f"cores must be a finite number > 0, not {cores!r}")
    pps = cpu = 0.0
    for key, n in total.items():
        if n < 0:
            raise ValueError(f"a count is ≥ 0, not {key}={n!r}")
        if key == _AUDIO:
            pps += n * AUDIO_PPS
        elif key.startswith(_VIDEO) and key[len(_VIDEO) :] in ("0", "1", "2"):
            pps += n * VIDEO_PPS[int(key[len(_VIDEO) :])]
        elif key.startswith(_SUB):
            rung = _rung(key[len(_SUB) :])
            if rung is not None:
                cpu += n * SUBSCRIBER_CPU[rung]
    return Load(pps=pps / cores, cpu=cpu / cores)


def top(total: Mapping[str, int]) -> Rung:
    """The highest rung any subscriber of the instance is on (text when there is none)."""
    on = [r for key, n in total.items() if n > 0 and (r := _sub_rung(key)) is not None]
    return max(on, default=BOTTOM)


def _sub_rung(key: str) -> Rung | None:
    return _rung(key[len(_SUB) :]) if key.startswith(_SUB) else None


def _rung(word: str) -> Rung | None:
    try:
        return Rung.parse(word)
    except ValueError:
        return None


def dumps(s: Instance) -> str:
    """An instance's state as the store keeps it (a time never set is null)."""
    changed = s.changed_at if math.isfinite(s.changed_at) else None
    body = {"ceiling": s.ceiling.wire, "changed_at": changed, "calm_since": s.calm_since}
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


def loads(text: str) -> Instance:
    """The state `dumps` wrote; ValueError for anything else."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"an instance's state is JSON: {exc}") from None
    if not isinstance(body, dict) or set(body) != {"ceiling", "changed_at", "calm_since"}:
        raise ValueError(f"an instance's state has ceiling, changed_at, calm_since: {text!r}")
    times = (body["changed_at"], body["calm_since"])
    for t in times:
        if t is not None and not (type(t) in (int, float) and math.isfinite(t)):
            raise ValueError(f"an instance's times are finite numbers or null: {text!r}")
    changed, calm = times
    return Instance(
        Rung.parse(body["ceiling"]),
        -math.inf if changed is None else float(changed),
        None if calm is None else float(calm),
    )
