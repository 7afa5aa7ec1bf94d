"""Test-suite wide settings: the order of the layers, and which slow tests may run side by side."""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).parent

LAYER_ORDER = ("unit", "service", "school", "live", "fuzz", "contract", "e2e", "av", "browser")
# Layers whose slow tests share nothing with each other: each makes its own database, key prefix,
# Redis or Redis Cluster on free ports, and starts no process pinned to a core. Any other layer's
# (a new one too) is marked `alone` and runs in the slow tier's one-process part.
SIDE_BY_SIDE = frozenset({"unit", "service", "school", "live", "fuzz", "contract"})


def layer_of(item: pytest.Item) -> str | None:
    """The folder under tests/ that holds the test (None: another, or none)."""
    if not item.path.is_relative_to(TESTS):
        return None
    top = item.path.relative_to(TESTS).parts[0]
    return top if top in LAYER_ORDER else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fast layers first; the browser last (its sync driver owns an event loop while it runs)."""
    order = {name: i for i, name in enumerate(LAYER_ORDER)}
    for item in items:
        if layer_of(item) not in SIDE_BY_SIDE:
            item.add_marker(pytest.mark.alone)
    items.sort(key=lambda item: order.get(layer_of(item) or "", len(LAYER_ORDER)))
