"""Real `homeroom run` processes: the fast path's answers in one write frame as the router's do.

One process with the fast path, one without, on raw sockets: kept-alive requests, two requests
pipelined in one packet, HTTP/1.0 and `Connection: close`. The bytes are compared with what
moves with the clock masked (the date, issue times, tokens, Max-Age): the in-process test
(tests/service/test_gate_fast_path.py) compares them exactly.
"""

from __future__ import annotations

import base64
import re
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeroom.core.lanes import Lane
from homeroom.core.tokens import KeyRing, Kind, Token, binding_of, gate_tag
from tests.gate_process import GateProcess
from tests.redis_servers import RedisServer

pytestmark = pytest.mark.slow
KEYS = "1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
BID = "e2e-browser-00000001"
MOVING = [
    (re.compile(rb"date: [^\r]*"), b"date: -"),
    (re.compile(rb"[A-Za-z0-9_-]{80,}"), b"TOKEN"),
    (re.compile(rb"\b1[0-9]{9}\b"), b"TIME"),
    (re.compile(rb"Max-Age=[0-9]+"), b"Max-Age=N"),
    (re.compile(rb'"etag":"[^"]*"|etag: [^\r]*'), b"ETAG"),
]

STATE_LENGTH = re.compile(rb"content-length: [0-9]+")


def request(path: str, *, method: str = "POST", version: str = "1.1", extra: str = "") -> bytes:
    return (
        f"{method} {path} HTTP/{version}\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
        f"Content-Length: 0\r\nCookie: hr_bid={BID}\r\n{extra}\r\n"
    ).encode()


def read_answers(sock: socket.socket, count: int, head: bool = False) -> list[bytes]:
    """`count` whole answers (head and Content-Length body; only heads for HEAD requests)."""
    data, answers = b"", []
    while len(answers) < count:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0:
            found = re.search(rb"content-length: (\d+)", data[:head_end], re.IGNORECASE)
            end = head_end + 4 + (int(found.group(1)) if found and not head else 0)
            if len(data) >= end:
                answers.append(data[:end])
                data = data[end:]
                continue
        chunk = sock.recv(65536)
        assert chunk, f"closed after {len(answers)} answers"
        data += chunk
    return answers


def masked(answer: bytes) -> bytes:
    for pattern, replacement in MOVING:
        answer = pattern.sub(replacement, answer)
    return answer


@pytest.fixture
def pair() -> Iterator[list[GateProcess]]:
    env = {"HOMEROOM_SECRET_KEYS": KEYS, "HOMEROOM_MODE": "paused"}  # nothing moves with time
    with (
        GateProcess({**env, "HOMEROOM_GATE_FAST_PATH": "true"}) as fast,
        GateProcess({**env, "HOMEROOM_GATE_FAST_PATH": "false"}) as routed,
    ):
        yield [fast, routed]


def exchange(process: GateProcess, payload: bytes, count: int) -> tuple[list[bytes], bool]:
    """Send `payload` at once; the `count` answers, and whether the server closed after them."""
    with socket.create_connection(("127.0.0.1", process.port), timeout=10) as sock:
        sock.sendall(payload)
        answers = read_answers(sock, count, head=payload.startswith(b"HEAD"))
        sock.settimeout(2)
        try:
            closed = sock.recv(1) == b""
        except TimeoutError:
            closed = False
    return answers, closed


def test_one_write_answers_frame_as_the_router_does(pair: list[GateProcess]) -> None:
    cases = [
        ("kept alive, one after the other", [request("/gate/national/ticket")], 1),
        (
            "pipelined in one packet",
            [request("/gate/national/ticket"), request("/gate/national/redeem")],
            2,
        ),
        (
            "pipelined, the last closing",  # the first's answer, held for the turn, goes first
            [
                request("/gate/national/ticket"),
                request("/gate/national/redeem", extra="Connection: close\r\n"),
            ],
            2,
        ),
        ("HTTP/1.0", [request("/gate/national/ticket", version="1.0")], 1),
        ("Connection: close", [request("/gate/national/ticket", extra="Connection: close\r\n")], 1),
        ("the state", [request("/gate/national/state", method="GET")], 1),
        ("the state's head", [request("/gate/national/state", method="HEAD")], 1),
    ]
    for what, requests, count in cases:
        fast, routed = (exchange(p, b"".join(requests), count) for p in pair)
        if what.startswith("the state"):  # each process's own view, a second old: heads only
            fast = ([STATE_LENGTH.sub(b"", a.split(b"\r\n\r\n")[0]) for a in fast[0]], fast[1])
            routed = (
                [STATE_LENGTH.sub(b"", a.split(b"\r\n\r\n")[0]) for a in routed[0]],
                routed[1],
            )
        assert [masked(a) for a in fast[0]] == [masked(a) for a in routed[0]], what
        assert fast[1] == routed[1], what
        closing = ("HTTP/1.0", "Connection: close", "pipelined, the last closing")
        assert fast[1] is (what in closing), what
    # on one kept-alive connection: ticket, ticket again, redeem too early, all answered in turn
    answers = []
    for process in pair:
        with socket.create_connection(("127.0.0.1", process.port), timeout=10) as sock:
            seen = []
            for path in ("ticket", "ticket", "redeem"):
                sock.sendall(request(f"/gate/national/{path}"))
                seen += read_answers(sock, 1)
        answers.append([masked(a) for a in seen])
    assert answers[0] == answers[1]
    assert [a.split(b" ", 2)[1] for a in answers[0]] == [b"201", b"201", b"400"]


def test_a_client_gone_before_its_answer_leaves_no_error(tmp_path: Path) -> None:
    """Redeems on a real Redis (each answer waits on the store) from clients that send and
    close at once: the answers made after their connection went are dropped quietly, the
    process logs no error and goes on answering. (It logged `KeyError: 'write'` when a
    connection's whole write was cleared as it closed.)"""
    key = secrets.token_bytes(32)
    log = tmp_path / "run.log"
    with RedisServer() as redis:
        env = {
            "HOMEROOM_SECRET_KEYS": "1:" + base64.urlsafe_b64encode(key).decode().rstrip("="),
            "HOMEROOM_BACKEND_URL": redis.url,
            "HOMEROOM_MODE": "queue",
            "HOMEROOM_CAPACITY": "100000",
            "HOMEROOM_RATE_PER_MIN": "100000",
            "HOMEROOM_TICKET_LIMIT": "100000/minute",  # one address asks them all
            "HOMEROOM_POW_ABOVE": "100000/minute",
        }
        with GateProcess(env, stderr=log) as gate:
            with socket.create_connection(("127.0.0.1", gate.port), timeout=10) as sock:
                for _ in range(200):  # numbers 1..200 issued, then admitted
                    sock.sendall(request("/gate/national/ticket"))
                    assert read_answers(sock, 1)[0][9:12] == b"201"
            while gate.admin("GET", "status")["lanes"]["pupils"]["horizon"] < 200:
                time.sleep(0.1)
            ring, now = KeyRing({1: key}, 1), int(time.time())
            for number in range(1, 201):
                bid = secrets.token_urlsafe(16)
                ticket = ring.seal(
                    Token(Kind.TICKET, gate_tag("national"), Lane.PUPILS, number, now,
                          now + 600, binding_of(bid))
                )  # fmt: skip
                redeem = request("/gate/national/redeem").replace(
                    f"hr_bid={BID}".encode(), f"hr_bid={bid}; hr_t_national={ticket}".encode()
                )
                with socket.create_connection(("127.0.0.1", gate.port), timeout=10) as sock:
                    sock.sendall(redeem)  # and closed at once, its redeem in flight
            answers, _ = exchange(gate, request("/gate/national/ticket"), 1)
            assert answers[0].startswith(b"HTTP/1.1 201 "), answers[0][:200]
            redeemed = gate.admin("GET", "status")["lanes"]["pupils"]["redeemed"]
    text = log.read_text(errors="replace")
    assert "Traceback" not in text and "Exception" not in text, text[-3000:]
    assert redeemed == 200  # each was applied, though nobody was left to hear it
