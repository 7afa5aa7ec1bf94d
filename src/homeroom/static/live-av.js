// Audio and video in the class: publishing, watching, the rung and the floor (docs/av.md#the-page).
//
// Browsers never talk to Janus: the page speaks the gateway's `av.*` messages over the class
// socket (the protocol's audio and video messages, docs/live.md). The teacher publishes camera
// and microphone on one peer connection ("camera", the video as three simulcast encodings h/m/l)
// and a shared screen on another ("screen"); everyone admitted watches on a third ("watch",
// Janus's offer, the page's answer). A change of what is published (a microphone turned on, the
// floor taken away) closes the publication and makes a new one: simple, and what Janus's
// VideoRoom expects of a new set of tracks. A new socket, `av.renegotiate` or a change of
// breakout group starts over. live-av-stage.js draws what is received, live-av-stats.js makes
// the figures for the ladder.

import { Stage } from "./live-av-stage.js";
import { figures, reading } from "./live-av-stats.js";

// Three encodings of every video, the ladder's substreams 2/1/0, at the bit rates its table
// counts (docs/av.md#the-rungs): a camera's are libwebrtc's for 720p, a screen's top one
// BigBlueButton's 1,500 kbit/s cap.
const SIMULCAST = {
  camera: [
    { rid: "h", scaleResolutionDownBy: 1, maxBitrate: 2500000 },
    { rid: "m", scaleResolutionDownBy: 2, maxBitrate: 500000 },
    { rid: "l", scaleResolutionDownBy: 4, maxBitrate: 150000 },
  ],
  screen: [
    { rid: "h", scaleResolutionDownBy: 1, maxBitrate: 1500000 },
    { rid: "m", scaleResolutionDownBy: 2, maxBitrate: 500000 },
    { rid: "l", scaleResolutionDownBy: 4, maxBitrate: 150000 },
  ],
};
const STATS_MS = 2000;
// Read every second, told every two: at once when a second's loss is at the ladder's poor mark
// (core/ladder.py, Thresholds.loss), so that a cap is answered a second sooner, not when the
// line is good (the gateway's work a pupil stays a report each 2 s).
const READ_MS = 1000;
const TROUBLE_LOSS = 0.1;
export const RUNGS = ["720p", "360p", "180p", "audio", "slides", "text"];

const $ = (id) => document.getElementById(id);
const typing = (node) => node && (node.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(node.tagName));

export class Av {
  // page: {state, teacher, w, nameOf, sendNow(type, fields) -> bool, command(type, fields), onTalking()}
  constructor(page) {
    Object.assign(this, page);
    this.pcs = { camera: null, screen: null, watch: null };
    this.local = { camera: null, screen: null }; // MediaStreams of our own
    this.published = null; // {audio, video} of the camera publication, or null
    this.want = { mic: false, cam: false, screen: false };
    this.streams = new Map(); // mid -> {mid, person, source, kind} from the last av.offer
    this.tracks = new Map(); // mid -> MediaStreamTrack received
    this.rung = null;
    this.own = "720p";
    this.watchAsked = false;
    this.talking = new Set();
    this.previous = new Map(); // stats id -> the figures of the last report
    this.queue = Promise.resolve(); // publications change one after the other
    this.group = undefined;
    this.stage = new Stage({ w: this.w, nameOf: this.nameOf, isTeacher: (person) => this.state.participants.get(person)?.role === "teacher" });
    setInterval(() => this.report(), READ_MS);
    this.wire();
  }

  get me() {
    return this.state.person;
  }

  get on() {
    const s = this.state;
    return s.av.enabled && s.where === "in" && !s.ended;
  }

  // What this person may publish now: the teacher everything; a pupil audio while holding the
  // floor and not muted since it was given (av.muted stops audio only), video only if the floor
  // allows it.
  get rights() {
    if (this.teacher) return { audio: true, video: true };
    const floor = this.state.floor.get(this.me);
    const muted = this.state.avMuted.has(this.me);
    return { audio: Boolean(floor) && !muted, video: Boolean(floor && floor.video) };
  }

  // -- the page's controls ----------------------------------------------------------------

  wire() {
    $("lv-mic").addEventListener("click", () => this.toggle("mic"));
    $("lv-cam").addEventListener("click", () => this.toggle("cam"));
    this.canShare = Boolean(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia); // not on phones
    if (this.teacher) $("lv-screen").addEventListener("click", () => this.toggleScreen());
    else $("lv-floor-back").addEventListener("click", () => this.command("floor.take", {}));
    $("lv-rung-own").addEventListener("change", (event) => {
      this.own = event.target.value;
      this.sendNow("av.rung", { rung: this.own });
    });
    document.addEventListener("keydown", (event) => {
      if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || !this.on) return;
      if (typing(event.target) || typing(document.activeElement)) return;
      const key = event.key.toLowerCase();
      if (key !== "m" && key !== "v") return;
      event.preventDefault();
      this.toggle(key === "m" ? "mic" : "cam");
    });
    window.addEventListener("pagehide", () => this.on && this.sendNow("av.stop"));
  }

  toggle(what) {
    const kind = what === "mic" ? "audio" : "video";
    if (!this.want[what] && !this.rights[kind]) {
      this.say(kind === "audio" ? this.w("class_av_need_floor") : this.w("class_av_need_video"));
      return;
    }
    this.want[what] = !this.want[what];
    if (what === "mic" && this.want.mic && this.teacher) this.state.avMuted.delete(this.me); // unmutes oneself
    this.say("");
    this.draw();
    this.publishCamera();
  }

  say(problem) {
    $("lv-av-problem").textContent = problem;
    $("lv-av-problem").hidden = !problem;
  }

  // -- following the room ------------------------------------------------------------------

  // After a (re)join of the socket, or `av.renegotiate`: the gateway there holds no peer
  // connection of ours, nor the pupil's own ceiling. A shared screen goes on with the same
  // capture (asking again would need a click).
  joined() {
    this.closeAll(true);
    this.rung = this.own === "text" ? "text" : null;
    this.sync();
    if (this.on && this.own !== "720p") this.sendNow("av.rung", { rung: this.own });
    if (this.on && this.local.screen) this.publishScreen();
  }

  // The class is over for this page (ended, removed, signed out): everything off.
  stop() {
    this.closeAll(false);
    this.state.av = { enabled: false };
    this.draw();
  }

  // After anything that may change what this page does: the room's state, the socket.
  sync() {
    const group = this.state.visiting !== null ? `v${this.state.visiting}` : this.state.myGroup;
    const moved = this.group !== undefined && group !== this.group; // another Janus room
    this.group = group;
    if (moved) {
      this.closeAll(true);
      if (this.on && this.local.screen) this.publishScreen();
    }
    if (!this.on) {
      this.closeAll(false);
      this.draw();
      return;
    }
    const rights = this.rights;
    // muted, or the floor taken: given it again, the microphone starts off
    if (!rights.audio || this.state.avMuted.has(this.me)) this.want.mic = false;
    if (!rights.video) this.want.cam = false;
    if (!this.watchAsked && this.rung !== "text") this.watchAsked = this.sendNow("av.watch");
    this.draw();
    this.publishCamera();
  }

  draw() {
    const on = this.on;
    const enabled = this.state.av.enabled;
    $("lv-av").dataset.av = on ? "on" : "off";
    $("lv-av-off").hidden = enabled || this.state.where !== "in";
    $("lv-av-bar").hidden = !on;
    $("lv-av-keys").hidden = !on;
    const muted = this.state.avMuted.has(this.me);
    $("lv-av").dataset.muted = String(on && (muted || (this.state.floorLost && !this.state.floor.has(this.me))));
    this.pressed("lv-mic", this.want.mic);
    this.pressed("lv-cam", this.want.cam);
    if (this.teacher) {
      this.pressed("lv-screen", this.want.screen);
      $("lv-screen").hidden = !this.canShare;
    }
    else $("lv-floor-back").hidden = !this.state.floor.has(this.me);
    $("lv-rung-own").value = this.own;
    $("lv-av-state").textContent = on ? this.stateText(muted) : "";
    this.drawTiles();
  }

  pressed(id, on) {
    $(id).setAttribute("aria-pressed", String(on));
  }

  stateText(muted) {
    if (muted) return this.w("class_av_you_muted");
    if (this.teacher) return "";
    const floor = this.state.floor.get(this.me);
    if (floor && floor.video) return this.w("class_av_floor_video");
    if (floor) return this.w("class_av_floor");
    if (this.state.floorLost) return this.w("class_av_floor_taken");
    return this.w("class_av_listening");
  }

  // -- messages from the gateway -----------------------------------------------------------

  handle(message) {
    const handlers = {
      "av.answer": () => this.answered(message),
      "av.offer": () => this.offered(message),
      "av.rung": () => this.rungIs(message),
      "av.rungs": () => this.rungsAre(message),
      "av.talking": () => this.talks(message),
      "av.renegotiate": () => this.joined(),
    };
    if (handlers[message.type]) handlers[message.type]();
  }

  refused(error, command) {
    if (!["av.publish", "av.watch", "av.rung"].includes(command.type)) return; // nothing to undo or say
    const reason = error.error || error.reason;
    const words = {
      no_floor: this.w("class_av_need_floor"),
      no_video: this.w("class_av_need_video"),
      av_muted: this.w("class_av_you_muted"),
      av_off: this.w("class_av_off"),
      janus_unavailable: this.w("class_av_failed"),
      janus_refused: this.w("class_av_failed"),
    };
    this.say(words[reason] || this.w("class_av_refused", { reason }));
    if (command.type === "av.publish") {
      if (command.source === "screen") this.stopScreen(false);
      else {
        this.want.mic = this.want.cam = false;
        this.publishCamera();
      }
    }
    if (command.type === "av.watch") this.watchAsked = false;
    this.draw();
  }

  async answered(message) {
    const pc = this.pcs[message.source];
    if (!pc || pc.signalingState !== "have-local-offer") return;
    try {
      await pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
    } catch (error) {
      this.say(this.w("class_av_failed"));
    }
  }

  async offered(message) {
    if (!this.on || this.rung === "text") return;
    this.streams = new Map((message.streams || []).map((s) => [s.mid, s]));
    let pc = this.pcs.watch;
    if (!pc) {
      pc = this.pcs.watch = this.peer("watch");
      pc.ontrack = (event) => {
        this.tracks.set(event.transceiver.mid, event.track);
        event.track.addEventListener("ended", () => this.drawTiles());
        this.drawTiles();
      };
      this.previous.clear();
    }
    try {
      await pc.setRemoteDescription({ type: "offer", sdp: message.sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      this.sendNow("av.accept", { sdp: pc.localDescription.sdp });
    } catch (error) {
      this.say(this.w("class_av_failed"));
    }
    this.drawTiles();
  }

  rungIs(message) {
    if (!RUNGS.includes(message.rung)) return;
    const left = this.rung === "text" && message.rung !== "text";
    this.rung = message.rung;
    if (RUNGS.includes(message.own)) this.own = message.own;
    $("lv-av").dataset.rung = this.rung;
    const why = {
      stats: this.w("class_av_why_stats"),
      slowlink: this.w("class_av_why_stats"),
      own: this.w("class_av_why_own"),
      class: this.w("class_av_why_class"),
      start: this.w("class_av_why_start"),
    };
    const rung = this.rungWord(this.rung);
    const reason = Object.prototype.hasOwnProperty.call(why, message.why) ? why[message.why] : "";
    $("lv-rung").textContent = this.w("class_av_rung_now", { rung, why: reason }).trim();
    $("lv-rung").hidden = false;
    if (this.rung === "text") this.closeWatch();
    // Off text (the ladder's probe, or the pupil's own choice), the gateway subscribes again by
    // itself and its offer comes: asking as well made a second subscription, which dropped the
    // one whose offer the page was answering.
    else if (left && this.on) this.watchAsked = true;
    else if (!this.pcs.watch && !this.watchAsked && this.on) this.watchAsked = this.sendNow("av.watch");
    this.draw();
  }

  rungWord(rung) {
    const words = {
      "720p": this.w("class_rung_720p"),
      "360p": this.w("class_rung_360p"),
      "180p": this.w("class_rung_180p"),
      audio: this.w("class_rung_audio"),
      slides: this.w("class_rung_slides"),
      text: this.w("class_rung_text"),
    };
    return words[rung] || rung;
  }

  rungsAre(message) {
    if (!this.teacher) return;
    const counts = message.counts || {};
    const parts = RUNGS.filter((r) => counts[r] > 0).map((r) => `${this.rungWord(r)}: ${counts[r]}`);
    let text = this.w("class_av_rungs", { counts: parts.join(", ") || "—" });
    // the pupils are low because the video server is loaded, not because of their lines
    if (RUNGS.includes(message.ceiling)) text += " " + this.w("class_av_ceiling", { rung: this.rungWord(message.ceiling) });
    $("lv-rungs").textContent = text;
    $("lv-rungs").hidden = false;
  }

  talks(message) {
    if (message.on) this.talking.add(message.person);
    else this.talking.delete(message.person);
    this.onTalking();
    this.drawTiles();
  }

  // -- publishing ----------------------------------------------------------------------------

  publishCamera() {
    this.queue = this.queue.then(() => this.republish()).catch(() => this.say(this.w("class_av_failed")));
  }

  async republish() {
    const rights = this.on ? this.rights : { audio: false, video: false };
    const wanted = { audio: this.want.mic && rights.audio, video: this.want.cam && rights.video };
    const now = this.published || { audio: false, video: false };
    if (wanted.audio === now.audio && wanted.video === now.video) return;
    if (this.published) this.sendNow("av.unpublish", { source: "camera" });
    this.closePeer("camera");
    this.published = null;
    if (!wanted.audio && !wanted.video) return this.draw();
    const tracks = await this.devices(wanted);
    if (!tracks.length) return this.draw();
    const stream = (this.local.camera = new MediaStream(tracks));
    const pc = (this.pcs.camera = this.peer("camera"));
    for (const track of tracks) {
      const video = track.kind === "video";
      pc.addTransceiver(track, { direction: "sendonly", streams: [stream], ...(video ? { sendEncodings: SIMULCAST.camera.map((e) => ({ ...e })) } : {}) });
    }
    await pc.setLocalDescription(await pc.createOffer());
    const audio = tracks.some((t) => t.kind === "audio");
    const video = tracks.some((t) => t.kind === "video");
    if (!this.sendNow("av.publish", { source: "camera", sdp: pc.localDescription.sdp, audio, video })) {
      this.closePeer("camera"); // not joined: published again once the socket is
      return this.draw();
    }
    this.published = { audio, video };
    this.draw();
  }

  // One request per kind, so that a missing camera does not cost the microphone, and the
  // message says which one is missing. What failed is turned off; the class goes on.
  async devices(wanted) {
    const tracks = [];
    const ask = { audio: { audio: true }, video: { video: { width: { ideal: 1280 }, height: { ideal: 720 } } } };
    const problems = [];
    for (const kind of ["audio", "video"]) {
      if (!wanted[kind]) continue;
      try {
        const media = await navigator.mediaDevices.getUserMedia(ask[kind]);
        tracks.push(...media.getTracks());
      } catch (error) {
        problems.push(this.deviceProblem(kind, error));
        this.want[kind === "audio" ? "mic" : "cam"] = false;
      }
    }
    this.say([...new Set(problems)].join(" "));
    return tracks;
  }

  deviceProblem(kind, error) {
    const name = error && error.name;
    if (name === "NotAllowedError" || name === "SecurityError") return this.w("class_av_denied");
    if (name === "NotFoundError" || name === "OverconstrainedError") {
      return kind === "audio" ? this.w("class_av_no_mic") : this.w("class_av_no_cam");
    }
    if (name === "NotReadableError") return this.w("class_av_busy");
    return this.w("class_av_device_failed");
  }

  async toggleScreen() {
    if (this.want.screen) return this.stopScreen(true);
    let media;
    try {
      media = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch (error) {
      this.say(this.w("class_av_screen_denied"));
      return;
    }
    const [track] = media.getVideoTracks();
    this.want.screen = true;
    this.local.screen = media;
    track.addEventListener("ended", () => this.stopScreen(true)); // the browser's own "stop sharing"
    await this.publishScreen();
  }

  async publishScreen() {
    const media = this.local.screen;
    this.want.screen = true;
    const pc = (this.pcs.screen = this.peer("screen"));
    pc.addTransceiver(media.getVideoTracks()[0], { direction: "sendonly", streams: [media], sendEncodings: SIMULCAST.screen.map((e) => ({ ...e })) });
    try {
      await pc.setLocalDescription(await pc.createOffer());
    } catch (error) {
      this.say(this.w("class_av_failed"));
      return this.stopScreen(false);
    }
    if (!this.sendNow("av.publish", { source: "screen", sdp: pc.localDescription.sdp, audio: false, video: true })) {
      this.stopScreen(false);
    }
    this.draw();
  }

  stopScreen(tell) {
    if (tell && this.pcs.screen) this.sendNow("av.unpublish", { source: "screen" });
    this.want.screen = false;
    this.closePeer("screen");
    this.draw();
  }

  // -- peer connections ----------------------------------------------------------------------

  peer(name) {
    const pc = new RTCPeerConnection();
    pc.addEventListener("icecandidate", (event) => {
      const c = event.candidate;
      const candidate = c ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex } : null;
      if (this.pcs[name] === pc) this.sendNow("av.candidate", { pc: name, candidate });
    });
    return pc;
  }

  closePeer(name, keepCapture = false) {
    const pc = this.pcs[name];
    this.pcs[name] = null;
    if (pc) pc.close();
    if (keepCapture) return;
    const stream = this.local[name];
    this.local[name] = null;
    if (stream) for (const track of stream.getTracks()) track.stop();
  }

  closeWatch() {
    this.closePeer("watch");
    this.watchAsked = false;
    this.streams.clear();
    this.tracks.clear();
    this.previous.clear();
  }

  // Every peer connection closed; what the person wants (microphone, camera) is published again
  // by sync(); a shared screen's capture is kept when asked (published again by the caller).
  closeAll(keepScreen) {
    this.closeWatch();
    this.closePeer("camera");
    this.closePeer("screen", keepScreen && Boolean(this.local.screen));
    this.published = null;
    this.want.screen = Boolean(this.local.screen);
    this.talking.clear();
  }

  // -- what is shown and reported ------------------------------------------------------------

  drawTiles() {
    const own = this.local.camera && this.local.camera.getVideoTracks()[0];
    this.stage.draw({ streams: this.streams, tracks: this.tracks, rung: this.rung, own, me: this.me, talking: this.talking, on: this.on });
  }

  // Every ~2 s while watching: deltas since the last reading (docs/av.md#what-the-figures-say).
  async report() {
    const pc = this.pcs.watch;
    if (!pc || !this.on) return;
    let now;
    try {
      now = reading(await pc.getStats());
    } catch (error) {
      return;
    }
    const before = this.previous.get(pc);
    if (before) {
      const report = figures(before, now);
      const trouble = report.loss !== undefined && report.loss >= TROUBLE_LOSS;
      if (now.at - before.at < STATS_MS - READ_MS / 2 && !trouble) return; // the window goes on
      this.sendNow("av.stats", report);
    }
    this.previous.clear();
    this.previous.set(pc, now);
  }
}
