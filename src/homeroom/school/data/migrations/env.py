"""The Alembic environment of the school database, for async URLs (docs/school.md#migrations).

`db.upgrade(url)` runs it with a Config built in code; developers run it with the `alembic` command
and the repository's alembic.ini. `-x url=...` overrides the database URL either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from homeroom.school.data import models

config = context.config
target_metadata = models.Base.metadata


def database_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    url = url or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: set sqlalchemy.url or pass -x url=...")
    return url


def render_item(kind: str, obj: Any, autogen: AutogenContext) -> str | Literal[False]:
    """Write model-only types as the plain column type, so migrations never import the models."""
    if kind == "type" and isinstance(obj, models.UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def configure(connection: Connection | None = None, **options: Any) -> None:
    if connection is not None:
        where: dict[str, Any] = {"connection": connection}
        dialect = connection.dialect.name
    else:
        url = database_url()
        where, dialect = {"url": url}, make_url(url).get_backend_name()
    context.configure(
        **where,
        target_metadata=target_metadata,
        render_as_batch=dialect == "sqlite",  # SQLite alters a table by copying it
        # SQLite can roll DDL back too, once _transactional_ddl has the driver BEGIN before it.
        transactional_ddl=True if dialect == "sqlite" else None,
        render_item=render_item,
        **options,
    )


def run_offline() -> None:
    """`alembic upgrade --sql`: print the SQL instead of running it."""
    configure(literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


# Every `homeroom run` process migrates at start-up, and a deployment starts many at once (and a
# Kubernetes Job may run `homeroom migrate` beside them): on PostgreSQL one at a time, under a
# transaction-scoped advisory lock, so that the others find the head already reached. The lock is
# taken inside the migration's own transaction, which works through PgBouncer's transaction mode.
MIGRATION_LOCK = 0x686F6D65726F6F6D  # "homeroom", a key no other advisory lock of ours uses


def _migrate(connection: Connection) -> None:
    configure(connection=connection)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        context.run_migrations()


async def run_online() -> None:
    # Not db.engine_for: migrations run with SQLite's foreign keys off, since a batch-mode table
    # copy drops the old table, and with foreign keys on that would cascade to other tables.
    # connect_args: those of PgBouncer's transaction mode when db.upgrade was asked for them
    connect_args = config.attributes.get("connect_args", {})
    engine = create_async_engine(database_url(), poolclass=NullPool, connect_args=connect_args)
    if engine.dialect.name == "sqlite":
        _transactional_ddl(engine.sync_engine)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_migrate)
    finally:
        await engine.dispose()


def _transactional_ddl(engine: Engine) -> None:
    """Run SQLite migrations in one transaction, as on PostgreSQL.

    Python's sqlite3 does not begin a transaction before DDL, so each CREATE would commit (and
    sync the file) on its own, and a migration failing half-way would stay half done.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver's own BEGINs off ...

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")  # ... and ours on


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run `main` to completion, also when called from code that is inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(main())
        return
    # A running loop (an app's start-up, an async test): block it, on a loop of our own.
    with ThreadPoolExecutor(1, thread_name_prefix="alembic") as pool:
        pool.submit(lambda: asyncio.run(main())).result()


if config.config_file_name is not None and config.get_section("loggers") is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_offline()
else:
    run(run_online)
