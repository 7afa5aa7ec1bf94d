"""`homeroom migrate`: the database brought to the head by a command of its own, one process at a
time (docs/operations.md#migrations), and `homeroom run` refusing a database left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeroom.school.data import db
from tests.school.conftest import drop_pg_database, new_pg_database, pg_url

HOMEROOM = [sys.executable, "-m", "homeroom"]
# every test runs `homeroom` as processes of its own (seconds each): the slow tier
pytestmark = pytest.mark.slow


def homeroom(*args: str, url: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "HOMEROOM_DATABASE_URL": url, **env}
    return subprocess.run(
        [*HOMEROOM, *args], env=environ, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'school.db'}"


def test_migrate_brings_a_new_database_to_the_head(sqlite_url: str) -> None:
    assert homeroom("migrate", "--check", url=sqlite_url).returncode == 1
    done = homeroom("migrate", url=sqlite_url)
    assert done.returncode == 0, done.stderr
    assert f"from none to {db.head()}" in done.stdout
    assert db.revision(sqlite_url) == db.head()
    check = homeroom("migrate", "--check", url=sqlite_url)
    assert check.returncode == 0 and "at the head" in check.stdout


def test_run_without_migrating_refuses_a_database_behind(sqlite_url: str) -> None:
    db.upgrade(sqlite_url, "0001")
    refused = homeroom("run", "--port", "0", url=sqlite_url, HOMEROOM_MIGRATE_ON_START="false")
    assert refused.returncode == 2
    assert "at revision 0001" in refused.stderr and "homeroom migrate" in refused.stderr
    assert db.revision(sqlite_url) == "0001"  # left as it was: migrating is the Job's work


@pytest.fixture
def fresh_pg() -> Iterator[str]:
    name = new_pg_database()
    try:
        yield pg_url(name)
    finally:
        drop_pg_database(name)


def test_processes_migrating_at_once_take_turns(fresh_pg: str) -> None:
    """Many processes start at once in a deployment, each migrating at start-up: under the
    advisory lock one migrates and the others find the head; without it, they race on CREATE."""
    environ = {**os.environ, "HOMEROOM_DATABASE_URL": fresh_pg}
    started = [
        subprocess.Popen(
            [*HOMEROOM, "migrate"], env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(6)
    ]
    results = [(p.wait(timeout=120), p.stderr.read().decode()) for p in started if p.stderr]
    assert [code for code, _ in results] == [0] * 6, [err[-800:] for _, err in results]
    assert db.revision(fresh_pg) == db.head()
