"""The ladder's own share of issue #12's goals, one JSON object per line (docs/av.md#the-ladder).

    python bench/ladder_bench.py [step ...]     # steps: cost, cap; every step when none

`cost`: what the sans-I/O ladder costs the live gateway, in this process on one core: µs of CPU
per browser report (`observe`, a mix of figures over 10,000 pupils) and per `tick`; with a
report every 2 s, what one core spends on 100,000 pupils. `cap`: the ladder alone on the
capped-link model of tests/capped_link.py (a report every 2 s, at a random phase): from 720p, a
cap of 150 kbit/s (audio fits, 180p does not), time to the first rung that fits
(`ladder_step_down_s`, goal ≤ 5 s); the cap lifted, time back to 720p (`ladder_recovery_s`,
goal ≤ 30 s) after 15 s, a minute and five minutes under the cap (failed probes under a long
cap make the next climb wait longer), each with and without the browser's bandwidth estimate.
These are the model's times: no browser, gateway or Janus, no key frame to wait for. The real
ones, a pupil's page in Chromium behind a real tbf through the gateway and Janus, are
bench/av_page_ladder.py's (`make bench-av`'s step `page`).
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.steps import Steps, emit  # noqa: E402
from tests.capped_link import step as link_step  # noqa: E402

from homeroom.core.ladder import RUNGS, Pupil, Report, Rung, fit, observe, tick  # noqa: E402

PUPILS = 10_000
PERIOD_S = 2.0
CAP_KBPS = 150.0
RUNS = 200
HELD_S = (15.0, 60.0, 300.0)
LIFTED_KBPS = 10 * RUNGS[Rung.P720].kbps()

step = Steps()


def mixed_reports(rng: random.Random, n: int) -> list[Report]:
    """Mostly good figures, some fair, poor and hard ones, as a class on mixed lines sends."""
    reports = []
    for _ in range(n):
        loss = rng.choice([0.0, 0.0, 0.0, 0.01, 0.06, 0.12, 0.3])
        reports.append(
            Report(
                loss=loss,
                rtt_s=rng.choice([0.04, 0.08, 0.2, 0.7]),
                available_kbps=rng.choice([None, None, 300.0, 1_200.0, 4_000.0]),
                received_kbps=rng.uniform(50, 2_600),
                frames_decoded=rng.randint(20, 60),
                frames_dropped=rng.choice([0, 0, 0, 2, 20]),
            )
        )
    return reports


@step("cost")
def cost() -> None:
    rng = random.Random(12)
    reports = mixed_reports(rng, 1_000)
    pupils = [Pupil.start(0.0) for _ in range(PUPILS)]
    now, calls = 0.0, 0
    started = time.process_time()
    for _ in range(20):
        now += PERIOD_S
        for i, p in enumerate(pupils):
            pupils[i] = observe(p, reports[(i + calls) % len(reports)], now)
            calls += 1
    per_report = (time.process_time() - started) / calls * 1e6
    started = time.process_time()
    for i, p in enumerate(pupils):
        pupils[i] = tick(p, now + 1)
    per_tick = (time.process_time() - started) / len(pupils) * 1e6
    emit("ladder_observe_cpu", per_report, "µs/report", pupils=PUPILS)
    emit("ladder_tick_cpu", per_tick, "µs/tick", pupils=PUPILS)
    share = per_report / PERIOD_S * 100_000 / 1e6
    emit("ladder_core_share_100k_pupils", share, "cores", report_every_s=PERIOD_S)


def timed(start: Pupil, cap_kbps: float, estimate: bool, goal: Rung, phase: float) -> float:
    """The time, from `phase` on with a report every PERIOD_S, when the pupil is on `goal` or
    below it (going down) or on it (going up)."""
    p, now = start, phase
    down = goal < start.rung
    while now < 600:
        p, _ = link_step(p, cap_kbps, estimate, now)
        if (p.rung <= goal) if down else (p.rung >= goal):
            return now
        now += PERIOD_S
    return float("inf")


@step("cap")
def cap() -> None:
    rng = random.Random(12)
    fits = fit(CAP_KBPS)
    for estimate in (True, False):
        downs: list[float] = []
        ups: dict[float, list[float]] = {held: [] for held in HELD_S}
        for _ in range(RUNS):
            phase = rng.uniform(0, PERIOD_S)
            top = Pupil(Rung.P720, -100.0, -100.0, -100.0)
            downs.append(timed(top, CAP_KBPS, estimate, fits, phase))
            for held in HELD_S:  # so long under the cap, then it is lifted
                p, now = top, phase
                while now < held:
                    p, _ = link_step(p, CAP_KBPS, estimate, now)
                    now += PERIOD_S
                ups[held].append(timed(p, LIFTED_KBPS, estimate, Rung.P720, now) - held)
        labels = {"estimate": estimate, "cap_kbps": CAP_KBPS, "report_every_s": PERIOD_S}
        emit("ladder_step_down_s", statistics.median(downs), "s", p100=max(downs), **labels)
        for held, values in ups.items():
            emit("ladder_recovery_s", statistics.median(values), "s", p100=max(values),
                 capped_for_s=held, **labels)  # fmt: skip


if __name__ == "__main__":
    sys.exit(step.run(sys.argv[1:]))
