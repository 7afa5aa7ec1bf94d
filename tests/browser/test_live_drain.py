"""Chromium through a gateway's drain: the class page, closed with 1001 `drain`, comes back to the
replacement gateway after its jitter and resumes, with every chat message once (docs/live.md#drain).

Both gateways share the room through a real Redis (on `memory://` a gateway's rooms end with it).
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import subprocess
import time

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import seeded_school_db
from tests.browser.test_live_class import (
    Class,
    _seed,
    chat_of,
    open_class,
    say,
    sees,
    settled,
)
from tests.gate_process import HOMEROOM, GateProcess, wait_http
from tests.redis_servers import RedisServer, free_port

pytestmark = [pytest.mark.slow, pytest.mark.browser]
DEADLINE_S = 6.0


def gateway(env: dict[str, str], workdir: str, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [HOMEROOM, "live"],
        env={**os.environ, **env, "HOMEROOM_LOG_LEVEL": "warning"},
        cwd=workdir,
        stdout=subprocess.DEVNULL,
    )
    wait_http(f"http://127.0.0.1:{port}/live", process=proc)  # 403: no token
    return proc


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait(10)


def test_the_class_page_resumes_on_the_next_gateway_after_a_drain(browser: Browser) -> None:
    url, session_id = seeded_school_db("homeroom-live-drain-", _seed)
    port = free_port()
    redis = RedisServer().start()
    env = {
        "HOMEROOM_DATABASE_URL": url,
        "HOMEROOM_SESSION_SECRET": "d" * 32,
        "HOMEROOM_LIVE_PORT": str(port),
        "HOMEROOM_BACKEND_URL": redis.url,
        "HOMEROOM_SECRET_KEYS": "1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "HOMEROOM_DRAIN_NOTICE_S": "0.5",
        "HOMEROOM_DRAIN_WINDOW_S": "1.5",
        "HOMEROOM_DRAIN_DEADLINE_S": str(DEADLINE_S),
    }
    with GateProcess(env) as school:
        old = gateway(env, school.workdir, port)
        new: subprocess.Popen[bytes] | None = None
        try:
            where = Class(school.base, session_id)
            t_context, teacher = open_class(browser, where, "prof", "en")
            l_context, lea = open_class(browser, where, "lea", "fr")
            sockets: dict[str, list[object]] = {"teacher": [], "lea": []}
            teacher.on("websocket", lambda ws: sockets["teacher"].append(ws))
            lea.on("websocket", lambda ws: sockets["lea"].append(ws))
            say(lea, "avant")
            sees(teacher, "avant")

            old.send_signal(signal.SIGTERM)  # it stops accepting: the port is free to bind
            new = gateway(env, school.workdir, port)  # the replacement, as a deploy does
            say(lea, "pendant")  # typed during the drain: sent once, wherever it lands
            assert old.wait(DEADLINE_S + 5) == 0
            deadline = time.monotonic() + 15
            while not all(sockets.values()):  # both pages opened a new socket, to `new`
                assert time.monotonic() < deadline, sockets
                teacher.wait_for_timeout(50)
            for page in (teacher, lea):
                expect(page.locator("#lv")).to_have_attribute("data-connection", "online")
            say(lea, "après")
            for page in (teacher, lea):
                sees(page, "après")
                settled(page)
            for page in (teacher, lea):
                assert chat_of(page) == ["avant", "pendant", "après"]
            t_context.close()
            l_context.close()
        finally:
            stop(old)
            stop(new)
            redis.stop()
