"""Which failures mean a store is away, and the 503 each answers (docs/operations.md#when-a-store-is-away).

A request that meets Redis (the gate's store, the rate limits) or the school database away must
get a documented `503` with `Retry-After` and a stable word, never `500 internal`. The flows that
know what an outage means for them answer their own word first (`degraded` on the gate's
ticket and redeem); what is left reaches the application's error handlers, which ask
`store_away` whether the exception (or what caused it) is a store that did not answer:

- `store_unavailable` (Retry-After `STORE_RETRY_S`): Redis did not answer (the gate's store,
  the sign-in throttle's counters);
- `database_unavailable` (Retry-After `DATABASE_RETRY_S`): the school database did not answer
  (refused, reset, timed out, a connection lost mid-query, no connection free in the pool).

Anything else is a bug and stays `500 internal`, logged with its traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Final

import asyncpg  # type: ignore[import-untyped]
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import (
    AskError,
    ClusterDownError,
    ClusterError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    ResponseError,
    TryAgainError,
)
from sqlalchemy import exc as sa

from homeroom.backends.gate import BackendUnavailable
from homeroom.errors import Unavailable

log = logging.getLogger("homeroom")

STORE_RETRY_S: Final = 5  # a Redis failover or restart takes a few seconds
DATABASE_RETRY_S: Final = 10  # PostgreSQL restarting or failing over: a little longer
CHAIN_DEPTH: Final = 8  # causes followed at most
LOG_EVERY_S: Final = 10.0  # an outage is logged once, then a count at most this often

# What the application's error handlers send to `store_away` (the rest goes to the catch-all).
AWAY_FAILURES: Final[tuple[type[Exception], ...]] = (
    BackendUnavailable,
    RedisError,
    RedisClusterException,
    sa.SQLAlchemyError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
)

# Modules whose frames in a traceback say which store a bare OSError or timeout came from.
_DATABASE_MODULES: Final = ("asyncpg", "sqlalchemy", "aiosqlite")
_STORE_MODULES: Final = ("redis", "limits")


def store_unavailable() -> Unavailable:
    return Unavailable(
        "store_unavailable",
        "Le service est momentanément indisponible ; réessayez dans quelques secondes.",
        "The service is briefly unavailable; please try again in a few seconds.",
        retry_after=STORE_RETRY_S,
    )


def database_unavailable() -> Unavailable:
    return Unavailable(
        "database_unavailable",
        "Les données de l'école sont momentanément inaccessibles ; réessayez dans un instant. "
        "Les classes en cours continuent.",
        "The school's records are briefly out of reach; please try again shortly. "
        "Classes under way go on.",
        retry_after=DATABASE_RETRY_S,
    )


def store_away(exc: BaseException) -> Unavailable | None:
    """The 503 for `exc` if it (or one of its causes) is a store that did not answer."""
    seen: BaseException | None = exc
    for _ in range(CHAIN_DEPTH):
        if seen is None:
            return None
        found = _classify(seen)
        if found is not None:
            return found
        seen = seen.__cause__ or seen.__context__
    return None


# Redis's error replies that mean "not here, not now" (a failover under way, a slot moving, a
# demoted primary); any other error reply (a wrong type, a cross-slot command) is a bug.
_REDIS_AWAY_REPLIES: Final = (
    AskError,
    TryAgainError,
    ClusterDownError,
    ClusterError,
    ReadOnlyError,
)


def _classify(exc: BaseException) -> Unavailable | None:
    if isinstance(exc, ResponseError) and not isinstance(exc, _REDIS_AWAY_REPLIES):
        return None
    if isinstance(exc, BackendUnavailable | RedisError | RedisClusterException):
        return store_unavailable()
    if isinstance(exc, sa.DBAPIError):
        # a lost or refused connection; not a constraint or a syntax error (those are bugs)
        if exc.connection_invalidated or isinstance(exc, sa.OperationalError | sa.InterfaceError):
            return database_unavailable()
        return _classify(exc.orig) if exc.orig is not None else None
    if isinstance(exc, sa.TimeoutError | sa.DisconnectionError):  # the pool: none free in time
        return database_unavailable()
    if isinstance(
        exc,
        asyncpg.PostgresConnectionError
        | asyncpg.CannotConnectNowError
        | asyncpg.TooManyConnectionsError
        | asyncpg.ConnectionDoesNotExistError,
    ):
        return database_unavailable()
    if isinstance(exc, ConnectionError | TimeoutError | asyncio.TimeoutError | OSError):
        return _by_origin(exc)
    return None


def _by_origin(exc: BaseException) -> Unavailable | None:
    """A bare socket error: which client raised it, read from the traceback's innermost frames."""
    tb = exc.__traceback__
    modules: list[str] = []
    while tb is not None:
        modules.append(str(tb.tb_frame.f_globals.get("__name__", "")))
        tb = tb.tb_next
    for module in reversed(modules):
        if module.startswith(_DATABASE_MODULES):
            return database_unavailable()
        if module.startswith(_STORE_MODULES):
            return store_unavailable()
    return None


class AwayLog:
    """One warning when requests start meeting a store away, then a count every LOG_EVERY_S:
    an outage must not write a line per request (hundreds a second)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._last: dict[str, float] = {}

    def note(self, away: Unavailable, path: str, exc: BaseException) -> None:
        word = away.reason
        self.counts[word] = self.counts.get(word, 0) + 1
        now = time.monotonic()
        if now - self._last.get(word, -LOG_EVERY_S) >= LOG_EVERY_S:
            self._last[word] = now
            log.warning(
                "%s: answered 503 (%d so far), e.g. on %s: %s",
                word,
                self.counts[word],
                path,
                short(exc),
            )


def short(exc: BaseException) -> str:
    """An exception in one line: an outage of a store is not a bug, no traceback."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:200]}"


class AwayCollector(Collector):
    """homeroom_http_store_away_total{reason}: the 503s the error handler answered."""

    def __init__(self, away_log: AwayLog) -> None:
        self.away_log = away_log

    def collect(self) -> Iterable[Metric]:
        answered = CounterMetricFamily(
            "homeroom_http_store_away",
            "Requests answered 503 because a store was away, by word",
            labels=["reason"],
        )
        for word in ("store_unavailable", "database_unavailable"):
            answered.add_metric([word], self.away_log.counts.get(word, 0))
        yield answered
