// The figures a watching page reports for the ladder, from getStats (docs/av.md#the-page).
//
// `reading` adds up one getStats report; `figures` makes the `av.stats` fields from two
// readings: deltas since the previous one, a figure left out when unknown, never sent as 0.
//
// What got through is counted as on the wire, as the ladder's costs are (core/ladder.py,
// RUNGS: Opus's 32 kbit/s is 57 with its packets' headers): `bytesReceived` is the RTP payload
// alone (RFC 3550's octet count), so each packet's RTP header (`headerBytesReceived`) and its
// IPv4, UDP and SRTP tag (20 + 8 + 10 bytes) are added. Without them a pupil on `audio`
// received ~32-45 kbit/s by this count, below the rung's own cost, and the ladder, reading
// what got through under loss as the line's capacity, put them on `text`.
const WIRE_BYTES = 38;

export function reading(stats) {
  const now = { lost: 0, received: 0, bytes: 0, decoded: 0, dropped: 0, at: performance.now(), pair: null };
  let nominated = null;
  stats.forEach((s) => {
    if (s.type === "inbound-rtp") {
      now.lost += s.packetsLost || 0;
      now.received += s.packetsReceived || 0;
      now.bytes += (s.bytesReceived || 0) + (s.headerBytesReceived || 0) + WIRE_BYTES * (s.packetsReceived || 0);
      if (s.kind === "video") {
        now.decoded += s.framesDecoded || 0;
        now.dropped += s.framesDropped || 0;
      }
    }
    if (s.type === "transport" && s.selectedCandidatePairId) now.pair = stats.get(s.selectedCandidatePairId) || now.pair;
    if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") nominated = s;
  });
  now.pair = now.pair || nominated;
  return now;
}

export function figures(before, now) {
  const report = {};
  const pair = now.pair;
  const lost = Math.max(0, now.lost - before.lost); // RTCP counts duplicates as negative loss
  const received = now.received - before.received;
  const seconds = (now.at - before.at) / 1000;
  if (received >= 0 && lost + received > 0) report.loss = Math.min(1, lost / (lost + received));
  if (pair && typeof pair.currentRoundTripTime === "number") report.rtt_s = pair.currentRoundTripTime;
  if (pair && typeof pair.availableIncomingBitrate === "number") report.available_kbps = pair.availableIncomingBitrate / 1000;
  if (seconds > 0 && now.bytes >= before.bytes) report.received_kbps = ((now.bytes - before.bytes) * 8) / 1000 / seconds;
  if (now.decoded >= before.decoded) report.frames_decoded = now.decoded - before.decoded;
  if (now.dropped >= before.dropped) report.frames_dropped = now.dropped - before.dropped;
  return report;
}
