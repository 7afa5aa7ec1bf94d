"""The school database through a real PgBouncer 1.18 in transaction mode (docs/operations.md#pgbouncer-and-the-pools).

PgBouncer as `make cluster` runs it (homeroom.deploy.pgbouncer), with two server connections
for many clients: with HOMEROOM_DATABASE_PGBOUNCER's options, migrations and many concurrent
transactions of several processes' engines all succeed; with asyncpg's defaults the same load
fails on prepared statements, which is why the setting exists.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from homeroom.deploy import cluster, pgbouncer
from homeroom.deploy.topology import Topology, plan
from homeroom.school.data import db
from tests.gate_process import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
CLIENTS = 6  # engines, as if six processes
ROUNDS = 40  # transactions each, two statements per transaction


@pytest.fixture(scope="module")
def bouncer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    subprocess.run([str(ROOT / "scripts" / "need"), "pgbouncer"], check=True, timeout=300)
    if not pgbouncer.postgres_answers():
        pytest.fail("PostgreSQL does not answer on 127.0.0.1:5432 (make services)")
    folder = tmp_path_factory.mktemp("pgbouncer")
    t = plan(folder, "loopback", cluster.port_allocator(), nodes=1)
    t.save()
    pgbouncer.create_database(t)
    try:
        pgbouncer.prepare(t, server_pool=2)  # two server connections: clients share them
        cluster.spawn(t, "pgbouncer", pgbouncer.argv(t))
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", t.pgbouncer_port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield t
    finally:
        cluster.stop(t, ["pgbouncer"])
        pgbouncer.drop_database(t)
        shutil.rmtree(pgbouncer.folder(t), ignore_errors=True)


async def load(url: str, pgbouncer_mode: bool) -> list[BaseException]:
    """CLIENTS engines, each ROUNDS transactions at once with the others; the errors met."""
    engines = [
        db.engine_for(url, pool_size=2, max_overflow=0, pgbouncer=pgbouncer_mode)
        for _ in range(CLIENTS)
    ]
    errors: list[BaseException] = []

    async def client(index: int) -> None:
        engine = engines[index]
        for n in range(ROUNDS):
            try:
                async with engine.begin() as conn:
                    await conn.execute(
                        text("INSERT INTO probe (who, n) VALUES (:who, :n)"), {"who": index, "n": n}
                    )
                    total = await conn.scalar(
                        text("SELECT count(*) FROM probe WHERE who = :who"), {"who": index}
                    )
                    assert total == n + 1
            except DBAPIError as exc:
                errors.append(exc)

    try:
        await asyncio.gather(*(client(i) for i in range(CLIENTS)))
    finally:
        for engine in engines:
            await engine.dispose()
    return errors


async def table(url: str) -> None:
    engine = db.engine_for(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS probe"))
            await conn.execute(text("CREATE TABLE probe (who int, n int)"))
    finally:
        await engine.dispose()


def url_of(t: Topology) -> str:
    return f"postgresql+asyncpg://postgres@127.0.0.1:{t.pgbouncer_port}/{t.database}"


def test_migrations_and_concurrent_transactions_pass_through_pgbouncer(bouncer: Topology) -> None:
    url = url_of(bouncer)
    db.upgrade(url, pgbouncer=True)  # what `homeroom run` does at start-up, through PgBouncer
    asyncio.run(table(bouncer.direct_database_url))
    errors = asyncio.run(load(url, pgbouncer_mode=True))
    assert errors == []


def test_without_the_setting_prepared_statements_break_behind_pgbouncer(bouncer: Topology) -> None:
    asyncio.run(table(bouncer.direct_database_url))
    errors = asyncio.run(load(url_of(bouncer), pgbouncer_mode=False))
    assert errors, "asyncpg's defaults passed through PgBouncer: is it still in transaction mode?"
    assert any("prepared statement" in str(e) for e in errors), errors[:3]


def test_the_folder_is_pgbouncers_own(bouncer: Topology) -> None:
    assert Path(pgbouncer.folder(bouncer)).owner() == pgbouncer.USER
