"""The layering is checked by lint-imports (pyproject.toml), and each of its contracts can fail.

lint-imports runs on a copy of the package, so that the probes never appear in the tree the
other tests, ruff and mypy read (docs/architecture.md#layers).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

# contract id -> (a module that breaks it, relative to src/homeroom, and the import it makes)
PROBES = {
    "core": ("core/_probe.py", "homeroom.errors"),
    "backends": ("backends/_probe.py", "homeroom.gate.who"),
    "web": ("web/_probe.py", "homeroom.gate.service"),
    "gate": ("gate/_probe.py", "homeroom.school.for_live"),
    "live": ("live/_probe.py", "homeroom.school.data.models"),
    "school-gate": ("school/api/_probe.py", "homeroom.gate.http"),
    "school-live": ("school/pages/_probe.py", "homeroom.live.hub"),
    "school-packages": ("school/data/_probe.py", "homeroom.school.auth.sessions"),
    "deploy": ("gate/_deploy_probe.py", "homeroom.deploy.topology"),
    "av": ("web/_probe_av.py", "homeroom.av.client"),
    "av-below": ("av/_probe.py", "homeroom.live.hub"),
    "rehearsal": ("rehearsal/_probe.py", "homeroom.live.jointoken"),
    "rehearsal-apart": ("gate/_probe_rehearsal.py", "homeroom.rehearsal.audit"),
}


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports with the repository's contracts over the package copied into `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "200"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(PYPROJECT)],
        capture_output=True,
        text=True,
        cwd=tree,
        env=env,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "src" / "homeroom",
        tmp_path / "homeroom",
        ignore=shutil.ignore_patterns("__pycache__", "static", "templates"),
    )
    return tmp_path


def test_every_contract_has_a_probe() -> None:
    contracts = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
    assert {c["id"] for c in contracts} == set(PROBES)


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    out = lint_imports(tree)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"Contracts: {len(PROBES)} kept, 0 broken." in out.stdout


def test_each_probe_breaks_its_contract(tree: Path) -> None:
    for path, target in PROBES.values():
        (tree / "homeroom" / path).write_text(f'"""probe."""\n\nimport {target}\n')
    out = lint_imports(tree)
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"Contracts: 0 kept, {len(PROBES)} broken." in out.stdout
    for path, target in PROBES.values():
        module = "homeroom." + path.removesuffix(".py").replace("/", ".")
        assert re.search(rf"{re.escape(module)} -> {re.escape(target)}\b", out.stdout), module
