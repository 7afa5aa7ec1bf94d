// The connection to the live gateway: join token, WebSocket, resume, outbox, back-off (docs/live.md#pages).
//
// Rules: a join token comes from the school (POST join_url) and is kept until the gateway says
// it expired (4001) or was revoked (4003: the school then gives a new one or refuses, e.g. after
// a sign-out), or a connection attempt never opened (a 403 handshake looks the same to a
// browser); the socket opens with ?token= and, to resume, &epoch=&seq= of the last event
// applied. Every command carries a client id and stays in the outbox until its `ack` (or an
// `error` naming it); the outbox is sent again after each reconnection and every few seconds
// while unanswered: the room applies a resend once. Reconnection waits a random time between 0
// and min(30 s, 0.5 s × 2^attempt) (full jitter), except after 1012, 4001 and 4003 (at once), after
// 1001 (the gateway is draining: a random wait in [0, 2 s], then another gateway takes the resume)
// and when the browser comes back online; it stops for good on 4401, 4403, 4410 and 4423.
// Commands acknowledged in the last ACKED_KEPT_MS are kept too: a snapshot of a new epoch (the
// room's log lost its last entries in a Redis failover) sends them again (docs/live.md#epoch-regression).
// Audio/video signalling (`av.*` to the gateway, docs/av.md#the-page) goes by `sendNow`: at
// once or not at all, never in the outbox (the gateway acknowledges none of it, and an offer
// sent again later would be stale); `onJoined` tells the page each time a socket is joined, so
// that it publishes and watches again on the new one.

const STOP_CODES = { 4401: "removed", 4403: "refused", 4410: "ended", 4423: "locked", 4429: "other" };
const PING_MS = 25000;
const SILENT_MS = 65000; // nothing at all for this long (our pings get pongs): the link is dead
const RESEND_MS = 4000;
const JOINED_MS = 1000; // the gateway sends nothing on a resume with nothing missed: assume joined
const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 30000;
const DRAIN_JITTER_MS = 2000; // after 1001: the gateway spreads its closes, each tab adds its own
const ACKED_KEPT = 32; // fewer than the 64 ids a room remembers a person: a resend is applied once
const ACKED_KEPT_MS = 30000;
const DIRECT_KEPT = 32; // the last messages sent by sendNow, for an `error` naming one

export class Connection {
  constructor({ joinUrl, csrf, position, onMessage, onStatus, onStop, onRefused, onAck, onOutbox, onJoined = () => {} }) {
    this.joinUrl = joinUrl;
    this.csrf = csrf;
    this.position = position; // () => {epoch, seq}: where to resume from
    this.onMessage = onMessage;
    this.onStatus = onStatus; // ("connecting" | "online" | "retry" | "offline" | "not_open", seconds?)
    this.onStop = onStop; // (reason word)
    this.onRefused = onRefused; // (error message from the room, with the command it refused)
    this.onAck = onAck; // (ack, command)
    this.onOutbox = onOutbox; // () after the outbox grew or shrank
    this.onJoined = onJoined; // () each time a socket is joined (its first message, or 1 s after it opened)
    this.direct = new Map(); // id -> message: the last ones sent by sendNow
    this.ws = null;
    this.token = null;
    this.url = null;
    this.room = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
    this.joined = false;
    this.outbox = new Map(); // id -> {message, sentAt}
    this.acked = []; // [{message, epoch, at}]: the last commands acknowledged, oldest first
    this.counter = 0;
    this.prefix = Math.random().toString(36).slice(2, 10);
    this.lastHeard = 0;
    setInterval(() => this.tick(), 1000);
    window.addEventListener("offline", () => this.wentOffline());
    window.addEventListener("online", () => this.cameOnline());
  }

  start() {
    if (!navigator.onLine) return this.wentOffline();
    this.connect();
  }

  // -- sending ------------------------------------------------------------------------------

  send(type, fields = {}) {
    this.counter += 1;
    const id = `${this.prefix}-${Date.now().toString(36)}-${this.counter}`;
    const message = { v: 1, type, id, ...fields };
    const item = { message, sentAt: 0 };
    this.outbox.set(id, item);
    if (this.joined) this.write(item);
    this.onOutbox();
    return id;
  }

  // At once on a joined socket, or not at all (false): for messages that mean nothing later.
  sendNow(type, fields = {}) {
    if (!this.joined || !this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.counter += 1;
    const id = `${this.prefix}-${Date.now().toString(36)}-${this.counter}`;
    const message = { v: 1, type, id, ...fields };
    this.ws.send(JSON.stringify(message));
    this.direct.set(id, message);
    if (this.direct.size > DIRECT_KEPT) this.direct.delete(this.direct.keys().next().value);
    return true;
  }

  pending(type) {
    return [...this.outbox.values()].filter((item) => item.message.type === type).length;
  }

  write(item) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(item.message));
      item.sentAt = Date.now();
    }
  }

  flush() {
    for (const item of this.outbox.values()) this.write(item);
  }

  // -- connecting ---------------------------------------------------------------------------

  async connect() {
    clearTimeout(this.timer);
    if (this.stopped || !navigator.onLine) return;
    this.onStatus("connecting");
    if (this.token === null && !(await this.takeToken())) return;
    const { epoch, seq } = this.position();
    // room: the balancer keeps a class's people on as few gateways as fit (docs/operations.md)
    let url = `${this.url}?room=${encodeURIComponent(this.room)}&token=${encodeURIComponent(this.token)}`;
    if (epoch) url += `&epoch=${encodeURIComponent(epoch)}&seq=${seq}`;
    const ws = new WebSocket(url);
    this.ws = ws;
    this.joined = false;
    let opened = false;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      opened = true;
      this.lastHeard = Date.now();
      this.onStatus("online");
      this.joinTimer = setTimeout(() => this.markJoined(ws), JOINED_MS);
    };
    ws.onmessage = (event) => {
      if (ws === this.ws) this.received(ws, event.data);
    };
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.joined = false;
      clearTimeout(this.joinTimer);
      if (!opened) this.token = null; // refused at the handshake: perhaps the token
      this.closed(event.code);
    };
  }

  async takeToken() {
    let response;
    try {
      response = await fetch(this.joinUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "x-csrf-token": this.csrf, accept: "application/json" },
      });
    } catch (error) {
      this.later();
      return false;
    }
    const body = await response.json().catch(() => ({}));
    if (response.ok) {
      this.token = body.token;
      this.url = body.url;
      this.room = body.room;
      return true;
    }
    const stop =
      body.error === "guest_link_cancelled"
        ? "cancelled"
        : { 401: "signed_out", 403: "signed_out", 404: "gone", 410: "ended" }[response.status];
    if (stop) {
      this.stop(stop);
    } else if (response.status === 425) {
      const wait = Math.max(1, Math.min(600, Number(body.retry_after) || 30));
      this.onStatus("not_open", wait);
      this.timer = setTimeout(() => this.connect(), wait * 1000);
    } else {
      this.later();
    }
    return false;
  }

  received(ws, text) {
    this.lastHeard = Date.now();
    let message;
    try {
      message = JSON.parse(text);
    } catch (error) {
      return;
    }
    if (message.type === "pong") return;
    if (message.type === "error" && this.direct.has(message.id)) {
      this.onRefused(message, this.direct.get(message.id));
      return;
    }
    if (message.type === "ack" || (message.type === "error" && message.id)) {
      const item = this.outbox.get(message.id);
      this.outbox.delete(message.id);
      if (message.type === "error") this.onRefused(message, item ? item.message : null);
      else this.onAck(message, item ? item.message : null);
      if (message.type === "ack" && item) this.keepAcked(item.message);
      this.onOutbox();
      return;
    }
    if (message.type === "error") return; // about no command of ours: nothing to undo
    if (message.type === "snapshot") this.resendAcked(message.epoch);
    this.markJoined(ws);
    this.onMessage(message);
  }

  keepAcked(message) {
    this.acked.push({ message, epoch: this.position().epoch, at: Date.now() });
    if (this.acked.length > ACKED_KEPT) this.acked.shift();
  }

  // A snapshot of another epoch than the one recent commands were acknowledged in: the log may
  // have lost them (a Redis failover). Send them again, in order: the new epoch carries the
  // entries that survived with their client ids, so the room acknowledges those as duplicates
  // and applies the lost ones once.
  resendAcked(epoch) {
    const now = Date.now();
    const again = this.acked.filter((a) => a.epoch && a.epoch !== epoch && now - a.at < ACKED_KEPT_MS);
    this.acked = this.acked.filter((a) => a.epoch === epoch);
    for (const { message } of again) {
      if (!this.outbox.has(message.id)) this.outbox.set(message.id, { message, sentAt: 0 });
    }
    if (again.length) this.onOutbox();
  }

  markJoined(ws) {
    if (ws !== this.ws || this.joined) return;
    this.joined = true;
    this.attempt = 0;
    this.flush();
    this.onJoined();
  }

  closed(code) {
    if (STOP_CODES[code]) return this.stop(STOP_CODES[code]);
    if (!navigator.onLine) return this.wentOffline();
    if (code === 4001 || code === 4003) {
      this.token = null;
      return this.connect();
    }
    if (code === 1012) return this.connect();
    if (code === 1001) return this.later(DRAIN_JITTER_MS);
    this.later();
  }

  later(drainCeiling = 0) {
    // full jitter: a random wait below the ceiling; a drain is a move, not a failure
    const ceiling = drainCeiling || Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    const wait = Math.random() * ceiling;
    if (!drainCeiling) this.attempt = Math.min(this.attempt + 1, 16);
    this.onStatus("retry", Math.ceil(wait / 1000));
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), wait);
  }

  stop(reason) {
    this.stopped = true;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000);
    this.onStop(reason);
  }

  // -- the network coming and going ---------------------------------------------------------

  wentOffline() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    this.joined = false;
    if (ws) ws.close(4000, "offline");
    this.onStatus("offline");
  }

  cameOnline() {
    if (this.stopped || this.ws) return;
    this.attempt = 0;
    this.connect();
  }

  tick() {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const now = Date.now();
    if (now - this.lastHeard > SILENT_MS) {
      this.ws = null;
      this.joined = false;
      ws.close(4000, "silent");
      this.later();
      return;
    }
    if (now - (this.pinged || 0) >= PING_MS) {
      this.pinged = now;
      ws.send('{"type":"ping"}');
    }
    if (this.joined) {
      for (const item of this.outbox.values()) {
        if (now - item.sentAt >= RESEND_MS) this.write(item);
      }
    }
  }
}
