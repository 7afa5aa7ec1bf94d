"""The door's policy: heads per address block, deadlines, idle connections first under pressure
(core/door.py, docs/server.md)."""

from __future__ import annotations

import resource

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homeroom.config import ConfigError, load_settings
from homeroom.core.blocks import address_block
from homeroom.core.door import Door, DoorLimits, Phase, Refusal
from homeroom.door import limits_of

A, B = "192.0.2.0/24", "198.51.100.0/24"


def door(**limits: float) -> Door[str]:
    return Door(DoorLimits(**limits))  # type: ignore[arg-type]


def test_a_connection_goes_head_busy_idle_and_head_again():
    d = door()
    assert d.arrive("c", A, now=0).refused is None
    assert d.phase("c") is Phase.HEAD and d.heads_of(A) == 1
    d.done("c")
    assert d.phase("c") is Phase.BUSY and d.heads_of(A) == 0
    d.rest("c")
    assert d.phase("c") is Phase.IDLE and d.idle == 1
    d.begin("c", now=3)
    assert d.phase("c") is Phase.HEAD and d.idle == 0 and d.heads_of(A) == 1
    d.leave("c")
    assert d.phase("c") is None
    assert (d.connections, d.heads, d.idle, d.heads_of(A)) == (0, 0, 0, 0)


def test_a_settled_connection_is_counted_not_watched():
    d = door(files=10, high_water=0.5)
    d.arrive("ws", A, now=0)
    d.settle("ws")  # an open WebSocket
    assert d.phase("ws") is None and (d.connections, d.heads, d.heads_of(A)) == (1, 0, 0)
    assert d.overdue(now=1_000) == []
    assert d.files_in_use == 1
    for i in range(4):
        d.arrive(f"h{i}", A, now=0)
    assert d.arrive("h4", A, now=0).refused is Refusal.FILES  # it still takes a file
    d.unsettle()
    assert d.arrive("h5", A, now=0).refused is None


def test_a_block_may_hold_per_block_unfinished_heads_and_no_more():
    d = door(per_block=3)
    assert [d.arrive(f"a{i}", A, now=0).refused for i in range(3)] == [None] * 3
    assert d.arrive("a3", A, now=0).refused is Refusal.BLOCK
    assert d.phase("a3") is None  # refused: not tracked
    assert d.arrive("b0", B, now=0).refused is None  # another block is not concerned
    d.done("a0")  # a finished head frees its place
    assert d.arrive("a4", A, now=0).refused is None
    assert d.refused == {Refusal.BLOCK: 1}


def test_heads_on_kept_alive_connections_count_too():
    d = door(per_block=2)
    for key in ("a0", "a1"):
        d.arrive(key, A, now=0)
        d.done(key)
        d.rest(key)
    d.begin("a0", now=1)
    d.begin("a1", now=1)
    assert d.arrive("a2", A, now=1).refused is Refusal.BLOCK


def test_no_limit_per_block_when_it_is_zero():
    d = door(per_block=0)
    assert all(d.arrive(i, A, now=0).refused is None for i in map(str, range(5_000)))


def test_heads_past_their_deadline_are_overdue_once_and_in_order():
    d = door(head_s=10)
    d.arrive("early", A, now=0)
    d.arrive("later", A, now=4)
    d.arrive("done", A, now=1)
    d.done("done")
    assert d.overdue(now=9.9) == []
    assert d.overdue(now=10) == ["early"]
    assert d.phase("early") is Phase.CLOSING and d.heads_of(A) == 1
    assert d.overdue(now=13.9) == []  # not twice
    assert d.overdue(now=100) == ["later"]
    assert d.refused == {Refusal.LATE: 2}
    d.leave("early")
    d.leave("later")
    assert d.connections == 1  # "done" is still busy: its deadline was its head's only


def test_a_later_request_on_a_kept_alive_connection_has_a_deadline_from_its_first_byte():
    d = door(head_s=10)
    d.arrive("c", A, now=0)
    d.done("c")
    d.rest("c")
    d.begin("c", now=50)
    assert d.overdue(now=59) == []
    assert d.overdue(now=60) == ["c"]


def test_a_head_begun_while_busy_has_its_deadline_and_the_answer_does_not_make_it_idle():
    d = door(head_s=10)
    d.arrive("c", A, now=0)
    d.done("c")
    d.begin("c", now=1)  # a pipelined request's head, while the first one is answered
    d.rest("c")  # the first answer sent: the connection is not idle, a head is on its way
    assert d.phase("c") is Phase.HEAD
    assert d.overdue(now=11) == ["c"]


def full(files: int = 10, besides: int = 2) -> Door[str]:
    """A door at its high-water mark (8 of 10 files): two besides, six connections, the first
    four of them idle, in the order i3, i0, i1, i2."""
    d = door(files=files, high_water=0.8)
    for i in range(6):
        d.arrive(f"i{i}", A, now=i)
        d.done(f"i{i}")
    for key in ("i3", "i0", "i1", "i2"):
        d.rest(key)
    d.files_besides = besides
    assert d.files_in_use == 6 + besides
    return d


def test_at_the_high_water_mark_the_oldest_idle_connection_goes_first():
    d = full()
    admission = d.arrive("new", B, now=10)
    assert admission.refused is None and admission.shed == ("i3",)
    assert d.phase("i3") is Phase.CLOSING and d.shed_idle == 1
    second = d.arrive("new2", B, now=10)  # i3 is closing: its file counts as free
    assert second.shed == ("i0",)


def test_above_the_high_water_mark_with_nothing_idle_new_connections_are_refused():
    d = full()
    for i in range(4):
        assert d.arrive(f"n{i}", B, now=10).refused is None
    assert d.idle == 0
    refused = d.arrive("n4", B, now=10)
    assert refused.refused is Refusal.FILES and refused.shed == ()
    assert d.refused == {Refusal.FILES: 1}
    d.leave("i3")  # a closing connection gone changes nothing: its file was counted free
    assert d.arrive("n5", B, now=10).refused is Refusal.FILES
    d.leave("i4")  # a busy one gone frees a file
    assert d.arrive("n6", B, now=10).refused is None


def test_files_besides_connections_count_towards_the_mark():
    d = full(besides=3)  # one file over the mark already: the first arrival sheds two
    assert d.arrive("new", B, now=10).shed == ("i3", "i0")


def test_address_blocks_are_v4_slash_24_and_v6_slash_64():
    assert address_block("127.5.5.5") == "127.5.5.0/24"
    assert address_block("127.0.0.1") == address_block("127.0.0.5")
    assert address_block("::ffff:192.0.2.7") == "192.0.2.0/24"
    assert address_block("2001:db8:1:2:3::4") == "2001:db8:1:2::/64"
    assert address_block("not an address") == address_block(None) == "unknown"


def test_a_kept_alive_connection_beginning_a_head_is_held_to_its_blocks_limit():
    d = door(head_s=3, per_block=1, files=100, high_water=0.75)
    assert d.arrive("c0", "b0", now=0).refused is None
    d.done("c0")
    d.rest("c0")  # idle between requests: no head counted
    assert d.arrive("c1", "b0", now=1).refused is None  # the block's one unfinished head
    assert d.begin("c0", now=2) is Refusal.BLOCK  # c0's next head would be the second
    assert d.phase("c0") is Phase.CLOSING and d.heads_of("b0") == 1
    assert d.refused[Refusal.BLOCK] == 1
    d.done("c1")  # c1's head is whole: the block has room again
    assert d.arrive("c2", "b0", now=3).refused is None
    d.done("c2")
    assert d.begin("c2", now=4) is None and d.heads_of("b0") == 1  # its own next head is fine


OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["arrive", "begin", "done", "rest", "leave", "overdue", "settle"]),
        st.integers(0, 11),  # connection
        st.integers(0, 2),  # block
        st.floats(0, 5),  # time step
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(OPERATIONS, st.integers(0, 4), st.integers(4, 20))
def test_the_counts_always_agree_with_the_phases(ops, per_block, files):
    d = door(head_s=3, per_block=per_block, files=files, high_water=0.75)
    now, settled = 0.0, 0
    for op, n, b, step in ops:
        now += step
        key, block = f"c{n}", f"b{b}"
        if op == "arrive" and d.phase(key) is None:
            admission = d.arrive(key, block, now)
            assert all(d.phase(k) is Phase.CLOSING for k in admission.shed)
            if admission.refused is None:  # an admission never takes the door above its mark
                assert d.files_in_use <= d.limits.files_high
        elif op == "overdue":
            assert all(d.phase(k) is Phase.CLOSING for k in d.overdue(now))
        elif op == "settle":
            settled += d.phase(key) is Phase.HEAD
            d.settle(key)
        elif op != "arrive":
            getattr(d, op)(key, now) if op == "begin" else getattr(d, op)(key)
        phases = {k: d.phase(k) for k in (f"c{i}" for i in range(12)) if d.phase(k)}
        heads = [k for k, p in phases.items() if p is Phase.HEAD]
        assert d.heads == len(heads) and d.connections == len(phases) + settled
        assert d.idle == sum(p is Phase.IDLE for p in phases.values())
        if per_block:
            assert all(d.heads_of(f"b{i}") <= per_block for i in range(3))
        assert sum(d.heads_of(f"b{i}") for i in range(3)) == len(heads)
        closing = sum(p is Phase.CLOSING for p in phases.values())
        assert d.files_in_use == len(phases) + settled - closing


def test_the_doors_settings_are_checked_and_reach_its_limits():
    limits = limits_of(load_settings(head_timeout_s=4, heads_per_block=0, files_high_water=0.5))
    assert (limits.head_s, limits.per_block, limits.high_water) == (4, 0, 0.5)
    assert limits.files == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    for key, bad in (("files_high_water", 1.5), ("head_timeout_s", 0), ("heads_per_block", -1)):
        with pytest.raises(ConfigError, match=f"HOMEROOM_{key.upper()}"):
            load_settings(**{key: bad})
