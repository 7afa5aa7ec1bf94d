"""The pass check for proxies, GET|HEAD /gate/{gate}/check (docs/gate.md#the-pass-check-for-proxies).

Two apps in process, the same settings and keys, one with the fast path and one without, each on
its own memory store and clock: every request goes to both, and both answer the same status,
headers in the same order and bytes. A refused pass costs no backend call: the gate store is
wrapped in a counter, with the gates' background loops stopped, so any call would be seen.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from asgi_lifespan import LifespanManager

from homeroom.app import Homeroom, create_app
from homeroom.config import load_settings
from homeroom.core.lanes import Lane
from homeroom.core.tokens import KeyRing, Kind, Token, binding_of, gate_tag
from homeroom.gate.check import CheckFastPath
from tests.service.conftest import CHEAP, START, Clock

KEY = b"c" * 32
KEYS = "1:" + base64.urlsafe_b64encode(KEY).decode().rstrip("=")
BID = "browser-0000000000000001"
OTHER_BID = "browser-0000000000000002"
GATES = "national,ent,moodle,pronote"
IDLE_S, RENEW_S = 60, 20  # the "ent" gate's passes (HOMEROOM_PASS_IDLE)


class CountingStore:
    """The gate store, every call counted by name."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.store, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return attr(*args, **kwargs)

        return counted


@dataclass
class Side:
    app: Homeroom
    asgi: Any
    clock: Clock
    store: CountingStore

    async def send(self, method: str, path: str, headers: dict[str, Any]) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.asgi, client=("192.0.2.10", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.request(method, path, headers=headers)


@pytest.fixture
def overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
async def sides(overrides: dict[str, Any], tmp_path: Path) -> AsyncIterator[list[Side]]:
    """[fast, routed], their loops stopped (the tests tick by hand), their stores counted."""
    async with AsyncExitStack() as stack:
        out = []
        for fast in (True, False):
            settings = load_settings(
                **{
                    "mode": "safety_net",
                    "gates": GATES,
                    "pass_idle": f"ent={IDLE_S}/{RENEW_S}",
                    "pass_shared": "ent=moodle",
                    "protect": "/workspace=moodle,/class=pronote",
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
            store = CountingStore(app.keeper.store)
            app.keeper.store = store  # type: ignore[assignment]
            for rt in app.keeper.gates.values():
                await rt.stop()
                rt.store = store  # type: ignore[assignment]
            out.append(Side(app, manager.app, clock, store))
        assert fast_layer(out[0].app) is not None and fast_layer(out[1].app) is None
        yield out


def fast_layer(app: Homeroom) -> CheckFastPath | None:
    layer: Any = app.asgi
    while layer is not None:
        if isinstance(layer, CheckFastPath):
            return layer
        layer = getattr(layer, "app", None)
    return None


def pass_of(gate: str = "ent", bid: str = BID, *, ttl: int = IDLE_S, kind: Kind = Kind.PASS) -> str:
    """A pass as the gate seals it (the same key), issued at START; number 0: uncounted."""
    now = int(START)
    token = Token(kind, gate_tag(gate), Lane.PUPILS, 0, now, now + ttl, binding_of(bid))
    return KeyRing({1: KEY}, 1).seal(token)


def cookie(*pairs: tuple[str, str]) -> dict[str, str]:
    return {"cookie": "; ".join(f"{k}={v}" for k, v in pairs)} if pairs else {}


async def same(
    sides: list[Side],
    path: str,
    headers: dict[str, Any],
    method: str = "GET",
    *,
    check: bool = True,
) -> httpx.Response:
    """Send to both; assert the answers are the same to the byte; the fast side's answer."""
    fast, routed = [await side.send(method, path, headers) for side in sides]
    assert fast.status_code == routed.status_code, (path, fast.text, routed.text)
    assert fast.headers.raw == routed.headers.raw, path
    assert fast.content == routed.content, path
    if check:  # an answer of the check itself
        assert fast.headers["cache-control"] == "no-store"
    return fast


def wait_next(response: httpx.Response, gate: str = "ent") -> str:
    """The `next` of the X-Homeroom-Wait URL, decoded as the waiting page reads it."""
    url = urlsplit(response.headers["x-homeroom-wait"])
    assert url.path == f"/gate/{gate}/wait" and not url.netloc
    return parse_qs(url.query)["next"][0]


async def tick(sides: list[Side], seconds: float) -> None:
    for side in sides:
        side.clock.advance(seconds)


def forged() -> str:
    """A pass of the right shape sealed with a key the gate does not hold."""
    token = Token(
        Kind.PASS, gate_tag("ent"), Lane.STAFF, 0, int(START), int(START) + 3600, binding_of(BID)
    )
    return KeyRing({1: b"x" * 32}, 1).seal(token)


def tampered() -> str:
    raw = bytearray(base64.urlsafe_b64decode(pass_of() + "=" * 4))
    raw[20] ^= 0x01  # a bit of the body: the number or a time
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


REFUSED: list[tuple[str, dict[str, str], str]] = [
    ("none", {}, "no_pass"),
    ("browser id only", cookie(("hr_bid", BID)), "no_pass"),
    ("empty", cookie(("hr_bid", BID), ("hr_p_ent", "")), "no_pass"),
    ("unreadable", cookie(("hr_bid", BID), ("hr_p_ent", "not-a-pass")), "pass_malformed"),
    ("forged", cookie(("hr_bid", BID), ("hr_p_ent", forged())), "pass_invalid"),
    ("tampered", cookie(("hr_bid", BID), ("hr_p_ent", tampered())), "pass_invalid"),
    ("other browser", cookie(("hr_bid", OTHER_BID), ("hr_p_ent", pass_of())), "pass_foreign"),
    ("no browser id", cookie(("hr_p_ent", pass_of())), "pass_foreign"),
    ("other gate's", cookie(("hr_bid", BID), ("hr_p_ent", pass_of("national"))), "pass_foreign"),
    ("a ticket", cookie(("hr_bid", BID), ("hr_p_ent", pass_of(kind=Kind.TICKET))), "pass_foreign"),
    ("unshared gate", cookie(("hr_bid", BID), ("hr_p_national", pass_of("national"))), "no_pass"),
]


async def test_a_valid_pass_is_204_with_no_body_and_no_store_call(sides: list[Side]) -> None:
    for method in ("GET", "HEAD"):
        ok = await same(
            sides, "/gate/ent/check", cookie(("hr_bid", BID), ("hr_p_ent", pass_of())), method
        )
        assert ok.status_code == 204 and ok.content == b""
        assert "set-cookie" not in ok.headers
    assert [side.store.calls for side in sides] == [[], []]
    layer = fast_layer(sides[0].app)
    assert layer is not None and layer.answered == 2


async def test_a_refused_pass_is_401_with_the_way_back_and_no_store_call(
    sides: list[Side],
) -> None:
    asked = "/cours/maths/chapitre-2?onglet=devoirs&page=3"
    for case, headers, word in REFUSED:
        refused = await same(sides, "/gate/ent/check", {**headers, "x-original-uri": asked})
        assert refused.status_code == 401, case
        assert refused.headers["content-type"] == "application/json"
        assert refused.json() == {"error": word}, case
        assert wait_next(refused) == asked
        head = await same(sides, "/gate/ent/check", {**headers, "x-original-uri": asked}, "HEAD")
        assert head.status_code == 401 and head.content == b""
        assert head.headers["x-homeroom-wait"] == refused.headers["x-homeroom-wait"]
    assert [side.store.calls for side in sides] == [[], []]


async def test_an_expired_pass_is_refused_without_a_store_call(sides: list[Side]) -> None:
    headers = cookie(("hr_bid", BID), ("hr_p_ent", pass_of()))
    assert (await same(sides, "/gate/ent/check", headers)).status_code == 204
    await tick(sides, IDLE_S)
    expired = await same(sides, "/gate/ent/check", headers)
    assert expired.status_code == 401 and expired.json() == {"error": "pass_expired"}
    assert wait_next(expired) == "/"  # no X-Original-URI: the workspace's home
    assert [side.store.calls for side in sides] == [[], []]


WAYS_BACK = [
    ("//evil.example/x", "/"),
    ("http://evil.example/", "/"),
    ("https:evil.example", "/"),
    ("/\\evil.example", "/"),
    ("/\\/evil.example", "/"),
    ("evil.example", "/"),
    ("", "/"),
    ("/a b", "/"),  # a space or a control character is no request target
    ("/a\tb", "/"),
    ("/%2F%2Fevil.example", "/%2F%2Fevil.example"),  # still a path here
    ("/devoirs?rendu=1&classe=4%C3%A8me#", "/devoirs?rendu=1&classe=4%C3%A8me#"),
    ("/élève", "/élève"),
]


async def test_the_way_back_is_a_path_on_this_site_only(sides: list[Side]) -> None:
    for original, expected in WAYS_BACK:
        headers = {"x-original-uri": original.encode()}  # as sent: UTF-8 bytes
        refused = await same(sides, "/gate/ent/check", headers)
        assert refused.status_code == 401
        assert wait_next(refused) == expected, original
        location = refused.headers["x-homeroom-wait"]
        assert location.isascii() and " " not in location and "\\" not in location


async def test_a_pass_past_its_renew_age_is_renewed_by_the_gate_that_counts_it(
    sides: list[Side],
) -> None:
    """A real admission (the safety net admits at once), then the check renews the pass: the
    store moves its count to the new expiry, and the new cookie is the gate's own pass."""
    passes = []
    for side in sides:
        taken = await side.send("POST", "/gate/ent/ticket", {"accept": "application/json"})
        assert taken.status_code == 201 and taken.json()["admitted"] is True
        passes.append((taken.cookies["hr_bid"], taken.cookies["hr_p_ent"]))
    assert passes[0] != passes[1]  # each side its own browser id; the same steps on both
    await tick(sides, RENEW_S - 1)
    for side, (bid, text) in zip(sides, passes, strict=True):
        side.store.calls.clear()
        young = await side.send(
            "GET", "/gate/ent/check", cookie(("hr_bid", bid), ("hr_p_ent", text))
        )
        assert young.status_code == 204 and "set-cookie" not in young.headers
        assert side.store.calls == []
    await tick(sides, 2)
    answers = []
    for side, (bid, text) in zip(sides, passes, strict=True):
        renewed = await side.send(
            "GET", "/gate/moodle/check", cookie(("hr_bid", bid), ("hr_p_ent", text))
        )
        assert renewed.status_code == 204 and renewed.content == b""
        assert side.store.calls == ["renew"]
        set_cookie = renewed.headers["set-cookie"]
        assert set_cookie.startswith("hr_p_ent=") and f"Max-Age={IDLE_S}" in set_cookie
        answers.append([(k, v) for k, v in renewed.headers.raw if k != b"set-cookie"])
        fresh = renewed.cookies["hr_p_ent"]
        again = await side.send(
            "GET", "/gate/ent/check", cookie(("hr_bid", bid), ("hr_p_ent", fresh))
        )
        assert again.status_code == 204 and "set-cookie" not in again.headers
    assert answers[0] == answers[1]
    # the old pass would have expired by now; the renewed one holds until a full idle time
    await tick(sides, IDLE_S - RENEW_S)
    for side, (bid, text) in zip(sides, passes, strict=True):
        old = await side.send("GET", "/gate/ent/check", cookie(("hr_bid", bid), ("hr_p_ent", text)))
        assert old.json() == {"error": "pass_expired"}


async def test_an_uncounted_pass_is_renewed_without_a_store_call(sides: list[Side]) -> None:
    await tick(sides, RENEW_S)
    renewed = await same(sides, "/gate/ent/check", cookie(("hr_bid", BID), ("hr_p_ent", pass_of())))
    assert renewed.status_code == 204 and renewed.headers["set-cookie"].startswith("hr_p_ent=")
    assert [side.store.calls for side in sides] == [[], []]


async def test_gates_that_share_passes_open_each_other_and_no_other(sides: list[Side]) -> None:
    ent = cookie(("hr_bid", BID), ("hr_p_ent", pass_of("ent")))
    assert (await same(sides, "/gate/moodle/check", ent)).status_code == 204
    moodle = cookie(("hr_bid", BID), ("hr_p_moodle", pass_of("moodle")))
    assert (await same(sides, "/gate/ent/check", moodle)).status_code == 204
    for gate in ("national", "pronote"):
        refused = await same(sides, f"/gate/{gate}/check", ent)
        assert refused.json() == {"error": "no_pass"}
        assert wait_next(refused, gate) == "/"
    # the pass of a sharing gate under the asked gate's own name is still foreign
    disguised = cookie(("hr_bid", BID), ("hr_p_moodle", pass_of("ent")))
    assert (await same(sides, "/gate/moodle/check", disguised)).json() == {"error": "pass_foreign"}
    # a bad own pass does not hide a good shared one, and its error is the one told otherwise
    both = cookie(("hr_bid", BID), ("hr_p_moodle", "x"), ("hr_p_ent", pass_of("ent")))
    assert (await same(sides, "/gate/moodle/check", both)).status_code == 204
    expired = cookie(("hr_bid", BID), ("hr_p_moodle", "x"), ("hr_p_ent", pass_of(ttl=1)))
    await tick(sides, 2)
    assert (await same(sides, "/gate/moodle/check", expired)).json() == {"error": "pass_malformed"}
    assert [side.store.calls for side in sides] == [[], []]


async def test_route_protection_takes_a_shared_pass_too(sides: list[Side]) -> None:
    """/workspace is moodle's, /class pronote's (HOMEROOM_PROTECT): an ent pass opens the first."""
    side = sides[0]
    headers = {"accept": "text/html", **cookie(("hr_bid", BID), ("hr_p_ent", pass_of("ent")))}
    inside = await side.send("GET", "/workspace", headers)
    assert inside.status_code == 200, inside.text
    away = await side.send("GET", "/class", headers)
    assert away.status_code in (303, 307)  # the safety net admits on the spot, or sends to wait


async def test_a_closed_gate_is_503_with_retry_after(sides: list[Side]) -> None:
    for side in sides:
        transport = httpx.ASGITransport(app=side.asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            done = await c.patch(
                "/gate/ent/admin/policy",
                json={"mode": "closed"},
                headers={"authorization": "Bearer op-secret"},
            )
        assert done.status_code == 200, done.text
        await side.app.keeper.gates["ent"].refresh()
    closed = await same(sides, "/gate/ent/check", cookie(("hr_bid", BID), ("hr_p_ent", pass_of())))
    assert closed.status_code == 503 and closed.headers["retry-after"] == "300"
    assert closed.json() == {"error": "closed"}
    assert "x-homeroom-wait" not in closed.headers
    nobody = await same(sides, "/gate/ent/check", {})
    assert nobody.status_code == 503
    # moodle shares passes with ent but is open: an ent pass still opens it
    assert (
        await same(sides, "/gate/moodle/check", cookie(("hr_bid", BID), ("hr_p_ent", pass_of())))
    ).status_code == 204


async def test_what_the_fast_path_leaves_to_the_router(sides: list[Side]) -> None:
    unknown = await same(
        sides, "/gate/elsewhere/check", {"accept": "application/json"}, check=False
    )
    assert unknown.status_code == 404 and unknown.json()["error"] == "no_such_gate"
    post = await same(sides, "/gate/ent/check", {"accept": "application/json"}, "POST", check=False)
    assert post.status_code == 405
    layer = fast_layer(sides[0].app)
    assert layer is not None and layer.answered == 0


@pytest.mark.parametrize("overrides", [{"protect": "/gate/ent/check=national"}])
async def test_a_check_path_under_a_protection_rule_stays_with_the_router(
    sides: list[Side],
) -> None:
    headers = {"accept": "application/json", **cookie(("hr_bid", BID), ("hr_p_ent", pass_of()))}
    protected = await same(sides, "/gate/ent/check", headers, check=False)
    assert protected.status_code == 307  # national's safety net: admitted on the spot
    layer = fast_layer(sides[0].app)
    assert layer is not None and layer.answered == 0
