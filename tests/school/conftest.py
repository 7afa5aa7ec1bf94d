"""Fixtures of the school database tests: a migrated database per test, on SQLite and PostgreSQL.

`sqlite` gets a fresh file in tmp_path: a copy of one database brought to head by `db.upgrade`
once per test session. `postgresql` (marked slow) uses the server on 127.0.0.1:5432: one
database `homeroom_test_<hex>` per test session, migrated once and dropped at the end; each test
starts by truncating every table of the model, which is much cheaper than a database per test. Tests that change the schema itself ask for
`empty_db_url` instead: a database of their own, with no tables (docs/school.md#how-to-test-it).

Engines are created and disposed within each test: asyncpg connections belong to the event loop
that opened them, and pytest-asyncio gives each test its own loop.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from homeroom.school.data import db
from homeroom.school.data.models import Base
from tests.school.apiclient import Api, api_client

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)]


def pg_url(database: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


async def pg_execute(database: str, *statements: str) -> None:
    """Run `statements` on one plain asyncpg connection (no engine: cheaper, and loop-local)."""
    try:
        connection = await asyncpg.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, database=database, timeout=5
        )
    except (OSError, asyncpg.PostgresError) as error:
        pytest.fail(f"no PostgreSQL on {PG_HOST}:{PG_PORT} ({error}); run scripts/ensure-services")
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def pg_admin(statement: str) -> None:
    """Run a CREATE or DROP DATABASE from synchronous code.

    On a thread of its own: asyncio.run there cannot disturb the event loop that pytest-asyncio
    keeps in the main thread.
    """
    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(pg_execute("postgres", statement))).result()


def new_pg_database() -> str:
    name = f"homeroom_test_{secrets.token_hex(6)}"
    pg_admin(f'CREATE DATABASE "{name}"')
    return name


def drop_pg_database(name: str) -> None:
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """The URL of this session's PostgreSQL database, at head."""
    name = new_pg_database()
    try:
        db.upgrade(pg_url(name))  # no loop runs here: Alembic runs its own
        yield pg_url(name)
    finally:
        drop_pg_database(name)


TRUNCATE = "TRUNCATE {} RESTART IDENTITY CASCADE".format(
    ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database at head, migrated once: each test starts from a copy of the file."""
    path = tmp_path_factory.mktemp("sqlite-template") / "school.db"
    db.upgrade(f"sqlite+aiosqlite:///{path}")  # no loop runs here: Alembic runs its own
    return path


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database at head with no rows: a new SQLite file, or the session's PostgreSQL emptied."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "school.db"
        for suffix in ("", "-wal", "-shm"):  # the file, and its journal if one was left
            source = template.with_name(template.name + suffix)
            if source.exists():
                shutil.copyfile(source, target.with_name(target.name + suffix))
        return f"sqlite+aiosqlite:///{target}"
    url: str = request.getfixturevalue("pg_database")
    await pg_execute(url.rpartition("/")[2], TRUNCATE)
    return url


@pytest.fixture(params=BACKENDS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of the test's own with no tables, for tests that migrate up and down."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    name = new_pg_database()
    try:
        yield pg_url(name)
    finally:
        drop_pg_database(name)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = db.engine_for(db_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with db.sessions(engine)() as session:
        yield session


@pytest.fixture
async def api(engine: AsyncEngine, session: AsyncSession) -> AsyncIterator[Api]:
    """The school's JSON API in process over the demo school (tests/school/apiclient.py)."""
    async for client in api_client(engine, session):
        yield client
