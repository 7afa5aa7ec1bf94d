"""The ladder: which rung of audio and video each pupil receives (docs/av.md#the-ladder).

Sans-I/O, like the gate's controller: the live gateway stamps what arrives with `now` (a
monotonic clock, in seconds) and calls the functions here; they answer the new state, whose
`rung` the gateway applies (Janus `configure` with the rung's substreams, or leaving Janus for
text). Three parts:

- per pupil, `Pupil` and `observe` / `slowlink` / `choose` / `cap` / `share` / `tick`: the
  browser's `getStats` figures (`Report`), Janus's `slowlink` events, the pupil's own ceiling
  ("data saving"), a class-wide or instance-wide ceiling, and the clock;
- per Janus instance, `Instance` and `instance_step`: its load (packets/s, CPU) → a ceiling for
  all its classes, with hysteresis;
- per class, `summarise`: how many pupils are on each rung, for the teacher.

The rules (why each figure, in docs/av.md): step down at once on a hard signal (or a poor one
just after a climb), else one rung at most every `hold_s`; climb one rung at a time after
`climb_s` of good figures, never within `hold_s` of the previous change; a climb undone within
`prove_s` doubles the wait for the next climb onto that rung (up to ×8) until that rung holds,
so a rung that does not fit is not probed every few seconds; silence for `silent_s` is zero
bandwidth: text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Final


class Rung(IntEnum):
    """The rungs, lowest first: comparisons say which is higher."""

    TEXT = 0  # no Janus: chat, slides and board on the class WebSocket only
    SLIDES = 1  # audio; the stage shows the class's slides, not the shared screen
    AUDIO = 2  # audio and the shared screen at its lowest layer; no camera
    P180 = 3
    P360 = 4
    P720 = 5

    @property
    def wire(self) -> str:
        """The rung's name in the class protocol and on the teacher's page."""
        return _WIRE[self]

    @classmethod
    def parse(cls, word: object) -> Rung:
        """The rung a client names (`"360p"`), or ValueError naming the known ones."""
        for rung, name in _WIRE.items():
            if word == name:
                return rung
        raise ValueError(f"unknown rung {word!r}: one of {', '.join(_WIRE.values())}")


_WIRE: Final = {
    Rung.TEXT: "text",
    Rung.SLIDES: "slides",
    Rung.AUDIO: "audio",
    Rung.P180: "180p",
    Rung.P360: "360p",
    Rung.P720: "720p",
}
BOTTOM: Final = Rung.TEXT
TOP: Final = Rung.P720
START: Final = Rung.P180  # a newcomer starts here (as Jitsi's receivers) and climbs


@dataclass(frozen=True, slots=True)
class RungSpec:
    """What a rung receives from Janus and what that costs on the wire, in kbit/s."""

    camera: int | None  # the camera's simulcast substream (0 = 180p), None: no camera
    screen: int | None  # the shared screen's substream, None: not received
    audio: bool  # Janus's audio (the teacher and whoever has the floor)
    camera_kbps: int  # the camera layer's target (Chrome's simulcast table)
    screen_kbps: int  # the screen layer's, when the teacher shares one (estimate)
    audio_kbps: int  # Opus at 32 kbit/s, 50 packets/s with ~62 B of headers each

    def kbps(self, screen: bool = False) -> int:
        """What the rung needs, with or without a shared screen."""
        return self.camera_kbps + self.audio_kbps + (self.screen_kbps if screen else 0)


AUDIO_KBPS: Final = 57
# The one table: docs/av.md#the-ladder is generated from it (`table_markdown`).
RUNGS: Final[dict[Rung, RungSpec]] = {
    Rung.P720: RungSpec(2, 2, True, 2_500, 1_500, AUDIO_KBPS),
    Rung.P360: RungSpec(1, 1, True, 500, 500, AUDIO_KBPS),
    Rung.P180: RungSpec(0, 0, True, 150, 150, AUDIO_KBPS),
    Rung.AUDIO: RungSpec(None, 0, True, 0, 150, AUDIO_KBPS),
    Rung.SLIDES: RungSpec(None, None, True, 0, 0, AUDIO_KBPS),
    Rung.TEXT: RungSpec(None, None, False, 0, 0, 0),
}


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When figures are fair (no climb), poor (one rung down) or hard (down now, to what fits)."""

    loss: tuple[float, float, float] = (0.05, 0.10, 0.20)  # BigBlueButton's warnings
    rtt_s: tuple[float, float, float] = (0.5, 1.0, 2.0)  # BigBlueButton's warnings
    dropped: tuple[float, float] = (0.10, 0.25)  # of frames: fair, poor (the device's decoder)
    headroom: float = 1.25  # climb only where the next rung's cost fits this many times
    zero_kbps: float = 0.5  # receiving less while media is sent: nothing gets through (Opus
    # DTX in silence still sends a packet every 400 ms, ~1.4 kbit/s)


@dataclass(frozen=True, slots=True)
class Times:
    """The ladder's clock, in seconds."""

    hold_s: float = 8.0  # no two changes closer, but downwards on a hard signal or a ceiling
    settle_s: float = 3.0  # after a change, a hard signal steps again only if a figure says so
    climb_s: float = 8.0  # good figures for this long before each climb (×2 per failed climb)
    prove_s: float = 30.0  # a climb undone sooner failed; a rung held this long clears failures
    silent_s: float = 10.0  # no report for this long: nothing gets through, text
    probe_s: float = 20.0  # at text (not chosen), try the rung above after this (×2 per failure)
    max_backoff: int = 3  # the climb wait doubles at most this many times (×8)


THRESHOLDS: Final = Thresholds()
TIMES: Final = Times()


@dataclass(frozen=True, slots=True)
class Report:
    """One report of the pupil's browser (getStats deltas since its previous report).

    None means not reported: `available_kbps` (candidate-pair `availableIncomingBitrate`,
    which Chrome often leaves out), `received_kbps` (inbound-rtp bytes, all media; None while
    Janus says no media reaches it from the publishers: `media` events, `receiving: false`),
    frames (the camera's inbound-rtp). `loss` is a fraction.
    """

    loss: float | None = None
    rtt_s: float | None = None
    available_kbps: float | None = None
    received_kbps: float | None = None
    frames_decoded: int | None = None
    frames_dropped: int | None = None

    def __post_init__(self) -> None:
        for name in _FIGURES:
            value = getattr(self, name)
            if value is None:
                continue
            if name.startswith("frames_"):
                if not (type(value) is int and value >= 0):
                    raise ValueError(f"{name} must be a count ≥ 0, not {value!r}")
            elif not (type(value) in (int, float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number ≥ 0, not {value!r}")
        if self.loss is not None and self.loss > 1:
            raise ValueError(f"loss must be a fraction in [0, 1], not {self.loss!r}")

    @classmethod
    def of(cls, fields: Mapping[str, object]) -> Report:
        """A report from a client's decoded JSON object; ValueError naming a wrong field."""
        unknown = sorted(set(fields) - set(_FIGURES))
        if unknown:
            raise ValueError(f"unknown figure {unknown[0]!r}: one of {', '.join(_FIGURES)}")
        return cls(**fields)  # type: ignore[arg-type]  # each is checked in __post_init__


_FIGURES: Final = (
    "loss",
    "rtt_s",
    "available_kbps",
    "received_kbps",
    "frames_decoded",
    "frames_dropped",
)


class Grade(IntEnum):
    """What a report says, worst last."""

    GOOD = 0  # climb when it lasts
    FAIR = 1  # stay
    POOR = 2  # one rung down, outside the hold
    HARD = 3  # down now, to what fits


def _level(value: float | None, limits: tuple[float, ...]) -> Grade:
    if value is None:
        return Grade.GOOD
    level = Grade.GOOD
    for grade, limit in zip((Grade.FAIR, Grade.POOR, Grade.HARD), limits, strict=False):
        if value >= limit:
            level = grade
    return level


def capacity(report: Report, t: Thresholds = THRESHOLDS) -> float | None:
    """What the pupil's link carries, in kbit/s, when a figure says so; None when unknown.

    The browser's estimate when it gives one; else, under poor loss, what got through (a
    capped link delivers about its cap and drops the rest; without loss, what is received says
    only what is sent)."""
    known = report.available_kbps
    if report.received_kbps is not None and (
        report.received_kbps < t.zero_kbps or (report.loss is not None and report.loss >= t.loss[1])
    ):
        known = report.received_kbps if known is None else min(known, report.received_kbps)
    return known


def fit(kbps: float, screen: bool = False) -> Rung:
    """The highest rung whose cost `kbps` carries (text at zero)."""
    for rung in sorted(RUNGS, reverse=True):
        if RUNGS[rung].kbps(screen) <= kbps:
            return rung
    return BOTTOM


def grade(report: Report, rung: Rung, screen: bool = False, t: Thresholds = THRESHOLDS) -> Grade:
    """What `report` says of a pupil on `rung`."""
    if rung is BOTTOM:  # nothing is sent: only the socket's RTT says something
        report = Report(rtt_s=report.rtt_s)
    worst = max(_level(report.loss, t.loss), _level(report.rtt_s, t.rtt_s))
    if RUNGS[rung].camera is not None and report.frames_dropped:
        shown = report.frames_dropped + (report.frames_decoded or 0)
        worst = max(worst, _level(report.frames_dropped / shown, t.dropped))
    cost = RUNGS[rung].kbps(screen)
    if report.available_kbps is not None and report.available_kbps < cost:
        return Grade.HARD  # the browser's own estimate says the rung does not fit
    if report.received_kbps is not None and report.received_kbps < t.zero_kbps:
        return Grade.HARD  # nothing gets through
    if worst is Grade.GOOD and (report.loss is None and report.rtt_s is None):
        return Grade.FAIR  # no evidence either way
    if (
        worst is Grade.GOOD
        and rung < TOP
        and report.available_kbps is not None
        and report.available_kbps < t.headroom * RUNGS[Rung(rung + 1)].kbps(screen)
    ):
        return Grade.FAIR  # the next rung would not fit with room to spare
    return worst


@dataclass(frozen=True, slots=True)
class Pupil:
    """One pupil's ladder. Make one with `Pupil.start(now)`; never mutated."""

    rung: Rung
    changed_at: float  # when the rung last changed (or the pupil arrived)
    heard_at: float  # the last report (or the arrival)
    last_at: float  # the latest `now` seen: time never goes back
    own: Rung = TOP  # the pupil's own ceiling (data saving)
    ceiling: Rung = TOP  # the class's or instance's
    screen: bool = False  # the teacher shares a screen
    good_since: float | None = None
    climbed: bool = False  # the last change was a climb
    failed: Rung | None = None  # the rung a climb onto failed lately (undone within prove_s)
    backoff: int = 0  # how many times in a row: the next climb onto it waits climb_s × 2**backoff

    @classmethod
    def start(cls, now: float, own: Rung = TOP, ceiling: Rung = TOP) -> Pupil:
        _finite(now)
        return cls(min(START, own, ceiling), now, now, now, own, ceiling)

    @property
    def limit(self) -> Rung:
        """The highest rung allowed now."""
        return min(self.own, self.ceiling)


def _finite(now: float) -> None:
    if not math.isfinite(now):
        raise ValueError(f"now must be a finite number of seconds, not {now!r}")


def _advance(p: Pupil, now: float) -> Pupil:
    _finite(now)
    if now < p.last_at:
        raise ValueError(f"now went back: {now} after {p.last_at} (use a monotonic clock)")
    return replace(p, last_at=now)


def _move(p: Pupil, rung: Rung, now: float, times: Times, judged: bool = True) -> Pupil:
    """Change rung, keeping the account of failed climbs (`judged`: the figures undid it)."""
    if rung == p.rung:
        return p
    up = rung > p.rung
    failed, backoff = p.failed, p.backoff
    if judged and not up and p.climbed and now - p.changed_at < times.prove_s:
        failed, backoff = p.rung, min(times.max_backoff, backoff + 1)
    elif up and failed is not None and p.rung >= failed:
        failed, backoff = None, 0  # it held there long enough to climb on
    # a climb counts good figures from now on; a step down waits for fresh ones
    good_since = now if up else None
    return replace(
        p,
        rung=rung,
        changed_at=now,
        climbed=up,
        failed=failed,
        backoff=backoff,
        good_since=good_since,
    )


def _down(p: Pupil, target: Rung, now: float, times: Times, judged: bool = True) -> Pupil:
    return _move(p, min(p.rung, max(BOTTOM, target)), now, times, judged)


def observe(
    p: Pupil, report: Report, now: float, times: Times = TIMES, t: Thresholds = THRESHOLDS
) -> Pupil:
    """A report from the pupil's browser arrived at `now`."""
    p = replace(_advance(p, now), heard_at=now)
    if p.failed is not None and p.rung >= p.failed and now - p.changed_at >= times.prove_s:
        p = replace(p, failed=None, backoff=0)  # the rung that failed has held now
    g = grade(report, p.rung, p.screen, t)
    known = capacity(report, t)
    target = Rung(max(BOTTOM, p.rung - 1))
    if known is not None:
        target = min(target, fit(known, p.screen))
    since = now - p.changed_at
    if g is Grade.HARD and p.rung > BOTTOM:
        if since >= times.settle_s or _urgent(report, known, p.rung, p.screen, t):
            return _down(p, target, now, times)
        return replace(p, good_since=None)
    if g is Grade.POOR and p.rung > BOTTOM and _poor_steps(p, since, times):
        return _down(p, target, now, times)
    if g is not Grade.GOOD:
        return replace(p, good_since=None)
    good_since = now if p.good_since is None else p.good_since
    p = replace(p, good_since=good_since)
    wait = times.climb_s * (2**p.backoff if p.failed == p.rung + 1 else 1)
    if p.rung < p.limit and since >= times.hold_s and now - good_since >= wait:
        return _move(p, Rung(p.rung + 1), now, times)
    return p


def _urgent(report: Report, known: float | None, rung: Rung, screen: bool, t: Thresholds) -> bool:
    """Whether a hard signal steps down before `settle_s` after a change: the browser's own
    estimate says the rung does not fit, or nothing gets through, or, on a rung with video,
    what got through under loss is below the rung's cost (a cap: the pupil goes on down
    without waiting out the old rung's queue). On `audio` and `slides` not that last figure: a
    rung sent at about its cost delivers less than its cost under any loss, and just after a
    step down the old rung's queue still drains, so the sound would look too big for the line
    as well; a pupil put on `audio` by a cap went on to `text` and lost the teacher's voice. The
    last rungs with sound are left on lasting figures (from `settle_s` on) alone."""
    cost = RUNGS[rung].kbps(screen)
    if report.available_kbps is not None and report.available_kbps < cost:
        return True
    if report.received_kbps is not None and report.received_kbps < t.zero_kbps:
        return True
    video = RUNGS[rung].camera is not None
    return video and known is not None and known < cost


def _poor_steps(p: Pupil, since: float, times: Times) -> bool:
    """Whether a poor sign steps down now: outside the hold, or just after a climb (the climb
    failed: undo it now, and the next one onto that rung waits longer)."""
    return since >= times.hold_s or (p.climbed and since >= times.settle_s)


def slowlink(p: Pupil, now: float, times: Times = TIMES) -> Pupil:
    """Janus said the link towards this pupil loses packets (`slowlink`, downlink): a poor sign."""
    p = _advance(p, now)
    if p.rung > BOTTOM and _poor_steps(p, now - p.changed_at, times):
        return _down(p, Rung(p.rung - 1), now, times)
    return replace(p, good_since=None)


def choose(p: Pupil, own: Rung, now: float, times: Times = TIMES) -> Pupil:
    """The pupil chose their own ceiling (TOP: no data saving). Lower: applied at once."""
    p = replace(_advance(p, now), own=Rung(own))
    return _down(p, p.limit, now, times, judged=False)


def cap(p: Pupil, ceiling: Rung, now: float, times: Times = TIMES) -> Pupil:
    """The class's or its instance's ceiling changed. Lower: applied at once."""
    p = replace(_advance(p, now), ceiling=Rung(ceiling))
    return _down(p, p.limit, now, times, judged=False)


def share(p: Pupil, on: bool, now: float) -> Pupil:
    """The teacher started or stopped sharing a screen: the rungs' costs change with it."""
    return replace(_advance(p, now), screen=on)


def tick(p: Pupil, now: float, times: Times = TIMES) -> Pupil:
    """Time passed: no report for `silent_s` means nothing gets through, so text.

    At text nothing is received, so nothing is reported either: the only way to learn that the
    line is better is to try. After `probe_s` at text (doubled for each probe that failed, as a
    climb's wait is), the pupil is put on the rung above, with `silent_s` for the first report
    to come; one that says the line is still poor takes them back at once, as any failed climb,
    and one that says it is good lets them climb on. Not when text is the pupil's own choice
    or the ceiling."""
    p = _advance(p, now)
    if p.rung == BOTTOM:
        up = Rung(BOTTOM + 1)
        wait = times.probe_s * (2**p.backoff if p.failed == up else 1)
        if p.limit > BOTTOM and now - p.changed_at >= wait:
            return replace(_move(p, up, now, times), heard_at=now)
        return p
    if now - p.heard_at >= times.silent_s:
        # a hidden tab, maybe: no verdict; but a probe that hears nothing has failed
        probing = p.climbed and p.rung == BOTTOM + 1 and now - p.changed_at < times.prove_s
        return _down(p, BOTTOM, now, times, judged=probing)
    return p


# -- per instance ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Load:
    """A Janus instance's load over the last interval."""

    pps: float  # RTP packets a second it sends its subscribers, a core it may use
    cpu: float  # fraction of the cores it may use, 0 to 1 (and above: more than it has)

    def __post_init__(self) -> None:
        for name in ("pps", "cpu"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"load {name} must be a finite number ≥ 0, not {value!r}")


@dataclass(frozen=True, slots=True)
class LoadLimits:
    """Above either high mark the instance's classes step down; below both low marks, back up."""

    # a core: what one sends at 180p when the CPU mark is reached (bench-av: 0.8 ÷ 0.00186 of a
    # core a subscriber × 83 packets), so the CPU mark comes first with one video stream a pupil
    pps_high: float = 36_000
    pps_low: float = 27_000
    cpu_high: float = 0.80  # BigBlueButton: audio degrades above 80 % CPU
    cpu_low: float = 0.60
    hold_s: float = 10.0  # between two steps down: the last one must show in the load first
    calm_s: float = 30.0  # below both low marks this long for each rung back up
    floor: Rung = Rung.SLIDES  # a class always keeps the teacher's voice; past that, placement

    def __post_init__(self) -> None:
        for name in ("pps_high", "pps_low", "cpu_high", "cpu_low", "hold_s", "calm_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number ≥ 0, not {value!r}")
        if self.pps_low > self.pps_high or self.cpu_low > self.cpu_high:
            raise ValueError("a low mark must not be above its high mark")


LOAD_LIMITS: Final = LoadLimits()


@dataclass(frozen=True, slots=True)
class Instance:
    """One Janus instance's ceiling for its classes."""

    ceiling: Rung = TOP
    changed_at: float = -math.inf
    calm_since: float | None = None


def instance_step(
    s: Instance, load: Load, top: Rung, now: float, limits: LoadLimits = LOAD_LIMITS
) -> Instance:
    """The instance's ceiling after one load sample; `top`: the highest rung any pupil is on.

    Overloaded, the ceiling goes one rung below the highest in use (the pupils costing most
    step down first), not below `limits.floor`; calm for `calm_s`, it rises one rung."""
    _finite(now)
    if load.pps > limits.pps_high or load.cpu > limits.cpu_high:
        if now - s.changed_at < limits.hold_s:
            return replace(s, calm_since=None)
        lower = Rung(max(limits.floor, min(s.ceiling, top) - 1))
        if lower >= s.ceiling:
            return replace(s, calm_since=None)
        return Instance(lower, now, None)
    if load.pps >= limits.pps_low or load.cpu >= limits.cpu_low or s.ceiling is TOP:
        return replace(s, calm_since=None)
    calm_since = now if s.calm_since is None else s.calm_since
    if now - calm_since >= limits.calm_s and now - s.changed_at >= limits.calm_s:
        return Instance(Rung(s.ceiling + 1), now, now)
    return replace(s, calm_since=calm_since)


# -- per class -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Summary:
    """What the teacher sees: pupils on each rung, and how many of them chose it."""

    counts: dict[Rung, int]
    by_choice: int  # pupils whose own ceiling is their rung and below the class's

    def wire(self) -> dict[str, int]:
        return {rung.wire: self.counts[rung] for rung in sorted(RUNGS, reverse=True)}


def summarise(pupils: Iterable[Pupil]) -> Summary:
    """How many pupils are on each rung (every rung present, zeros too)."""
    counts = dict.fromkeys(sorted(RUNGS, reverse=True), 0)
    by_choice = 0
    for p in pupils:
        counts[p.rung] += 1
        by_choice += p.own == p.rung and p.own < p.ceiling
    return Summary(counts, by_choice)


def table_markdown() -> str:
    """The rung table as docs/av.md shows it (a test keeps the two the same)."""

    def layer(n: int | None, names: tuple[str, ...]) -> str:
        return "—" if n is None else f"{names[n]} (substream {n})"

    lines = [
        "| rung | camera | shared screen | audio | kbit/s | kbit/s with a shared screen |",
        "|---|---|---|---|---|---|",
    ]
    for rung in sorted(RUNGS, reverse=True):
        spec = RUNGS[rung]
        lines.append(
            f"| `{rung.wire}` | {layer(spec.camera, ('180p', '360p', '720p'))} | "
            f"{layer(spec.screen, ('lowest', 'middle', 'full'))} | "
            f"{'yes' if spec.audio else '—'} | {spec.kbps():,} | {spec.kbps(True):,} |"
        )
    return "\n".join(lines) + "\n"
