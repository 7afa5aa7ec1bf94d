"""Schemathesis against the whole app in-process: the school API never answers 5xx or off-schema.

The app (create_app) runs on a temporary SQLite database holding the test school of
tests/school/people.py, where the teacher is also the school's administrator; every generated
request carries that person's session cookie and CSRF token, so the signed-in endpoints are
exercised past the 401. Sign-out is left out (it would end the session the run uses).
"""

from __future__ import annotations

import asyncio
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select
from starlette.routing import Route

from homeroom.app import create_app
from homeroom.config import load_settings
from homeroom.school.api import openapi as school_openapi
from homeroom.school.auth.sessions import COOKIE, STAFF, Sessions
from homeroom.school.data import db
from homeroom.school.data.models import ClassSession, Invitation, Role, RoleGrant
from homeroom.school.data.queries import load_principal
from homeroom.school.people import enrol
from tests.school.people import NOW, build
from tests.service.conftest import CHEAP, Gate

SECRET = "s" * 32
EXAMPLES = 10  # per operation and mode: the whole run stays well under a minute
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


@dataclass(frozen=True)
class Seeded:
    headers: dict[str, str]  # the signed-in session's cookie and CSRF token
    ids: dict[str, int]  # an existing object for each path parameter


async def _seed(url: str) -> Seeded:
    """The test school, the teacher made administrator, a session of theirs, an invitation."""
    engine = db.engine_for(url)
    try:
        async with db.sessions(engine)() as session:
            demo = await build(session)
            session.add(RoleGrant(person_id=demo.teacher, role=Role.ADMIN, school_id=demo.school))
            sessions = Sessions(SECRET.encode())
            cookie = await sessions.create(session, demo.teacher, STAFF)
            await session.commit()
            current = await sessions.check(session, cookie)
            principal = await load_principal(session, demo.teacher)
            assert current is not None and principal is not None
            await enrol.invite(session, principal, Role.PUPIL, demo.school, demo.groups[0], now=NOW)
            await session.commit()
            class_session = await session.scalar(
                select(ClassSession.id).where(ClassSession.group_id == demo.groups[0]).limit(1)
            )
            invitation = await session.scalar(select(Invitation.id))
            assert class_session is not None and invitation is not None
        ids = {
            "group_id": demo.groups[0],
            "school_id": demo.school,
            "session_id": class_session,
            "person_id": demo.pupil,
            "invitation_id": invitation,
        }
        return Seeded({"cookie": f"{COOKIE}={cookie}", "x-csrf-token": current.csrf}, ids)
    finally:
        await engine.dispose()


def seed(url: str) -> Seeded:
    db.upgrade(url)
    with ThreadPoolExecutor(1) as pool:  # a loop of its own, whatever pytest-asyncio runs
        return pool.submit(lambda: asyncio.run(_seed(url))).result()


def _modes(operation: dict[str, Any]) -> list[str]:
    """Positive data; negative data where some can be made (a body, or a parameter other than
    the CSRF header); and positive data on an existing object where the path names one."""
    params = [p for p in operation.get("parameters", []) if p["in"] != "header"]
    modes = ["positive"]
    if params or "requestBody" in operation:
        modes.append("negative")
    if any(p["in"] == "path" for p in params):
        modes.append("known")
    return modes


# Random positive data on every operation is the fast tier (about 6 s); negative data and
# existing objects double that, so they are marked slow.
CASES = [
    pytest.param(path, method, mode, marks=[] if mode == "positive" else [pytest.mark.slow])
    for path, operations in sorted(school_openapi.paths().items())
    for method, operation in sorted(operations.items())
    if (path, method) != ("/api/v1/session", "delete")
    for mode in _modes(operation)
]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Seeded]:
    """A migrated database holding the test school, and what the run needs to know of it."""
    path: Path = tmp_path_factory.mktemp("schemathesis") / "seeded.db"
    return path, seed(f"sqlite+aiosqlite:///{path}")


@pytest.fixture
def signed_in(
    seeded: tuple[Path, Seeded], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, Seeded]:
    """The loaded schema of an app on a copy of the seeded database, and the session's headers.

    An app per test: schemathesis's pytest plugin ends an ASGI app's lifespan after each test,
    and the school's thread pool does not start again. The copy keeps what a test erases or
    changes away from the next one.
    """
    template, known = seeded
    monkeypatch.chdir(tmp_path)  # what the app keeps in .homeroom/ (uploaded slides) stays here
    path = tmp_path / "homeroom.db"
    shutil.copyfile(template, path)
    app_settings = load_settings(
        mode="safety_net",
        operator_token="op-secret",
        session_secret=SECRET,
        database_url=f"sqlite+aiosqlite:///{path}",
        max_body_bytes=64 * 1024,
        # Sign-in sits behind the gate by default (503 waiting_room without a pass, as the
        # document says): open it here so the generated sign-ins reach the school's handler.
        protect="/class=national,/workspace=national",
    )
    app = create_app(app_settings, password_parameters=CHEAP)
    return schemathesis.openapi.from_asgi("/openapi.json", app), known


@pytest.mark.parametrize(("path", "method", "mode"), CASES)
def test_the_school_api_keeps_to_its_schema(
    signed_in: tuple[Any, Seeded], path: str, method: str, mode: str
) -> None:
    loaded, known = signed_in
    operation = loaded[path][method.upper()]
    fixed = {name: known.ids[name] for name in known.ids if "{" + name + "}" in path}
    strategy = operation.as_strategy(
        generation_mode=GenerationMode.NEGATIVE if mode == "negative" else GenerationMode.POSITIVE,
        path_parameters=fixed if mode == "known" else None,
    )

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=known.headers, checks=CHECKS)

    run()


async def test_every_school_route_is_in_the_openapi_document_and_back(gate: Gate) -> None:
    async with gate.make_client() as client:
        spec = (await client.get("/openapi.json")).json()
    mounted = {
        (route.path, method.lower())
        for route in gate.keeper_app_routes()
        if isinstance(route, Route) and route.path.startswith("/api/v1/")
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {
        (path, method)
        for path, operations in spec["paths"].items()
        if path.startswith("/api/v1/")
        for method in operations
    }
    # a route of each module, so the filter above cannot match nothing and pass
    assert {
        ("/api/v1/session", "post"),
        ("/api/v1/schools/{school_id}/roster", "post"),
        ("/api/v1/sessions/{session_id}/attendance", "get"),
        ("/api/v1/sessions/{session_id}/join", "post"),
    } <= mounted
    assert mounted == documented
    for path, method in documented:
        operation = spec["paths"][path][method]
        for status, answer in operation["responses"].items():
            if status.startswith(("4", "5")):
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (path, method, status)
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                assert parameter["schema"]["maximum"] == 2**31 - 1, (path, parameter)
    for name in school_openapi.schemas():
        assert name in spec["components"]["schemas"]
