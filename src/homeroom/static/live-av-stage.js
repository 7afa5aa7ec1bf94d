// The stage's pictures and sound: a tile per video received, an <audio> per sound (docs/av.md#the-page).
//
// The shared screen first, then the teacher's camera, then the cameras of the floor (small);
// at the rung `audio` no camera, at `slides` and `text` no video at all (docs/av.md#the-rungs);
// one's own camera small and last, a preview never sent back. Tiles are kept by key and moved,
// not made again, so that a video playing goes on playing.

const SEES_CAMERAS = new Set(["720p", "360p", "180p"]);
const SEES_SCREEN = new Set(["720p", "360p", "180p", "audio"]);

const $ = (id) => document.getElementById(id);

export class Stage {
  // w: the page's words; nameOf(person); isTeacher(person)
  constructor({ w, nameOf, isTeacher }) {
    this.w = w;
    this.nameOf = nameOf;
    this.isTeacher = isTeacher;
    this.videos = new Map(); // key -> <figure>
  }

  // streams: mid -> {mid, person, source, kind}; tracks: mid -> track; rung (null: not told
  // yet); own: one's own camera track or null; talking: people speaking; on: audio and video on
  draw({ streams, tracks, rung, own, me, talking, on }) {
    const box = $("lv-videos");
    const level = rung || "720p";
    const order = (s) => (s.source === "screen" ? 0 : this.isTeacher(s.person) ? 1 : 2);
    const live = (s) => tracks.has(s.mid) && tracks.get(s.mid).readyState === "live";
    const shown = [...streams.values()]
      .filter((s) => s.kind === "video" && live(s))
      .filter((s) => (s.source === "screen" ? SEES_SCREEN : SEES_CAMERAS).has(level))
      .sort((a, b) => order(a) - order(b));
    const tiles = shown.map((s, i) => this.tile(`mid-${s.mid}`, tracks.get(s.mid), this.caption(s), i > 0, talking.has(s.person)));
    if (own) tiles.push(this.tile("self", own, this.w("class_av_self"), true, talking.has(me)));
    for (const [key, figure] of [...this.videos]) if (!tiles.includes(figure)) this.videos.delete(key);
    box.replaceChildren(...tiles);
    box.dataset.tiles = String(tiles.length);
    this.sound([...streams.values()].filter((s) => s.kind === "audio" && live(s) && level !== "text"), tracks);
    $("lv-av-none").hidden = !on || tiles.length > 0 || level === "text";
  }

  caption(s) {
    const name = this.nameOf(s.person);
    return s.source === "screen" ? this.w("class_av_screen_of", { name }) : name;
  }

  tile(key, track, caption, small, talking) {
    let figure = this.videos.get(key);
    if (!figure) {
      const video = document.createElement("video");
      Object.assign(video, { autoplay: true, playsInline: true, muted: true }); // sound: below
      figure = document.createElement("figure");
      figure.append(video, document.createElement("figcaption"));
      this.videos.set(key, figure);
    }
    const video = figure.querySelector("video");
    if (!video.srcObject || video.srcObject.getTracks()[0] !== track) video.srcObject = new MediaStream([track]);
    figure.className = small ? "lv-tile lv-tile-small" : "lv-tile";
    figure.dataset.talking = String(talking);
    figure.querySelector("figcaption").textContent = caption;
    return figure;
  }

  // Every sound received plays, each in an <audio> of its own (never shown).
  sound(playing, tracks) {
    const box = $("lv-audio");
    const keep = new Set(playing.map((s) => s.mid));
    for (const node of [...box.children]) if (!keep.has(node.dataset.mid)) node.remove();
    for (const s of playing) {
      if (box.querySelector(`[data-mid="${CSS.escape(s.mid)}"]`)) continue;
      const audio = document.createElement("audio");
      audio.autoplay = true;
      audio.dataset.mid = s.mid;
      audio.srcObject = new MediaStream([tracks.get(s.mid)]);
      box.append(audio);
    }
  }
}
