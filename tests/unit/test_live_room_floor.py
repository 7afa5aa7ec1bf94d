"""The floor and audio moderation in the room: who may publish through Janus (docs/av.md#the-relay)."""

from __future__ import annotations

from homeroom.core.live.commands import FLOOR_MAX
from homeroom.core.live.parts import Role
from homeroom.core.live.room import Room
from tests.unit.test_live_room import Class, kinds

T, P1, P2 = "t1", "p1", "p2"


def in_class(pupils: int = 2) -> Class:
    c = Class(lobby=False)
    c.join(T, Role.TEACHER)
    for n in range(1, pupils + 1):
        c.join(f"p{n}")
    return c


def test_the_teacher_gives_and_takes_the_floor_and_everyone_is_told() -> None:
    c = in_class()
    (given,) = c.ok(T, "floor.give", person=P1, video=False)
    assert (given.kind, given.data) == ("floor.given", {"person": P1, "video": False})
    assert c.receivers(given) == {T, P1, P2}
    assert c.room.snapshot(P2)["floor"] == {P1: {"video": False}}
    # given again with video: the same holder, told again
    assert c.ok(T, "floor.give", person=P1, video=True)[0].data["video"] is True
    (taken,) = c.ok(T, "floor.take", person=P1)
    assert (taken.kind, taken.data) == ("floor.taken", {"person": P1})
    assert c.room.snapshot(T)["floor"] == {}
    assert c.refused(T, "floor.take", person=P1) == "no_floor"


def test_a_pupil_gives_their_own_floor_back_and_takes_nobody_elses() -> None:
    c = in_class()
    c.ok(T, "floor.give", person=P1, video=True)
    c.ok(T, "floor.give", person=P2, video=True)
    assert c.refused(P1, "floor.take", person=P2) == "not_allowed"
    assert c.refused(P1, "floor.give", person=P1, video=True) == "not_allowed"
    assert kinds(c.ok(P1, "floor.take")) == ["floor.taken"]
    assert set(c.room.floor) == {P2}


def test_at_most_three_pupils_hold_the_floor() -> None:
    c = in_class(FLOOR_MAX + 1)
    for n in range(1, FLOOR_MAX + 1):
        c.ok(T, "floor.give", person=f"p{n}", video=False)
    assert c.refused(T, "floor.give", person=f"p{FLOOR_MAX + 1}", video=False) == "floor_full"
    c.ok(T, "floor.give", person=P1, video=True)  # a holder's terms change: not a fourth
    c.ok(P1, "floor.take")
    c.ok(T, "floor.give", person=f"p{FLOOR_MAX + 1}", video=False)


def test_the_floor_goes_to_pupils_in_the_class_only() -> None:
    c = Class(lobby=True)
    c.join(T, Role.TEACHER)
    c.join(P1)  # waits in the lobby
    assert c.refused(T, "floor.give", person=P1, video=True) == "no_such_person"
    assert c.refused(T, "floor.give", person="nobody", video=True) == "no_such_person"
    assert c.refused(T, "floor.give", person=T, video=True) == "no_such_person"
    assert c.refused(P1, "floor.take") == "in_lobby"


def test_leaving_or_being_removed_takes_the_floor() -> None:
    c = in_class()
    c.ok(T, "floor.give", person=P1, video=True)
    c.ok(T, "floor.give", person=P2, video=True)
    left = c.room.leave(P1, 101.0).events
    assert kinds(left) == ["floor.taken", "presence.left"]
    removed = c.ok(T, "mod.remove", person=P2)
    assert kinds(removed) == ["floor.taken", "mod.removed"]
    assert c.room.floor == {}


def test_a_muted_pupil_stays_muted_until_given_the_floor_again() -> None:
    c = in_class()
    c.ok(T, "floor.give", person=P1, video=True)
    (muted,) = c.ok(T, "av.mute", person=P1)
    assert (muted.kind, muted.data) == ("av.muted", {"person": P1})
    assert c.receivers(muted) == {T, P1, P2}
    assert c.room.snapshot(P1)["av"] == {"enabled": False, "muted": [P1]}
    assert P1 in c.room.floor  # muted, not silenced for good: the floor stays
    c.ok(T, "floor.give", person=P1, video=False)
    assert c.room.av_muted == set()
    assert c.refused(P2, "av.mute", person=P1) == "not_allowed"
    assert c.refused(T, "av.mute", person="nobody") == "no_such_person"


def test_a_teacher_muted_is_told_but_not_kept_muted() -> None:
    c = in_class()
    c.join("t2", Role.TEACHER)
    assert kinds(c.ok("t2", "av.mute", person=T)) == ["av.muted"]
    assert c.room.av_muted == set()


def test_the_snapshot_says_whether_audio_and_video_are_offered() -> None:
    room = Room("r", "e", lobby=False, av=True)
    room.join(P1, "P1", Role.PUPIL, 0)
    assert room.snapshot(P1)["av"] == {"enabled": True, "muted": []}
    off = Room("r2", "e", lobby=False)  # the default: no Janus
    off.join(P1, "P1", Role.PUPIL, 0)
    assert off.snapshot(P1)["av"]["enabled"] is False
