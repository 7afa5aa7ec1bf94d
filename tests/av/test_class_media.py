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
page shows a lower rung, and climbs back once the cap is lifted; at 30 kbit/s the chat and the
slides still come. And the other ways media goes: a pupil given the floor heard by the
teacher, the teacher's shared screen seen by the pupil.
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

from homeroom.core import ladder
from tests.av.test_media import ARGS, tc
from tests.av_network import ClientNet, chromium, client_namespace
from tests.browser.conftest import WatchedBrowser, seeded_school_db
from tests.browser.test_live_class import Class, LiveProcess, _seed, say, sign_in_to_class
from tests.gate_process import QUICK_STOP, GateProcess
from tests.janus_servers import janus_instance
from tests.redis_servers import free_port
from tests.school.test_pages_class import pdf_of

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(240)]
LAPTOP = {"width": 1280, "height": 900}

# Before any script of the page: every peer connection it makes is kept for the test to read,
# and its reports to the ladder counted.
KEEP_PEERS = """
(() => {
  const Native = window.RTCPeerConnection;
  const peers = (window.__hrPeers = []);
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); peers.push(this); }
  };
  // and the reports it sends the ladder (av.stats) are counted
  window.__hrReports = 0;
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (typeof data === "string" && data.includes('"av.stats"')) window.__hrReports += 1;
    return send.call(this, data);
  };
})();
"""

# What the page's open peer connections received, the path the media took, and Chromium's
# bandwidth estimate on that path (`availableIncomingBitrate`, null where it gives none).
RECEIVED = """async () => {
  const out = {frames: 0, samples: 0, width: 0, paths: [], available: []};
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
      out.available.push(pair.availableIncomingBitrate ?? null);
    });
  }
  return out;
}"""

REPORTS = "() => window.__hrReports"

# What the page's open peer connections send: the live tracks of each kind.
SENDING = """async () => {
  const out = {audio: 0, video: 0};
  for (const pc of window.__hrPeers) {
    if (pc.connectionState === "closed") continue;
    for (const sender of pc.getSenders())
      if (sender.track && sender.track.readyState === "live") out[sender.track.kind] += 1;
  }
  return out;
}"""


# The first tile of the stage: its caption and what the page decoded of the track it shows.
FIRST_TILE = """async () => {
  const figure = document.querySelector("#lv-videos figure");
  const video = figure && figure.querySelector("video");
  const track = video && video.srcObject && video.srcObject.getVideoTracks()[0];
  if (!track) return null;
  const out = {caption: figure.querySelector("figcaption").textContent, frames: 0, width: 0};
  for (const pc of window.__hrPeers) {
    if (pc.connectionState === "closed") continue;
    (await pc.getStats()).forEach((r) => {
      if (r.type !== "inbound-rtp" || r.trackIdentifier !== track.id) return;
      out.frames = r.framesDecoded || 0; out.width = r.frameWidth || 0;
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


@contextmanager
def class_scene() -> Iterator[Scene]:
    """Janus, the school and its gateway on the veth; Chromium in the namespace, its contexts
    watched for the Content-Security-Policy (read `browser.watches`). A plain context manager,
    so that bench/av_page_ladder.py sets up the same class outside pytest."""
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
            **QUICK_STOP,  # stopped at once at the end, without a drain's notice
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
                finally:
                    browser.close()
        finally:
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def scene() -> Iterator[Scene]:
    """The class scene; the test fails if a page broke the Content-Security-Policy."""
    with class_scene() as s:
        yield s
        watches = s.browser.watches  # type: ignore[attr-defined]  # a WatchedBrowser
        violations = [v for w in watches for v in w.violations]
        assert violations == [], "the Content-Security-Policy refused something"


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


def polled(page: Page, script: str, holds: Any, timeout_s: float, what: str) -> Any:
    """`script`'s result once `holds(result)` (a null result never holds); the last one in
    the failure, named `what`."""
    last: Any = None
    for _ in range(int(timeout_s / 0.25)):
        last = page.evaluate(script)
        if last is not None and holds(last):
            return last
        page.wait_for_timeout(250)
    raise AssertionError(f"{what} still {last} after {timeout_s} s")


def until(page: Page, holds: Any, timeout_s: float = 30) -> dict[str, Any]:
    """What the page received once `holds(figures)`."""
    figures: dict[str, Any] = polled(page, RECEIVED, holds, timeout_s, "the page's figures")
    return figures


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


def cap(
    net: ClientNet, rate: str, burst: str = "16kb", latency: str = "100ms"
) -> subprocess.CompletedProcess[str]:
    """The link into the namespace capped at `rate` (or the cap changed); skips without tbf."""
    done = tc("qdisc", "replace", "dev", net.host_end, "root", "tbf", "rate", rate,
              "burst", burst, "latency", latency)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"no tbf qdisc here: {done.stderr.strip()}")
    return done


def test_at_30_kbits_the_pupil_still_follows_the_slides_and_the_chat(scene: Scene) -> None:
    """Issue 12's floor: below every rung that carries sound, the class's own socket still
    brings the chat and the slides, at `text` and while the ladder's probe puts the sound back
    on the link for a moment. The slides are opened before the cap (pdf.js and the document
    fetched, as for a pupil whose line worsens during the class); what crosses the capped link
    is then the room's messages alone."""
    teacher, lea = on_air(scene)
    teacher.set_input_files(
        "#lv-slides-file",
        {"name": "lesson.pdf", "mimeType": "application/pdf",
         "buffer": pdf_of(["Spiders", "Legs", "Webs"])},
    )  # fmt: skip
    teacher.get_by_role("button", name="Upload and show").click()
    expect(lea.locator("#lv-slide-canvas")).to_have_attribute("data-shown", re.compile(":1$"))
    expect(lea.locator("#lv-slide-text")).to_have_text("Spiders")
    until(lea, lambda r: r["frames"] > 0)

    # 30 kbit/s, below the sound alone (57). A burst of 3 KB: two full frames, so that tbf
    # passes any packet but lends a quiet link little (the other tests' 16 KB would be 4 s of
    # this link let through at full speed: a chat message after a quiet while would never
    # meet the cap). A queue of 1 s, as a slow mobile line's buffer is deep: when the ladder
    # probes `slides` (the sound alone, twice this link's rate) the class's TCP waits behind
    # it for a second instead of losing packets and backing its retransmission timer off for
    # longer than the probe lasts.
    assert cap(scene.net, "30kbit", burst="3kb", latency="1s").returncode == 0
    rung_of(lea, ("slides", "text"), 60)
    expect(lea.locator("#lv-videos")).to_have_attribute("data-tiles", "0")

    next_page(teacher, lea, "Turn to page 2, please", 2, "Legs")
    # and she answers: her message reaches the teacher, and the room's acknowledgement her
    say(lea, "Page 2, c'est bon")
    expect(teacher.locator("#lv-chat-list .lv-text", has_text="Page 2, c'est bon")).to_have_count(
        1, timeout=60_000
    )
    expect(lea.locator("#lv")).to_have_attribute("data-outbox", "0", timeout=60_000)

    # a while at text, the ladder tries the sound again (its probe): the sound takes the link,
    # twice over, and the class's messages still come; the probe fails, back to text
    rung_of(lea, ("slides",), 60)
    next_page(teacher, lea, "Page 3 now", 3, "Webs")
    rung_of(lea, ("text",), 60)


def next_page(teacher: Page, pupil: Page, message: str, number: int, text: str) -> None:
    """The teacher says `message` and turns to page `number` (of 3, reading `text`): the
    pupil's page (in French) shows both, the page drawn."""
    say(teacher, message)
    teacher.get_by_role("button", name="Next page").click()
    chat = pupil.locator("#lv-chat-list .lv-text", has_text=message)
    expect(chat).to_have_count(1, timeout=60_000)
    shown = re.compile(f":{number}$")
    expect(pupil.locator("#lv-slide-canvas")).to_have_attribute("data-shown", shown, timeout=60_000)
    expect(pupil.locator("#lv-slide-text")).to_have_text(text)
    expect(pupil.locator("#lv-slide-page")).to_have_text(f"Page {number} sur 3")


def test_a_pupil_given_the_floor_is_heard_by_the_teacher(scene: Scene) -> None:
    """Léa raises her hand, the teacher gives her the floor with the page's button, she turns
    her microphone on: the teacher's page decodes her sound (the teacher publishes nothing, so
    all it receives is hers). The floor taken back, her page turns the microphone off and sends
    nothing, and the teacher's page no longer receives her. Nobody speaking is no sign of a
    poor line: before anyone speaks and after Léa, the teacher's page keeps a rung with sound
    (it was put on `text`, and heard nobody until the ladder's probe, before the gateway told
    having nothing to receive from a silent line), so that Léa, given the floor again, is
    heard again."""
    teacher = open_class(scene, "prof", "en")
    lea = open_class(scene, "lea", "fr")
    # a while with nobody speaking, longer than the ladder takes to call a line silent: having
    # nothing to receive is no silence, both keep a rung with sound
    teacher.wait_for_timeout((ladder.TIMES.silent_s + 6) * 1000)
    for page in (teacher, lea):
        expect(page.locator("#lv-av")).to_have_attribute("data-rung", "180p")
    lea.locator("#lv-hand").click()
    hands = teacher.locator("#lv-hand-list")
    hands.get_by_role("button", name="Give Lea the floor", exact=True).click()
    speak(lea)
    heard = until(teacher, lambda r: r["samples"] > 0)
    until(teacher, lambda r: r["samples"] > heard["samples"])
    assert lea.evaluate(SENDING) == {"audio": 1, "video": 0}
    assert teacher.locator("#lv-av").get_attribute("data-rung") != "text"

    hands.get_by_role("button", name="Take the floor back from Lea").click()
    expect(lea.locator("#lv-mic")).to_have_attribute("aria-pressed", "false")
    expect(lea.locator("#lv-av-state")).to_have_text(
        "Vous n'avez plus la parole : votre micro est coupé. Levez la main pour la redemander."
    )
    expect(teacher.locator("#lv-audio audio")).to_have_count(0)
    assert lea.evaluate(SENDING) == {"audio": 0, "video": 0}
    # her stream left the teacher's connection (Janus renegotiated it away)
    until(teacher, lambda r: r["samples"] == 0)
    # the teacher's page reports twice more with nothing to receive: its rung holds
    sent = teacher.evaluate(REPORTS)
    polled(teacher, REPORTS, lambda n: n >= sent + 2, 30, "the teacher's reports")
    assert teacher.locator("#lv-av").get_attribute("data-rung") != "text"

    expect(lea.locator("#lv-hand")).to_have_attribute("aria-pressed", "true")  # still raised
    hands.get_by_role("button", name="Give Lea the floor", exact=True).click()
    speak(lea)
    again = until(teacher, lambda r: r["samples"] > 0)
    until(teacher, lambda r: r["samples"] > again["samples"])


def speak(pupil: Page) -> None:
    """Given the floor, the pupil turns the microphone on with the page's button."""
    expect(pupil.locator("#lv-av-state")).to_have_text(
        "Vous avez la parole : allumez votre micro pour parler."
    )
    pupil.locator("#lv-mic").click()
    expect(pupil.locator("#lv-mic")).to_have_attribute("aria-pressed", "true")


def test_the_teacher_s_shared_screen_is_seen_by_the_pupil(scene: Scene) -> None:
    """The teacher shares her screen with the page's button: Chromium's own getDisplayMedia,
    no prompt with `--use-fake-ui-for-media-stream`, its capture Chromium's fake screen
    (`--use-fake-device-for-media-stream`: a "screen" of 1280×720 at 30 frames a second; without
    it headless Chromium has no screen to capture, NotReadableError). The pupil's stage shows
    the screen first, above the teacher's camera, and her page decodes its frames. At `audio`
    (her own data saving) the camera leaves and the screen stays, at its lowest layer."""
    teacher, lea = on_air(scene)
    teacher.locator("#lv-screen").click()
    expect(teacher.locator("#lv-screen")).to_have_attribute("aria-pressed", "true")
    expect(teacher.locator("#lv-av-problem")).to_be_hidden()

    expect(lea.locator("#lv-videos")).to_have_attribute("data-tiles", "2")
    expect(lea.locator("#lv-videos figcaption")).to_have_text(["Écran de Prof", "Prof"])
    shown = shows(lea, lambda t: t["frames"] > 0)
    shows(lea, lambda t: t["frames"] > shown["frames"] + 10)

    lea.select_option("#lv-rung-own", "audio")
    rung_of(lea, ("audio",), 30)
    expect(lea.locator("#lv-videos")).to_have_attribute("data-tiles", "1")
    expect(lea.locator("#lv-videos figcaption")).to_have_text("Écran de Prof")
    low = shows(lea, lambda t: t["frames"] > 0)
    # the lowest of the three layers: a quarter of the 1280 pixels, or less if the encoder
    # scaled down on this busy machine
    shows(lea, lambda t: t["frames"] > low["frames"] + 10 and 0 < t["width"] <= 320)


def shows(page: Page, holds: Any, timeout_s: float = 30) -> dict[str, Any]:
    """The first tile of the page's stage once `holds(tile)`."""
    tile: dict[str, Any] = polled(page, FIRST_TILE, holds, timeout_s, "the stage's first tile")
    return tile
