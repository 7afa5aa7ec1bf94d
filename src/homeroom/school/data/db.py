"""The school database: an async SQLAlchemy engine from a URL (SQLite embedded, PostgreSQL).

`sqlite+aiosqlite:///path.db` is the embedded default; `postgresql+asyncpg://...` for deployments.
The schema comes from the Alembic migrations (src/homeroom/school/data/migrations), never from
`create_all`, so that what the tests run is what a deployment runs.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from homeroom.config import Settings

MIGRATIONS = Path(__file__).with_name("migrations")
# A PostgreSQL that stops answering (a host gone, packets dropped, a partition) is given up
# instead of waited for: asyncpg waits 60 s for a connection by default, and for ever for a
# statement on a connection that went silent. A refused or reset connection fails at once
# either way (docs/operations.md#when-a-store-is-away). Migrations do not use this engine.
CONNECT_TIMEOUT_S = 5.0
STATEMENT_TIMEOUT_S = 30.0  # above any statement the app makes; a request then answers 503


def engine_for(
    url: str,
    *,
    pool_size: int | None = None,
    max_overflow: int | None = None,
    pgbouncer: bool = False,
    **options: Any,
) -> AsyncEngine:
    """An engine for `url`; on PostgreSQL its pool holds at most `pool_size` + `max_overflow`
    connections, and `pgbouncer` makes it work through PgBouncer in transaction mode."""
    if url.startswith("postgresql"):
        if pool_size is not None:
            options.setdefault("pool_size", pool_size)
        if max_overflow is not None:
            options.setdefault("max_overflow", max_overflow)
        if pgbouncer:
            options["connect_args"] = {**options.get("connect_args", {}), **pgbouncer_args()}
        connect_args = options.setdefault("connect_args", {})
        connect_args.setdefault("timeout", CONNECT_TIMEOUT_S)
        connect_args.setdefault("command_timeout", STATEMENT_TIMEOUT_S)
    engine = create_async_engine(url, **options)
    if engine.dialect.name == "sqlite":
        _sqlite_pragmas(engine.sync_engine)
    return engine


def engine_from_settings(settings: Settings) -> AsyncEngine:
    """The engine of HOMEROOM_DATABASE_URL with the pool and PgBouncer settings."""
    return engine_for(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pgbouncer=settings.database_pgbouncer,
    )


def pgbouncer_args() -> dict[str, Any]:
    """asyncpg behind PgBouncer 1.18 in transaction mode: consecutive transactions of one
    client may run on different server connections, so no prepared statement is kept (asyncpg's
    cache and SQLAlchemy's off) and each gets a name no other client uses (SQLAlchemy's asyncpg
    docs, "Prepared Statement Name with PGBouncer")."""
    return {
        "statement_cache_size": 0,
        "prepared_statement_cache_size": 0,
        "prepared_statement_name_func": lambda: f"__asyncpg_{uuid.uuid4().hex}__",
    }


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")  # SQLite ignores foreign keys otherwise
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


def sessions(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(url: str, revision: str = "head", *, pgbouncer: bool = False) -> None:
    """Bring the database at `url` to `revision` (synchronous: start-up and tests)."""
    config = alembic_config(url)
    if pgbouncer and url.startswith("postgresql"):
        config.attributes["connect_args"] = pgbouncer_args()
    command.upgrade(config, revision)


def head() -> str:
    """The newest revision the migrations know."""
    found = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert found is not None, "the migrations have no head"
    return found


def revision(url: str, *, pgbouncer: bool = False) -> str | None:
    """The revision the database at `url` is at; None for a database never migrated."""

    async def read() -> str | None:
        engine = engine_for(url, pgbouncer=pgbouncer, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(
                    lambda sync: MigrationContext.configure(sync).get_current_revision()
                )
        finally:
            await engine.dispose()

    return asyncio.run(read())
