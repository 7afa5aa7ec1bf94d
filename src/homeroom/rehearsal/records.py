"""What one recorded live client saw and sent, kept small and written as JSON (docs/architecture.md#the-recorder).

A `Record` is filled by `homeroom.rehearsal.recorder` and read by `homeroom.rehearsal.audit`,
possibly in another process: `to_json` / `from_json` carry it over. Its timeline holds, in the
order they arrived, every snapshot (epoch, seq, the chat texts it lists) and every numbered event
(epoch, seq, type, and for a chat message to the whole class its text, which for a recorded
client's own message is its client id).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SNAPSHOT = "s"
EVENT = "e"
CHAT = "chat"  # the type recorded for a chat message to the whole class ("chat.message", to all)

# (SNAPSHOT, epoch, seq, chat texts) or (EVENT, epoch, seq, type, chat text or "")
Entry = tuple[Any, ...]


@dataclass(slots=True)
class Ack:
    epoch: str
    seq: int
    duplicate: bool


@dataclass(slots=True)
class Record:
    """One client: who, where, and everything it saw and sent."""

    name: str
    room: str
    person: str
    timeline: list[Entry] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)  # client ids, in the order first sent
    acks: dict[str, Ack] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # client id -> the room's error word
    opened: list[float] = field(default_factory=list)  # time.monotonic() of each open (101)
    closes: list[tuple[float, int]] = field(default_factory=list)  # (when, close code)
    stopped: str = ""  # why it stopped for good (a stop code's word), else ""
    pending: list[str] = field(default_factory=list)  # its outbox when the record was taken

    def snapshot(self, epoch: str, seq: int, texts: tuple[str, ...]) -> None:
        self.timeline.append((SNAPSHOT, epoch, seq, texts))

    def event(self, epoch: str, seq: int, kind: str, text: str = "") -> None:
        self.timeline.append((EVENT, epoch, seq, kind, text))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "room": self.room,
            "person": self.person,
            "timeline": [
                [*e[:3], list(e[3])] if e[0] == SNAPSHOT else list(e) for e in self.timeline
            ],
            "sent": self.sent,
            "acks": {cid: [a.epoch, a.seq, a.duplicate] for cid, a in self.acks.items()},
            "refused": self.refused,
            "opened": self.opened,
            "closes": self.closes,
            "stopped": self.stopped,
            "pending": self.pending,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Record:
        timeline: list[Entry] = []
        for e in data["timeline"]:
            if e[0] == SNAPSHOT:
                timeline.append((SNAPSHOT, e[1], int(e[2]), tuple(e[3])))
            else:
                timeline.append((EVENT, e[1], int(e[2]), e[3], e[4]))
        return cls(
            name=data["name"],
            room=data["room"],
            person=data["person"],
            timeline=timeline,
            sent=list(data["sent"]),
            acks={cid: Ack(a[0], int(a[1]), bool(a[2])) for cid, a in data["acks"].items()},
            refused=dict(data.get("refused", {})),
            opened=[float(t) for t in data.get("opened", [])],
            closes=[(float(t), int(c)) for t, c in data.get("closes", [])],
            stopped=data.get("stopped", ""),
            pending=list(data.get("pending", [])),
        )
