"""The audit of recorded clients finds each way a class can lose or double what was said.

Records are written by hand here, as the recorder would fill them: a clean history passes, and
each fault (a gap, a repeat, a regressed log, a lost message, a message applied twice, a
client left behind, two events under one number) is found, counted and named.
"""

from __future__ import annotations

from homeroom.rehearsal.audit import audit
from homeroom.rehearsal.records import CHAT, Ack, Record

E1, E2 = "ep1", "ep2"


def chat(record: Record, epoch: str, seq: int, text: str) -> None:
    record.event(epoch, seq, CHAT, text)


def sender(name: str, *cids: str, epoch: str = E1, seqs: tuple[int, ...] = ()) -> Record:
    """A client that sent `cids`, each acknowledged at the matching seq of `seqs`."""
    record = Record(name=name, room="r1", person=name)
    record.sent.extend(cids)
    for cid, seq in zip(cids, seqs, strict=False):
        record.acks[cid] = Ack(epoch, seq, False)
    return record


def clean_pair() -> tuple[Record, Record]:
    """Alice says a1 (seq 2) and a2 (seq 4); seq 3 is an event for the teacher only."""
    alice = sender("alice", "alice-1", "alice-2", seqs=(2, 4))
    bob = Record(name="bob", room="r1", person="bob")
    for record in (alice, bob):
        record.snapshot(E1, 1, ())
        chat(record, E1, 2, "alice-1")
        chat(record, E1, 4, "alice-2")
    return alice, bob


def kinds(records: list[Record], *, settled: bool = True) -> dict[str, int]:
    return {k: n for k, n in audit(records, settled=settled).counts.items() if n}


def test_a_clean_history_passes() -> None:
    alice, bob = clean_pair()
    report = audit([alice, bob], settled=True)
    assert report.ok, report.findings
    assert (report.clients, report.events, report.messages) == (2, 4, 2)
    assert report.summary()["lost"] == report.summary()["doubled"] == 0


def test_a_hole_left_by_an_event_for_someone_else_is_not_a_gap() -> None:
    alice, bob = clean_pair()
    teacher = Record(name="teacher", room="r1", person="t")
    teacher.snapshot(E1, 1, ())
    chat(teacher, E1, 2, "alice-1")
    teacher.event(E1, 3, "lobby.waiting")
    chat(teacher, E1, 4, "alice-2")
    assert audit([alice, bob, teacher], settled=True).ok


def test_a_missed_event_is_a_gap() -> None:
    alice, bob = clean_pair()
    bob.timeline = [e for e in bob.timeline if e[2] != 2]  # bob never got seq 2
    report = audit([alice, bob], settled=True)
    assert kinds([alice, bob]) == {"gap": 1}
    assert report.lost == 1 and report.doubled == 0
    assert report.findings[0].client == "bob" and "ep1:2" in report.findings[0].detail


def test_a_gap_is_found_even_when_only_the_ack_numbered_the_message() -> None:
    alice, bob = clean_pair()
    for record in (alice, bob):  # nobody saw seq 4 as an event, but alice's ack numbered it
        record.timeline = [e for e in record.timeline if e[2] != 4]
        chat(record, E1, 5, "later")
    assert kinds([alice, bob]) == {"gap": 2}


def test_an_event_received_twice_is_a_repeat() -> None:
    alice, bob = clean_pair()
    chat(bob, E1, 2, "alice-1")  # replayed from the wrong place after a resume
    report = audit([alice, bob], settled=True)
    assert kinds([alice, bob]) == {"repeat": 1}
    assert report.doubled == 1 and report.lost == 0


def test_a_snapshot_behind_what_was_seen_is_a_regressed_history() -> None:
    alice, bob = clean_pair()
    bob.snapshot(E1, 2, ("alice-1",))  # the log lost seq 3-4 and kept its epoch
    assert kinds([alice, bob])["regressed"] == 1


def test_a_message_sent_and_never_applied_is_lost() -> None:
    alice, bob = clean_pair()
    alice.sent.append("alice-3")
    assert kinds([alice, bob]) == {"lost": 1}


def test_a_message_still_in_the_outbox_is_lost_only_once_the_run_is_settled() -> None:
    alice, bob = clean_pair()
    alice.sent.append("alice-3")
    alice.pending.append("alice-3")
    assert kinds([alice, bob], settled=False) == {}
    assert kinds([alice, bob], settled=True) == {"lost": 1}


def test_a_refused_message_is_neither_lost_nor_applied() -> None:
    alice, bob = clean_pair()
    alice.sent.append("alice-3")
    alice.refused["alice-3"] = "muted"
    assert kinds([alice, bob]) == {}


def test_a_message_applied_twice_is_doubled() -> None:
    alice, bob = clean_pair()
    for record in (alice, bob):  # a resend numbered again instead of acknowledged as a duplicate
        chat(record, E1, 5, "alice-2")
    report = audit([alice, bob], settled=True)
    assert kinds([alice, bob]) == {"doubled": 1}
    assert "ep1:4, ep1:5" in report.findings[0].detail


def test_a_message_applied_in_two_epochs_is_doubled() -> None:
    alice, bob = clean_pair()
    for record in (alice, bob):
        record.snapshot(E2, 0, ())
        chat(record, E2, 1, "alice-2")
    assert kinds([alice, bob]) == {"doubled": 1}


def test_a_message_shown_only_in_a_snapshot_is_not_lost() -> None:
    alice = sender("alice", "alice-1")  # its ack was lost with the connection
    bob = Record(name="bob", room="r1", person="bob")
    bob.snapshot(E1, 7, ("alice-1",))
    assert kinds([alice, bob], settled=False) == {}


def test_a_client_that_never_caught_up_is_behind_once_settled() -> None:
    alice, bob = clean_pair()
    bob.timeline.pop()  # bob stopped at seq 2
    assert kinds([alice, bob], settled=False) == {}
    assert kinds([alice, bob], settled=True) == {"behind": 1}


def test_a_client_left_in_an_old_epoch_is_behind() -> None:
    alice, bob = clean_pair()
    alice.snapshot(E2, 0, ())
    chat(alice, E2, 1, "news")
    assert kinds([alice, bob]) == {"behind": 1}


def test_two_events_under_one_number_are_a_conflict() -> None:
    alice, bob = clean_pair()
    bob.timeline[-1] = (*bob.timeline[-1][:4], "something else")
    assert kinds([alice, bob])["conflict"] == 1


def test_an_event_of_an_epoch_without_its_snapshot_is_a_gap() -> None:
    alice, bob = clean_pair()
    chat(bob, E2, 1, "news")  # the snapshot of the new epoch never came
    assert kinds([alice, bob], settled=False) == {"gap": 1}


def test_rooms_are_audited_apart() -> None:
    alice, bob = clean_pair()
    other = Record(name="carol", room="r2", person="carol")
    other.snapshot(E1, 1, ())  # same epoch name, another room: nothing of r1 is hers
    assert kinds([alice, bob, other]) == {}


def test_a_record_survives_its_json() -> None:
    alice, _ = clean_pair()
    alice.snapshot(E1, 4, ("alice-1", "alice-2"))
    alice.refused["x"] = "muted"
    alice.opened.append(1.5)
    alice.closes.append((2.5, 1006))
    assert Record.from_json(alice.to_json()) == alice
