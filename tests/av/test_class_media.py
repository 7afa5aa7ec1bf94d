"""The class page's audio and video end to end: school, gateway, Janus and two Chromium contexts, nothing injected.

Real processes, as in tests/browser/test_live_class.py: `homeroom run` on a seeded SQLite file and
`homeroom live` in its folder, the gateway relaying to a real Janus (`HOMEROOM_JANUS_URLS`). The
browsers run inside a network namespace (tests/av_network.py) whose only way out is a veth pair:
both servers listen on the veth's end in this machine's namespace, Janus gathers its candidates
on that end alone (`ice_enforce_list`), so neither the pages nor the media can take loopback.
The pages are served from http://10.214.k.1:port; Chromium is told to treat that origin and the
gateway's as secure (`--unsafely-treat-insecure-origin-as-secure`), as HTTPS would, so that
getUserMedia is allowed.

The teacher turns microphone and camera on with the page's own buttons (fake devices); a pupil
in another context opens the same class and watches through the page's own `av.watch`. The
proof is the pupil's `getStats`: `framesDecoded` and `totalSamplesReceived` grow. The page keeps
its peer connections to itself; an init script of the test (before any of the page's scripts)
records each RTCPeerConnection the page makes, so that the test can read their stats — it
changes nothing the page does.

Then the ladder through the same chain: the pupil's link capped with a `tbf` on the veth, the
page shows a lower rung, and climbs back once the cap is lifted.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.av.test_media import ARGS, tc
from tests.av_network import ClientNet, chromium, client_namespace
from tests.browser.conftest import WatchedBrowser, seeded_school_db
from tests.browser.test_live_class import Class, LiveProcess, _seed, sign_in_to_class
from tests.gate_process import GateProcess
from tests.janus_servers import janus_instance
from tests.redis_servers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(240)]
LAPTOP = {"width": 1280, "height": 900}

# Before any script of the page: every peer connection it makes is kept for the test to read.
KEEP_PEERS = """
(() => {
  const Native = window.RTCPeerConnection;
  const peers = (window.__hrPeers = []);
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); peers.push(this); }
  };
})();
"""

# What the page's open peer connections received, and the path the media took.
RECEIVED = """async () => {
  const out = {frames: 0, samples: 0, width: 0, paths: []};
  for (const pc of window.__hrPeers) {
    if (pc.connectionState === "closed") continue;
    const stats = await pc.getStats();
    let inbound = false;
    stats.forEach((r) => {
      if (r.type !== "inbound-rtp") return;
      inbound = true;
      if (r.kind === "video") { out.frames += r.framesDecoded || 0; out.width = r.frameWidth || 0; }
      if (r.kind === "audio") out.samples += r.totalSamplesReceived || 0;
    });
    stats.forEach((r) => {
      if (!inbound || r.type !== "transport" || !r.selectedCandidatePairId) return;
      const pair = stats.get(r.selectedCandidatePairId);
      out.paths.push([stats.get(pair.localCandidateId).address,
                      stats.get(pair.remoteCandidateId).address]);
    });
  }
  return out;
}"""


class SchoolOnVeth(GateProcess):
    """`homeroom run` listening on the veth's end in this machine's namespace."""

    def __init__(self, env: dict[str, str], address: str) -> None:
        super().__init__({**env, "HOMEROOM_HOST": address})
        self.address = address

    @property
    def base(self) -> str:
        return f"http://{self.address}:{self.port}"


@contextmanager
def gateway(workdir: str, env: dict[str, str], address: str, port: int) -> Iterator[None]:
    """`homeroom live` in the school's folder (the join tokens' key), on the veth's end."""
    live = LiveProcess(workdir, port, env["HOMEROOM_DATABASE_URL"], host=address, more=env)
    try:
        yield
    finally:
        live.stop()


@dataclass
class Scene:
    net: ClientNet
    where: Class
    browser: Browser


@pytest.fixture
def scene() -> Iterator[Scene]:
    """Janus, the school and its gateway on the veth; Chromium in the namespace."""
    with (
        client_namespace() as net,
        janus_instance(ice_enforce_list=(net.host_end,), rtp_ports=(43_000, 43_999)) as janus,
    ):
        url, session_id = seeded_school_db("homeroom-class-media-", _seed)
        live_port = free_port()
        s = janus.settings
        env = {
            "HOMEROOM_DATABASE_URL": url,
            "HOMEROOM_SESSION_SECRET": secrets.token_hex(16),
            "HOMEROOM_LIVE_PORT": str(live_port),
            "HOMEROOM_JANUS_URLS": s.url,
            "HOMEROOM_JANUS_API_SECRET": s.api_secret,
            "HOMEROOM_JANUS_ADMIN_KEY": s.admin_key,
            # stopped at once at the end, without a drain's notice (as GateProcess does)
            "HOMEROOM_DRAIN_NOTICE_S": "0",
            "HOMEROOM_DRAIN_WINDOW_S": "0",
        }
        folder = Path(tempfile.mkdtemp(prefix="homeroom-class-media-"))
        try:
            with (
                SchoolOnVeth(env, net.host_address) as school,
                gateway(school.workdir, env, net.host_address, live_port),
                sync_playwright() as p,
            ):
                secure = f"{school.base},http://{net.host_address}:{live_port}"
                browser = p.chromium.launch(
                    executable_path=str(net.wrapper(folder, chromium())),
                    args=[*ARGS, f"--unsafely-treat-insecure-origin-as-secure={secure}"],
                )
                watched = WatchedBrowser(browser)
                try:
                    yield Scene(net, Class(school.base, session_id), watched)  # type: ignore[arg-type]
                    violations = [v for w in watched.watches for v in w.violations]
                    assert violations == [], "the Content-Security-Policy refused something"
                finally:
                    browser.close()
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def open_class(scene: Scene, login: str, lang: str) -> Page:
    locale = "fr-FR" if lang == "fr" else "en-GB"
    context = scene.browser.new_context(
        locale=locale, viewport=LAPTOP, extra_http_headers={"accept-language": f"{locale},{lang}"}
    )
    context.add_init_script(KEEP_PEERS)
    page = context.new_page()
    sign_in_to_class(page, scene.where, login)
    expect(page.locator("#lv-class")).to_be_visible()
    expect(page.locator("#lv-av")).to_have_attribute("data-av", "on")
    return page


def until(page: Page, holds: Any, timeout_s: float = 30) -> dict[str, Any]:
    """The pupil's figures once `holds(figures)`; the last ones in the failure."""
    last: dict[str, Any] = {}
    for _ in range(int(timeout_s / 0.25)):
        last = page.evaluate(RECEIVED)
        if holds(last):
            return last
        page.wait_for_timeout(250)
    raise AssertionError(f"the pupil's figures still {last} after {timeout_s} s")


def on_air(scene: Scene) -> tuple[Page, Page]:
    """The teacher with microphone and camera on, and Léa watching her: their pages."""
    teacher = open_class(scene, "prof", "en")
    teacher.locator("#lv-mic").click()
    teacher.locator("#lv-cam").click()
    for button in ("#lv-mic", "#lv-cam"):
        expect(teacher.locator(button)).to_have_attribute("aria-pressed", "true")
    expect(teacher.locator("#lv-videos")).to_have_attribute("data-tiles", "1")  # her own camera
    expect(teacher.locator("#lv-av-problem")).to_be_hidden()

    lea = open_class(scene, "lea", "fr")
    expect(lea.locator("#lv-videos")).to_have_attribute("data-tiles", "1")
    expect(lea.locator("#lv-videos figcaption")).to_have_text("Prof")
    expect(lea.locator("#lv-audio audio")).to_have_count(1)
    return teacher, lea


def test_a_pupil_sees_and_hears_the_teacher_through_the_gateway_and_janus(scene: Scene) -> None:
    _, lea = on_air(scene)
    first = until(lea, lambda r: r["frames"] > 0 and r["samples"] > 0)
    later = until(
        lea, lambda r: r["frames"] > first["frames"] + 10 and r["samples"] > first["samples"]
    )
    assert later["width"] > 0
    # the media took the veth: Janus's end of it, from the namespace's end
    assert later["paths"] == [[scene.net.client_address, scene.net.host_address]]
    expect(lea.locator("#lv-av-problem")).to_be_hidden()


def rung_of(page: Page, rungs: tuple[str, ...], timeout_s: float) -> None:
    """Wait until the page shows one of `rungs` (the gateway's `av.rung`)."""
    pattern = re.compile("^(" + "|".join(map(re.escape, rungs)) + ")$")
    expect(page.locator("#lv-av")).to_have_attribute("data-rung", pattern, timeout=timeout_s * 1000)


def test_a_capped_link_steps_the_pupil_down_and_lifting_it_climbs_back(scene: Scene) -> None:
    """The cap is a tbf on the veth's end in this machine's namespace: what Janus (and the
    school and gateway) send into the namespace. The teacher's camera goes the other way, so
    only what the pupil receives is capped. The ladder climbs one rung per 8 s of good figures
    from 180p, steps down at once on a hard signal (docs/av.md#the-ladder)."""
    _, lea = on_air(scene)
    until(lea, lambda r: r["frames"] > 0)
    rung_of(lea, ("360p", "720p"), 40)  # climbed from the newcomer's 180p

    # 400 kbit/s: 180p (207 kbit/s) fits, 360p (557) does not
    assert cap(scene.net, "400kbit").returncode == 0
    rung_of(lea, ("180p",), 30)
    expect(lea.locator("#lv-rung")).to_contain_text("180p")
    expect(lea.locator("#lv-videos")).to_have_attribute("data-tiles", "1")
    # 150 kbit/s: only the sound (57) fits; the camera leaves the stage, the sound goes on
    assert cap(scene.net, "150kbit").returncode == 0
    rung_of(lea, ("audio",), 30)
    expect(lea.locator("#lv-rung")).to_contain_text("Son et écran partagé")
    expect(lea.locator("#lv-videos")).to_have_attribute("data-tiles", "0")
    heard = until(lea, lambda r: r["samples"] > 0)
    until(lea, lambda r: r["samples"] > heard["samples"])

    # the cap lifted: the pupil climbs back and sees the teacher again
    assert tc("qdisc", "del", "dev", scene.net.host_end, "root").returncode == 0
    rung_of(lea, ("180p", "360p", "720p"), 40)
    expect(lea.locator("#lv-videos")).to_have_attribute("data-tiles", "1")
    seen = until(lea, lambda r: r["frames"] > 0)
    until(lea, lambda r: r["frames"] > seen["frames"] + 10)


def cap(net: ClientNet, rate: str) -> subprocess.CompletedProcess[str]:
    """The link into the namespace capped at `rate` (or the cap changed); skips without tbf."""
    done = tc("qdisc", "replace", "dev", net.host_end, "root", "tbf", "rate", rate,
              "burst", "16kb", "latency", "100ms")  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"no tbf qdisc here: {done.stderr.strip()}")
    return done
