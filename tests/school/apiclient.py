"""An in-process school API over httpx, for the API tests: the demo school, signed-in clients.

The `api` fixture (tests/school/conftest.py) builds it; `sign_in` and `with_cookie` are helpers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from homeroom.errors import HomeroomError
from homeroom.school.api.routes import school_routes
from homeroom.school.auth.passwords import PasswordParameters, Passwords, VerifyPool
from homeroom.school.auth.sessions import COOKIE, Sessions
from homeroom.school.auth.signin import SignIn
from homeroom.school.auth.throttle import Throttle
from homeroom.school.data import db
from homeroom.school.data.models import Person
from homeroom.school.deps import SchoolDeps
from homeroom.web.http import error_response
from tests.school.people import NOW, Demo, build

CHEAP = PasswordParameters(1, 64, 1)
PASSWORD = "correct horse battery"


class Clock:
    """The school's clock in a test: `NOW` until a test moves it."""

    def __init__(self) -> None:
        self.now = NOW.timestamp()

    def __call__(self) -> float:
        return self.now

    def at(self, when: dt.datetime) -> None:
        self.now = when.timestamp()


@dataclass
class Api:
    client: httpx.AsyncClient
    demo: Demo
    deps: SchoolDeps
    session: AsyncSession  # the demo's database, to add rows
    clock: Clock  # the one the API reads


async def handle(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HomeroomError)
    return error_response(request, exc)


def fixed_clock() -> float:
    return NOW.timestamp()


@contextlib.asynccontextmanager
async def school_deps(
    engine: AsyncEngine,
    passwords: Passwords,
    clock: Callable[[], float] = fixed_clock,
    **extra: Any,
) -> AsyncIterator[SchoolDeps]:
    """What the school's pages and API need, over `engine`; its pool and throttle closed after."""
    pool = VerifyPool(workers=1, check=passwords.verify)
    throttle = Throttle("memory://")
    sessions = Sessions(b"k" * 32, clock=clock)
    try:
        yield SchoolDeps(
            sessionmaker=db.sessions(engine),
            signin=SignIn(sessions, throttle, pool, passwords, clock=clock),
            sessions=sessions,
            passwords=passwords,
            secure_cookies=False,
            clock=clock,
            **extra,
        )
    finally:
        pool.close()
        await throttle.aclose()


async def with_passwords(session: AsyncSession, passwords: Passwords, *people: int) -> None:
    for pid in people:
        person = await session.get(Person, pid)
        assert person is not None
        person.password_hash = passwords.hash(PASSWORD)
    await session.commit()


async def api_client(engine: AsyncEngine, session: AsyncSession) -> AsyncIterator[Api]:
    """The demo school with passwords, and a client of its API (the `api` fixture)."""
    passwords = Passwords(CHEAP)
    demo = await build(session)
    await with_passwords(
        session, passwords, demo.pupil, demo.other_pupil, demo.parent, demo.teacher
    )
    clock = Clock()
    async with school_deps(engine, passwords, clock) as deps:
        app = Starlette(routes=school_routes(deps), exception_handlers={HomeroomError: handle})
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://school.test") as client:
            yield Api(client, demo, deps, session, clock)


async def sign_in(api: Api, login: str, password: str = PASSWORD) -> str:
    response = await api.client.post("/api/v1/session", json={"login": login, "password": password})
    assert response.status_code == 201, response.text
    api.client.cookies.clear()  # every request below names its cookie itself
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith(f"{COOKIE}=")
    return set_cookie.split(";")[0].split("=", 1)[1]


def with_cookie(cookie: str, **extra: str) -> dict[str, str]:
    return {"cookie": f"{COOKIE}={cookie}", **extra}
