"""The security headers of every kind of answer, in process (docs/operations.md#security-headers).

Pages carry the pages' policy (this site's files, the live gateway's WebSocket); every other
answer (JSON, errors in JSON, the gate's fast path, static files, redirects, refusals of the
raw layers) carries the policy that allows nothing; an https public origin adds HSTS to all and
makes every cookie Secure.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from homeroom.headers import RESOURCE_CSP
from homeroom.school.auth.passwords import Passwords
from homeroom.school.data.models import Role
from tests.school.people import build, person
from tests.service.conftest import CHEAP, Gate

PASSWORD = "correct horse battery"
HTML = {"accept": "text/html"}
JSON = {"accept": "application/json"}
SECURITY = (
    "content-security-policy",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
    "cross-origin-opener-policy",
    "strict-transport-security",
)
HSTS = {"strict-transport-security": "max-age=31536000"}
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' {live}; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def page_headers(live: str) -> dict[str, str]:
    return {
        "content-security-policy": PAGE_CSP.format(live=live),
        "x-frame-options": "DENY",
        "x-content-type-options": "nosniff",
        "referrer-policy": "same-origin",
        "cross-origin-opener-policy": "same-origin",
    }


RESOURCE = {"content-security-policy": RESOURCE_CSP, "x-content-type-options": "nosniff"}


def security_of(response: httpx.Response) -> dict[str, str]:
    """The security headers of `response`, each present once."""
    found = {}
    for name in SECURITY:
        values = response.headers.get_list(name)
        assert len(values) <= 1, f"{name} twice on {response.request.url}"
        if values:
            found[name] = values[0]
    return found


async def every_kind(gate: Gate) -> dict[str, httpx.Response]:
    """One answer of each kind, by name."""

    async def boom(request: Request) -> Response:
        raise RuntimeError("a bug")

    gate.app.router.router.routes.append(Route("/boom", boom))
    out: dict[str, httpx.Response] = {}
    async with gate.make_client() as client:
        out["redirect to the waiting page"] = await client.get("/class/1", headers=HTML)
        out["waiting page"] = await client.get(
            out["redirect to the waiting page"].headers["location"]
        )
        out["sign-up page"] = await client.get("/signup", headers=HTML)
        out["API JSON"] = await client.get("/api/v1/me", headers=JSON)
        out["health JSON"] = await client.get("/healthz")
        out["error page 404"] = await client.get("/no/such/page", headers=HTML)
        out["error JSON 404"] = await client.get("/no/such/page", headers=JSON)
        out["error JSON 405"] = await client.delete("/healthz", headers=JSON)
        out["error page 405"] = await client.delete("/healthz", headers=HTML)
        for _ in range(2):  # two browsers of one address block: the limit is 1 a minute here
            async with gate.make_client() as browser:
                out["error JSON 429"] = await browser.post("/gate/national/ticket", headers=JSON)
        state = await client.get("/gate/national/state")
        out["fast path state"] = state
        out["fast path 304"] = await client.get(
            "/gate/national/state", headers={"if-none-match": state.headers["etag"]}
        )
        out["fast path HEAD"] = await client.head("/gate/national/state")
        out["static file"] = await client.get("/static/gate.css")
        out["static script"] = await client.get("/static/gate-altcha.js")
        out["body limit 413"] = await client.post(
            "/gate/national/ticket", content=b"x" * 100_000, headers=JSON
        )
    transport = httpx.ASGITransport(app=gate.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        out["error page 500"] = await client.get("/boom", headers=HTML)
        out["error JSON 500"] = await client.get("/boom", headers=JSON)
    return out


STATUS = {
    "redirect to the waiting page": 303,
    "waiting page": 200,
    "sign-up page": 200,
    "API JSON": 401,
    "health JSON": 200,
    "error page 404": 404,
    "error JSON 404": 404,
    "error JSON 405": 405,
    "error page 405": 405,
    "error JSON 429": 429,
    "fast path state": 200,
    "fast path 304": 304,
    "fast path HEAD": 200,
    "static file": 200,
    "static script": 200,
    "body limit 413": 413,
    "error page 500": 500,
    "error JSON 500": 500,
}
PAGES = {"waiting page", "sign-up page", "error page 404", "error page 405", "error page 500"}


def expected(kind: str, live: str, https: bool) -> dict[str, str]:
    headers = page_headers(live) if kind in PAGES else dict(RESOURCE)
    return {**headers, **HSTS} if https else headers


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"ticket_limit": "1/minute", "pow_above": "100/minute"}


async def test_each_kind_of_answer_has_its_headers(gate: Gate) -> None:
    answers = await every_kind(gate)
    assert {kind: r.status_code for kind, r in answers.items()} == STATUS
    for kind, response in answers.items():
        assert security_of(response) == expected(kind, "ws://testserver:8001", False), kind
    assert answers["waiting page"].headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {
            "ticket_limit": "1/minute",
            "pow_above": "100/minute",
            "public_origin": "https://classe.example.fr",
            "live_public_url": "wss://direct.example.fr/live",
        }
    ],
)
async def test_an_https_origin_adds_hsts_to_every_answer(gate: Gate) -> None:
    answers = await every_kind(gate)
    assert {kind: r.status_code for kind, r in answers.items()} == STATUS
    for kind, response in answers.items():
        assert security_of(response) == expected(kind, "wss://direct.example.fr", True), kind


@pytest.mark.parametrize(
    "settings_overrides", [{"mode": "safety_net", "public_origin": "https://classe.example.fr"}]
)
async def test_an_https_origin_makes_every_cookie_secure(gate: Gate) -> None:
    async with gate.app.school.sessionmaker() as db:
        school = (await build(db)).school
        await person(db, "ines", Role.PUPIL, school, password_hash=Passwords(CHEAP).hash(PASSWORD))
        await db.commit()
    transport = httpx.ASGITransport(app=gate.app, client=("192.0.2.10", 4000))
    https = httpx.AsyncClient(
        transport=transport, base_url="https://classe.example.fr", follow_redirects=True
    )
    async with https as client:  # (a client sends Secure cookies back over https only)
        signin = await client.get("/signin", headers=HTML)  # the gate's cookies, the form's
        token = re.search(r'name="csrf" value="([^"]+)"', signin.text)
        assert token
        home = await client.post(
            "/signin", data={"login": "ines", "password": PASSWORD, "csrf": token.group(1)}
        )
        assert home.url.path == "/home"
        ticket = await client.post("/gate/national/ticket", headers=JSON)
    cookies = [
        value
        for response in (*signin.history, signin, *home.history, home, ticket)
        for value in response.headers.get_list("set-cookie")
    ]
    names = {cookie.split("=", 1)[0] for cookie in cookies}
    assert {"hr_bid", "hr_t_national", "hr_p_national", "__Host-hr_form", "hr_sid"} <= names
    assert all(cookie.endswith("; Secure") for cookie in cookies), cookies


async def test_without_a_public_origin_cookies_are_not_secure(gate: Gate) -> None:
    async with gate.make_client() as client:
        ticket = await client.post("/gate/national/ticket", headers=JSON)
    cookies = ticket.headers.get_list("set-cookie")
    assert cookies and not any("Secure" in cookie for cookie in cookies)
    assert "strict-transport-security" not in ticket.headers


@pytest.mark.parametrize(
    ("host", "live"),
    [
        ("classe.example.fr", "ws://classe.example.fr:8001"),
        ("classe.example.fr:8443", "ws://classe.example.fr:8001"),
        ("[2001:db8::1]:8000", "ws://[2001:db8::1]:8001"),
        ("evil.example; script-src *", ""),
    ],
)
async def test_the_gateway_follows_the_host_and_nothing_odd_enters_the_policy(
    gate: Gate, host: str, live: str
) -> None:
    async with gate.make_client() as client:
        page = await client.get("/signup", headers={**HTML, "host": host})
    policy = page.headers["content-security-policy"]
    connect = next(d for d in policy.split("; ") if d.startswith("connect-src"))
    assert connect == f"connect-src 'self' {live}".rstrip()
    assert policy.count(";") == PAGE_CSP.count(";")
