"""What every `make bench-*` script shares: its named steps, and one JSON object a figure."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Step = Callable[[], None]


class Steps:
    """The steps of one bench script, in the order they are declared; run by name or all."""

    def __init__(self) -> None:
        self.known: dict[str, Step] = {}

    def __call__(self, name: str) -> Callable[[Step], Step]:
        def register(function: Step) -> Step:
            self.known[name] = function
            return function

        return register

    def run(self, names: Sequence[str]) -> int:
        """Run `names` (every step when empty); 2 and nothing run when one is unknown."""
        chosen = list(names) or list(self.known)
        unknown = [name for name in chosen if name not in self.known]
        if unknown:
            known = ", ".join(self.known)
            print(f"unknown step(s): {', '.join(unknown)}; known: {known}", file=sys.stderr)
            return 2
        for name in chosen:
            self.known[name]()
        return 0


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    """One figure as a JSON line on stdout, flushed at once."""
    print(
        json.dumps({"metric": metric, "value": round(value, 4), "unit": unit, **extra}), flush=True
    )


def process_cpu_s(pid: int) -> float:
    """User and system CPU seconds of a process and its descendants so far (Linux /proc): a
    server that runs its workers as child processes (granian) is counted whole."""
    proc = Path(f"/proc/{pid}")
    fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for task in (proc / "task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(FileNotFoundError):  # ended between the two reads
                total += process_cpu_s(int(child))
    return total
