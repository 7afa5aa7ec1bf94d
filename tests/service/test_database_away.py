"""PostgreSQL away: every route answers a documented word, never 500; sign-in and the pages that
need the database answer 503 with Retry-After and a page in the person's language; the gate goes
on; once it is back, sign-in works again (docs/operations.md#when-a-store-is-away).

The whole application runs in process on a database of its own on the machine's PostgreSQL,
reached through a proxy the test cuts (tests/fault_proxy.py): the clients meet refused
connections and connections lost mid-query, as when the server stops, without stopping a
server other tests use.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from homeroom.school.auth.sessions import COOKIE
from homeroom.school.data import db
from tests.fault_proxy import FaultProxy
from tests.school.conftest import PG_PORT, drop_pg_database, new_pg_database
from tests.service.conftest import Gate
from tests.service.sweep import sweep
from tests.service.test_gate_school import PASSWORD, School, school  # noqa: F401 (a fixture)
from tests.service.test_redis_away import admitted

pytestmark = pytest.mark.slow
JSON = {"accept": "application/json"}
AWAY_WORDS = {"database_unavailable", "waiting_room"}


@pytest.fixture
def database() -> Iterator[str]:
    name = new_pg_database()
    yield name
    drop_pg_database(name)


@pytest.fixture
async def proxy() -> AsyncIterator[FaultProxy]:
    proxy = await FaultProxy(PG_PORT).start()
    yield proxy
    await proxy.close()


@pytest.fixture
def settings_overrides(
    proxy: FaultProxy, database: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    # a silent database is given up after these (seconds here, not the deployment's 5 and 30)
    monkeypatch.setattr(db, "CONNECT_TIMEOUT_S", 2.0)
    monkeypatch.setattr(db, "STATEMENT_TIMEOUT_S", 3.0)
    return {"database_url": f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/{database}"}


async def test_every_route_answers_a_documented_word_while_the_database_is_away(
    gate: Gate,
    proxy: FaultProxy,
    school: School,  # noqa: F811
) -> None:
    async with gate.make_client() as client:
        await admitted(gate, client)
        client.cookies.set(COOKIE, school.cookies["prof"])
        await proxy.cut()
        ids = {"gate": "national", "session_id": str(school.session_id), "id": "1"}
        answers, asked = await sweep(client, gate.keeper_app_routes(), ids)
        assert "/home" in asked and "/api/v1/me" in asked
        errors = [a for a in answers if a.status >= 500 and a.status != 503]
        assert errors == [], "\n".join(map(str, errors))
        unavailable = [a for a in answers if a.status == 503]
        for answer in unavailable:
            assert answer.retry_after is not None and int(answer.retry_after) >= 1, str(answer)
            assert answer.word in AWAY_WORDS, str(answer)
        met = {(a.method, a.path) for a in unavailable if a.word == "database_unavailable"}
        assert ("GET", "/home") in met and ("GET", "/api/v1/me") in met
        # the gate does not need the database: a newcomer still takes a place
        async with gate.make_client() as newcomer:
            taken = await newcomer.post("/gate/national/ticket", headers=JSON)
            assert taken.status_code == 201
            assert (await newcomer.get("/gate/national/state")).status_code == 200


@pytest.mark.parametrize(
    ("lang", "title"),
    [("fr", "Service momentanément indisponible"), ("en", "Service temporarily unavailable")],
)
async def test_sign_in_answers_a_503_page_while_the_database_is_away_and_works_after(
    gate: Gate,
    proxy: FaultProxy,
    school: School,  # noqa: F811
    lang: str,
    title: str,
) -> None:
    async with gate.make_client() as client:
        await admitted(gate, client)  # the sign-in form sits behind the gate
        blank = await client.get("/signin", headers={"accept": "text/html"})
        csrf = re.search(r'name="csrf" value="([^"]+)"', blank.text)
        assert csrf is not None
        await proxy.cut()
        form = {"login": "prof", "password": PASSWORD}
        page = await client.post(
            "/signin",
            data={**form, "csrf": csrf[1]},
            headers={"accept": "text/html", "accept-language": lang},
        )
        assert page.status_code == 503
        assert page.headers["retry-after"] == "10"
        assert f'<html lang="{lang}"' in page.text and title in page.text
        assert 'data-error="database_unavailable"' in page.text
        api = await client.post("/api/v1/session", json=form, headers=JSON)
        assert api.status_code == 503 and api.json()["error"] == "database_unavailable"
        metrics = (await client.get("/metrics")).text
        assert 'homeroom_http_store_away_total{reason="database_unavailable"} 2.0' in metrics
        await proxy.restore()
        back = await client.post("/api/v1/session", json=form, headers=JSON)
        assert back.status_code in (200, 201), back.text


async def test_a_database_that_stops_answering_is_given_up_not_waited_for(
    gate: Gate,
    proxy: FaultProxy,
    school: School,  # noqa: F811
) -> None:
    """The proxy holds every byte (a partition): pooled connections go silent mid-query and new
    ones hang. Pages that need the database answer their 503 once the timeouts run out."""
    async with gate.make_client() as client:
        await admitted(gate, client)
        client.cookies.set(COOKIE, school.cookies["prof"])
        assert (await client.get("/api/v1/me", headers=JSON)).status_code == 200
        proxy.hold()
        try:
            async with asyncio.timeout(60):  # a hang fails the test, not the run
                home = await client.get("/home", headers={"accept": "text/html"})
                me = await client.get("/api/v1/me/sessions", headers=JSON)
        finally:
            proxy.release()
        assert home.status_code == 503 and 'data-error="database_unavailable"' in home.text
        assert home.headers["retry-after"] == "10"
        assert (me.status_code, me.json()["error"]) == (503, "database_unavailable")
