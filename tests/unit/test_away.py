"""Which failures mean a store is away (web/away.py): 503 with the right word, or a bug (None)."""

from __future__ import annotations

import asyncpg
import pytest
from redis.exceptions import (
    ClusterDownError,
    ConnectionError,
    MasterDownError,
    MovedError,
    ReadOnlyError,
    ResponseError,
    SlotNotCoveredError,
    TimeoutError,
    TryAgainError,
)
from sqlalchemy import exc as sa

from homeroom.backends.gate import BackendUnavailable
from homeroom.web.away import store_away


@pytest.mark.parametrize(
    "exc",
    [
        BackendUnavailable("gate store unavailable"),
        ConnectionError("Error 111 connecting"),
        TimeoutError("Timeout reading from socket"),
        ClusterDownError("CLUSTERDOWN The cluster is down"),
        MasterDownError("MASTERDOWN Link with MASTER is down"),
        TryAgainError("TRYAGAIN Multiple keys request during rehashing of slot"),
        MovedError("3999 127.0.0.1:6381"),
        ReadOnlyError("READONLY You can't write against a read only replica."),
        SlotNotCoveredError("slot 42 not covered"),
    ],
)
def test_redis_not_answering_is_store_unavailable(exc: Exception) -> None:
    away = store_away(exc)
    assert away is not None and away.status == 503
    assert away.reason == "store_unavailable" and away.retry_after == 5


@pytest.mark.parametrize(
    "exc",
    [
        sa.OperationalError("SELECT 1", {}, Exception("connection refused")),
        sa.InterfaceError("SELECT 1", {}, Exception("connection is closed")),
        sa.TimeoutError("QueuePool limit of size 5 overflow 10 reached"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    ],
)
def test_the_database_not_answering_is_database_unavailable(exc: Exception) -> None:
    away = store_away(exc)
    assert away is not None and away.status == 503
    assert away.reason == "database_unavailable" and away.retry_after == 10


def test_a_bare_socket_error_is_told_by_the_client_that_raised_it() -> None:
    def refused() -> None:
        raise ConnectionRefusedError(111, "Connect call failed")

    code = compile("refused()", "asyncpg/connect_utils.py", "exec")
    try:
        exec(code, {"__name__": "asyncpg.connect_utils", "refused": refused})
    except ConnectionRefusedError as exc:
        found = store_away(exc)
        assert found is not None and found.reason == "database_unavailable"
    try:
        refused()  # raised here, by no store's client: a bug of ours, 500
    except ConnectionRefusedError as exc:
        assert store_away(exc) is None


def test_the_cause_counts_and_bugs_stay_bugs() -> None:
    try:
        try:
            raise ClusterDownError("CLUSTERDOWN")
        except ClusterDownError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as exc:
        found = store_away(exc)
        assert found is not None and found.reason == "store_unavailable"
    assert store_away(ResponseError("WRONGTYPE Operation against a key")) is None
    assert store_away(sa.IntegrityError("INSERT", {}, Exception("duplicate key"))) is None
    assert store_away(ValueError("bad")) is None
    assert store_away(FileNotFoundError("slides/1.pdf")) is None


def test_the_api_document_says_every_503_and_the_leave_kept_for_later() -> None:
    from homeroom.gate import openapi
    from homeroom.school.api import openapi as school_openapi

    gate_paths = openapi.document("test")["paths"]
    school_paths = school_openapi.paths()
    for paths in (gate_paths, school_paths):
        for path, item in paths.items():
            for method, operation in item.items():
                answer = operation["responses"].get("503")
                if answer is not None:
                    assert "Retry-After" in answer.get("headers", {}), f"{method} {path}"
    for path, item in school_paths.items():  # every one of them needs the database
        for method, operation in item.items():
            assert "503" in operation["responses"], f"{method} {path}"
    leave = gate_paths["/gate/{gate}/leave"]["post"]["responses"]
    assert set(leave) >= {"200", "202"}
