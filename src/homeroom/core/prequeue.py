"""A keyed random order for everyone who arrived before a scheduled opening (docs/gate.md#pre-queue).

Pre-queue tickets are numbered 1..n in order of arrival. At opening the count n is frozen and the
rank of number k is perm(k − 1) + 1, where perm is a keyed pseudo-random permutation of [0, n): a
balanced Feistel network over the smallest even number of bits that holds n, with cycle walking
to stay inside [0, n). Nothing is stored per person, and nobody can predict or choose a rank
without the event key.
"""

from __future__ import annotations

import hmac

ROUNDS = 6


def event_key(master: bytes, gate_id: str, opening_at: int) -> bytes:
    """The key of one opening: a new order for every scheduled opening."""
    return hmac.digest(master, f"prequeue:{gate_id}:{opening_at}".encode(), "sha256")


def _round(key: bytes, rnd: int, half: int, bits: int) -> int:
    mac = hmac.digest(key, rnd.to_bytes(1, "big") + half.to_bytes(8, "big"), "sha256")
    return int.from_bytes(mac[:8], "big") & ((1 << bits) - 1)


def _feistel(key: bytes, x: int, half_bits: int) -> int:
    mask = (1 << half_bits) - 1
    left, right = x >> half_bits, x & mask
    for rnd in range(ROUNDS):
        left, right = right, left ^ _round(key, rnd, right, half_bits)
    return (left << half_bits) | right


def permute(key: bytes, index: int, n: int) -> int:
    """The image of `index` in a keyed permutation of [0, n)."""
    if not 0 <= index < n:
        raise ValueError("index outside [0, n)")
    if n == 1:
        return 0
    bits = max(2, (n - 1).bit_length())
    bits += bits % 2
    x = index
    while True:  # cycle walking: at most a few steps, since 2^bits < 4n
        x = _feistel(key, x, bits // 2)
        if x < n:
            return x


def rank(key: bytes, number: int, n: int) -> int:
    """Rank (1-based) at opening of pre-queue number `number` (1-based) among `n`."""
    return permute(key, number - 1, n) + 1
