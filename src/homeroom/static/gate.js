/* Waiting page (docs/gate.md#page), plain ES2017: without it the meta refresh does the job. */
(function () {
"use strict";
var D = document;
function $(id) { return D.getElementById(id); }
var root = $("hr-gate");
if (!root) return;
var d = root.dataset, S = {}, lang = D.documentElement.lang, status = d.status;
try { S = JSON.parse($("hr-i18n").textContent); } catch (e) {}
var number = d.number ? +d.number : NaN, pollMs = 1000 * (+d.pollS || 5);
var live = $("hr-live"), fmt = new Intl.NumberFormat(lang);
var title = D.title, timer = 0, done = 0, started = 0, fails = 0;
var said = live.textContent, saidAt = 0, saidSum = 0, sayTimer = 0, QUIET = 30000;
function fill(text, v) { return text.replace(/\{(\w+)\}/g, function (m, x) { return v[x]; }); }
function T(k, v) { return fill(S[k] || k, v); }
// as format_wait in web/i18n.py, from the durations it said (cldr_*): keep them in step
function wait(s) {
  var M = S.cldr_minutes || [], H = S.cldr_hours || [];
  if (!isFinite(s) || s < 0) return T("wait_unknown");
  if (s < 60) return T("wait_less_minute");
  var m = Math.round(s / 60), h, t;
  if (m < 60) return T("wait_about", { duration: M[m] });
  m = 5 * Math.round(m / 5);
  h = Math.floor(m / 60), m %= 60;
  if (h >= 12) return T("wait_more", { duration: H[12] });
  t = H[h];
  if (m) t = fill(S.cldr_and || "{0} {1}", [t, M[m]]);
  return T("wait_about", { duration: t });
}
// Live region: new text only; an estimate (sum) at most every QUIET ms, news at once.
function say(text, sum) {
  clearTimeout(sayTimer);
  var later = saidAt + QUIET - Date.now();
  if (text == said) return;
  if (sum && saidSum && later > 0)
    return sayTimer = setTimeout(function () { saidAt = 0; say(text, 1); }, later);
  live.textContent = said = text;
  live.className = sum ? "hr-live hr-sr" : "hr-live"; // seen in the figures
  saidSum = sum;
  if (sum) saidAt = Date.now();
}
function button(href, text) {
  var a = D.createElement("a");
  a.className = "hr-button", a.href = href, a.textContent = text;
  live.after(a);
}
function local(u) { return /^\/(?![\/\\])/.test(u) ? u : ""; }
function schedule(ms) { clearTimeout(timer); timer = done || D.hidden ? 0 : setTimeout(poll, ms); }
function jitter() { return pollMs * (0.7 + 0.6 * Math.random()); }
function trouble(r, b) { // capped full-jitter backoff, not before Retry-After
  var hint = r ? +(r.headers.get("Retry-After") || b && b.retry_after) : 0;
  if (r && r.status > 428) say(T("live_busy"));
  else if (fails) say(T("live_offline")); // not for one failure alone
  fails++;
  var ms = Math.max(1000, Math.random() * Math.min(120000, pollMs << Math.min(fails, 6)));
  schedule(hint > 0 ? Math.max(ms, 1000 * Math.min(hint, 600) * (1 + 0.3 * Math.random())) : ms);
}
async function poll() {
  var r = null, st;
  try {
    r = await fetch(d.stateUrl, { credentials: "same-origin" });
    if (!r.ok) throw 0;
    st = await r.json();
  } catch (e) {
    return trouble(r);
  }
  fails = 0;
  if (st.poll_s > 0) pollMs = 1000 * st.poll_s;
  (status == "prequeue" || status == "not_open" ? opening : queued)(st);
}
function opening(st) {
  var at = +(d.openingAt || st.opening_at), now = +st.at || Date.now() / 1000;
  if (at > now && (status == "not_open" || st.prequeue)) {
    say(T("live_opening", { wait: wait(at - now) }), 1);
    return schedule(jitter());
  }
  say(T("live_opening_now"));
  reload();
}
function queued(st) {
  var lane = st.lanes && st.lanes[d.lane], note = $("hr-degraded"), pos, w;
  if (note) note.hidden = !st.degraded;
  if (st.mode == "closed") say(T("live_closed"));
  if (st.mode == "closed" || !lane || !isFinite(number)) return schedule(jitter());
  // a ticket of a lost count (docs/gate.md): reloaded, the page gives a new place
  if (lane.born && +d.issued && +d.issued < lane.born - 2) return reload();
  pos = number - lane.horizon;
  if (pos <= 0) return redeem();
  w = lane.rate > 0 ? wait(pos / lane.rate) : T("wait_unknown");
  $("hr-position").textContent = fmt.format(pos);
  $("hr-wait").textContent = w;
  D.title = "(" + fmt.format(pos) + ") " + title;
  if (st.mode == "paused") say(T("lead_paused"));
  else {
    var place = T("position", { n: fmt.format(pos) }); // not inside T(): extraction misses that
    say(T("live_summary", { position: place, wait: w }), 1);
  }
  schedule(jitter());
}
async function redeem() {
  var r = null, b = {};
  try {
    r = await fetch(d.redeemUrl, { method: "POST", credentials: "same-origin",
      body: JSON.stringify({ ticket: null, next: d.nextUrl }),
      headers: { "Content-Type": "application/json", Accept: "application/json" } });
    b = await r.json().catch(function () { return {}; });
  } catch (e) {}
  if (r && (r.ok || r.status == 409)) return go(r.ok && b.next);
  if (r && r.status == 410) return lapsed(b.message);
  if (r && r.status == 425) return schedule(Math.max(jitter(), 1000 * (+b.retry_after || 0)));
  trouble(r, b);
}
function reload() { // spread out a little
  done = 1;
  setTimeout(function () { location.replace(d.pageUrl || location.href); }, 2000 * Math.random());
}
function go(next) {
  var url = local(next) || local(d.nextUrl) || "/";
  done = 1;
  say(T("live_admitted"));
  button(url, T("live_continue"));
  location.replace(url);
}
function lapsed(message) {
  done = 1;
  D.title = title;
  say(message || T("lead_lapsed"));
  button(d.rejoinUrl, T("rejoin"));
}
function start() { if (!started) schedule(jitter()); started = 1; }
function loaded() { // stop() cancels the meta refresh: we poll instead
  var m = D.querySelector('meta[http-equiv="refresh"]');
  if (m) window.stop(), m.remove();
  start();
}
if (status == "proof_of_work") {
  var w = D.querySelector("altcha-widget");
  if (w) w.addEventListener("verified", function () {
    var f = w.closest("form");
    if (f) f.requestSubmit ? f.requestSubmit() : f.submit();
  });
} else if (status != "lapsed") {
  D.addEventListener("visibilitychange", function () {
    if (D.hidden) schedule(0);
    else if (started && !timer) schedule(500 + 1000 * Math.random());
  });
  if (D.readyState == "complete") loaded();
  else addEventListener("load", loaded);
  setTimeout(start, 10000); // a slow image must not stall polling
}
})();
