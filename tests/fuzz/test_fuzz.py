"""The live input fuzz target (tests/fuzz/live_input.py) under libFuzzer for a bounded time.

atheris needs a process of its own (libFuzzer owns it, and instruments the modules as it
imports them), so the target runs as a subprocess from its seeds (tests/fuzz/seeds.py) for
`SECONDS`. A finding — an exception that breaks an invariant, or an input slower than
`-timeout` — makes libFuzzer stop with a non-zero status and write the input next to the test's
files; the failure shows it, to be added to the seeds once fixed. CONTRIBUTING.md says how to
run the target longer by hand.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz import seeds

pytest.importorskip("atheris")  # built for Linux only (pyproject.toml)

TARGET = Path(__file__).with_name("live_input.py")
ROOT = Path(__file__).resolve().parents[2]
SECONDS = 30


@pytest.mark.slow
@pytest.mark.timeout(SECONDS + 120)
def test_the_frame_and_message_parsers_keep_their_invariants_under_fuzzing(
    tmp_path: Path,
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for n, seed in enumerate(seeds.seeds()):
        (corpus / f"seed-{n}").write_bytes(seed)
    run = subprocess.run(
        [
            sys.executable,
            str(TARGET),
            str(corpus),
            f"-max_total_time={SECONDS}",
            "-max_len=4096",
            "-timeout=5",  # seconds for one input: slower is a finding (a parser gone quadratic)
            "-rss_limit_mb=2048",
            f"-artifact_prefix={tmp_path}/",
            "-print_final_stats=1",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=SECONDS + 90,
    )
    findings = {p.name: p.read_bytes()[:300] for p in tmp_path.iterdir() if p.is_file()}
    assert run.returncode == 0, f"{findings}\n{run.stderr[-5000:]}"
    done = re.search(r"Done (\d+) runs", run.stderr)
    assert done is not None, run.stderr[-2000:]
    assert int(done[1]) > 10_000, run.stderr[-2000:]  # it really ran, from the seeds on
