"""Real `homeroom run` processes: the pass check answered at the door frames as the router's.

One process with the fast path (the check is answered as soon as its head is read, with no ASGI
task: httpserver.py, `DoorProtocol`), one without, on raw sockets: a valid pass, none, HEAD,
kept alive, pipelined behind a request that takes the usual way (the answers keep their order),
HTTP/1.0 and `Connection: close`, with a body, with an escaped path (which the lean lane leaves to
uvicorn's parsing), and a renewal (which the door leaves to the ASGI path). The
bytes are compared with what moves with the clock masked; tests/service/test_gate_check.py
compares them exactly.
"""

from __future__ import annotations

import base64
import secrets
import socket
import time
import urllib.request
from collections.abc import Iterator

import pytest

from homeroom.core.lanes import Lane
from homeroom.core.tokens import KeyRing, Kind, Token, binding_of, gate_tag
from tests.e2e.test_gate_fast_path import exchange, masked, read_answers
from tests.gate_process import GateProcess

pytestmark = pytest.mark.slow
KEY = secrets.token_bytes(32)
KEYS = "1:" + base64.urlsafe_b64encode(KEY).decode().rstrip("=")
BID = "e2e-browser-00000001"
RENEW_S = 5


def a_pass(age_s: int = 0) -> str:
    now = int(time.time()) - age_s
    token = Token(Kind.PASS, gate_tag("national"), Lane.PUPILS, 0, now, now + 60, binding_of(BID))
    return KeyRing({1: KEY}, 1).seal(token)


def check(
    pass_text: str | None, *, method: str = "GET", version: str = "1.1", extra: str = ""
) -> bytes:
    cookie = f"hr_bid={BID}" + (f"; hr_p_national={pass_text}" if pass_text else "")
    return (
        f"{method} /gate/national/check HTTP/{version}\r\nHost: 127.0.0.1\r\n"
        f"Cookie: {cookie}\r\nX-Original-URI: /cours/maths?onglet=devoirs\r\n{extra}\r\n"
    ).encode()


def ticket() -> bytes:
    return (
        "POST /gate/national/ticket HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
        f"Content-Length: 0\r\nCookie: hr_bid={BID}\r\n\r\n"
    ).encode()


@pytest.fixture
def pair() -> Iterator[list[GateProcess]]:
    env = {
        "HOMEROOM_SECRET_KEYS": KEYS,
        "HOMEROOM_MODE": "paused",  # nothing moves with time
        "HOMEROOM_PASS_IDLE": f"national=60/{RENEW_S}",
    }
    with (
        GateProcess({**env, "HOMEROOM_GATE_FAST_PATH": "true"}) as fast,
        GateProcess({**env, "HOMEROOM_GATE_FAST_PATH": "false"}) as routed,
    ):
        yield [fast, routed]


def status(answer: bytes) -> bytes:
    return answer.split(b" ", 2)[1]


def test_the_check_at_the_door_frames_as_the_router_does(pair: list[GateProcess]) -> None:
    def valid() -> bytes:
        return check(a_pass())

    def old() -> bytes:
        return check(a_pass(RENEW_S + 1))

    def none() -> bytes:
        return check(None)

    cases = [
        ("valid", [valid], [b"204"]),
        ("none", [none], [b"401"]),
        ("head", [lambda: check(None, method="HEAD")], [b"401"]),
        ("pipelined", [valid, none, valid], [b"204", b"401", b"204"]),
        ("behind a ticket", [ticket, valid, none], [b"201", b"204", b"401"]),
        ("renewed", [old, valid], [b"204", b"204"]),
        ("HTTP/1.0", [lambda: check(a_pass(), version="1.0")], [b"204"]),
        ("Connection: close", [lambda: check(None, extra="Connection: close\r\n")], [b"401"]),
        # the lean lane answers at the head and drops the body; the next request is read whole
        (
            "with a body",
            [lambda: check(a_pass(), extra="Content-Length: 5\r\n") + b"hello", none],
            [b"204", b"401"],
        ),
        # an escaped path is left to uvicorn's reading of it, whose scope the door then answers
        ("escaped", [lambda: check(None).replace(b"/check", b"/%63heck")], [b"401"]),
    ]
    for what, requests, statuses in cases:
        # the passes are made for each process, just before: each exchange takes seconds
        fast, routed = (
            exchange(p, b"".join(make() for make in requests), len(statuses)) for p in pair
        )
        assert [status(a) for a in fast[0]] == statuses, what
        assert [masked(a) for a in fast[0]] == [masked(a) for a in routed[0]], what
        assert fast[1] == routed[1], what
        assert fast[1] is (what in ("HTTP/1.0", "Connection: close")), what
        if what == "renewed":
            assert b"set-cookie: hr_p_national=" in fast[0][0]
            assert b"set-cookie" not in fast[0][1]
        if what == "none":
            wait = b"x-homeroom-wait: /gate/national/wait?next=/cours/maths%3Fonglet%3Ddevoirs"
            assert wait in fast[0][0]
    # the lean lane writes its answers once the turn's reads are done: one followed in the same
    # packet by what cannot be parsed still leaves first, then the 400, then the close
    answers, closed = exchange(pair[0], check(a_pass()) + check(None) + b"NOT HTTP\r\n\r\n", 3)
    assert [status(a) for a in answers] == [b"204", b"401", b"400"] and closed
    # one kept-alive connection, request after request, door and task in turn
    for process in pair:
        with socket.create_connection(("127.0.0.1", process.port), timeout=10) as sock:
            seen = []
            for make in (valid, ticket, none, old, valid):
                sock.sendall(make())
                seen += read_answers(sock, 1)
        assert [status(a) for a in seen] == [b"204", b"201", b"401", b"204", b"204"]
        assert b"set-cookie: hr_p_national=" in seen[3]
    # the fast process answered every check at the door but the renewals; the other none
    fast, routed = (metrics(p) for p in pair)
    assert fast['homeroom_gate_checks_at_door_total{gate="national"}'] == 19
    assert routed['homeroom_gate_checks_at_door_total{gate="national"}'] == 0
    for figures in (fast, routed):
        assert figures['homeroom_gate_checks_total{answer="renewed",gate="national"}'] == 2
        assert figures['homeroom_gate_checks_total{answer="no_pass",gate="national"}'] == (
            9 if figures is fast else 8
        )


def metrics(process: GateProcess) -> dict[str, float]:
    with urllib.request.urlopen(f"{process.base}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        name: float(value)
        for name, _, value in (line.rpartition(" ") for line in text.splitlines())
        if name.startswith("homeroom_gate_checks")
    }
