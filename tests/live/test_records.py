"""Chat messages and poll results into the school database (live/records.py), on SQLite and
PostgreSQL: batches, idempotent retries, a real outage then recovery, the flush on close, and a
class through the gateway whose chat ends up in the database (docs/live.md#records)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import connect

from homeroom.core.live.parts import Role
from homeroom.core.live.room import Room, Store
from homeroom.live import records
from homeroom.live.jointoken import JoinClaims, JoinTokens
from homeroom.live.records import DatabaseRecorder, Unrecordable, row_of
from homeroom.live.server import LiveServer
from homeroom.school.data import db
from homeroom.school.data.models import ChatAudience, ChatMessage, ClassSession, PollResult
from tests.live.conftest import NOW, SECRET, check, receive, until
from tests.school import conftest as school
from tests.school.people import Demo, build

db_url = school.db_url  # the school tests' fixtures: a database at head, SQLite and PostgreSQL
pg_database = school.pg_database
sqlite_template = school.sqlite_template
engine = school.engine
empty_db_url = school.empty_db_url

FAST = {"backoff_s": (0.01, 0.05)}


async def eventually(condition: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    """Wait for `condition`, checking every few milliseconds, failing after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def seed(engine: AsyncEngine) -> tuple[Demo, int]:
    async with db.sessions(engine)() as session:
        demo = await build(session, classes=1, sessions_per_class=1)
        session_id = await session.scalar(select(ClassSession.id).limit(1))
    assert session_id is not None
    return demo, session_id


def chat(session_id: int, seq: int, person: int | str, **extra: Any) -> dict[str, Any]:
    return {
        "room": f"s{session_id}",
        "epoch": "e1",
        "seq": seq,
        "person": str(person),
        "name": "Lea",
        "role": "pupil",
        "text": f"message {seq}",
        "to": "all",
        "at": NOW + seq,
        **extra,
    }


def poll(session_id: int, number: int = 1, *, shown: bool = False) -> dict[str, Any]:
    return {
        "room": f"s{session_id}",
        "epoch": "e1",
        "poll": number,
        "question": "2 + 2 ?",
        "choices": ["3", "4"],
        "multiple": False,
        "counts": [1, 2],
        "voters": 3,
        "shown": shown,
        "at": NOW,
    }


def record(recorder: DatabaseRecorder, data: dict[str, Any], kind: str = "chat") -> None:
    recorder.record(data.pop("room"), kind, data)


async def count(engine: AsyncEngine, table: type[Any]) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(table)) or 0)


# -- rows -------------------------------------------------------------------------------------


def test_every_store_effect_of_a_room_becomes_a_row() -> None:
    room = Room("s7", "epoch-a", lobby=False)
    room.join("1", "Prof", Role.TEACHER, 10.0)
    room.join("2", "Lea", Role.PUPIL, 10.0)
    effects = []
    for who, message in [
        ("2", {"type": "chat.send", "id": "a", "text": "hi", "to": "all"}),
        ("2", {"type": "chat.send", "id": "b", "text": "psst", "to": "teacher"}),
        ("1", {"type": "poll.open", "id": "c", "question": "?", "choices": ["a", "b"]}),
        ("2", {"type": "poll.vote", "id": "d", "poll": 1, "choices": [1]}),
        ("1", {"type": "breakout.start", "id": "e", "groups": 2}),
        ("2", {"type": "chat.send", "id": "f", "text": "group", "to": "all"}),
        ("1", {"type": "class.end", "id": "g"}),  # closes the poll
    ]:
        check("client", message)
        effects += room.handle(who, message, 20.0).effects
    stored = [e for e in effects if isinstance(e, Store)]
    rows = [row_of(str(e.data["room"]), e.kind, dict(e.data)) for e in stored]
    assert [r.kind for r in rows] == ["chat", "chat", "chat", "poll"]
    audiences = [r.values["audience"] for r in rows[:3]]
    assert audiences == [ChatAudience.ALL, ChatAudience.TEACHER, ChatAudience.GROUP]
    assert rows[2].values["breakout_group"] == 1 and rows[0].values["person_id"] == 2
    assert rows[3].values["counts"] == [0, 1] and rows[3].values["shown"] is False
    assert {r.values["session_id"] for r in rows} == {7}
    with pytest.raises(Unrecordable):
        row_of("r1", "chat", dict(stored[0].data))  # not a session's room
    with pytest.raises(Unrecordable):
        row_of("s7", "chat", {"seq": 1})


def test_a_full_queue_drops_new_records_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    recorder = DatabaseRecorder(None, capacity=2)  # type: ignore[arg-type]  # never writes
    with caplog.at_level(logging.ERROR, "homeroom.live.records"):
        for seq in range(1, 5):
            record(recorder, chat(1, seq, 1))
    assert len(recorder.queue) == 2 and recorder.dropped == 2
    assert "records queue full" in caplog.text


# -- the writer -------------------------------------------------------------------------------


async def test_rows_go_in_batches_of_200_and_the_rest_at_close(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo, session_id = await seed(engine)
    batches: list[int] = []
    write = records.write

    async def counted(engine: AsyncEngine, rows: Any) -> None:
        await write(engine, rows)
        batches.append(len(rows))

    monkeypatch.setattr(records, "write", counted)
    recorder = DatabaseRecorder(engine, interval_s=3600)  # only a full batch goes before close
    recorder.start()
    for seq in range(1, 451):
        record(recorder, chat(session_id, seq, demo.pupil))
    await eventually(lambda: asyncio.sleep(0, len(batches) == 2))
    assert batches == [200, 200] and len(recorder.queue) == 50
    assert await count(engine, ChatMessage) == 400
    await recorder.aclose()
    assert batches == [200, 200, 50] and await count(engine, ChatMessage) == 450


async def test_a_row_waits_at_most_the_interval(engine: AsyncEngine) -> None:
    demo, session_id = await seed(engine)
    recorder = DatabaseRecorder(engine, interval_s=0.05)
    recorder.start()
    try:
        record(recorder, chat(session_id, 1, demo.pupil))
        await eventually(lambda: _counted(engine, ChatMessage, 1))
    finally:
        await recorder.aclose()


async def _counted(engine: AsyncEngine, table: type[Any], n: int) -> bool:
    return await count(engine, table) == n


async def test_a_batch_written_again_goes_in_once(engine: AsyncEngine) -> None:
    demo, session_id = await seed(engine)
    rows = [row_of(f"s{session_id}", "chat", chat(session_id, seq, demo.pupil)) for seq in (1, 2)]
    rows.append(row_of(f"s{session_id}", "poll", poll(session_id)))
    await records.write(engine, rows)
    await records.write(engine, rows)  # its commit's reply lost: the recorder sends it again
    other_epoch = row_of(f"s{session_id}", "chat", chat(session_id, 1, demo.pupil, epoch="e2"))
    await records.write(engine, [*rows, other_epoch])  # seq 1 of a new epoch is another message
    assert await count(engine, ChatMessage) == 3 and await count(engine, PollResult) == 1
    shown = row_of(f"s{session_id}", "poll", poll(session_id, shown=True))
    await records.write(engine, [shown])  # shown after it closed: the same poll, now shown
    await records.write(engine, rows)  # an older copy does not take it back
    async with db.sessions(engine)() as session:
        result = await session.scalar(select(PollResult))
    assert result is not None and result.shown and result.counts == [1, 2]
    assert await count(engine, PollResult) == 1


async def test_a_message_resent_under_a_new_epoch_goes_in_once(engine: AsyncEngine) -> None:
    """A failover lost a room's tail: the client resends under the new epoch, where the message
    gets another seq; its author and client id keep it once (docs/live.md#epoch-regression)."""
    demo, session_id = await seed(engine)
    room = f"s{session_id}"
    first = row_of(room, "chat", chat(session_id, 5, demo.pupil, cid="ab-1"))
    again = row_of(room, "chat", chat(session_id, 2, demo.pupil, cid="ab-1", epoch="e2"))
    other = row_of(room, "chat", chat(session_id, 3, demo.pupil, cid="ab-2", epoch="e2"))
    teacher = row_of(room, "chat", chat(session_id, 4, demo.teacher, cid="ab-1", epoch="e2"))
    await records.write(engine, [first, again])  # both in one batch
    await records.write(engine, [again, other, teacher])  # and again in the next
    async with db.sessions(engine)() as session:
        kept = (await session.scalars(select(ChatMessage.sent_as, ChatMessage.epoch))).all()
    assert await count(engine, ChatMessage) == 3, kept


async def test_records_of_a_cancelled_session_or_an_erased_person_are_dropped(
    engine: AsyncEngine,
) -> None:
    demo, session_id = await seed(engine)
    recorder = DatabaseRecorder(engine, interval_s=3600)
    for data in (
        chat(session_id, 1, demo.pupil),
        chat(session_id, 2, 999_999),  # erased since
        chat(999_999, 3, demo.pupil),  # a session cancelled since
        chat(session_id, 4, "g:guest", role="guest"),  # no account: kept, without a person
    ):
        record(recorder, data)
    record(recorder, poll(999_999), "poll")
    await recorder.aclose()  # never started: closing writes what is queued
    assert not recorder.queue
    async with db.sessions(engine)() as session:
        kept = (await session.scalars(select(ChatMessage).order_by(ChatMessage.seq))).all()
    assert [(m.seq, m.person_id) for m in kept] == [(1, demo.pupil), (4, None)]
    assert kept[1].role is Role.GUEST and await count(engine, PollResult) == 0


async def test_a_record_the_database_cannot_store_is_dropped_and_the_rest_go_in(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """The room refuses such text (core/clientjson.py); were one to come, it must not stay at
    the head of the queue, failing every batch of every class of the process forever."""
    demo, session_id = await seed(engine)
    recorder = DatabaseRecorder(engine, interval_s=3600)
    with caplog.at_level(logging.WARNING, "homeroom.live.records"):
        record(recorder, chat(session_id, 1, demo.pupil))
        record(recorder, chat(session_id, 2, demo.pupil, text="a \ud800 b"))  # no UTF-8 for it
        record(recorder, chat(session_id, 3, demo.pupil, text="a \x00 b"))  # PostgreSQL: none
        record(recorder, chat(session_id, 4, demo.pupil, name="L\x00a"))
        record(recorder, {**poll(session_id), "choices": ["3", "\udfff"]}, "poll")
        record(recorder, chat(session_id, 5, demo.pupil))
    assert caplog.text.count("record not kept") == 4
    await recorder.aclose()
    assert not recorder.queue
    async with db.sessions(engine)() as session:
        kept = (await session.scalars(select(ChatMessage.seq).order_by(ChatMessage.seq))).all()
    assert kept == [1, 5] and await count(engine, PollResult) == 0


# -- outages ----------------------------------------------------------------------------------


async def test_records_wait_for_the_tables_of_a_database_not_migrated_yet(
    empty_db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The gateway started before `homeroom run` migrated the database to 0003."""
    db.upgrade(empty_db_url, "0002")
    engine = db.engine_for(empty_db_url)
    recorder = DatabaseRecorder(engine, interval_s=0.01, **FAST)
    try:
        demo, session_id = await seed(engine)
        with caplog.at_level(logging.WARNING, "homeroom.live.records"):
            assert not await recorder.check()
            recorder.start()
            for seq in range(1, 6):
                record(recorder, chat(session_id, seq, demo.pupil))
            record(recorder, poll(session_id), "poll")
            await eventually(lambda: asyncio.sleep(0, recorder.failures >= 3))
        assert "no chat_message or poll_result table yet" in caplog.text
        assert "refused a batch of 6 records" in caplog.text and len(recorder.queue) == 6
        await asyncio.to_thread(db.upgrade, empty_db_url)
        await eventually(lambda: _counted(engine, ChatMessage, 5))
        assert await count(engine, PollResult) == 1 and await recorder.check()
    finally:
        await recorder.aclose()
        await engine.dispose()


class Proxy:
    """A TCP proxy to PostgreSQL that can be cut (every connection dropped, no new ones)."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.server: asyncio.Server | None = None
        self.port = 0
        self.pipes: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        for writer in list(self.pipes):
            writer.transport.abort()
        self.pipes.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.transport.abort()
            return
        self.pipes |= {writer, up_writer}
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()
            self.pipes.discard(writer)


@contextlib.asynccontextmanager
async def outage(url: str, tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, Any]]:
    """An engine on `url` and a way to make the database unreachable for a while: on
    PostgreSQL a proxy that is cut then started again, on SQLite another writer holding the
    database's write lock (SQLite's outage: a long transaction elsewhere)."""
    if url.startswith("postgresql"):
        proxy = Proxy(school.PG_PORT)
        await proxy.start()
        engine = db.engine_for(url.replace(f":{school.PG_PORT}/", f":{proxy.port}/"))

        @contextlib.asynccontextmanager
        async def away() -> AsyncIterator[None]:
            await proxy.cut()
            yield
            await proxy.start()  # the same port

        try:
            yield engine, away
        finally:
            await engine.dispose()
            await proxy.cut()
        return
    engine = db.engine_for(url, connect_args={"timeout": 0.05})
    path = url.partition(":///")[2]

    @contextlib.asynccontextmanager
    async def locked() -> AsyncIterator[None]:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()

    try:
        yield engine, locked
    finally:
        await engine.dispose()


async def test_an_outage_delays_records_and_loses_none(db_url: str, tmp_path: Path) -> None:
    async with outage(db_url, tmp_path) as (engine, away):
        demo, session_id = await seed(engine)
        recorder = DatabaseRecorder(engine, interval_s=0.01, **FAST)
        recorder.start()
        try:
            record(recorder, chat(session_id, 1, demo.pupil))
            await eventually(lambda: _counted(engine, ChatMessage, 1))
            async with away():
                for seq in range(2, 301):
                    record(recorder, chat(session_id, seq, demo.pupil))
                await eventually(lambda: asyncio.sleep(0, recorder.failures >= 2))
                assert len(recorder.queue) == 299
            await eventually(lambda: _counted(engine, ChatMessage, 300))
            assert not recorder.queue and recorder.failures == 0
        finally:
            await recorder.aclose()
        async with engine.connect() as connection:
            seqs = (await connection.scalars(select(ChatMessage.seq))).all()
        assert sorted(seqs) == list(range(1, 301))


async def test_closing_while_the_database_is_away_gives_up_in_time_and_says_so(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with outage(db_url, tmp_path) as (engine, away):
        demo, session_id = await seed(engine)
        recorder = DatabaseRecorder(engine, interval_s=0.01, **FAST)
        recorder.start()
        async with away():
            record(recorder, chat(session_id, 1, demo.pupil))
            with caplog.at_level(logging.ERROR, "homeroom.live.records"):
                await asyncio.wait_for(recorder.aclose(timeout_s=0.5), 5)
        assert "1 records not written" in caplog.text


# -- through the gateway ----------------------------------------------------------------------


async def test_chat_sent_through_the_gateway_ends_up_in_the_database(engine: AsyncEngine) -> None:
    demo, session_id = await seed(engine)
    recorder = DatabaseRecorder(engine, interval_s=0.05)
    recorder.start()
    server = LiveServer(SECRET, recorder=recorder, clock=lambda: NOW)
    port = await server.start("127.0.0.1", 0)
    tokens = JoinTokens(SECRET)

    def url(person: int, role: Role) -> str:
        claims = JoinClaims(f"s{session_id}", str(person), role, "Lea", int(NOW + 3600))
        return f"ws://127.0.0.1:{port}/live?token={tokens.issue(claims)}"

    try:
        async with (
            connect(url(demo.teacher, Role.TEACHER)) as teacher,
            connect(url(demo.pupil, Role.PUPIL)) as pupil,
        ):
            await receive(teacher)
            await receive(pupil)
            for n, (text, to) in enumerate([("bonjour", "all"), ("une question", "teacher")]):
                message = {"v": 1, "type": "chat.send", "id": f"c{n}", "text": text, "to": to}
                check("client", message)
                await pupil.send(json.dumps(message))
                await until(pupil, lambda m: m["type"] == "ack")
            await until(teacher, lambda m: m.get("text") == "une question")
        await eventually(lambda: _counted(engine, ChatMessage, 2))
    finally:
        await server.stop()
        await recorder.aclose()
    async with db.sessions(engine)() as session:
        kept = (await session.scalars(select(ChatMessage).order_by(ChatMessage.seq))).all()
    assert [(m.text, m.audience, m.person_id, m.session_id) for m in kept] == [
        ("bonjour", ChatAudience.ALL, demo.pupil, session_id),
        ("une question", ChatAudience.TEACHER, demo.pupil, session_id),
    ]
    assert kept[0].sent_at.timestamp() == NOW
