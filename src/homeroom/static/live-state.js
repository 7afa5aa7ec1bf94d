// The room as this page knows it: a snapshot, then numbered events applied in order (docs/live.md#pages).
//
// `apply` takes one message from the gateway and returns the names of the parts that changed
// (for the page to draw again), or null when the message was ignored: an event numbered at or
// below the last one applied (already seen, replayed twice), or of another epoch than the
// snapshot's (a snapshot of the new epoch comes first).

export function emptyState(person, role) {
  return {
    person,
    role,
    epoch: null,
    seq: 0,
    where: "connecting",
    muted: false,
    ended: false,
    settings: { lobby: false, locked: false, chat_open: true, board_everyone: false },
    participants: new Map(), // person -> {person, name, role}
    names: new Map(), // everyone seen, for names in hands and chat after they left
    lobby: new Map(),
    hands: [],
    chat: [],
    poll: null,
    board: [],
    slides: null,
    breakout: null, // {groups: {"1": [person, ...]}}
    myGroup: null,
    visiting: null,
    mutedPeople: new Set(),
    av: { enabled: false }, // the gateway's word: false without Janus (docs/av.md#the-page)
    floor: new Map(), // person -> {video}: pupils who may publish audio (and video if allowed)
    avMuted: new Set(), // pupils whose audio the teacher stopped (av.muted), until given the floor again
    floorLost: false, // this pupil's floor was taken back (since the snapshot), not given again
  };
}

const ALL = ["where", "settings", "people", "lobby", "hands", "chat", "poll", "board", "slides", "breakout", "av"];

function remember(state, who) {
  if (who && who.person) state.names.set(who.person, who.name);
}

function groupOf(breakout, person) {
  if (!breakout) return null;
  for (const [group, people] of Object.entries(breakout.groups)) {
    if (people.includes(person)) return Number(group);
  }
  return null;
}

function snapshot(state, m) {
  state.epoch = m.epoch;
  state.seq = m.seq;
  state.where = m.you.where;
  state.muted = Boolean(m.you.muted);
  state.ended = Boolean(m.ended);
  state.settings = m.settings;
  state.participants = new Map((m.participants || []).map((p) => [p.person, p]));
  state.lobby = new Map((m.lobby || []).map((p) => [p.person, p]));
  for (const p of [...state.participants.values(), ...state.lobby.values()]) remember(state, p);
  state.hands = m.hands || [];
  state.chat = (m.chat || []).slice();
  state.poll = m.poll ? { ...m.poll, voted: (m.poll.mine || []).length > 0 } : null;
  state.board = m.board || [];
  state.slides = m.slides || null;
  state.breakout = m.breakout || null;
  state.myGroup = groupOf(state.breakout, state.person);
  state.visiting = null;
  state.av = { enabled: Boolean(m.av && m.av.enabled) };
  state.floor = new Map(Object.entries(m.floor || {}).map(([person, f]) => [person, { video: Boolean(f && f.video) }]));
  state.avMuted = new Set((m.av && m.av.muted) || []);
  state.floorLost = false;
  return ALL;
}

const EVENTS = {
  "presence.joined": (s, m) => {
    s.participants.set(m.person, { person: m.person, name: m.name, role: m.role });
    s.lobby.delete(m.person);
    remember(s, m);
    if (m.person === s.person) s.where = "in";
    return ["people", "lobby", "where"];
  },
  "presence.left": (s, m) => {
    s.participants.delete(m.person);
    return ["people"];
  },
  "lobby.waiting": (s, m) => {
    s.lobby.set(m.person, m);
    remember(s, m);
    if (m.person === s.person) s.where = "lobby";
    return ["lobby", "where"];
  },
  "lobby.left": (s, m) => (s.lobby.delete(m.person), ["lobby"]),
  "lobby.admitted": (s, m) => (s.lobby.delete(m.person), ["lobby"]),
  "lobby.refused": (s, m) => (s.lobby.delete(m.person), ["lobby"]),
  "chat.message": (s, m) => (s.chat.push(m), ["chat"]),
  "hand.raised": (s, m) => {
    if (!s.hands.includes(m.person)) s.hands.push(m.person);
    return ["hands"];
  },
  "hand.lowered": (s, m) => ((s.hands = s.hands.filter((p) => p !== m.person)), ["hands"]),
  reaction: () => [],
  "poll.opened": (s, m) => {
    s.poll = { ...m, open: true, shown: false, mine: [], voted: false, counts: m.choices.map(() => 0), voters: 0 };
    return ["poll"];
  },
  "poll.results": (s, m) => {
    if (!s.poll || s.poll.poll !== m.poll) return [];
    Object.assign(s.poll, { counts: m.counts, voters: m.voters });
    if (s.role !== "teacher") s.poll.voted = true; // a pupil gets this for their own vote only
    return ["poll"];
  },
  "poll.shown": (s, m) => {
    if (!s.poll || s.poll.poll !== m.poll) return [];
    Object.assign(s.poll, { shown: true, counts: m.counts, voters: m.voters });
    return ["poll"];
  },
  "poll.closed": (s, m) => {
    if (s.poll && s.poll.poll === m.poll) s.poll.open = false;
    return ["poll"];
  },
  "board.stroke": (s, m) => {
    s.board.push({ by: m.by, points: m.points, colour: m.colour, width: m.width, erase: m.erase });
    return ["board"];
  },
  "board.cleared": (s) => ((s.board = []), ["board"]),
  "slides.opened": (s, m) => ((s.slides = { doc: m.doc, pages: m.pages, page: m.page }), ["slides"]),
  "slides.page": (s, m) => {
    if (s.slides) s.slides.page = m.page;
    return ["slides"];
  },
  settings: (s, m) => {
    s.settings = { lobby: m.lobby, locked: m.locked, chat_open: m.chat_open, board_everyone: m.board_everyone };
    return ["settings", "chat", "board"];
  },
  "mod.muted": (s, m) => {
    if (m.on) s.mutedPeople.add(m.person);
    else s.mutedPeople.delete(m.person);
    if (m.person === s.person) s.muted = m.on;
    return ["people", "chat"];
  },
  "mod.removed": (s, m) => {
    s.participants.delete(m.person);
    s.lobby.delete(m.person);
    s.hands = s.hands.filter((p) => p !== m.person);
    return ["people", "lobby", "hands"];
  },
  "class.ended": (s) => ((s.ended = true), ["where"]),
  "floor.given": (s, m) => {
    s.floor.set(m.person, { video: Boolean(m.video) });
    s.avMuted.delete(m.person);
    if (m.person === s.person) s.floorLost = false;
    return ["av", "people", "hands"];
  },
  "floor.taken": (s, m) => {
    s.floor.delete(m.person);
    if (m.person === s.person) s.floorLost = true;
    return ["av", "people", "hands"];
  },
  "av.muted": (s, m) => (s.avMuted.add(m.person), ["av", "people"]),
  "breakout.started": (s, m) => {
    s.breakout = { groups: m.groups };
    s.myGroup = groupOf(s.breakout, s.person);
    return ["breakout"];
  },
  "breakout.assigned": (s, m) => {
    if (!s.breakout) return [];
    const group = String(m.group);
    s.breakout.groups[group] = [...(s.breakout.groups[group] || []), m.person];
    if (m.person === s.person) s.myGroup = m.group;
    return ["breakout"];
  },
  "breakout.visit": (s, m) => {
    if (m.person === s.person) s.visiting = m.group;
    return ["breakout"];
  },
  "breakout.ended": (s) => ((s.breakout = null), (s.myGroup = null), (s.visiting = null), ["breakout"]),
};

export function apply(state, message) {
  if (message.type === "snapshot") return snapshot(state, message);
  const handler = EVENTS[message.type];
  if (!handler || typeof message.seq !== "number") return null;
  if (message.epoch !== state.epoch || message.seq <= state.seq) return null;
  state.seq = message.seq;
  return handler(state, message);
}
