"""The keyed random order of a scheduled opening's pre-queue (docs/gate.md#pre-queue)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homeroom.core.prequeue import event_key, permute, rank

KEY = event_key(b"m" * 32, "gate", 1_700_000_000)


def test_permute_is_a_bijection_for_every_n_up_to_300():
    for n in range(1, 301):
        assert sorted(permute(KEY, i, n) for i in range(n)) == list(range(n)), n


@settings(max_examples=6, deadline=None)
@given(n=st.integers(min_value=301, max_value=5_000), key=st.binary(min_size=32, max_size=32))
def test_permute_is_a_bijection_for_larger_n(n, key):
    assert sorted(permute(key, i, n) for i in range(n)) == list(range(n))


@pytest.mark.parametrize("n", [2**8, 2**8 + 1, 2**10 - 1, 2**12])
def test_permute_is_a_bijection_at_powers_of_two(n):
    assert sorted(permute(KEY, i, n) for i in range(n)) == list(range(n))


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=10, max_value=200),
    keys=st.lists(st.binary(min_size=16, max_size=32), min_size=2, max_size=2, unique=True),
)
def test_order_depends_on_the_key(n, keys):
    a, b = keys
    assert [permute(a, i, n) for i in range(n)] != [permute(b, i, n) for i in range(n)]


def test_order_is_not_the_arrival_order():
    n = 1_000
    order = [permute(KEY, i, n) for i in range(n)]
    fixed = sum(1 for i, x in enumerate(order) if i == x)
    assert fixed < 10  # a random permutation has about one fixed point
    early = sum(1 for x in order[:100] if x < 100)
    assert early < 30  # the first arrivals are not kept at the front (about 10 expected)


def test_permute_is_deterministic():
    assert [permute(KEY, i, 77) for i in range(77)] == [permute(KEY, i, 77) for i in range(77)]


@pytest.mark.parametrize("n", [1, 2, 3, 10, 97])
def test_rank_is_one_based(n):
    ranks = [rank(KEY, number, n) for number in range(1, n + 1)]
    assert sorted(ranks) == list(range(1, n + 1))
    assert all(rank(KEY, k, n) == permute(KEY, k - 1, n) + 1 for k in range(1, n + 1))


@pytest.mark.parametrize("index, n", [(-1, 5), (5, 5), (0, 0), (1, 1)])
def test_permute_refuses_an_index_outside_the_range(index, n):
    with pytest.raises(ValueError):
        permute(KEY, index, n)


@pytest.mark.parametrize("number", [0, 11])
def test_rank_refuses_a_number_outside_1_to_n(number):
    with pytest.raises(ValueError):
        rank(KEY, number, 10)


def test_event_key_differs_per_opening_and_gate():
    master = b"m" * 32
    keys = {
        event_key(master, "gate", 1),
        event_key(master, "gate", 2),
        event_key(master, "other", 1),
        event_key(b"n" * 32, "gate", 1),
    }
    assert len(keys) == 4
    assert event_key(master, "gate", 1) == event_key(master, "gate", 1)
