"""The class page's stage and audio/video controls in Chromium (docs/av.md#the-page).

Real processes, as in test_live_class.py: `homeroom run` and `homeroom live` on a seeded SQLite
file. Chromium runs with fake camera and microphone devices (`--use-fake-device-for-media-stream`);
a context is granted the camera and microphone, or not (then getUserMedia is refused, as when a
person says no).

What this file tests is the page. Every class socket goes through Playwright's WebSocket
routing (`Wire`): each message passes on to the real gateway and back, and the test reads what
the page sent and adds what a gateway with audio and video sends (the snapshot's `av` and
`floor`, `av.rung`, `av.rungs`, `av.talking`, `floor.given`, `av.muted` …, exactly as the
protocol's audio and video messages in docs/live.md have them). Messages the gateway of this branch does not know
(`av.*`, `floor.*`) are kept from it and recorded; a room command among them is acknowledged by
the wire so that the page's outbox settles. The media path through the real gateway and Janus
is tested end to end elsewhere (docs/av.md#how-it-is-tested).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, WebSocketRoute, expect

from tests.browser.conftest import ARGS, CHROMIUM, WatchedBrowser, axe_violations
from tests.browser.test_live_class import PHONE, WAIT_MS, Class, live_class, sign_in_to_class
from tests.live.conftest import _schema, check

pytestmark = [pytest.mark.slow, pytest.mark.browser]
LAPTOP = {"width": 1366, "height": 900}
__all__ = ["live_class"]  # the module's fixture, shared


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Chromium with a fake camera and microphone; the prompt is answered by each context's
    permissions (granted, or not: refused)."""
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM,
        # host candidates as addresses, not mDNS names: the stand-in below connects on 127.0.0.1
        args=[
            *ARGS,
            "--use-fake-device-for-media-stream",
            "--disable-features=WebRtcHideLocalIpsWithMdns",
        ],
    )
    yield WatchedBrowser(chromium)  # type: ignore[misc]  # a Browser to the tests
    chromium.close()


@pytest.fixture(scope="module")
def sharing_browser(playwright: Playwright) -> Iterator[WatchedBrowser]:
    """Chromium that says yes to every prompt: getDisplayMedia gives a fake screen."""
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[*ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"],
    )
    yield WatchedBrowser(chromium)
    chromium.close()


WIRES: list[Wire] = []


@pytest.fixture(autouse=True)
def on_the_schema() -> Iterator[None]:
    """Every message a page sent is one the protocol's schema allows (`#/$defs/client`): the
    `av.*` ones once the schema has them (the gateway's branch adds them)."""
    WIRES.clear()
    yield
    known = _schema()["$defs"]
    for wire in WIRES:
        for message in wire.every:
            if message["type"].startswith(Wire.KEPT) and f"command.{message['type']}" not in known:
                continue
            check("client", message)


class Wire:
    """One page's class socket, passed through: what the page sent, and messages added as if
    from a gateway with audio and video (see the module's docstring)."""

    KEPT = ("av.", "floor.")  # types the gateway of this branch does not know yet

    def __init__(self, context: BrowserContext, av: bool) -> None:
        self.av = av
        self.sent: list[dict[str, Any]] = []  # what was kept from the gateway
        self.passed: list[str] = []  # the types of what went on to it
        self.every: list[dict[str, Any]] = []  # all the page sent
        WIRES.append(self)
        self.largest = 0  # bytes: the gateway closes on a message over 16 KiB (1009)
        self.page_side: WebSocketRoute | None = None
        self.epoch: str | None = None
        self.seq = 0
        self.lock = threading.Lock()
        context.route_web_socket(re.compile(r"/live\?"), self._route)

    def _route(self, ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        self.page_side = ws
        ws.on_message(lambda text: self._from_page(ws, server, text))
        server.on_message(lambda text: self._from_gateway(ws, text))

    def _from_page(self, ws: WebSocketRoute, server: WebSocketRoute, text: str | bytes) -> None:
        message = json.loads(text)
        with self.lock:
            self.every.append(message)
        size = len(text.encode() if isinstance(text, str) else text)
        self.largest = max(self.largest, size)
        if not str(message.get("type", "")).startswith(self.KEPT):
            with self.lock:
                self.passed.append(str(message.get("type")))
            server.send(text)
            return
        with self.lock:
            self.sent.append(message)
        if message["type"] in ("floor.give", "floor.take", "av.mute"):  # room commands
            ws.send(json.dumps({"v": 1, "type": "ack", "id": message["id"], "seq": self.seq}))

    def _from_gateway(self, ws: WebSocketRoute, text: str | bytes) -> None:
        message = json.loads(text)
        if message.get("type") == "snapshot":
            # the test's choice, whatever this gateway says (its `av.*` never reach it)
            message["av"] = {**message.get("av", {}), "enabled": self.av}
            message.setdefault("floor", {})
            self.epoch = message["epoch"]
        if isinstance(message.get("seq"), int) and message.get("type") != "ack":
            self.seq = max(self.seq, message["seq"])
        ws.send(json.dumps(message))

    def add(self, type_: str, numbered: bool = False, **fields: Any) -> None:
        """A message to the page as if from the gateway; a numbered event takes the next seq
        (the room's next event of that number, if any, is then a duplicate to this page)."""
        message: dict[str, Any] = {"v": 1, "type": type_, **fields}
        if numbered:
            self.seq += 1
            message.update(epoch=self.epoch, seq=self.seq)
        assert self.page_side is not None
        self.page_side.send(json.dumps(message))

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.sent if m["type"] == type_]

    def wait_for(self, page: Page, type_: str, count: int = 1) -> list[dict[str, Any]]:
        """The page's messages of that type, once there are `count` of them."""
        for _ in range(WAIT_MS // 50):
            if len(self.of_type(type_)) >= count:
                return self.of_type(type_)
            page.wait_for_timeout(50)  # lets Playwright's thread deliver the routed messages
        sent = [m["type"] for m in self.sent]
        raise AssertionError(f"the page sent no {count} × {type_}: {sent}")


def open_class(
    browser: Browser,
    where: Class,
    login: str,
    lang: str,
    *,
    av: bool = True,
    devices: bool = True,
    viewport: dict[str, int] = LAPTOP,
) -> tuple[BrowserContext, Page, Wire]:
    locale = "fr-FR" if lang == "fr" else "en-GB"
    context = browser.new_context(
        locale=locale,
        viewport=viewport,
        extra_http_headers={"accept-language": f"{locale},{lang}"},
        permissions=["camera", "microphone"] if devices else [],
    )
    wire = Wire(context, av)
    page = context.new_page()
    sign_in_to_class(page, where, login)
    expect(page.locator("#lv-class")).to_be_visible()
    return context, page, wire


def person_of(page: Page) -> str:
    person: str = page.evaluate("JSON.parse(document.getElementById('lv-data').textContent).person")
    return person


def box(page: Page, selector: str) -> dict[str, float]:
    found = page.locator(selector).bounding_box()
    assert found is not None, f"{selector} is not shown"
    return found


def test_the_stage_comes_first_on_a_laptop_and_on_a_phone(
    browser: Browser, live_class: Class
) -> None:
    context, teacher, wire = open_class(browser, live_class, "prof", "en")
    wire.wait_for(teacher, "av.watch")
    teacher.locator("#lv-cam").click()  # the teacher's own camera, small, on the stage
    expect(teacher.locator("#lv-videos")).to_have_attribute("data-tiles", "1")
    assert "a=simulcast:send h;m;l" in wire.wait_for(teacher, "av.publish")[0]["sdp"]

    # 1366×900: the stage, then slides and board, start on the first screen, with the chat,
    # hands and people beside them; a remote video may be taller than the own camera's small
    # picture, up to 40 % of the screen's height: counted in, the board still starts inside
    stage, slides, board = (box(teacher, s) for s in ("#lv-stage", "#lv-slides", "#lv-board"))
    videos = box(teacher, "#lv-videos")
    tallest = teacher.evaluate("innerHeight * 0.4")
    worst = max(0.0, tallest - videos["height"])
    for part in (stage, slides, board):
        assert part["y"] + worst < LAPTOP["height"], (part, worst)
    for side in ("#lv-hands", "#lv-chat", "#lv-people", "#lv-controls"):
        assert box(teacher, side)["x"] >= stage["x"] + stage["width"], side
    expect(teacher.locator("#lv-jump")).to_be_hidden()
    assert axe_violations(teacher) == []

    # a phone: the stage first, the other parts a tap away in the bar at the foot of the screen
    teacher.set_viewport_size(PHONE)
    stage, chat = box(teacher, "#lv-stage"), box(teacher, "#lv-chat")
    assert stage["y"] < PHONE["height"] and stage["y"] < chat["y"]
    jump = box(teacher, "#lv-jump")
    assert jump["y"] + jump["height"] <= PHONE["height"], jump
    teacher.locator("#lv-jump a", has_text="Chat").click()
    expect(teacher.locator("#lv-chat-title")).to_be_in_viewport()
    assert teacher.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert axe_violations(teacher) == []
    context.close()


def test_a_pupil_speaks_with_the_floor_from_the_keyboard_and_is_muted(
    browser: Browser, live_class: Class
) -> None:
    t_context, teacher, t_wire = open_class(browser, live_class, "prof", "en")
    p_context, lea, wire = open_class(browser, live_class, "lea", "fr", viewport=PHONE)
    me = person_of(lea)
    wire.wait_for(lea, "av.watch")
    mic, cam = lea.locator("#lv-mic"), lea.locator("#lv-cam")
    expect(lea.locator("#lv-av-keys")).to_contain_text("M allume ou coupe le micro")

    # without the floor, M turns nothing on and says why
    lea.locator("body").press("m")
    expect(mic).to_have_attribute("aria-pressed", "false")
    expect(lea.locator("#lv-av-problem")).to_have_text(
        "Pour parler, il faut avoir la parole : levez la main."
    )
    assert wire.of_type("av.publish") == []

    # the teacher gives the floor from the raised hand
    lea.get_by_role("button", name="Lever la main").click()
    teacher.get_by_role("button", name="Give Lea the floor and camera").first.click()
    (give,) = t_wire.wait_for(teacher, "floor.give")
    assert (give["person"], give["video"]) == (me, True)
    wire.add("floor.given", numbered=True, person=me, video=True)
    expect(lea.locator("#lv-av-state")).to_have_text(
        "Vous avez la parole : allumez votre micro, et votre caméra si vous le souhaitez."
    )

    # M and V, outside text fields, turn the microphone and camera on: a new publication each
    lea.locator("body").press("m")
    expect(mic).to_have_attribute("aria-pressed", "true")
    (first,) = wire.wait_for(lea, "av.publish")
    assert (first["source"], first["audio"], first["video"]) == ("camera", True, False)
    lea.locator("body").press("v")
    expect(cam).to_have_attribute("aria-pressed", "true")
    second = wire.wait_for(lea, "av.publish", 2)[1]
    assert (second["audio"], second["video"]) == (True, True)
    assert "a=simulcast:send h;m;l" in second["sdp"]
    assert wire.largest < 16 * 1024, wire.largest  # an offer of three encodings fits a message
    assert [m["source"] for m in wire.of_type("av.unpublish")] == ["camera"]
    assert {m["pc"] for m in wire.wait_for(lea, "av.candidate")} == {"camera"}
    lea.fill("#lv-chat-text", "mv")  # typing in the chat toggles nothing
    expect(mic).to_have_attribute("aria-pressed", "true")
    expect(cam).to_have_attribute("aria-pressed", "true")

    # a new socket (the network cut and back): watched and published again, as they were
    p_context.set_offline(True)
    expect(lea.locator("#lv")).to_have_attribute("data-connection", "offline")
    p_context.set_offline(False)
    wire.wait_for(lea, "av.watch", 2)
    again = wire.wait_for(lea, "av.publish", 3)[2]
    assert (again["source"], again["audio"], again["video"]) == ("camera", True, True)

    # the teacher mutes her: the microphone stops (the camera goes on), the page shows it, and
    # M cannot turn it back on
    wire.add("av.muted", numbered=True, person=me)
    expect(mic).to_have_attribute("aria-pressed", "false")
    expect(lea.locator("#lv-av")).to_have_attribute("data-muted", "true")
    expect(lea.locator("#lv-av-state")).to_have_text("Votre micro a été coupé par l'enseignant.")
    muted = wire.wait_for(lea, "av.publish", 4)[3]
    assert (muted["audio"], muted["video"]) == (False, True)
    lea.locator("#lv-hand").focus()
    lea.keyboard.press("m")
    expect(mic).to_have_attribute("aria-pressed", "false")

    # the floor given back without video, then taken back: the camera stops too
    wire.add("floor.given", numbered=True, person=me, video=False)
    expect(lea.locator("#lv-av")).to_have_attribute("data-muted", "false")
    expect(cam).to_have_attribute("aria-pressed", "false")
    wire.wait_for(lea, "av.unpublish", 3)
    lea.locator("body").press("m")
    audio_only = wire.wait_for(lea, "av.publish", 5)[4]
    assert (audio_only["audio"], audio_only["video"]) == (True, False)
    lea.get_by_role("button", name="Rendre la parole").click()  # she gives it back herself
    (back,) = wire.wait_for(lea, "floor.take")
    assert "person" not in back  # one's own
    wire.add("floor.taken", numbered=True, person=me)
    expect(mic).to_have_attribute("aria-pressed", "false")
    wire.wait_for(lea, "av.unpublish", 4)
    assert len(wire.of_type("av.publish")) == 5
    expect(lea.locator("#lv-av")).to_have_attribute("data-muted", "true")
    expect(lea.locator("#lv-av-state")).to_have_text(
        "Vous n'avez plus la parole : votre micro est coupé. Levez la main pour la redemander."
    )
    expect(lea.locator("#lv-floor-back")).to_be_hidden()
    assert axe_violations(lea) == []
    for context in (t_context, p_context):
        context.close()


def test_a_refused_camera_and_microphone_leave_the_class_going(
    browser: Browser, live_class: Class
) -> None:
    context, teacher, wire = open_class(browser, live_class, "prof", "en", devices=False)
    teacher.locator("#lv-mic").click()
    expect(teacher.locator("#lv-av-problem")).to_have_text(
        "The browser is not allowed to use the camera or microphone. The class goes on "
        "without them; allow them in the site's settings to try again."
    )
    expect(teacher.locator("#lv-mic")).to_have_attribute("aria-pressed", "false")
    assert wire.of_type("av.publish") == []
    teacher.fill("#lv-chat-text", "Still here")
    teacher.locator("#lv-chat-text").press("Enter")
    expect(teacher.locator("#lv-chat-list .lv-text", has_text="Still here")).to_have_count(1)
    context.close()


def test_without_audio_and_video_the_page_says_so_once_and_shows_no_controls(
    browser: Browser, live_class: Class
) -> None:
    context, teacher, wire = open_class(browser, live_class, "prof", "en", av=False)
    expect(teacher.locator("#lv-av-off")).to_have_text(
        "No audio or video in this class: slides, board and chat work as usual."
    )
    for hidden in ("#lv-av-bar", "#lv-av-keys", "#lv-mic", "#lv-cam", "#lv-screen"):
        expect(teacher.locator(hidden)).to_be_hidden()
    teacher.locator("body").press("m")
    expect(teacher.locator("#lv-mic")).to_have_attribute("aria-pressed", "false")
    expect(teacher.get_by_role("button", name=re.compile("the floor"))).to_have_count(0)
    # a chat message after all that: whatever the page sent before it, the wire has seen
    teacher.fill("#lv-chat-text", "No cameras today")
    teacher.locator("#lv-chat-text").press("Enter")
    expect(teacher.locator("#lv-chat-list .lv-text", has_text="No cameras today")).to_have_count(1)
    assert "chat.send" in wire.passed
    assert wire.sent == []
    assert axe_violations(teacher) == []
    context.close()


def test_the_rung_is_shown_and_a_pupil_chooses_to_save_data(
    browser: Browser, live_class: Class
) -> None:
    t_context, teacher, t_wire = open_class(browser, live_class, "prof", "en")
    p_context, hugo, wire = open_class(browser, live_class, "hugo", "en")
    wire.wait_for(hugo, "av.watch")
    wire.add("av.rung", rung="360p", own="720p", why="stats")
    expect(hugo.locator("#lv-rung")).to_have_text("Quality received: 360p (for your connection)")
    expect(hugo.locator("#lv-av")).to_have_attribute("data-rung", "360p")

    hugo.select_option("#lv-rung-own", "text")
    (chosen,) = wire.wait_for(hugo, "av.rung")
    assert chosen["rung"] == "text"
    wire.add("av.rung", rung="text", own="text", why="own")
    expect(hugo.locator("#lv-rung")).to_have_text(
        "Quality received: Text only (no sound or video) (your choice)"
    )
    expect(hugo.locator("#lv-rung-own")).to_have_value("text")
    # back up: the gateway, which still counts the page as watching, subscribes again and
    # offers; the page does not ask too (a second subscription would drop the first)
    hugo.select_option("#lv-rung-own", "180p")
    wire.add("av.rung", rung="180p", own="180p", why="own")
    expect(hugo.locator("#lv-av")).to_have_attribute("data-rung", "180p")
    # a chat message after the rung: whatever the page sent before it, the wire has seen
    hugo.fill("#lv-chat-text", "encore là")
    hugo.locator("#lv-chat-text").press("Enter")
    expect(hugo.locator("#lv-chat-list .lv-text", has_text="encore là")).to_have_count(1)
    assert len(wire.of_type("av.watch")) == 1

    # a new socket: the new gateway is asked to watch, and told the pupil's ceiling again
    p_context.set_offline(True)
    expect(hugo.locator("#lv")).to_have_attribute("data-connection", "offline")
    p_context.set_offline(False)
    wire.wait_for(hugo, "av.watch", 2)
    assert [m["rung"] for m in wire.wait_for(hugo, "av.rung", 3)] == ["text", "180p", "180p"]

    # the teacher sees how many pupils are on each rung, and who speaks
    t_wire.add("av.rungs", counts={"720p": 0, "360p": 2, "180p": 0, "text": 1})
    expect(teacher.locator("#lv-rungs")).to_have_text(
        "Quality the pupils receive: 360p: 2, Text only (no sound or video): 1"
    )
    # the class's Janus instance is loaded: the teacher is told why the pupils are low
    t_wire.add("av.rungs", counts={"180p": 1, "audio": 2}, ceiling="audio")
    expect(teacher.locator("#lv-rungs")).to_have_text(
        "Quality the pupils receive: 180p: 1, Sound and shared screen: 2"
        " (the video server is busy: the class is held at Sound and shared screen)"
    )
    t_wire.add("av.talking", person=person_of(hugo), on=True)
    expect(teacher.locator("#lv-people-list li", has_text="Hugo")).to_contain_text("(speaking)")
    t_wire.add("av.talking", person=person_of(hugo), on=False)
    expect(teacher.locator("#lv-people-list li", has_text="Hugo")).not_to_contain_text("speaking")
    for context in (t_context, p_context):
        context.close()


# A stand-in for Janus's side of a subscription: a peer connection in a page of its own that
# sends a drawn video and a tone, its candidates inside its offer (as Janus does).
STAND_IN_OFFER = """async () => {
  const canvas = document.createElement("canvas");
  Object.assign(canvas, { width: 320, height: 180 });
  const draw = canvas.getContext("2d");
  let n = 0;
  setInterval(() => { draw.fillStyle = `hsl(${(n += 7) % 360}, 80%, 50%)`; draw.fillRect(0, 0, 320, 180); }, 40);
  const tone = new AudioContext();
  const out = tone.createMediaStreamDestination();
  const osc = tone.createOscillator();
  osc.connect(out);
  osc.start();
  const pc = (window.standIn = new RTCPeerConnection());
  pc.addTransceiver(out.stream.getAudioTracks()[0], { direction: "sendonly" });
  pc.addTransceiver(canvas.captureStream(25).getVideoTracks()[0], { direction: "sendonly" });
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((done) => {
    if (pc.iceGatheringState === "complete") return done();
    pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && done());
  });
  return { sdp: pc.localDescription.sdp, mids: pc.getTransceivers().map((t) => t.mid) };
}"""


def test_a_pupil_watches_reports_figures_and_follows_the_rung(
    browser: Browser, live_class: Class
) -> None:
    t_context, teacher, _ = open_class(browser, live_class, "prof", "en")
    p_context, hugo, wire = open_class(browser, live_class, "hugo", "en")
    wire.wait_for(hugo, "av.watch")
    stand_in = t_context.new_page()
    stand_in.goto(f"{live_class.base}/healthz")
    offer = stand_in.evaluate(STAND_IN_OFFER)
    prof = person_of(teacher)
    audio_mid, video_mid = offer["mids"]
    wire.add(
        "av.offer",
        sdp=offer["sdp"],
        streams=[
            {"mid": audio_mid, "person": prof, "source": "camera", "kind": "audio"},
            {"mid": video_mid, "person": prof, "source": "camera", "kind": "video"},
        ],
    )
    (accept,) = wire.wait_for(hugo, "av.accept")
    stand_in.evaluate("sdp => standIn.setRemoteDescription({type: 'answer', sdp})", accept["sdp"])
    for trickled in wire.wait_for(hugo, "av.candidate"):
        assert trickled["pc"] == "watch"
        if trickled["candidate"] is not None:
            stand_in.evaluate("c => standIn.addIceCandidate(c)", trickled["candidate"])

    # the teacher's camera on the stage, named; the tone in an <audio> of its own
    expect(hugo.locator("#lv-videos")).to_have_attribute("data-tiles", "1")
    expect(hugo.locator("#lv-videos figcaption")).to_have_text("Prof")
    # a frame shown (wait_for_function would poll with eval, which the policy refuses)
    shown = "() => new Promise((done) => document.querySelector('#lv-videos video').requestVideoFrameCallback(() => done(true)))"
    assert hugo.evaluate(shown)
    expect(hugo.locator("#lv-audio audio")).to_have_count(1)

    # every ~2 s, figures for the ladder: deltas since the last report
    report = wire.wait_for(hugo, "av.stats", 2)[-1]
    assert 0 <= report["loss"] <= 1
    assert report["received_kbps"] > 0 and report["frames_decoded"] > 0, report
    assert report["frames_dropped"] >= 0 and report["rtt_s"] >= 0, report

    # at `audio` the camera goes from the stage, the sound stays; at `text` nothing is received
    wire.add("av.rung", rung="audio", own="720p", why="stats")
    expect(hugo.locator("#lv-videos")).to_have_attribute("data-tiles", "0")
    expect(hugo.locator("#lv-audio audio")).to_have_count(1)
    wire.add("av.rung", rung="text", own="720p", why="stats")
    expect(hugo.locator("#lv-audio audio")).to_have_count(0)
    reports = len(wire.of_type("av.stats"))
    hugo.wait_for_timeout(4500)  # two report periods: a closed connection reports nothing
    assert len(wire.of_type("av.stats")) == reports
    for context in (t_context, p_context):
        context.close()


def test_the_teacher_shares_a_screen_and_it_outlives_a_new_socket(
    sharing_browser: WatchedBrowser, live_class: Class
) -> None:
    context, teacher, wire = open_class(sharing_browser, live_class, "prof", "en")  # type: ignore[arg-type]
    screen = teacher.locator("#lv-screen")
    screen.click()
    expect(screen).to_have_attribute("aria-pressed", "true")
    (shared,) = wire.wait_for(teacher, "av.publish")
    assert (shared["source"], shared["audio"], shared["video"]) == ("screen", False, True)
    assert "a=simulcast:send h;m;l" in shared["sdp"]

    # a new socket: the same capture is published again, without asking the teacher again
    context.set_offline(True)
    expect(teacher.locator("#lv")).to_have_attribute("data-connection", "offline")
    context.set_offline(False)
    again = wire.wait_for(teacher, "av.publish", 2)[1]
    assert again["source"] == "screen"
    expect(screen).to_have_attribute("aria-pressed", "true")

    screen.click()
    expect(screen).to_have_attribute("aria-pressed", "false")
    assert [m["source"] for m in wire.wait_for(teacher, "av.unpublish")] == ["screen"]
    context.close()
    watch = sharing_browser.watches
    assert [v for w in watch for v in w.violations] == []
