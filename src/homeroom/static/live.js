// The live class page: the room's state drawn into the page, and the teacher's and pupils' controls (docs/live.md#pages).
//
// live-conn.js keeps the connection and the outbox, live-state.js applies what the room sends,
// live-board.js and live-slides.js draw the whiteboard and the slides, live-av.js does the
// audio and video (docs/av.md#the-page). Every text that comes
// from people (names, chat, poll questions) goes in with textContent, never as HTML.

import { Av } from "./live-av.js";
import { Board } from "./live-board.js";
import { Connection } from "./live-conn.js";
import { apply, emptyState } from "./live-state.js";
import { Slides } from "./live-slides.js";

const data = JSON.parse(document.getElementById("lv-data").textContent);
const words = data.words;
const teacher = data.role === "teacher";
const state = emptyState(data.person, data.role);
const $ = (id) => document.getElementById(id);

function w(key, params = {}) {
  return (words[key] || key).replace(/\{(\w+)\}/g, (all, name) => (name in params ? String(params[name]) : all));
}

// The words for a reason the server or the connection gives: each written out, so that
// `make words` finds it (docs/translating.md); null for a reason without words of its own.
const said = (table, reason) => (Object.prototype.hasOwnProperty.call(table, reason) ? table[reason] : null);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "text") node.textContent = value;
    else if (name === "onclick") node.addEventListener("click", value);
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter(Boolean));
  return node;
}

function button(text, onclick, focusKey, extra = {}) {
  return el("button", { class: "hr-button hr-button-small", type: "button", text, onclick, "data-focus": focusKey, ...extra });
}

// Redraw a part without losing the keyboard's place: the control that had focus gets it back
// (found again by its data-focus key), or the part's heading when that control is gone.
function redraw(container, fill) {
  const active = document.activeElement;
  const inside = active && container.contains(active);
  const key = inside ? active.dataset.focus : null;
  fill();
  if (!inside || container.contains(document.activeElement)) return;
  const again = key && container.querySelector(`[data-focus="${CSS.escape(key)}"]`);
  const heading = container.closest("section").querySelector("h2, h3");
  if (again) again.focus();
  else if (heading) {
    heading.tabIndex = -1;
    heading.focus();
  }
}

const nameOf = (person) => state.names.get(person) || (state.participants.get(person) || {}).name || person;

// -- connection ---------------------------------------------------------------------------

let flashTimer = null;
function flash(text) {
  const box = $("lv-flash");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => (box.hidden = true), 8000);
}

const conn = new Connection({
  joinUrl: data.join_url,
  csrf: data.csrf,
  position: () => ({ epoch: state.epoch, seq: state.seq }),
  onMessage: (message) => {
    if (AV_MESSAGES.has(message.type)) return av.handle(message);
    const changed = apply(state, message);
    if (changed) draw(changed, message.type === "snapshot");
  },
  onStatus: (status, seconds) => {
    const statuses = {
      connecting: w("class_status_connecting"),
      online: w("class_status_online"),
      retry: w("class_status_retry", { s: seconds }),
      offline: w("class_status_offline"),
      not_open: w("class_status_not_open", { s: seconds }),
    };
    $("lv-status").textContent = said(statuses, status) || "";
    $("lv").dataset.connection = status;
  },
  onStop: (reason) => {
    const stops = {
      removed: w("class_stop_removed"),
      refused: w("class_stop_refused"),
      ended: w("class_stop_ended"),
      locked: w("class_stop_locked"),
      signed_out: w("class_stop_signed_out"),
      gone: w("class_stop_gone"),
      cancelled: w("class_stop_cancelled"),
    };
    $("lv-stopped-text").textContent = said(stops, reason) || w("class_stop_other");
    $("lv-stopped").hidden = false;
    av.stop();
    $("lv-status").textContent = "";
    $("lv").dataset.connection = "stopped";
    $("lv-class").hidden = true;
    $("lv-lobby").hidden = true;
  },
  onRefused: (error, command) => {
    if (command && command.type.startsWith("av.") && command.type !== "av.mute") return av.refused(error, command);
    const refusals = {
      floor_full: w("class_err_floor_full"),
      no_floor: w("class_av_need_floor"),
      muted: w("class_err_muted"),
      already_voted: w("class_err_already_voted"),
      poll_closed: w("class_err_poll_closed"),
      poll_open: w("class_err_poll_open"),
      board_full: w("class_err_board_full"),
    };
    flash(said(refusals, error.error) || w("class_err_other", { reason: error.error }));
    if (command && command.type === "board.stroke") board.settle(command.id);
  },
  onAck: (ack, command) => {
    if (command && command.type === "board.stroke") board.settle(command.id);
  },
  onOutbox: () => drawPending(),
  onJoined: () => av.joined(),
});

// What the gateway sends about audio and video, not numbered: for live-av.js alone.
const AV_MESSAGES = new Set(["av.answer", "av.offer", "av.rung", "av.rungs", "av.talking", "av.renegotiate"]);
const av = new Av({
  state,
  teacher,
  w,
  nameOf,
  sendNow: (type, fields) => conn.sendNow(type, fields),
  command: (type, fields) => conn.send(type, fields),
  onTalking: () => drawPeople(),
});

// -- drawing the parts --------------------------------------------------------------------

const DRAW = {
  where: drawWhere,
  settings: drawSettings,
  people: drawPeople,
  lobby: drawLobby,
  hands: drawHands,
  chat: () => drawChat(false),
  poll: drawPoll,
  board: drawBoard,
  slides: drawSlides,
  breakout: drawBreakout,
  av: () => {},
};

function draw(changed, rebuild) {
  for (const part of new Set(changed)) {
    if (part === "chat") drawChat(rebuild);
    else DRAW[part]();
  }
  if (changed.includes("people")) drawHands(); // names of hands
  if (["where", "breakout", "av"].some((part) => changed.includes(part))) av.sync();
}

function drawWhere() {
  if (state.ended) return conn.stop("ended");
  $("lv-lobby").hidden = state.where !== "lobby";
  $("lv-class").hidden = state.where !== "in";
}

function drawSettings() {
  if (!teacher) return;
  const s = state.settings;
  $("lv-set-lobby").checked = s.lobby;
  $("lv-set-locked").checked = s.locked;
  $("lv-set-chat").checked = !s.chat_open;
  $("lv-set-board").checked = s.board_everyone;
}

function drawPeople() {
  const list = $("lv-people-list");
  const people = [...state.participants.values()].sort(
    (a, b) => (a.role === "teacher" ? 0 : 1) - (b.role === "teacher" ? 0 : 1) || a.name.localeCompare(b.name),
  );
  $("lv-people-count").textContent = `(${people.length})`;
  redraw(list, () => {
    list.replaceChildren(
      ...people.map((p) => {
        const muted = state.mutedPeople.has(p.person);
        const notes = [
          p.role === "teacher" && w("class_teacher"),
          p.person === state.person && w("class_you"),
          muted && w("class_muted"),
          state.floor.has(p.person) && w("class_av_has_floor"),
          state.avMuted.has(p.person) && w("class_av_mic_off"),
          av.talking.has(p.person) && w("class_av_speaking"),
        ];
        const item = el("li", { "data-person": p.person }, el("span", { class: "lv-name", text: p.name }));
        for (const note of notes.filter(Boolean)) item.append(" ", el("span", { class: "lv-note", text: note }));
        if (teacher && p.role !== "teacher") {
          const mute = () => conn.send("mod.mute", { person: p.person, on: !muted });
          const remove = () => {
            if (window.confirm(w("class_remove_confirm", { name: p.name }))) conn.send("mod.remove", { person: p.person });
          };
          item.append(
            el(
              "span",
              { class: "lv-actions" },
              button(muted ? w("class_unmute", { name: p.name }) : w("class_mute", { name: p.name }), mute, `mute-${p.person}`),
              button(w("class_remove", { name: p.name }), remove, `remove-${p.person}`),
              ...floorButtons(p.person, "people"),
            ),
          );
        }
        return item;
      }),
    );
  });
}

// The teacher's floor controls for a pupil, next to their raised hand and in the people list
// (docs/av.md#the-page); none when the class has no audio and video.
function floorButtons(person, where) {
  if (!teacher || !state.av.enabled) return [];
  const name = nameOf(person);
  if (!state.floor.has(person)) {
    return [
      button(w("class_floor_give", { name }), () => conn.send("floor.give", { person, video: false }), `floor-${where}-${person}`),
      button(w("class_floor_give_video", { name }), () => conn.send("floor.give", { person, video: true }), `floor-video-${where}-${person}`),
    ];
  }
  return [
    button(w("class_floor_take", { name }), () => conn.send("floor.take", { person }), `floor-${where}-${person}`),
    button(w("class_av_mute", { name }), () => conn.send("av.mute", { person }), `av-mute-${where}-${person}`),
  ];
}

function drawLobby() {
  if (!teacher) return;
  const list = $("lv-waiting");
  const waiting = [...state.lobby.values()];
  redraw(list.parentElement, () => {
    list.replaceChildren(
      ...waiting.map((p) =>
        el(
          "li",
          { "data-person": p.person },
          el("span", { class: "lv-name", text: p.name }),
          el(
            "span",
            { class: "lv-actions" },
            button(w("class_admit", { name: p.name }), () => conn.send("lobby.admit", { person: p.person }), `admit-${p.person}`),
            button(w("class_refuse", { name: p.name }), () => conn.send("lobby.refuse", { person: p.person }), `refuse-${p.person}`),
          ),
        ),
      ),
    );
    $("lv-waiting-none").hidden = waiting.length > 0;
    $("lv-admit-all").hidden = waiting.length === 0;
  });
}

function drawHands() {
  const list = $("lv-hand-list");
  redraw(list.parentElement, () => {
    list.replaceChildren(
      ...state.hands.map((person) => {
        const item = el("li", { "data-person": person }, el("span", { class: "lv-name", text: nameOf(person) }));
        if (teacher) {
          const lower = () => conn.send("hand.lower", { person });
          const actions = el("span", { class: "lv-actions" }, button(w("class_hand_lower", { name: nameOf(person) }), lower, `lower-${person}`));
          actions.append(...floorButtons(person, "hands"));
          item.append(" ", actions);
        }
        return item;
      }),
    );
    $("lv-hands-none").hidden = state.hands.length > 0;
    if (!teacher) {
      const raised = state.hands.includes(state.person);
      $("lv-hand").textContent = raised ? w("class_hand_lower_mine") : w("class_hand_raise");
      $("lv-hand").setAttribute("aria-pressed", String(raised));
    }
  });
}

function chatItem(m) {
  const item = el("li", { "data-seq": m.seq, class: m.to === "all" ? null : "lv-chat-private" });
  item.append(el("span", { class: "lv-name", text: m.name }));
  if (m.to === "teacher") item.append(" ", el("span", { class: "lv-note", text: `(${w("class_chat_private")})` }));
  if (m.to === "group") item.append(" ", el("span", { class: "lv-note", text: `(${w("class_chat_group", { n: m.group })})` }));
  item.append(el("span", { class: "lv-sep", text: data.lang === "fr" ? "\u00a0: " : ": " }), el("span", { class: "lv-text", text: m.text }));
  return item;
}

let chatShown = 0;
function drawChat(rebuild) {
  const list = $("lv-chat-list");
  const log = $("lv-chat-log");
  const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
  if (rebuild) {
    list.replaceChildren(...state.chat.map(chatItem));
  } else {
    list.append(...state.chat.slice(chatShown).map(chatItem));
  }
  chatShown = state.chat.length;
  if (atBottom || rebuild) log.scrollTop = log.scrollHeight;
  const closed = !teacher && !state.settings.chat_open;
  const blocked = !teacher && (state.muted || closed);
  $("lv-chat-note").hidden = !blocked;
  $("lv-chat-note").textContent = state.muted ? w("class_chat_muted") : closed ? w("class_chat_closed_note") : "";
  for (const field of $("lv-chat-form").elements) field.disabled = blocked;
}

// What is waiting for the room's ack: chat messages are counted for the person; the whole
// outbox's size is on #lv for the browser tests ("0": everything sent was applied).
function drawPending() {
  $("lv").dataset.outbox = conn.outbox.size;
  const n = conn.pending("chat.send");
  $("lv-chat-pending").hidden = n === 0;
  $("lv-chat-pending").textContent = w("class_chat_pending", { n });
}

function drawPoll() {
  const box = $("lv-poll-now");
  const poll = state.poll;
  const chosen = [...box.querySelectorAll("input:checked")].map((input) => Number(input.value));
  redraw(box, () => {
    box.replaceChildren();
    if (!poll) return box.append(el("p", { text: w("class_poll_none") }));
    box.dataset.poll = poll.poll;
    const voting = !teacher && poll.open && !poll.voted;
    if (voting) box.append(voteForm(poll, chosen)); // the question is the form's legend
    else box.append(el("h3", { class: "lv-poll-question", text: poll.question }));
    if (!teacher && poll.voted) box.append(el("p", { class: "lv-voted", text: w("class_poll_voted") }));
    if ((teacher || poll.shown) && poll.counts) box.append(results(poll));
    if (!poll.open) box.append(el("p", { text: w("class_poll_closed") }));
    if (teacher && poll.open) {
      const actions = el("p", { class: "lv-inline" });
      if (!poll.shown) actions.append(button(w("class_poll_show"), () => conn.send("poll.show", { poll: poll.poll }), "poll-show"));
      actions.append(button(w("class_poll_close"), () => conn.send("poll.close", { poll: poll.poll }), "poll-close"));
      box.append(actions);
    }
    if (teacher) $("lv-poll-new").hidden = poll.open;
  });
  if (teacher && !poll) $("lv-poll-new").hidden = false;
}

function voteForm(poll, chosen) {
  const form = el("form", { class: "lv-vote" });
  const set = el("fieldset", {}, el("legend", { text: poll.question }));
  poll.choices.forEach((choice, index) => {
    const id = `lv-vote-${poll.poll}-${index}`;
    const input = el("input", { type: poll.multiple ? "checkbox" : "radio", name: "vote", id, value: index, checked: chosen.includes(index) });
    set.append(el("div", { class: "hr-check" }, input, el("label", { for: id, text: choice })));
  });
  form.append(set, el("button", { class: "hr-button hr-button-small", type: "submit", text: w("class_poll_vote"), "data-focus": "vote" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const choices = [...form.querySelectorAll("input:checked")].map((input) => Number(input.value));
    if (choices.length) conn.send("poll.vote", { poll: poll.poll, choices });
  });
  return form;
}

function results(poll) {
  const most = Math.max(1, ...poll.counts);
  const list = el("ul", { class: "lv-results" });
  poll.choices.forEach((choice, index) => {
    const n = poll.counts[index] || 0;
    const bar = el("span", { class: "lv-bar", "aria-hidden": "true" });
    bar.style.width = `${(100 * n) / most}%`;
    list.append(el("li", { "data-choice": index }, el("span", { text: w("class_poll_result", { choice, n }) }), bar));
  });
  return el("div", {}, list, el("p", { text: w("class_poll_voters", { n: poll.voters }) }));
}

const board = new Board($("lv-board-canvas"), {
  onStroke: (stroke) => conn.send("board.stroke", { points: stroke.points, colour: stroke.colour, width: stroke.width, erase: stroke.erase }),
});

function drawBoard() {
  board.setStrokes(state.board);
  const can = teacher || state.settings.board_everyone;
  board.setEnabled(can);
  $("lv-board-tools").hidden = !can;
  $("lv-board-readonly").hidden = can;
  const last = state.board[state.board.length - 1];
  $("lv-board-summary").textContent = last ? w("class_board_summary", { n: state.board.length, name: nameOf(last.by) }) : w("class_board_empty");
  $("lv-board").dataset.strokes = state.board.length;
}

const slides = new Slides($("lv-slide-canvas"), $("lv-slide-text"), {
  src: data.pdf,
  worker: data.pdf_worker,
  docUrl: data.doc_url,
  onError: () => flash(w("class_slides_failed")),
});

function drawSlides() {
  const s = state.slides;
  $("lv-slides-none").hidden = Boolean(s);
  $("lv-slides-on").hidden = !s;
  if (!s) return;
  $("lv-slide-page").textContent = w("class_slides_page", { page: s.page, pages: s.pages });
  if (teacher) {
    $("lv-prev").disabled = s.page <= 1;
    $("lv-next").disabled = s.page >= s.pages;
  }
  slides.show(s.doc, s.page);
}

function drawBreakout() {
  const b = state.breakout;
  const note = $("lv-my-group");
  note.hidden = teacher || !state.myGroup;
  note.textContent = state.myGroup ? w("class_in_group", { n: state.myGroup }) : "";
  if (!teacher) return;
  $("lv-breakout-form").hidden = Boolean(b);
  $("lv-breakout-on").hidden = !b;
  const list = $("lv-groups");
  redraw(list.parentElement, () => {
    list.replaceChildren();
    if (!b) return;
    for (const [group, people] of Object.entries(b.groups)) {
      const names = people.map(nameOf).join(", ") || "—";
      const here = state.visiting === Number(group);
      const visit = () => conn.send("breakout.visit", { group: here ? null : Number(group) });
      const label = here ? w("class_visit_main") : w("class_visit", { n: group });
      list.append(el("li", {}, el("span", { class: "lv-name", text: `${w("class_group", { n: group })} : ${names}` }), " ", button(label, visit, `visit-${group}`)));
    }
  });
}

// -- controls -----------------------------------------------------------------------------

$("lv-chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("lv-chat-text").value.trim();
  if (!text) return;
  const to = teacher ? "all" : $("lv-chat-to").value;
  conn.send("chat.send", { text: text.slice(0, 500), to });
  $("lv-chat-text").value = "";
});
$("lv-chat-text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("lv-chat-form").requestSubmit();
  }
});
$("lv-colour").addEventListener("change", (event) => (board.colour = event.target.value));
$("lv-erase").addEventListener("change", (event) => (board.erase = event.target.checked));

if (teacher) {
  const settings = {
    lobby: (on) => conn.send("lobby.set", { on }),
    locked: (on) => conn.send("mod.lock", { on }),
    chat_closed: (on) => conn.send("mod.mute", { person: null, on }),
    board_everyone: (on) => conn.send("board.access", { everyone: on }),
  };
  for (const box of document.querySelectorAll("[data-setting]")) {
    box.addEventListener("change", () => settings[box.dataset.setting](box.checked));
  }
  $("lv-admit-all").addEventListener("click", () => conn.send("lobby.admit", { person: null }));
  $("lv-end").addEventListener("click", () => {
    if (window.confirm(w("class_end_confirm"))) conn.send("class.end");
  });
  $("lv-breakout-form").addEventListener("submit", (event) => {
    event.preventDefault();
    conn.send("breakout.start", { groups: Number($("lv-breakout-n").value) });
  });
  $("lv-breakout-end").addEventListener("click", () => conn.send("breakout.end"));
  $("lv-clear").addEventListener("click", () => conn.send("board.clear"));
  $("lv-prev").addEventListener("click", () => state.slides && conn.send("slides.page", { page: state.slides.page - 1 }));
  $("lv-next").addEventListener("click", () => state.slides && conn.send("slides.page", { page: state.slides.page + 1 }));
  $("lv-poll-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const question = $("lv-poll-question").value.trim();
    const choices = $("lv-poll-choices").value.split("\n").map((c) => c.trim()).filter(Boolean);
    if (!question || choices.length < 2 || choices.length > 10) return flash(w("class_poll_bad"));
    conn.send("poll.open", { question, choices: choices.map((c) => c.slice(0, 100)), multiple: $("lv-poll-multiple").checked });
    $("lv-poll-form").reset();
  });
  $("lv-upload").addEventListener("submit", upload);
} else {
  $("lv-hand").addEventListener("click", () => conn.send(state.hands.includes(state.person) ? "hand.lower" : "hand.raise"));
}

async function upload(event) {
  event.preventDefault();
  const file = $("lv-slides-file").files[0];
  if (!file) return;
  if (file.size > data.max_slide_bytes) return flash(w("class_slides_too_big"));
  const submit = event.target.querySelector("button[type=submit]");
  submit.disabled = true;
  submit.textContent = w("class_slides_uploading");
  try {
    const response = await fetch(data.slides_url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/pdf", "x-csrf-token": data.csrf, accept: "application/json" },
      body: file,
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) return flash(body.message || w("class_slides_failed"));
    conn.send("slides.open", { doc: body.doc, pages: body.pages });
    event.target.reset();
  } catch (error) {
    flash(w("class_slides_failed"));
  } finally {
    submit.disabled = false;
    submit.textContent = w("class_slides_upload");
  }
}

conn.start();
