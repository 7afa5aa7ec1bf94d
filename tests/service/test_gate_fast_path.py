"""The fast path of tickets and redeems answers exactly as the routed endpoints do.

Two apps in process, the same settings and keys, one with `gate_fast_path` and one without, each
on its own memory store and clock: the same requests, in the same order and at the same times,
get the same status, the same headers in the same order and the same bytes, good or bad
(docs/gate.md#the-fast-path).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from homeroom.app import Homeroom, create_app
from homeroom.config import load_settings
from homeroom.core.lanes import Lane
from homeroom.core.tokens import KeyRing, Kind, Token, binding_of, gate_tag
from homeroom.gate.ticketpath import TicketFastPath
from tests.service.conftest import CHEAP, START, Clock

KEY = b"f" * 32
KEYS = "1:" + base64.urlsafe_b64encode(KEY).decode().rstrip("=")
BID = "browser-0000000000000001"
OTHER_BID = "browser-0000000000000002"
JSON = "application/json"


@dataclass
class Side:
    app: Homeroom
    asgi: Any
    clock: Clock

    async def send(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        transport = httpx.ASGITransport(app=self.asgi, client=("192.0.2.10", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.request(method, path, headers=headers, content=body)

    async def tick(self, seconds: float) -> None:
        self.clock.advance(seconds)
        for rt in self.app.keeper.gates.values():
            await rt.step()


@pytest.fixture
def overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
async def sides(overrides: dict[str, Any], tmp_path: Path) -> AsyncIterator[list[Side]]:
    """[fast, routed]"""
    async with AsyncExitStack() as stack:
        out = []
        for fast in (True, False):
            settings = load_settings(
                **{
                    "mode": "queue",
                    "tick_s": 5.0,
                    "secret_keys": KEYS,
                    "operator_token": "op-secret",
                    "session_secret": "s" * 32,
                    "database_url": f"sqlite+aiosqlite:///{tmp_path / f'{fast}.db'}",
                    "gate_fast_path": fast,
                    **overrides,
                }
            )
            clock = Clock()
            app = create_app(settings, clock=clock, password_parameters=CHEAP)
            manager = await stack.enter_async_context(LifespanManager(app))
            out.append(Side(app, manager.app, clock))
        assert fast_path_of(out[1].app) is None
        yield out


def fast_path_of(app: Homeroom) -> TicketFastPath | None:
    layer: Any = app.asgi
    while layer is not None:
        if isinstance(layer, TicketFastPath):
            return layer
        layer = getattr(layer, "app", None)
    return None


def ticket_of(
    number: int, bid: str = BID, lane: Lane = Lane.PUPILS, *, gate: str = "national"
) -> str:
    """A ticket as the gate seals it (the same key), for a number already issued."""
    now = int(START)
    token = Token(Kind.TICKET, gate_tag(gate), lane, number, now, now + 3600, binding_of(bid))
    return KeyRing({1: KEY}, 1).seal(token)


def cookies(*pairs: tuple[str, str]) -> dict[str, str]:
    return {"cookie": "; ".join(f"{k}={v}" for k, v in pairs)} if pairs else {}


async def same(sides: list[Side], method: str, path: str, **kw: Any) -> httpx.Response:
    """Send to both; assert the answers are the same to the byte; the fast side's answer."""
    headers = {"accept": JSON, **kw.get("headers", {})}
    body = kw.get("body", b"")
    fast, routed = [await side.send(method, path, headers, body) for side in sides]
    assert fast.status_code == routed.status_code, (path, fast.text, routed.text)
    assert fast.headers.raw == routed.headers.raw, path
    assert fast.content == routed.content, path
    return fast


BAD_BODIES = [
    (b"{", JSON),  # malformed JSON
    (b"[1, 2]", JSON),  # not an object
    (b'{"grant": 12}', JSON),  # a field of the wrong type
    (b'{"grant": "not-a-grant"}', JSON),  # a grant that cannot be read
    (b'{"altcha": "' + b"x" * 5000 + b'"}', JSON),  # a field too long
    (b'{"x": "\\ud800"}', JSON),  # a lone surrogate no database can store
    (b"[" * 600 + b"]" * 600, JSON),  # nested too deep
    (b"\xff\xfe", JSON),  # not UTF-8
    (b"rejoin=1&grant=%00", "application/x-www-form-urlencoded"),  # NUL in a form
    (b"x" * 9000, JSON),  # above the body limit: the fast path leaves it to BodyLimit
]


async def test_tickets_and_redeems_answer_the_same_good_and_bad(sides: list[Side]) -> None:
    layer = fast_path_of(sides[0].app)
    assert layer is not None
    me = cookies(("hr_bid", BID))
    first = await same(sides, "POST", "/gate/national/ticket", headers=me)
    assert first.status_code == 201
    await same(sides, "POST", "/gate/national/ticket", headers=me)  # no ticket cookie: a new one
    held = ("hr_t_national", first.json()["ticket"])
    again = await same(
        sides, "POST", "/gate/national/ticket", headers=cookies(("hr_bid", BID), held)
    )
    assert again.status_code == 200  # the same place
    await same(sides, "POST", "/gate/national/ticket", headers=cookies(("hr_bid", OTHER_BID)))
    form = {"content-type": "application/x-www-form-urlencoded", **me}
    await same(sides, "POST", "/gate/national/ticket", headers=form, body=b"rejoin=1")
    rejoin = {"content-type": JSON, **me}
    await same(sides, "POST", "/gate/national/ticket", headers=rejoin, body=b'{"rejoin": true}')
    for body, kind in BAD_BODIES:
        for accept in (JSON, "text/html"):  # errors as JSON, or as a page with its headers
            headers = {"content-type": kind, "accept": accept, **me}
            for what in ("ticket", "redeem"):
                bad = await same(
                    sides, "POST", f"/gate/national/{what}", headers=headers, body=body
                )
                assert bad.status_code in (400, 403, 413), (body[:20], bad.text)
    # redeem: no ticket, unreadable, altered, another browser's, too early, then admitted
    await same(sides, "POST", "/gate/national/redeem", headers=me)
    await same(
        sides,
        "POST",
        "/gate/national/redeem",
        headers=cookies(("hr_bid", BID), ("hr_t_national", "x")),
    )
    altered = first.json()["ticket"][:-2] + (
        "AA" if not first.json()["ticket"].endswith("AA") else "BB"
    )
    await same(
        sides,
        "POST",
        "/gate/national/redeem",
        headers=cookies(("hr_bid", BID), ("hr_t_national", altered)),
    )
    await same(sides, "POST", "/gate/national/redeem", headers=cookies(("hr_bid", OTHER_BID), held))
    early = await same(
        sides, "POST", "/gate/national/redeem", headers=cookies(("hr_bid", BID), held)
    )
    assert early.status_code == 425 and "retry-after" in early.headers
    for side in sides:
        await side.tick(5)
    for next_url in ("/workspace/maths", "/classe/école", "//evil.example", "https://x.example/"):
        body = b'{"next": "%s"}' % next_url.encode()
        headers = {"content-type": JSON, **cookies(("hr_bid", BID), held)}
        ok = await same(sides, "POST", "/gate/national/redeem", headers=headers, body=body)
        assert ok.status_code == 200, ok.text
    by_body = {"content-type": JSON, **me}
    await same(
        sides,
        "POST",
        "/gate/national/redeem",
        headers=by_body,
        body=b'{"ticket": "%s"}' % held[1].encode(),
    )
    await same(
        sides,
        "POST",
        "/gate/national/redeem",
        headers=cookies(("hr_bid", BID), ("hr_t_national", ticket_of(99))),
    )
    # every request above but the too large ones (BodyLimit answers those in front)
    assert layer.answered == 6 + 2 * 2 * (len(BAD_BODIES) - 1) + 5 + 4 + 2


async def test_the_router_answers_what_the_fast_path_leaves(sides: list[Side]) -> None:
    layer = fast_path_of(sides[0].app)
    assert layer is not None
    me = cookies(("hr_bid", BID))
    await same(sides, "GET", "/gate/national/ticket", headers=me)  # 405
    await same(sides, "POST", "/gate/nowhere/ticket", headers=me)  # 404
    await same(sides, "POST", "/gate/national/ticket/", headers=me)  # the router's redirect
    signed = cookies(("hr_bid", BID), ("hr_sid", "not-a-session"))  # the school is asked
    answer = await same(sides, "POST", "/gate/national/ticket", headers=signed)
    assert answer.json()["signed_in"] is False
    assert layer.answered == 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"ticket_limit": "4/minute", "pow_above": "2/minute"},  # proof of work, then 429
        {"mode": "safety_net"},  # admitted on the spot: a pass with the ticket
        {"mode": "closed"},  # maintenance
        {"mode": "paused"},
    ],
)
async def test_every_mode_and_limit_answers_the_same(sides: list[Side]) -> None:
    for side in sides:
        await side.tick(1)
    statuses = []
    for i in range(7):
        bid = f"browser-{i:016d}"
        answer = await same(
            sides, "POST", "/gate/national/ticket", headers=cookies(("hr_bid", bid))
        )
        statuses.append(answer.status_code)
        redeemed = await same(
            sides,
            "POST",
            "/gate/national/redeem",
            headers=cookies(("hr_bid", bid), ("hr_t_national", ticket_of(i + 1, bid))),
        )
        statuses.append(redeemed.status_code)
    assert len(set(statuses)) > 1 or statuses[0] == 503, statuses
