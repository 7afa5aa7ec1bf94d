"""Test-suite wide settings: the order of the layers."""

from __future__ import annotations

import pytest

LAYER_ORDER = ("unit", "service", "school", "live", "fuzz", "contract", "e2e", "av", "browser")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fast layers first; the browser last (its sync driver owns an event loop while it runs)."""

    def layer(item: pytest.Item) -> int:
        parts = item.path.parts
        for i, name in enumerate(LAYER_ORDER):
            if name in parts:
                return i
        return len(LAYER_ORDER)

    items.sort(key=layer)
