"""`homeroom live` (one process) under cProfile, for `BENCH_LIVE_PROFILE=DIR bench/live_bench.py`.

    python bench/live_profiled.py OUT.prof      # HOMEROOM_* from the environment, as the CLI

The profile is written when the gateway stops (SIGTERM); the bench prints the top entries.
Profiling slows every Python call, so figures measured with it on are not reported as results.
"""

from __future__ import annotations

import cProfile
import sys

from homeroom.config import load_settings
from homeroom.live import process


def main() -> None:
    out = sys.argv[1]
    settings = load_settings()
    profiler = cProfile.Profile()
    try:
        profiler.runcall(process.run, settings)
    finally:
        profiler.dump_stats(out)


if __name__ == "__main__":
    main()
