"""The school database: an async SQLAlchemy engine from a URL (SQLite embedded, PostgreSQL).

`sqlite+aiosqlite:///path.db` is the embedded default; `postgresql+asyncpg://...` for deployments.
The schema comes from the Alembic migrations (src/homeroom/school/data/migrations), never from
`create_all`, so that what the tests run is what a deployment runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

MIGRATIONS = Path(__file__).with_name("migrations")
# A PostgreSQL that stops answering (a host gone, packets dropped, a partition) is given up
# instead of waited for: asyncpg waits 60 s for a connection by default, and for ever for a
# statement on a connection that went silent. A refused or reset connection fails at once
# either way (docs/operations.md#when-a-store-is-away). Migrations do not use this engine.
CONNECT_TIMEOUT_S = 5.0
STATEMENT_TIMEOUT_S = 30.0  # above any statement the app makes; a request then answers 503


def engine_for(url: str, **options: Any) -> AsyncEngine:
    if url.startswith("postgresql"):
        connect_args = options.setdefault("connect_args", {})
        connect_args.setdefault("timeout", CONNECT_TIMEOUT_S)
        connect_args.setdefault("command_timeout", STATEMENT_TIMEOUT_S)
    engine = create_async_engine(url, **options)
    if engine.dialect.name == "sqlite":
        _sqlite_pragmas(engine.sync_engine)
    return engine


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


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (synchronous: start-up and tests)."""
    command.upgrade(alembic_config(url), revision)
