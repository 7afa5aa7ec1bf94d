"""heap.settle: what is alive at start is set aside from the collector; what comes after is not."""

from __future__ import annotations

import gc
import weakref

from homeroom import heap


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_settle_freezes_the_started_heap_and_collects_what_comes_after() -> None:
    before = cycle()  # garbage already: collected by settle, not frozen
    try:
        frozen = heap.settle()
        assert before() is None
        assert frozen == gc.get_freeze_count() > 1000
        after = cycle()
        gc.collect()
        assert after() is None  # a cycle made after settling is collected as usual
    finally:
        gc.unfreeze()
