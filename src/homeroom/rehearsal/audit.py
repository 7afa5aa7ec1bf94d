"""The exactly-once audit of recorded live clients: no gap, no repeat, each message applied once (docs/architecture.md#the-recorder).

Pure: records in (rehearsal/records.py, possibly from several processes), a `Report` out.

What it checks, room by room:

- **One room, one history.** Every client that saw an (epoch, seq) saw the same event; two
  texts under one number are a `conflict`.
- **Per client, within an epoch, no repeat**: a numbered event at or below the last one it got in
  that epoch (a replay from the wrong place) is a `repeat`; a snapshot of the same epoch below
  what it already saw is a `regressed` history (a log that lost its tail but kept its epoch).
- **Per client, within an epoch, no gap**: a client is current from each snapshot it takes (the
  events before are in the snapshot) to the last event it got; every event for the whole class
  (a chat message to all) that the room numbered inside that stretch must have reached it.
  Sequence numbers are the room's, and events for others (the teacher's lobby, a private
  message) leave holes that are not gaps, so only events for everyone are required. When the run
  is `settled` (every client joined, outboxes empty), each client must also have reached the
  last such event of its room's last epoch: `behind` otherwise.
- **Each message sent applied exactly once**: the room numbered it once (`doubled` when it holds
  it under two numbers, in one epoch or across epochs), and it was numbered at all (`lost`: sent,
  never refused, and no client saw it, not even its acknowledgement). Its sender sees it too, by
  the gap rule. A message still in an outbox when the run is settled is `lost` as well.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from homeroom.rehearsal.records import CHAT, EVENT, Record

KINDS = ("gap", "repeat", "regressed", "behind", "conflict", "lost", "doubled")
LOST_KINDS = frozenset({"gap", "behind", "lost", "regressed"})
DOUBLED_KINDS = frozenset({"repeat", "doubled", "conflict"})
SHOWN = 50  # findings kept in a report (the counts are complete)


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # one of KINDS
    client: str  # the client's name, or the room for a room's finding
    detail: str


@dataclass(slots=True)
class Report:
    clients: int = 0
    events: int = 0  # numbered events received, every client
    messages: int = 0  # messages sent, every client
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    findings: list[Finding] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return sum(n for kind, n in self.counts.items() if kind in LOST_KINDS)

    @property
    def doubled(self) -> int:
        return sum(n for kind, n in self.counts.items() if kind in DOUBLED_KINDS)

    @property
    def ok(self) -> bool:
        return not any(self.counts.values())

    def add(self, kind: str, client: str, detail: str) -> None:
        self.counts[kind] += 1
        if len(self.findings) < SHOWN:
            self.findings.append(Finding(kind, client, detail))

    def summary(self) -> dict[str, object]:
        return {
            "clients": self.clients,
            "events": self.events,
            "messages": self.messages,
            "lost": self.lost,
            "doubled": self.doubled,
            **self.counts,
        }


@dataclass(slots=True)
class _Room:
    # (epoch, seq) -> chat text ("" for an event not for everyone) as the clients saw it
    numbered: dict[tuple[str, int], str] = field(default_factory=dict)
    everyone: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    epochs: list[str] = field(default_factory=list)  # in the order first seen
    texts: dict[str, set[tuple[str, int]]] = field(default_factory=lambda: defaultdict(set))


def audit(records: Iterable[Record], *, settled: bool = False) -> Report:
    """Check every record against its room's history; see the module's docstring."""
    report = Report()
    by_room: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_room[record.room].append(record)
        report.clients += 1
        report.messages += len(record.sent)
    for room_id, members in sorted(by_room.items()):
        room = _history(room_id, members, report)
        for record in members:
            _client(record, room, report, settled=settled)
        _messages(members, room, report, settled=settled)
    return report


def _history(room_id: str, members: list[Record], report: Report) -> _Room:
    room = _Room()

    def number(epoch: str, seq: int, text: str, everyone: bool) -> None:
        if epoch not in room.everyone:
            room.epochs.append(epoch)
            room.everyone[epoch] = set()
        known = room.numbered.setdefault((epoch, seq), text)
        if known != text:
            report.add("conflict", room_id, f"{epoch}:{seq} is {known!r} and {text!r}")
        if everyone:
            room.everyone[epoch].add(seq)
            room.texts[text].add((epoch, seq))

    for record in members:
        for entry in record.timeline:
            if entry[0] == EVENT:
                report.events += 1
                everyone = entry[3] == CHAT
                number(entry[1], entry[2], entry[4] if everyone else "", everyone)
    for record in members:  # an acknowledged message was numbered, even if nobody saw it
        for cid, ack in record.acks.items():
            if not ack.duplicate and ack.epoch:
                number(ack.epoch, ack.seq, cid, True)
    return room


def _client(record: Record, room: _Room, report: Report, *, settled: bool) -> None:
    last: dict[str, int] = {}  # epoch -> the highest seq this client is current at
    current: str | None = None
    for entry in record.timeline:
        kind, epoch, seq = entry[0], entry[1], entry[2]
        if kind != EVENT:  # a snapshot: current at `seq`, what came before is in it
            if epoch in last and seq < last[epoch]:
                report.add("regressed", record.name, f"snapshot {epoch}:{seq} after {last[epoch]}")
            current, last[epoch] = epoch, seq
            continue
        if epoch != current:
            report.add("gap", record.name, f"event {epoch}:{seq} without a snapshot of its epoch")
            continue
        before = last[epoch]
        if seq <= before:
            report.add("repeat", record.name, f"event {epoch}:{seq} after {before}")
            continue
        _missed(record, room, epoch, before, seq - 1, report)
        last[epoch] = seq
    if settled and not record.stopped and room.epochs:
        final = room.epochs[-1]
        top = max(room.everyone[final], default=0)
        if current != final:
            report.add("behind", record.name, f"never reached epoch {final}")
        elif last[final] < top:
            _missed(record, room, final, last[final], top, report, kind="behind")


def _missed(
    record: Record,
    room: _Room,
    epoch: str,
    after: int,
    upto: int,
    report: Report,
    kind: str = "gap",
) -> None:
    """Every event for everyone numbered in (after, upto] is one this client missed."""
    if upto <= after:
        return
    for seq in sorted(s for s in room.everyone[epoch] if after < s <= upto):
        report.add(kind, record.name, f"missed {epoch}:{seq} {room.numbered[(epoch, seq)]!r}")


def _messages(members: list[Record], room: _Room, report: Report, *, settled: bool) -> None:
    in_snapshots: set[str] = set()
    for record in members:
        for entry in record.timeline:
            if entry[0] != EVENT:
                in_snapshots.update(entry[3])
    for record in members:
        for cid in record.sent:
            if cid in record.refused:
                continue  # the room said no, and the sender knows
            numbered = room.texts.get(cid, set())
            if len(numbered) > 1:
                places = ", ".join(f"{e}:{s}" for e, s in sorted(numbered))
                report.add("doubled", record.name, f"{cid} applied as {places}")
            elif (
                not numbered and cid not in in_snapshots and (settled or cid not in record.pending)
            ):
                report.add("lost", record.name, f"{cid} never applied")
