"""Chat messages and poll results into the school database, in batches, losing none in an outage.

`DatabaseRecorder` is the hub's `Recorder` (live/hub.py): `record()` only turns the room's
`Store` effect into a row and queues it; one task writes the queue in batches (every second, or
as soon as 200 rows wait), one transaction each. A batch that fails (database away, tables not
migrated yet) stays at the head of the queue and is tried again with back-off, so an outage
delays records and loses none while the queue has room. Writes are idempotent — a chat message
is (session, epoch, seq), a poll (session, epoch, poll) — so a batch written twice, its commit's
reply lost, goes in once (docs/live.md#records).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from homeroom.core.clientjson import writable
from homeroom.core.live.parts import Role as LiveRole
from homeroom.live.faults import short
from homeroom.school.for_live import (
    MAX_ID,
    ChatAudience,
    ChatMessage,
    ClassSession,
    Person,
    PollResult,
)

log = logging.getLogger("homeroom.live.records")

BATCH: Final = 200  # rows in one transaction
INTERVAL_S: Final = 1.0  # the longest a row waits while the database answers
CAPACITY: Final = 100_000  # rows kept while the database is away; past it new ones are dropped
# first and longest wait before a failed batch is tried again: records reach the database
# within about 5 s of its return (a failed try costs one refused connection)
BACKOFF_S: Final = (0.25, 5.0)
CLOSE_S: Final = 10.0  # how long closing may spend writing what is left
CHECK_S: Final = 5.0  # start-up does not wait longer than this to look at the tables
TABLES: Final = (ChatMessage.__tablename__, PollResult.__tablename__)
_ROOM = re.compile(r"s([1-9][0-9]{0,9})")  # school/api/live.py room_of
_PERSON = re.compile(r"[1-9][0-9]{0,9}")


class Unrecordable(ValueError):
    """A record that can never be written (not a session's room, a malformed Store)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One row to write: its table and its values."""

    kind: str  # "chat" or "poll"
    values: dict[str, Any]


def session_of(room: str) -> int:
    match = _ROOM.fullmatch(room)
    if match is None or int(match[1]) > MAX_ID:
        raise Unrecordable(f"room {room!r} is not a class session's")
    return int(match[1])


def row_of(room: str, kind: str, data: dict[str, Any]) -> Row:
    """The row a room's Store effect (core/live/room.py) becomes; raises Unrecordable."""
    session_id = session_of(room)
    try:
        if kind == "chat":
            return Row("chat", _chat(session_id, data))
        if kind == "poll":
            return Row("poll", _poll(session_id, data))
    except (KeyError, TypeError, ValueError) as exc:
        raise Unrecordable(f"{kind} record of room {room}: {exc!r}") from exc
    raise Unrecordable(f"unknown record kind {kind!r}")


def _text(value: Any) -> str:
    """Text the database can store: a row that could not (a lone surrogate, NUL in PostgreSQL)
    would fail its batch, and every batch after it, for ever."""
    text = str(value)
    if not writable(text):
        raise ValueError("text the database cannot store")
    return text


def _moment(at: Any) -> dt.datetime:
    return dt.datetime.fromtimestamp(float(at), dt.UTC)


def _chat(session_id: int, data: dict[str, Any]) -> dict[str, Any]:
    person = str(data["person"])
    person_id = int(person) if _PERSON.fullmatch(person) and int(person) <= MAX_ID else None
    group = data.get("group")
    return {
        "session_id": session_id,
        "epoch": str(data["epoch"])[:64],
        "seq": int(data["seq"]),
        "person_id": person_id,
        "display_name": _text(data["name"])[:120],
        "role": LiveRole(data["role"]),
        "audience": ChatAudience(data["to"]),
        "breakout_group": None if group is None else int(group),
        "text": _text(data["text"]),
        "sent_at": _moment(data["at"]),
    }


def _poll(session_id: int, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "epoch": str(data["epoch"])[:64],
        "poll": int(data["poll"]),
        "question": _text(data["question"]),
        "choices": [_text(choice) for choice in data["choices"]],
        "multiple": bool(data["multiple"]),
        "counts": [int(count) for count in data["counts"]],
        "voters": int(data["voters"]),
        "shown": bool(data.get("shown", False)),
        "closed_at": _moment(data["at"]),
    }


class DatabaseRecorder:
    """The hub's Recorder on the school database: queued at once, written in batches.

    Guarantees: rows are written in the order they were recorded, each at most once (the unique
    keys), and none is lost while the process lives and the queue (`capacity`) has room: a
    failed batch is tried again with back-off until the database takes it. A record of a session
    that no longer exists, or whose author was erased, is dropped when its batch is written. What
    is still queued when the process is killed is lost; `aclose` writes it first.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        batch: int = BATCH,
        interval_s: float = INTERVAL_S,
        capacity: int = CAPACITY,
        backoff_s: tuple[float, float] = BACKOFF_S,
    ) -> None:
        self.engine = engine
        self.batch = batch
        self.interval_s = interval_s
        self.capacity = capacity
        self.backoff_s = backoff_s
        self.queue: deque[Row] = deque()
        self.written = 0  # rows the database took (or already had)
        self.dropped = 0  # rows refused because the queue was full
        self.failures = 0  # consecutive failed batches
        self._wake = asyncio.Event()  # something to write; or closing
        self._full = asyncio.Event()  # a whole batch waits; or closing
        self._closed = asyncio.Event()  # aclose was called
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    # -- what the hub calls -----------------------------------------------------------------

    def record(self, room: str, kind: str, data: dict[str, Any]) -> None:
        try:
            row = row_of(room, kind, data)
        except Unrecordable as exc:
            log.warning("record not kept: %s", exc)
            return
        if len(self.queue) >= self.capacity:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error(
                    "records queue full (%d rows waiting for the school database): "
                    "%d new %s records dropped so far",
                    len(self.queue),
                    self.dropped,
                    kind,
                )
            return
        self.queue.append(row)
        self._wake.set()
        if len(self.queue) >= self.batch:
            self._full.set()

    # -- the writer -------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="homeroom-live-records")

    async def check(self) -> bool:
        """Whether the tables are there; says in the log what happens meanwhile if not."""
        try:
            async with asyncio.timeout(CHECK_S), self.engine.connect() as connection:
                present = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        except Exception as exc:
            log.warning("school database unreachable (%s): records wait for it", short(exc))
            return False
        missing = [name for name in TABLES if name not in present]
        if missing:
            log.warning(
                "school database has no %s table yet (`homeroom run` migrates it):"
                " records wait for it",
                " or ".join(missing),
            )
        return not missing

    async def aclose(self, timeout_s: float = CLOSE_S) -> None:
        """Write what is queued (trying for at most `timeout_s`), then stop."""
        self._closing = True
        for event in (self._wake, self._full, self._closed):
            event.set()
        if self._task is None and self.queue:  # never started: write from here
            self.start()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        if self.queue:
            log.error("%d records not written to the school database at shutdown", len(self.queue))

    async def _run(self) -> None:
        while self.queue or not self._closing:
            if not self.queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            if len(self.queue) < self.batch and not self._closing:
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self.interval_s)
            if not await self._write_head():
                await self._pause(self._backoff())

    async def _pause(self, seconds: float) -> None:
        """Wait before trying again; closing cuts the wait short once (one try at once)."""
        event = asyncio.Event() if self._closing else self._closed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)

    async def _write_head(self) -> bool:
        rows = [self.queue[i] for i in range(min(self.batch, len(self.queue)))]
        try:
            await write(self.engine, rows)
        except Exception as exc:
            self.failures += 1
            if self.failures in (1, 10) or self.failures % 100 == 0:
                log.warning(
                    "school database refused a batch of %d records (%s); %d waiting,"
                    " trying again (failure %d)",
                    len(rows),
                    short(exc),
                    len(self.queue),
                    self.failures,
                )
            return False
        for _ in rows:  # nothing else takes from the queue: these are still its head
            self.queue.popleft()
        self.written += len(rows)
        if self.failures:
            log.warning("school database back: records written (%d waiting)", len(self.queue))
        self.failures = 0
        return True

    def _backoff(self) -> float:
        first, longest = self.backoff_s
        return float(min(longest, first * 2 ** min(self.failures - 1, 16)))


class RecordsCollector(Collector):
    """homeroom_live_records_* for a gateway's /metrics (docs/operations.md#when-a-store-is-away):
    what waits for the database, what it took, what was dropped at the queue's bound."""

    def __init__(self, recorder: DatabaseRecorder, process: str | None = None) -> None:
        self.recorder = recorder
        self.labels = {"process": process} if process else {}

    def collect(self) -> Iterable[Metric]:
        names, values = list(self.labels), list(self.labels.values())
        recorder = self.recorder
        queued = GaugeMetricFamily(
            "homeroom_live_records_queued", "Records waiting for the school database", labels=names
        )
        queued.add_metric(values, len(recorder.queue))
        capacity = GaugeMetricFamily(
            "homeroom_live_records_capacity", "Records kept at most while it is away", labels=names
        )
        capacity.add_metric(values, recorder.capacity)
        failing = GaugeMetricFamily(
            "homeroom_live_records_failures",
            "Batches refused in a row (0: it answers)",
            labels=names,
        )
        failing.add_metric(values, recorder.failures)
        written = CounterMetricFamily(
            "homeroom_live_records_written", "Records the database took", labels=names
        )
        written.add_metric(values, recorder.written)
        dropped = CounterMetricFamily(
            "homeroom_live_records_dropped", "Records dropped, the queue full", labels=names
        )
        dropped.add_metric(values, recorder.dropped)
        yield from (queued, capacity, failing, written, dropped)


# -- writing ----------------------------------------------------------------------------------


async def write(engine: AsyncEngine, rows: Sequence[Row]) -> None:
    """Write `rows` in one transaction; rows already there are left as they are (a poll's
    `shown` can only go from false to true)."""
    async with engine.begin() as connection:
        chat = [row.values for row in rows if row.kind == "chat"]
        polls = [row.values for row in rows if row.kind == "poll"]
        sessions = await _existing(
            connection, ClassSession.id, {v["session_id"] for v in chat + polls}
        )
        people = await _existing(
            connection, Person.id, {v["person_id"] for v in chat if v["person_id"] is not None}
        )
        # A session cancelled, or an author erased, since: the record goes with them.
        chat = [
            v
            for v in chat
            if v["session_id"] in sessions and (v["person_id"] is None or v["person_id"] in people)
        ]
        polls = [v for v in polls if v["session_id"] in sessions]
        insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
        if chat:
            keys = ["session_id", "epoch", "seq"]
            await connection.execute(
                insert(ChatMessage).on_conflict_do_nothing(index_elements=keys), chat
            )
        if polls:
            statement = insert(PollResult)
            shown = PollResult.shown | statement.excluded.shown
            await connection.execute(
                statement.on_conflict_do_update(
                    index_elements=["session_id", "epoch", "poll"], set_={"shown": shown}
                ),
                polls,
            )


async def _existing(connection: AsyncConnection, column: Any, ids: Iterable[int]) -> set[int]:
    wanted = sorted(set(ids))
    if not wanted:
        return set()
    found = await connection.scalars(select(column).where(column.in_(wanted)))
    return set(found)
