"""The build fails when core/ imports I/O: the ruff rule that enforces it is itself tested."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "src" / "homeroom" / "core"
RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")


@pytest.mark.parametrize(
    "line",
    [
        "import asyncio",
        "import time",
        "from random import Random",
        "import socket",
        "import redis.asyncio",
        "from datetime import datetime\nnow = datetime.now()",
    ],
)
def test_an_io_import_in_core_fails_the_lint(line: str) -> None:
    assert RUFF is not None
    probe = CORE / "_probe_sans_io.py"
    probe.write_text(f'"""probe."""\n\n{line}\n')
    try:
        out = subprocess.run(
            [RUFF, "check", "--no-cache", str(probe)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
    finally:
        probe.unlink()
    assert out.returncode == 1
    assert "TID251" in out.stdout


def test_core_is_clean_and_the_same_import_is_allowed_outside_core() -> None:
    assert RUFF is not None
    out = subprocess.run(
        [RUFF, "check", "--no-cache", str(CORE)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout
    runtime = ROOT / "src" / "homeroom" / "gate" / "runtime.py"
    assert "import asyncio" in runtime.read_text()
    out = subprocess.run(
        [RUFF, "check", "--no-cache", "--select", "TID251", str(runtime)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout
