"""The ladder's step-down and recovery as a pupil's page shows them, Chromium behind a real tbf.

    python bench/av_page_ladder.py                    # `make bench-av`'s step `page`; needs root
    BENCH_AV_QUICK=1 python bench/av_page_ladder.py   # one run instead of three
    BENCH_AV_PAGE_RUNS=5 ...                          # so many runs

Issue #12's goals, docs/av.md#measured-make-bench-av. The class of tests/av/test_class_media.py
(`class_scene`): Janus with ICE on a veth alone, a seeded school's `homeroom run` and `homeroom
live` on the veth's end in this machine's namespace, Chromium in the network namespace at the other
end. Each run: the teacher on air (camera and microphone, `on_air`) and Léa watching, each in a new
context; Léa's rung (`#lv-av[data-rung]`, what the gateway's `av.rung` told her page) read from here
every 100 ms. Léa climbs from the newcomer's 180p until 720p or for 60 s, whichever comes first
(`av_ladder_first_climb_s`, from the page showing the teacher to its first rung above 180p) and
stays there 34 s more (longer than the ladder's `prove_s`: a rung she holds, whose loss is no failed
climb to back off from); the rung then is her top. Then her link is capped with a tbf at 150 kbit/s
on the veth's end in this machine's namespace (what Janus sends her: audio, 57, fits; 180p, 207,
does not), and `av_ladder_step_down_s` is the time from the `tc` command's return to her page
showing a rung that fits (audio or lower; which one is recorded, goal ≤ 5 s); the cap held 15 s in
all (as `ladder_bench.py cap`'s shortest case), then removed, and `av_ladder_recovery_s` is the time
from the removal to her page showing her top again (goal ≤ 30 s; 90 s at most, else that run's time
is null and `reached` counts it). Each run records every rung her page passed through with its time,
and, once a second, Chromium's `availableIncomingBitrate` on her selected candidate pair (read as
the tests read `getStats`: KEEP_PEERS keeps the page's peer connections), which the ladder's
recovery depends on (docs/av.md#the-ladder-s-own-figures). The contexts are closed and the class
left alone for 10 s between runs. A time is when the poll first saw the rung: up to ~0.1 s (and an
evaluate's round trip) after the page changed it.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

import pytest  # noqa: E402  (its skip is how the test helpers say what is missing)
from bench.steps import emit  # noqa: E402
from playwright.sync_api import Page  # noqa: E402
from tests.av.test_class_media import RECEIVED, Scene, cap, class_scene, on_air  # noqa: E402
from tests.av.test_media import tc  # noqa: E402

from homeroom.core.ladder import START, TIMES, Rung  # noqa: E402
from homeroom.deploy import netns  # noqa: E402

QUICK = os.environ.get("BENCH_AV_QUICK") == "1"
RUNS = int(os.environ.get("BENCH_AV_PAGE_RUNS", "1" if QUICK else "3"))
CAP = "150kbit"
FITS = {Rung.AUDIO, Rung.SLIDES, Rung.TEXT}  # at 150 kbit/s (57 for audio; 180p needs 207)
CLIMB_S = 60.0  # the climb's time; its end (or 720p) is the run's top
# On the top before the cap: longer than the ladder's `prove_s`, so that the top is a rung she
# holds, as a pupil settled in a class does; capped sooner, her step down would count as a
# failed climb onto it, and the way back would wait the backoff (16–18 s a rung, not 8–10).
TOP_HELD_S = TIMES.prove_s + 4.0
CAPPED_S = 15.0  # the cap's whole length, from its start
DOWN_S = 30.0  # no step down within this: the run's time is null, and `reached` says so
UP_S = 90.0  # no recovery within this: the same
POLL_S = 0.1
STATS_EVERY_S = 1.0
SETTLE_S = 10.0
SOURCE = "chromium+janus+tbf"
LOAD_AT_START = os.getloadavg()[0]
RUNG = "() => document.querySelector('#lv-av').dataset.rung || null"
# The page's reports to the ladder (`av.stats`), kept with the page's clock as they go: what the
# ladder judged. Passed on unchanged, as KEEP_PEERS's count does (the socket sends through the
# prototype at each call, so the page's open socket is wrapped too).
KEEP_REPORTS = """() => {
  if (window.__benchReports) return performance.now();
  const kept = (window.__benchReports = []);
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (typeof data === "string" && data.includes('"av.stats"'))
      kept.push([performance.now(), data]);
    return send.call(this, data);
  };
  return performance.now();
}"""


KEPT = "() => window.__benchReports"


def figures(after_ms: float, message: str) -> dict[str, Any]:
    """One kept `av.stats`: when (s from the run's start) and its figures, without the envelope."""
    sent = json.loads(message)
    return {"at_s": round(after_ms / 1000, 2)} | {
        k: v for k, v in sent.items() if k not in ("v", "type", "id")
    }


@dataclass
class Watch:
    """One run of Léa's page: the rungs it showed and when, and Chromium's estimates."""

    page: Page
    t0: float
    rungs: list[tuple[str, float]] = field(default_factory=list)
    estimates: dict[str, list[float | None]] = field(default_factory=dict)
    next_stats: float = 0.0

    def rung(self) -> Rung | None:
        word = self.page.evaluate(RUNG)
        return None if word is None else Rung.parse(word)

    def until(self, holds: Any, within_s: float, phase: str) -> tuple[Rung | None, float | None]:
        """Poll until the page's rung `holds`: that rung and when (from the call), or the
        last rung and None after `within_s`."""
        began = time.monotonic()
        now, seen = began, None
        while now - began <= within_s:
            seen = self.rung()
            now = time.monotonic()
            word = seen.wire if seen is not None else None
            if word is not None and (not self.rungs or self.rungs[-1][0] != word):
                self.rungs.append((word, round(now - self.t0, 2)))
            if now >= self.next_stats:
                self.next_stats = now + STATS_EVERY_S
                got = self.page.evaluate(RECEIVED)["available"]
                self.estimates.setdefault(phase, []).extend(got or [None])
            if seen is not None and holds(seen):
                return seen, now - began
            self.page.wait_for_timeout(POLL_S * 1000)
        return seen, None


def one_run(scene: Scene) -> dict[str, Any]:
    """On air, the climb, the cap, the lift: one run's figures."""
    teacher, lea = on_air(scene)
    page_t0 = lea.evaluate(KEEP_REPORTS)
    watch = Watch(lea, time.monotonic())
    try:
        climbed, first_climb = watch.until(lambda r: r > START, CLIMB_S, "climb")
        left = CLIMB_S - (time.monotonic() - watch.t0)
        watch.until(lambda r: r == Rung.P720, max(left, 0.0), "climb")
        watch.until(lambda r: False, TOP_HELD_S, "climb")
        top = watch.rung()
        cap(scene.net, CAP)
        capped = time.monotonic()
        down, down_s = watch.until(lambda r: r in FITS, DOWN_S, "capped")
        watch.until(lambda r: False, CAPPED_S - (time.monotonic() - capped), "capped")
        under = watch.rung()
        lifted = tc("qdisc", "del", "dev", scene.net.host_end, "root")
        assert lifted.returncode == 0, lifted.stderr
        lifted_at = time.monotonic()
        back, up_s = watch.until(lambda r: top is not None and r >= top, UP_S, "lifted")
        reports = [figures(at - page_t0, data) for at, data in lea.evaluate(KEPT)]
    finally:
        tc("qdisc", "del", "dev", scene.net.host_end, "root")  # gone already, but for a failure
        teacher.context.close()
        lea.context.close()
    return {
        "first_climb_s": first_climb,
        "climbed_to": climbed.wire if climbed else None,
        "top": top.wire if top else None,
        "step_down_s": down_s,
        "stepped_to": down.wire if down else None,
        "under_cap_at_lift": under.wire if under else None,
        "recovery_s": up_s,
        "recovered_to": back.wire if back else None,
        "cap_at_s": round(capped - watch.t0, 2),
        "lifted_at_s": round(lifted_at - watch.t0, 2),
        "rungs": watch.rungs,
        "reports": reports,
        "available_incoming_kbps": {
            phase: [None if v is None else round(v / 1000) for v in values]
            for phase, values in watch.estimates.items()
        },
    }


def summary(
    metric: str, key: str, runs: list[dict[str, Any]], also: tuple[str, ...], **extra: Any
) -> None:
    """Median and worst of the runs that reached it; each run's value (None: not reached) and
    its `also` figures."""
    each = [run[key] for run in runs]
    reached = [v for v in each if v is not None]
    labels = {
        "each": [None if v is None else round(v, 2) for v in each],
        **{name: [run[name] for run in runs] for name in also},
        "reached": f"{len(reached)}/{len(each)}",
        "source": SOURCE,
        "cap": CAP,
        "load_avg": round(os.getloadavg()[0], 1),
        "load_avg_at_start": round(LOAD_AT_START, 1),
        "quick": QUICK,
        **extra,
    }
    if reached:
        emit(metric, statistics.median(reached), "s", worst=round(max(reached), 2), **labels)
    else:  # nothing to take a median of: said, not hidden
        print(json.dumps({"metric": metric, "value": None, "unit": "s", **labels}), flush=True)


def main() -> int:
    if os.geteuid() != 0:
        print("page: skipped: Chromium's network namespace and the tbf cap need root", flush=True)
        return 0
    ok, why = netns.available()
    if not ok:
        print(f"page: skipped: no network namespace here: {why}", flush=True)
        return 0
    runs: list[dict[str, Any]] = []
    began = time.monotonic()
    try:
        with class_scene() as scene:
            for number in range(RUNS):
                if number:
                    time.sleep(SETTLE_S)
                runs.append(one_run(scene))
                print(json.dumps({"page_run": number + 1, **runs[-1]}), file=sys.stderr)
    except pytest.skip.Exception as skipped:  # no Janus, no tbf: the helpers said which
        print(f"page: skipped: {skipped}", flush=True)
        return 0
    summary("av_ladder_first_climb_s", "first_climb_s", runs, ("top", "climbed_to"))
    down = ("stepped_to", "under_cap_at_lift", "rungs", "cap_at_s", "lifted_at_s")
    summary("av_ladder_step_down_s", "step_down_s", runs, down, goal="<= 5")
    up = ("top", "recovered_to")
    summary("av_ladder_recovery_s", "recovery_s", runs, up, goal="<= 30", capped_for_s=CAPPED_S)
    estimates = [v for r in runs for vs in r["available_incoming_kbps"].values() for v in vs]
    given = [v for v in estimates if v is not None]
    emit(
        "av_available_incoming_bitrate_given",
        len(given) / max(len(estimates), 1),
        "fraction of samples",
        samples=len(estimates),
        median_kbps=statistics.median(given) if given else None,
        each=[r["available_incoming_kbps"] for r in runs],
        note="Chromium's getStats, the pupil's selected candidate pair, once a second",
        source=SOURCE,
    )
    print(f"page: {time.monotonic() - began:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
