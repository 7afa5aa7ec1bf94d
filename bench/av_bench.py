"""`make bench-av`: audio and video through Janus (issue #12), one JSON object a figure per line.

    python bench/av_bench.py [step ...]         # media, ladder, page; every step when none
    BENCH_AV_QUICK=1 python bench/av_bench.py   # a short run (fewer pupils, shorter windows)
    BENCH_AV_DECODE=all ...                     # pupils decode every frame (default: the first)
    BENCH_AV_CLASSES=audio,180p ...             # only these classes (default: 180p,360p,audio,720p)
    BENCH_AV_EVENT_LOOPS=2 ...                  # Janus's event_loops (default 0: a thread a handle)

`media`: Janus, started by homeroom.av on homeroom's own configuration (its WebSocket API on the
veth's private address, ICE on the veth alone), pinned to core 0; the clients (bench/av_clients.py,
aiortc) in a network namespace joined by a veth pair (tests/av_network.py), pinned to core 1.
For each class — a teacher at 180p, at 360p (single layer: aiortc has no simulcast; the video at
Chrome's simulcast target for that layer, 150 and 500 kbit/s), and audio only — pupils join in
steps until the knee (video loss > 1 % or audio loss, which a browser conceals, > 2 %, from the
pupils' own counts against what the teacher sent; or the teacher, on the clients' core, falling
behind its 50 audio packets a second), or the last step, or the class's time budget. Figures:

- `av_subscribers_per_core_<class>`: pupils at the last step within the knee divided by Janus's
  CPU (cores, from /proc) at that step, with the clients' own CPU, each side's cost a pupil or
  stream over what the teacher alone costs (measured before the first join), each pinned core's
  busy share, and `limited_by` (`janus`, `clients`, `machine`: other work on a pinned core, or
  `steps`), so that a client- or machine-bound figure can be read as what Janus would hold;
- `av_first_frame_p95_ms`: join (attach, subscribe, answer, start) to the first decoded video
  frame, over the video joins of the steps within the knee (goal ≤ 2,000); `av_joins_per_s`:
  the fastest of those steps;
- `av_kbps_per_pupil_<rung>`: the bytes the pupils' end of the veth received a second, per
  pupil, at the first (lowest) step of each class; 720p from a small class of its own.
  `slides` is the audio rung's media (the slides ride the class WebSocket), `text` has none.

`ladder`: bench/ladder_bench.py (the ladder's step-down and recovery on the capped-link model),
its lines passed on. `page`: bench/av_page_ladder.py, the same times as a pupil's page in
Chromium shows them, through the school, the gateway and Janus, behind a real tbf cap (three
runs, one with BENCH_AV_QUICK=1; skipped, saying why, without root). Bounded: each class has a
time budget, its process a timeout; `media` and `ladder` take about 6 minutes (1 to 2 with
BENCH_AV_QUICK=1), `page` about 5½ (2).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.steps import Steps, emit  # noqa: E402
from tests.av_network import ClientNet, client_namespace  # noqa: E402
from tests.janus_servers import settings  # noqa: E402

from homeroom.av.process import JanusProcess  # noqa: E402

QUICK = os.environ.get("BENCH_AV_QUICK") == "1"
DECODE = os.environ.get("BENCH_AV_DECODE", "first")
JANUS_CPU, CLIENT_CPU = "0", "1"
WINDOW_S = 4.0 if QUICK else 8.0
VIDEO_STEPS = [5, 15] if QUICK else [25, 50, 100, 150, 200, 300]
AUDIO_STEPS = [10, 30] if QUICK else [50, 100, 200, 300, 400, 600]
BUDGET_S = 40 if QUICK else 150  # a class's clients; the process is ended 60 s after it
KNEE = {"video": 0.01, "audio": 0.02}
SATURATED = 0.85  # of a core
AUDIO_PPS = 50  # Opus, 20 ms a packet
ANCHORS = {"mediasoup": "~500 consumers/core", "livekit": "94-190 subscribers/core"}
# class name: (camera size or None, video target kbit/s: Chrome's simulcast layer target)
CLASSES: dict[str, tuple[str | None, int]] = {
    "180p": ("180p", 150),
    "360p": ("360p", 500),
    "audio": (None, 0),
}

EVENT_LOOPS = int(os.environ.get("BENCH_AV_EVENT_LOOPS", "0"))
CHOSEN = os.environ.get("BENCH_AV_CLASSES", "180p,360p,audio,720p").split(",")

step = Steps()


def clients(
    net: ClientNet,
    janus: JanusProcess,
    room: int,
    size: str | None,
    kbps: int,
    steps: list[int],
    window_s: float = WINDOW_S,
    budget_s: float = BUDGET_S,
) -> list[dict[str, Any]]:
    """bench/av_clients.py in the namespace on the clients' core; its steps' JSON lines."""
    s = janus.settings
    config = {
        "url": s.url,
        "api_secret": s.api_secret,
        "admin_key": s.admin_key,
        "room": room,
        "size": size,
        "kbps": kbps,
        "steps": steps,
        "window_s": window_s,
        "janus_pid": janus.pid,
        "veth": net.client_end,
        "budget_s": budget_s,
        "decode": DECODE,
        "knee": KNEE,
    }
    argv = [*net.exec_prefix(), "taskset", "-c", CLIENT_CPU, sys.executable]
    argv += [str(ROOT / "bench" / "av_clients.py"), json.dumps(config)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=budget_s + 60)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    for line in lines:  # every step's raw figures, for the record
        print(json.dumps({"class": size or "audio", **line}), file=sys.stderr, flush=True)
    if done.returncode != 0 or not lines:
        print(f"av_clients ({size or 'audio'}) ended {done.returncode}:", file=sys.stderr)
        print(done.stderr[-3000:], file=sys.stderr)
    idle = next((line["idle"] for line in lines if "idle" in line), None)
    rows = [line for line in lines if "pupils" in line and "window_s" in line]
    for row in rows:  # the teacher alone: what the pupils' marginal costs are counted from
        row["idle_janus_cores"] = idle["janus_cores"] if idle else 0.0
        row["idle_client_cores"] = idle["client_cores"] if idle else 0.0
    return rows


def teacher_kept_pace(row: dict[str, Any]) -> bool:
    """The teacher (on the clients' core) sent its 50 audio packets a second, within 5 %: else
    the clients' core, not Janus, shaped the step."""
    return abs(row["teacher_audio_pps"] - AUDIO_PPS) <= 0.05 * AUDIO_PPS


def knee_of(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    """The last step within the knee's limits with the teacher keeping pace, and why the
    steps ended."""

    def within(row: dict[str, Any]) -> bool:
        return (
            (row["video_loss"] or 0) <= KNEE["video"]
            and (row["audio_loss"] or 0) <= KNEE["audio"]
            and teacher_kept_pace(row)
        )

    good = []
    for row in rows:
        if not within(row):
            break
        good.append(row)
    if len(good) == len(rows):
        return rows[-1], "no knee within the steps or the time budget"
    broke = rows[len(good)]
    why = (
        f"knee at {broke['pupils']} pupils: video loss {broke['video_loss']}, "
        f"audio loss {broke['audio_loss']}, the teacher's audio at "
        f"{broke['teacher_audio_pps']:.1f} packets/s"
    )
    return (good[-1] if good else broke), why


def limited_by(row: dict[str, Any], reason: str) -> str:
    """Which side ended the steps: `janus` when Janus used most of its core; `clients` when the
    clients did, when their sockets overflowed, or when the teacher's own audio strayed from
    its 50 packets a second (the teacher runs on the clients' core: a late event loop);
    `machine` when a pinned core was busy with other work (this machine is shared); `steps`
    when no knee was reached and no core was busy."""
    if row["janus_cores"] >= SATURATED:
        return "janus"
    if row["client_cores"] >= SATURATED or row["rcvbuf_errors"] > 0 or not teacher_kept_pace(row):
        return "clients"
    if any(busy >= SATURATED for busy in row["core_busy"].values()):
        return "machine"
    return "steps" if reason.startswith("no knee") else "neither core saturated"


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


@step("media")
def media() -> None:
    with client_namespace() as net:
        made = settings(
            ws_ip=net.host_address,
            ice_enforce_list=(net.host_end,),
            rtp_ports=(46_000, 49_999),
            event_loops=EVENT_LOOPS,
        )
        janus = JanusProcess(made, cpu=JANUS_CPU).start()
        firsts: list[float] = []  # joins in steps within the knee
        beyond: list[float] = []  # joins in the step past it, where the teacher may lag
        missing = 0
        joins: list[float] = []
        try:
            for room, (name, (size, kbps)) in enumerate(CLASSES.items(), start=7001):
                if name not in CHOSEN:
                    continue
                steps = AUDIO_STEPS if size is None else VIDEO_STEPS
                rows = clients(net, janus, room, size, kbps, steps)
                if not rows:
                    continue
                row, reason = knee_of(rows)
                for number, each in enumerate(rows):
                    within = number <= rows.index(row)
                    if size is not None:
                        got = [ms for ms in each["first_frame_ms"] if ms is not None]
                        (firsts if within else beyond).extend(got)
                        missing += sum(ms is None for ms in each["first_frame_ms"])
                    if within:
                        joins.append(each["joins"] / each["joins_s"])
                streams = row["pupils"] * (1 if size is None else 2)
                emit(
                    f"av_subscribers_per_core_{name}",
                    row["pupils"] / max(row["janus_cores"], 1e-6),
                    "subscribers/core",
                    subscribers=row["pupils"],
                    streams=streams,
                    janus_cores=round(row["janus_cores"], 3),
                    janus_core_per_stream=round(
                        (row["janus_cores"] - row["idle_janus_cores"]) / streams, 6
                    ),
                    janus_cores_teacher_alone=round(row["idle_janus_cores"], 3),
                    client_cores=round(row["client_cores"], 3),
                    client_core_per_subscriber=round(
                        (row["client_cores"] - row["idle_client_cores"]) / row["pupils"], 5
                    ),
                    client_cores_teacher_alone=round(row["idle_client_cores"], 3),
                    limited_by=limited_by(row, reason),
                    why=reason,
                    video_loss=row["video_loss"],
                    audio_loss=row["audio_loss"],
                    rcvbuf_errors=row["rcvbuf_errors"],
                    silent_pupils=row["silent_pupils"],
                    teacher_pps={
                        "video": round(row["teacher_video_pps"], 1),
                        "audio": round(row["teacher_audio_pps"], 1),
                    },
                    core_busy=row["core_busy"],
                    load_avg=round(os.getloadavg()[0], 1),
                    event_loops=EVENT_LOOPS,
                    egress_mbps=round(row["rx_kbps"] / 1000, 2),
                    egress_pps=round(row["rx_pps"]),
                    decode=DECODE,
                    steps=[r["pupils"] for r in rows],
                    quick=QUICK,
                    anchors=ANCHORS,
                )
                first = rows[0]
                per_pupil = first["rx_kbps"] / first["pupils"]
                for rung in [name] if size is not None else ["audio", "slides"]:
                    emit(
                        f"av_kbps_per_pupil_{rung}",
                        per_pupil,
                        "kbit/s",
                        pupils=first["pupils"],
                        pps_per_pupil=round(first["rx_pps"] / first["pupils"], 1),
                        video_target_kbps=kbps or None,
                        measured="veth bytes received by the pupils' namespace (IP, SRTP, RTCP)",
                        note="slides ride the class WebSocket" if rung == "slides" else "",
                    )
            rows = clients(net, janus, 7010, "720p", 2500, [3]) if "720p" in CHOSEN else []
            if rows:
                emit(
                    "av_kbps_per_pupil_720p",
                    rows[0]["rx_kbps"] / rows[0]["pupils"],
                    "kbit/s",
                    pupils=rows[0]["pupils"],
                    pps_per_pupil=round(rows[0]["rx_pps"] / rows[0]["pupils"], 1),
                    video_target_kbps=2500,
                    measured="veth bytes received by the pupils' namespace (IP, SRTP, RTCP)",
                )
            emit("av_kbps_per_pupil_text", 0, "kbit/s", note="no Janus media at text")
            if firsts:
                emit(
                    "av_first_frame_p95_ms",
                    p95(firsts),
                    "ms",
                    goal="<= 2000",
                    p50=round(sorted(firsts)[len(firsts) // 2], 1),
                    joins=len(firsts),
                    without_frame=missing,
                    p95_with_the_step_past_the_knee=round(p95(firsts + beyond), 1),
                    note="joins in the steps within the knee",
                )
            if joins:
                emit(
                    "av_joins_per_s",
                    max(joins),
                    "joins/s",
                    note=f"the fastest of {len(joins)} steps within the knee, 8 joins at once, "
                    "clients on one core",
                )
        finally:
            janus.stop()
            shutil.rmtree(made.folder, ignore_errors=True)


@step("ladder")
def ladder() -> None:
    began = time.monotonic()
    subprocess.run([sys.executable, str(ROOT / "bench" / "ladder_bench.py"), "cap"], check=True)
    print(f"ladder: {time.monotonic() - began:.0f} s", file=sys.stderr)


@step("page")
def page() -> None:
    subprocess.run([sys.executable, str(ROOT / "bench" / "av_page_ladder.py")], check=True)


if __name__ == "__main__":
    sys.exit(step.run(sys.argv[1:]))
