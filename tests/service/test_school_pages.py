"""The school's pages inside the whole application: mounted, styled, signed in end to end."""

from __future__ import annotations

import re
from typing import Any

import pytest

from homeroom.school.auth.passwords import Passwords
from homeroom.school.data.models import Person
from tests.school.people import build
from tests.service.conftest import CHEAP, Gate

PASSWORD = "correct horse battery"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"mode": "safety_net"}  # room for everyone: the gate in front of /signin lets us by


async def test_sign_in_and_home_through_the_whole_app(gate: Gate) -> None:
    async with gate.app.school.sessionmaker() as db:
        demo = await build(db)
        lea = await db.get(Person, demo.pupil)
        assert lea is not None
        lea.password_hash = Passwords(CHEAP).hash(PASSWORD)
        await db.commit()
    async with gate.make_client(follow_redirects=True) as client:
        page = await client.get("/signin", headers={"accept": "text/html"})
        assert page.status_code == 200
        css = re.search(r'href="(/static/school\.css\?v=[^"]+)"', page.text)
        assert css and (await client.get(css.group(1))).status_code == 200
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token
        home = await client.post(
            "/signin", data={"login": "lea", "password": PASSWORD, "csrf": token.group(1)}
        )
        assert [r.status_code for r in home.history] == [303]
        assert home.url.path == "/home"
        assert home.status_code == 200 and "Mes classes du jour" in home.text
        assert home.headers["cache-control"] == "no-store"
        # the JSON API and the pages share the session
        me = await client.get("/api/v1/me")
        assert me.status_code == 200 and me.json()["person_id"] == demo.pupil
