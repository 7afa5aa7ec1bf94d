// The figures a watching page reports for the ladder, from getStats (docs/av.md#the-page).
//
// `reading` adds up one getStats report; `figures` makes the `av.stats` fields from two
// readings: deltas since the previous one, a figure left out when unknown, never sent as 0.

export function reading(stats) {
  const now = { lost: 0, received: 0, bytes: 0, decoded: 0, dropped: 0, at: performance.now(), pair: null };
  let nominated = null;
  stats.forEach((s) => {
    if (s.type === "inbound-rtp") {
      now.lost += s.packetsLost || 0;
      now.received += s.packetsReceived || 0;
      now.bytes += s.bytesReceived || 0;
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
