"""Join tokens revoked before they expire: what they cover, the feed from the school database
(SQLite and PostgreSQL), and the gateway closing and refusing them over real WebSockets."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from homeroom.core.live.parts import Role
from homeroom.live.hub import Host, Hub, Joining
from homeroom.live.jointoken import JoinClaims, JoinTokens
from homeroom.live.revocations import (
    ANY,
    KEPT_S,
    Revocation,
    RevocationFeed,
    Revocations,
    Unavailable,
)
from homeroom.live.server import LiveServer, revoke
from homeroom.school.data import db
from homeroom.school.data.models import LiveRevocation
from homeroom.school.links.revocations import GUEST, GUEST_KEPT_S, guests_cancelled, revoke_live
from tests.live.conftest import NOW, SECRET, Clock, Live, receive, until
from tests.school import conftest as school

db_url = school.db_url  # the school tests' fixtures: a database at head, SQLite and PostgreSQL
pg_database = school.pg_database
sqlite_template = school.sqlite_template
engine = school.engine

NOW_MS = int(NOW * 1000)


def claims(
    room: str = "s1", person: str = "p1", grant: str = "g1", issued: int = NOW_MS - 1
) -> JoinClaims:
    return JoinClaims(room, person, Role.PUPIL, "P", int(NOW) + 3600, issued, grant)


def test_a_revocation_covers_its_room_person_or_grant_and_only_tokens_issued_before_it() -> None:
    by_grant = Revocations([Revocation(ANY, ANY, "g1", NOW_MS)])
    assert by_grant.covers(claims())
    assert not by_grant.covers(claims(grant="g2"))
    assert not by_grant.covers(claims(issued=NOW_MS + 1))  # taken after: a new sign-in, say
    by_person = Revocations([Revocation(ANY, "p1", ANY, NOW_MS)])
    assert by_person.covers(claims(room="s7", grant="g9"))
    assert not by_person.covers(claims(person="p2"))
    by_room = Revocations([Revocation("s1", ANY, ANY, NOW_MS)])
    assert by_room.covers(claims(person="p2", grant=""))  # a guest too
    assert not by_room.covers(claims(room="s2"))
    assert not by_grant.covers(claims(grant=""))  # a guest has no sign-in to end
    assert not Revocations().covers(claims())


def test_a_later_revocation_of_the_same_thing_moves_its_time_and_old_ones_are_forgotten() -> None:
    known = Revocations([Revocation(ANY, "p1", ANY, NOW_MS)])
    known.add([Revocation(ANY, "p1", ANY, NOW_MS - 10_000)])  # an older row read late
    assert known.covers(claims(issued=NOW_MS - 5))
    known.add([Revocation(ANY, "p1", ANY, NOW_MS + 60_000)])
    assert known.covers(claims(issued=NOW_MS + 30_000))
    known.forget(NOW_MS + 60_001)
    assert len(known) == 0 and not known.covers(claims())


# -- the feed, on a real database ----------------------------------------------------------------


async def test_the_feed_returns_each_row_once_including_one_committed_out_of_order(
    engine: AsyncEngine,
) -> None:
    async with db.sessions(engine)() as session:
        await revoke_live(session, NOW - KEPT_S - 10, person="old")  # covers nothing valid now
        await revoke_live(session, NOW - 5, grant="g1")
        await session.commit()
    feed = RevocationFeed(engine)
    first = await feed.read(NOW_MS)
    assert first == [Revocation(ANY, ANY, "g1", NOW_MS - 5_000)]
    assert await feed.read(NOW_MS) == []
    table = LiveRevocation.__table__
    async with engine.begin() as conn:
        await conn.execute(
            table.insert().values(id=10, room="s3", person=ANY, grant_tag=ANY, before_ms=NOW_MS)
        )
    assert [r.room for r in await feed.read(NOW_MS + 1_000)] == ["s3"]
    # A row with a lower id committed after a higher one was read: the window still finds it.
    async with engine.begin() as conn:
        await conn.execute(
            table.insert().values(id=5, room="s4", person=ANY, grant_tag=ANY, before_ms=NOW_MS)
        )
    assert [r.room for r in await feed.read(NOW_MS + 2_000)] == ["s4"]
    assert await feed.read(NOW_MS + 3_000) == []
    assert await RevocationFeed(engine).read(NOW_MS) != []  # a new process reads what matters


async def test_a_new_revocation_deletes_the_rows_that_cover_nothing_any_more(
    engine: AsyncEngine,
) -> None:
    async with db.sessions(engine)() as session:
        await revoke_live(session, NOW - 3 * KEPT_S, person="old")
        await session.commit()
        await revoke_live(session, NOW, person="new")
        await session.commit()
        people = (await session.scalars(select(LiveRevocation.person))).all()
        assert people == ["new"]
        await session.execute(delete(LiveRevocation))
        await session.commit()
        assert await session.scalar(select(func.count()).select_from(LiveRevocation)) == 0


async def test_a_cancellation_of_guest_links_outlives_the_pruning_of_token_revocations(
    engine: AsyncEngine,
) -> None:
    """Guest links live as long as their session, far longer than a join token."""
    async with db.sessions(engine)() as session:
        await revoke_live(session, NOW, room="s5", grant=GUEST)
        await revoke_live(session, NOW, person="p1")
        await session.commit()
        await revoke_live(session, NOW + 3 * KEPT_S, person="p2")  # prunes the old token row
        await session.commit()
        assert await guests_cancelled(session, "s5") == NOW_MS
        assert await guests_cancelled(session, "s6") is None
        people = set((await session.scalars(select(LiveRevocation.person))).all())
        assert people == {ANY, "p2"}
        await revoke_live(session, NOW + GUEST_KEPT_S + 1, person="p3")  # a year on: gone too
        await session.commit()
        assert await guests_cancelled(session, "s5") is None


# -- the gateway -------------------------------------------------------------------------------


def token(
    live: Live,
    person: str,
    role: Role = Role.PUPIL,
    grant: str = "",
    at: float = NOW,
    room: str = "s1",
) -> str:
    name = person.title()
    issued = int(at * 1000)
    claim = JoinClaims(room, person, role, name, int(live.clock.now + 3600), issued, grant)
    return live.tokens.issue(claim)


async def test_a_revoked_token_closes_its_socket_with_4003_and_is_refused_after(
    live: Live,
) -> None:
    teacher_url = live.url(token(live, "t1", Role.TEACHER, grant="gt"))
    pupil_token = token(live, "p1", grant="gp", at=live.clock.now - 1)
    async with connect(teacher_url) as teacher, connect(live.url(pupil_token)) as pupil:
        await receive(teacher)
        await receive(pupil)
        revoked = [Revocation(ANY, ANY, "gp", int(live.clock.now * 1000))]
        assert revoke(live.server.gateway, revoked, live.clock.now) == 1
        with pytest.raises(ConnectionClosed) as closed:
            await receive(pupil)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4003, "revoked")
        left = await until(teacher, lambda m: m["type"] == "presence.left")
        assert left["person"] == "p1"  # the class goes on without them
        with pytest.raises(InvalidStatus) as refused:
            await connect(live.url(pupil_token), open_timeout=5)
        assert refused.value.response.status_code == 403
        assert refused.value.response.body == b"revoked\n"
        live.clock.now += 1  # a token the school gives after the revocation is good
        async with connect(live.url(token(live, "p1", grant="gp2", at=live.clock.now))) as again:
            assert (await receive(again))["type"] == "snapshot"


async def test_a_revocation_naming_a_room_or_a_person_closes_theirs_wherever_and_no_one_else(
    live: Live,
) -> None:
    at = live.clock.now - 1
    urls = {
        (room, person): live.url(token(live, person, room=room, grant=f"g{person}", at=at))
        for room, person in [("s1", "p1"), ("s1", "p2"), ("s2", "p1"), ("s2", "p3")]
    }
    sockets = {key: await connect(url, open_timeout=5) for key, url in urls.items()}
    try:
        for ws in sockets.values():
            await receive(ws)
        now_ms = int(live.clock.now * 1000)
        gateway = live.server.gateway
        # p1, in both rooms, named with the grant of the sign-in the tokens came from
        assert revoke(gateway, [Revocation(ANY, "p1", "gp1", now_ms)], live.clock.now) == 2
        assert revoke(gateway, [Revocation("s2", ANY, ANY, now_ms)], live.clock.now) == 1  # p3
        for key in [("s1", "p1"), ("s2", "p1"), ("s2", "p3")]:
            with pytest.raises(ConnectionClosed):
                while True:
                    await receive(sockets[key])
        await sockets[("s1", "p2")].send('{"v":1,"type":"ping","id":"still"}')
        assert (await until(sockets[("s1", "p2")], lambda m: m["type"] == "pong"))["id"] == "still"
        assert len(gateway.open) == 1
    finally:
        for ws in sockets.values():
            await ws.close()


def test_the_hub_finds_a_revocations_links_joined_or_still_joining() -> None:
    hub = Hub(clock=lambda: NOW)
    joined, joining, other = (_Link(p, "s1") for p in ("p1", "p1", "p2"))
    host = hub.rooms["s1"] = Host("s1")
    host.add(joined)
    host.joining[joining.ref] = Joining(joining, None, None)
    host.waiting.append(Joining(other, None, None))
    assert set(hub.links_named("s1", "p1")) == {joined, joining}
    assert set(hub.links_named(None, "p2")) == {other}
    assert set(hub.links_named("s1", None)) == {joined, joining, other}
    assert hub.links_named("s9", None) == []


class _Link:
    refs = 0

    def __init__(self, person: str, room: str) -> None:
        _Link.refs += 1
        self.ref = _Link.refs
        self.claims = claims(room=room, person=person)

    def __hash__(self) -> int:
        return self.ref


class Rows:
    """A revocation source whose rows the test gives (the database feed is tested above)."""

    def __init__(self) -> None:
        self.rows: list[Revocation] = []
        self.fail = False

    async def read(self, now_ms: int) -> list[Revocation]:
        if self.fail:
            raise ConnectionError("database away")
        rows, self.rows = self.rows, []
        return rows


async def test_the_server_applies_what_its_source_gives_and_survives_a_source_that_fails() -> None:
    clock, rows = Clock(), Rows()
    rows.rows = [Revocation("s1", ANY, ANY, int(clock.now * 1000))]  # before the start
    server = LiveServer(SECRET, clock=clock, revocations=rows)
    port = await server.start("127.0.0.1", 0)
    tokens = JoinTokens(SECRET)
    try:
        old = JoinClaims("s1", "p1", Role.PUPIL, "P", int(NOW) + 60, int(NOW * 1000) - 1)
        with pytest.raises(InvalidStatus):
            await connect(f"ws://127.0.0.1:{port}/live?token={tokens.issue(old)}", open_timeout=5)
        other = JoinClaims("s2", "p1", Role.PUPIL, "P", int(NOW) + 60, int(NOW * 1000) - 1)
        async with connect(f"ws://127.0.0.1:{port}/live?token={tokens.issue(other)}") as pupil:
            await receive(pupil)
            rows.fail = True
            with pytest.raises(ConnectionError):
                await server.read_revocations()
            rows.fail = False
            rows.rows = [Revocation(ANY, "p1", ANY, int(clock.now * 1000))]
            assert await server.read_revocations() == 1
            with pytest.raises(ConnectionClosed):
                await receive(pupil)
    finally:
        await server.stop()


async def test_a_database_not_migrated_yet_is_unavailable_not_a_bug(tmp_path: Path) -> None:
    """At the first `make run`, `homeroom live` may read before `homeroom run` has made the
    tables: the feed says so as `Unavailable` (one line in the log), not as a traceback."""
    empty = db.engine_for(f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
    try:
        with pytest.raises(Unavailable, match="live_revocation"):
            await RevocationFeed(empty).read(int(NOW * 1000))
    finally:
        await empty.dispose()
