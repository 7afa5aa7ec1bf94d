"""Properties of the room: a cut connection resumes with exactly what it missed; nothing raises."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from homeroom.core.live.parts import Role
from homeroom.core.live.room import Outcome, Room

PEOPLE = ("t", "p1", "p2", "p3")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)

KINDS = st.sampled_from(
    [
        "chat.send",
        "hand.raise",
        "hand.lower",
        "react",
        "poll.open",
        "poll.vote",
        "poll.show",
        "poll.close",
        "board.stroke",
        "mod.mute",
        "breakout.start",
        "breakout.end",
        "slides.open",
        "slides.page",
        "lobby.set",
    ]
)


def message(kind: str, n: int, draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "chat.send": {"text": "hello", "to": draw(st.sampled_from(["all", "teacher"]))},
        "react": {"emoji": "👍"},
        "poll.open": {"question": "q", "choices": ["a", "b"]},
        "poll.vote": {"poll": draw(st.integers(1, 3)), "choices": [draw(st.integers(0, 1))]},
        "poll.show": {"poll": draw(st.integers(1, 3))},
        "poll.close": {"poll": draw(st.integers(1, 3))},
        "board.stroke": {"points": [[0.5, 0.5]], "colour": "#000000", "width": 2},
        "mod.mute": {"person": draw(st.sampled_from(PEOPLE[1:])), "on": draw(st.booleans())},
        "breakout.start": {"groups": 2},
        "slides.open": {"doc": "d", "pages": 3},
        "slides.page": {"page": draw(st.integers(1, 3))},
        "lobby.set": {"on": draw(st.booleans())},
    }.get(kind, {})
    return {"v": 1, "type": kind, "id": f"c{n}", **fields}


@st.composite
def scripts(draw: st.DrawFn) -> list[tuple[str, str, Any]]:
    steps: list[tuple[str, str, Any]] = []
    for n in range(draw(st.integers(1, 40))):
        person = draw(st.sampled_from(PEOPLE))
        action = draw(st.sampled_from(["send", "send", "send", "cut", "back"]))
        payload = message(draw(KINDS), n, draw) if action == "send" else None
        steps.append((action, person, payload))
    return steps


@settings(max_examples=150, deadline=None)
@given(scripts(), st.integers(5, 40))
def test_a_cut_connection_resumes_with_exactly_the_events_it_missed(
    script: list[tuple[str, str, Any]], history: int
) -> None:
    room = Room("r", "e1", lobby=False, history=history)
    received: dict[str, list[int]] = {p: [] for p in PEOPLE}  # what an always-on tab got
    cut_at: dict[str, int] = {}  # the last seq the cut tab had seen

    def deliver(out: Outcome) -> None:
        for event in out.events:
            for p in PEOPLE:
                if room.reaches(event, p):
                    received[p].append(event.seq)

    for person in PEOPLE:  # an always-on tab and a second tab for each
        role = Role.TEACHER if person == "t" else Role.PUPIL
        deliver(room.join(person, person, role, 0))
        deliver(room.join(person, person, role, 0))
    for action, person, payload in script:
        if action == "send":
            deliver(room.handle(person, payload, 1))
        elif action == "cut" and person not in cut_at:
            cut_at[person] = received[person][-1] if received[person] else 0
            deliver(room.leave(person, 1))
        elif action == "back" and person in cut_at:
            last = cut_at.pop(person)
            missed = room.resume(person, "e1", last)
            expected = [s for s in received[person] if s > last]
            if missed is None:  # too far behind: a snapshot instead
                assert last < room.journal.oldest - 1
            else:
                assert [e.seq for e in missed] == expected
            deliver(room.join(person, person, Role.TEACHER if person == "t" else Role.PUPIL, 1))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(PEOPLE), json_values)
def test_nothing_a_client_sends_raises_or_numbers_an_event_when_refused(
    person: str, value: object
) -> None:
    room = Room("r", "e1", lobby=False)
    for p in PEOPLE:
        room.join(p, p, Role.TEACHER if p == "t" else Role.PUPIL, 0)
    seq = room.seq
    out = room.handle(person, value, 1)
    assert len(out.replies) == 1 and out.replies[0]["type"] in ("ack", "error")
    if out.replies[0]["type"] == "error":
        assert out.events == [] and room.seq == seq


def test_another_epoch_or_a_future_sequence_asks_for_a_snapshot() -> None:
    room = Room("r", "e1", lobby=False)
    room.join("t", "T", Role.TEACHER, 0)
    room.join("p1", "P", Role.PUPIL, 0)
    room.handle("p1", {"type": "hand.raise", "id": "x"}, 1)
    assert room.resume("p1", "e1", 0) is not None
    assert room.resume("p1", "e0", 0) is None
    assert room.resume("p1", "e1", room.seq + 1) is None
    assert room.resume("nobody", "e1", 0) is None
